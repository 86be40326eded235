// Step 8 — Domain (optional): point DOMAIN_NAME at the app and report CloudFront.
// Needs:    DOMAIN_NAME and HOSTED_ZONE_ID in .env; the stack from step 4.
// Produces: a Route53 alias A record (UPSERT of config/dns-change.json; skipped when it already points at
//           the right target), the CloudFront distribution's status.
// Next:     done — npm run deploy for every later release; npm run doctor when something is wrong.
import { resolve } from 'node:path';
import { resolveIdentity } from '../lib/aws.js';
import { isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import type { Config } from '../lib/config.js';
import type { Runner } from '../lib/run.js';
import { renderTemplateFile, writeRendered } from '../lib/template.js';
import { terraformOutputs } from '../lib/terraform.js';

export const DNS_TEMPLATE = resolve(import.meta.dirname, '..', 'config', 'dns-change.json');
const CLOUDFRONT_ZONE_ID = 'Z2FDTNDATAQYW2';

const bare = (name: string) => name.toLowerCase().replace(/\.$/, '');

export async function step8(runner: Runner, config: Config): Promise<'skipped' | 'unchanged' | 'updated'> {
  if (!config.domain) {
    runner.echo('# DOMAIN_NAME is not set: nothing to do (the app answers on the ALB DNS name)');
    return 'skipped';
  }
  const { name, hostedZoneId } = config.domain;
  const identity = await resolveIdentity(runner, config);
  const outputs = await terraformOutputs(runner, config, identity.account);
  const cdn = runner.dryRun ? '' : outputs.get('cloudfront_domain_name');
  const target = cdn
    ? { dns: cdn, zone: CLOUDFRONT_ZONE_ID, evaluate: false }
    : { dns: outputs.get('alb_dns_name'), zone: outputs.get('alb_zone_id'), evaluate: true };

  const existing = await runner.json('aws', ['route53', 'list-resource-record-sets', '--hosted-zone-id', hostedZoneId, '--start-record-name', name, '--start-record-type', 'A', '--max-items', '1', '--output', 'json']);
  const record = existing?.ResourceRecordSets?.[0];
  if (record && bare(record.Name) === bare(name) && record.Type === 'A' && bare(record.AliasTarget?.DNSName ?? '') === bare(target.dns)) {
    runner.echo(`# ${name} already points at ${target.dns}: no change`);
  } else {
    const change = renderTemplateFile(DNS_TEMPLATE, { DOMAIN_NAME: name, TARGET_DNS_NAME: target.dns, TARGET_ZONE_ID: target.zone, EVALUATE_TARGET_HEALTH: target.evaluate });
    const file = writeRendered(runner, 'dns-change.json', change);
    await runner.run('aws', ['route53', 'change-resource-record-sets', '--hosted-zone-id', hostedZoneId, '--change-batch', `file://${file}`, '--output', 'json']);
  }
  const dists = await runner.json('aws', ['cloudfront', 'list-distributions', '--output', 'json']);
  for (const d of dists?.DistributionList?.Items ?? []) {
    if ((d.Aliases?.Items ?? []).map(bare).includes(bare(name))) runner.echo(`# CloudFront ${d.Id} (${d.DomainName}): ${d.Status}${d.Status === 'Deployed' ? '' : ' — changes take up to 15 minutes to reach every edge'}`);
  }
  return record && bare(record.AliasTarget?.DNSName ?? '') === bare(target.dns) ? 'unchanged' : 'updated';
}

export const spec: ScriptSpec = {
  command: 'step:8',
  summary: 'Step 8 — when DOMAIN_NAME is set: UPSERT the Route53 alias record rendered from config/dns-change.json (to CloudFront when enabled, else the ALB), skipped when it already points there; print the CloudFront distribution status.',
  needs: 'DOMAIN_NAME and HOSTED_ZONE_ID, the stack from step 4',
  produces: 'the alias A record',
  next: 'done: npm run deploy for later releases, npm run doctor when something is wrong',
  async main({ runner, config }: ScriptContext) {
    const r = await step8(runner, config);
    process.stdout.write(r === 'skipped' ? 'skipped: DOMAIN_NAME is not set\n' : `✓ ${config.domain!.name}: ${r}\n`);
  },
};

if (isMain(import.meta.url)) await main(spec);
