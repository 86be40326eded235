// Step 1 — check the prerequisites: aws CLI (v2 recommended), terraform >= 1.10 (S3-native state locking), docker
// client and engine, git, node, AWS credentials (account, ARN, region, EXPECTED_ACCOUNT_ID guard) and the app
// checkout. Checks run concurrently; each failure prints its fix.
// Needs:    nothing (a .env is optional; see .env.example)
// Produces: a checklist on stdout; exit 0 when every required check passes, 3 otherwise
// Next:     npm run step:2 (build and test the Docker image)
import { isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import { ExitCode } from '../lib/errors.js';
import { formatChecklist, runChecks } from '../lib/prereqs.js';

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'step:1',
  async main({ runner, config }: ScriptContext) {
    const results = await runChecks(runner, config);
    process.stdout.write(`${runner.mask(formatChecklist(results))}\n`);
    return results.some((r) => r.required && r.result.status === 'fail') ? ExitCode.PREFLIGHT : ExitCode.OK;
  },
};

if (isMain(import.meta.url)) await main(spec);
