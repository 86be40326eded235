// Know before you deploy: every call the deploy will make, asked of IAM first (simulate-principal-policy with the
// real resource ARNs and the condition keys that matter: the roles passed and the service they are passed to, the
// cluster), for the credentials in use, and the execution role's reads (each secret the task definition names, the
// repository). Each denial is one line: the call, the resource and the statement to add. `deploy` runs it first.
// Needs:    credentials; the stack's outputs (step 4)
// Produces: nothing (read-only); exit 3 naming each denied call
// Next:     npm run deploy
import { resolveIdentity } from '../lib/aws.js';
import { isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import { preflight } from '../lib/preflight.js';
import { terraformOutputs } from '../lib/terraform.js';

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'preflight',
  async main({ runner, config }: ScriptContext) {
    const identity = await resolveIdentity(runner, config);
    const calls = await preflight(runner, config, identity, await terraformOutputs(runner, config, identity.account));
    if (!runner.dryRun) process.stdout.write(`✓ preflight: the ${calls} calls a deploy makes are allowed (${identity.arn})\n`);
  },
};

if (isMain(import.meta.url)) await main(spec);
