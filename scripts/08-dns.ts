// Step 8 — Domain (optional): point DOMAIN_NAME at the app and report CloudFront.
// Needs:    DOMAIN_NAME and HOSTED_ZONE_ID in .env; the stack from step 4.
// Produces: a Route53 alias A record (UPSERT of config/dns-change.json; skipped when it already points at
//           the right target), the CloudFront distribution's status.
// Next:     done — npm run deploy for every later release; npm run doctor when something is wrong.
import { isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import { pointDomain } from '../lib/dns.js';

export const spec: ScriptSpec = {
  command: 'step:8',
  summary:
    'Step 8 — when DOMAIN_NAME is set: UPSERT the Route53 alias record rendered from config/dns-change.json (to CloudFront when enabled, else the ALB), skipped when it already points there; print the CloudFront distribution status.',
  needs: 'DOMAIN_NAME and HOSTED_ZONE_ID, the stack from step 4',
  produces: 'the alias A record',
  next: 'done: npm run deploy for later releases, npm run doctor when something is wrong',
  async main({ runner, config }: ScriptContext) {
    const r = await pointDomain(runner, config);
    process.stdout.write(r === 'skipped' ? 'skipped: DOMAIN_NAME is not set\n' : `✓ ${config.domain!.name}: ${r}\n`);
  },
};

if (isMain(import.meta.url)) await main(spec);
