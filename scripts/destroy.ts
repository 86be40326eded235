// Teardown — `terraform destroy` of the whole stack, after its summary and a confirmation: on a terminal you type
// the project's name; elsewhere --yes is required (CI or a missing terminal do not imply it here). Deletion protection (the ALB, the database) and an ECR repository
// that still holds images would stop a plain destroy, so those three are first applied with protection off
// (-target), then everything is destroyed, under the deploy lock so no deploy runs meanwhile. The database leaves
// a final snapshot (<db>-final); secrets stay recoverable for their recovery window; the state bucket is kept
// (its history, and the lock).
// Needs:    the stack (npm run bootstrap)
// Produces: nothing of the stack but the final DB snapshot and the state bucket
// Next:     npm run bootstrap (to build it again)
import { createInterface } from 'node:readline/promises';
import { resolveIdentity } from '../lib/aws.js';
import { isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import { ExitCode, UsageError } from '../lib/errors.js';
import { destroyStack, type PlanSummary } from '../lib/infra.js';
import { LOCK_WAIT_OPTION, underDeployLock } from '../lib/lock.js';
import { stateBucket } from '../lib/terraform.js';

/** Type the project's name (a y/N is too easy to give by habit for something this final). */
async function typedName(project: string, account: string, summary: PlanSummary): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(
      `This destroys ${summary.destroy} resource(s) of ${project} in account ${account}. Type the project name (${project}) to go on: `,
    );
    return answer.trim() === project;
  } finally {
    rl.close();
  }
}

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'destroy',
  options: { 'lock-wait': LOCK_WAIT_OPTION },
  async main({ runner, config, options }: ScriptContext) {
    // not the usual implied yes (CI, no TTY): only an explicit --yes skips typing the project name
    const explicit = !!options.yes;
    if (!explicit && !runner.dryRun && !process.stdin.isTTY)
      throw new UsageError('destroy asks you to type the project name on a terminal; without one, pass --yes (nothing was destroyed)');
    const identity = await resolveIdentity(runner, config);
    const result = await underDeployLock(runner, config, options['lock-wait'], 'destroy', () =>
      destroyStack(runner, config, identity.account, (summary) =>
        explicit ? Promise.resolve(true) : typedName(config.project, identity.account, summary),
      ),
    );
    if (result === 'declined') {
      process.stdout.write('Not destroyed.\n');
      return ExitCode.FAILED;
    }
    process.stdout.write(
      `${result === 'nothing' ? 'Nothing to destroy.' : `✓ destroyed ${config.project}.`} Kept: the state bucket ${stateBucket(config, identity.account)}` +
        `${result === 'nothing' ? '' : ` and the final DB snapshot ${config.names.dbInstance}-final`}.\n`,
    );
  },
};

if (isMain(import.meta.url)) await main(spec);
