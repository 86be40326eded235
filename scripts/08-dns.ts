// Step 8 — when DOMAIN_NAME is set: UPSERT the Route53 alias record rendered from config/dns-change.json (to
// CloudFront when enabled, else the ALB), skipped when it already points there; print the CloudFront distribution
// status.
// Needs:    DOMAIN_NAME and HOSTED_ZONE_ID, the stack from step 4
// Produces: the alias A record
// Next:     done: npm run deploy for later releases, npm run doctor when something is wrong
import { isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import { pointDomain } from '../lib/dns.js';

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'step:8',
  async main({ runner, config }: ScriptContext) {
    const r = await pointDomain(runner, config);
    process.stdout.write(r === 'skipped' ? 'skipped: DOMAIN_NAME is not set\n' : `✓ ${config.domain!.name}: ${r}\n`);
  },
};

if (isMain(import.meta.url)) await main(spec);
