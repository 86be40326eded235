// Step 8 — when DOMAIN_NAME is set: UPSERT the Route53 alias record rendered from config/dns-change.json (to
// CloudFront when enabled, else the ALB), skipped when it already points there; print the CloudFront distribution
// status.
// Needs:    DOMAIN_NAME and HOSTED_ZONE_ID, the stack from step 4
// Produces: the alias A record
// Next:     done: npm run deploy for later releases, npm run doctor when something is wrong
import { resolve } from 'node:path';
import { resolveIdentity } from '../lib/aws.js';
import { isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import type { Config } from '../lib/config.js';
import { newContext, type PipelineStep, runStep } from '../lib/pipeline.js';
import { sh, type Runner } from '../lib/run.js';
import { renderTemplateFile, writeRendered } from '../lib/template.js';
import { terraformOutputs } from '../lib/terraform.js';

export const step: PipelineStep = {
  n: 8,
  title: 'Domain (optional)',
  async run(ctx, runner, report) {
    const r = await pointDomain(runner, ctx.config, ctx.lock?.take);
    if (r === 'skipped') return 'DOMAIN_NAME is not set';
    report(`✓ ${ctx.config.domain!.name}: ${r}`);
    if (r === 'unchanged') return `${ctx.config.domain!.name} already points at the app`;
  },
};

export const DNS_TEMPLATE = resolve(import.meta.dirname, '..', 'config', 'dns-change.json');
const CLOUDFRONT_ZONE_ID = 'Z2FDTNDATAQYW2';

const bare = (name: string) => name.toLowerCase().replace(/\.$/, '');

/** `beforeChange`: called before the record is changed (a release takes its deploy lock there). */
export async function pointDomain(
  runner: Runner,
  config: Config,
  beforeChange?: () => Promise<void>,
): Promise<'skipped' | 'unchanged' | 'updated'> {
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

  const existing = await runner.json(
    sh`aws route53 list-resource-record-sets --hosted-zone-id ${hostedZoneId} --start-record-name ${name} --start-record-type A --max-items 1 --output json`,
  );
  const record = existing?.ResourceRecordSets?.[0];
  if (record && bare(record.Name) === bare(name) && record.Type === 'A' && bare(record.AliasTarget?.DNSName ?? '') === bare(target.dns)) {
    runner.echo(`# ${name} already points at ${target.dns}: no change`);
  } else {
    const change = renderTemplateFile(DNS_TEMPLATE, {
      DOMAIN_NAME: name,
      TARGET_DNS_NAME: target.dns,
      TARGET_ZONE_ID: target.zone,
      EVALUATE_TARGET_HEALTH: target.evaluate,
    });
    const file = writeRendered(runner, 'dns-change.json', change);
    await beforeChange?.();
    await runner.run(
      sh`aws route53 change-resource-record-sets --hosted-zone-id ${hostedZoneId} --change-batch file://${file} --output json`,
    );
  }
  const dists = await runner.json(sh`aws cloudfront list-distributions --output json`);
  for (const d of dists?.DistributionList?.Items ?? []) {
    if ((d.Aliases?.Items ?? []).map(bare).includes(bare(name)))
      runner.echo(
        `# CloudFront ${d.Id} (${d.DomainName}): ${d.Status}${d.Status === 'Deployed' ? '' : ' — changes take up to 15 minutes to reach every edge'}`,
      );
  }
  return record && bare(record.AliasTarget?.DNSName ?? '') === bare(target.dns) ? 'unchanged' : 'updated';
}

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'step:8',
  async main({ runner, config, yes }: ScriptContext) {
    await runStep(step, newContext(config, runner, yes));
  },
};

if (isMain(import.meta.url)) await main(spec);
