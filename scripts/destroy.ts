// Teardown — `terraform destroy` of one stack (one environment), after its summary and a confirmation that names
// it: on a terminal you type its name (<project>, or <project>-<environment>); elsewhere --confirm <name> is
// required, and a bare --yes is refused (CI or a missing terminal never imply it, and a job must name what it
// destroys). Deletion protection (the ALB, the database) and an ECR repository that still holds images would stop
// a plain destroy, so those three are first applied with protection off (-target), then everything is destroyed,
// under the deploy lock so no deploy runs meanwhile. The database leaves a final snapshot (<db>-final); secrets stay
// recoverable for their recovery window; the state bucket is kept (its history, the lock, other environments)
// unless --delete-state-bucket asks, which is refused while another environment's state is in it.
// Needs:    the stack (npm run bootstrap)
// Produces: nothing of the stack but the final DB snapshot and the state bucket
// Next:     npm run bootstrap (to build it again)
import { createInterface } from 'node:readline/promises';
import { resolveIdentity } from '../lib/aws.js';
import { isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import type { Config } from '../lib/config.js';
import { ExitCode, UsageError } from '../lib/errors.js';
import { deleteStateBucket, destroyStack, otherStacksInBucket, type PlanSummary } from '../lib/infra.js';
import { LOCK_WAIT_OPTION, underDeployLock } from '../lib/lock.js';
import { stateBucket } from '../lib/terraform.js';

/** What is destroyed, for the prompt and the refusals: the stack's name, its environment, account and region. */
const what = (config: Config, account?: string) =>
  `${config.project} (${config.environment ? `environment ${config.environment}` : 'no environment'}${account ? `, account ${account}` : ''}, ${config.region})`;

/** Type the stack's name (a y/N is too easy to give by habit for something this final). */
async function typedName(config: Config, account: string, summary: PlanSummary): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(
      `This destroys ${summary.destroy} resource(s) of ${what(config, account)}. Type its name (${config.project}) to go on: `,
    );
    return answer.trim() === config.project;
  } finally {
    rl.close();
  }
}

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'destroy',
  options: {
    confirm: {
      type: 'string',
      description: 'destroy without the prompt, naming the stack: <project> or <project>-<environment> (CI must; a bare --yes is refused)',
    },
    'delete-state-bucket': {
      type: 'boolean',
      description: "also empty and delete the project's state bucket (refused while another environment's state is in it)",
    },
    'lock-wait': LOCK_WAIT_OPTION,
  },
  validate(options, config) {
    const named = options.confirm as string | undefined;
    if (named !== undefined && named !== config.project)
      return [
        `--confirm names ${named}, but this run would destroy ${what(config)}: name that stack, or choose another with --env (nothing was destroyed)`,
      ];
    if (named === undefined && options.yes && !options['dry-run'])
      return [
        `--yes alone does not destroy: name the stack with --confirm ${config.project} (so a job cannot destroy another environment than it names)`,
      ];
    return [];
  },
  async main({ runner, config, options }: ScriptContext) {
    // not the usual implied yes (CI, no TTY): only --confirm <name> skips typing the name
    const named = options.confirm !== undefined;
    if (!named && !runner.dryRun && !process.stdin.isTTY)
      throw new UsageError(
        `destroy asks you to type the stack's name on a terminal; without one, pass --confirm ${config.project} (nothing was destroyed)`,
      );
    const identity = await resolveIdentity(runner, config);
    const deleteBucket = !!options['delete-state-bucket'];
    if (deleteBucket) {
      const others = await otherStacksInBucket(runner, config, identity.account);
      if (others.length)
        throw new UsageError(
          `--delete-state-bucket: ${stateBucket(config, identity.account)} also holds ${others.join(', ')}: destroy those stacks first, or leave the bucket (nothing was destroyed)`,
        );
    }
    const result = await underDeployLock(runner, config, options['lock-wait'], 'destroy', () =>
      destroyStack(runner, config, identity.account, (summary) =>
        named ? Promise.resolve(true) : typedName(config, identity.account, summary),
      ),
    );
    if (result === 'declined') {
      process.stdout.write('Not destroyed.\n');
      return ExitCode.FAILED;
    }
    // after the deploy lock is released: the lock lives in the bucket
    if (deleteBucket) await deleteStateBucket(runner, config, identity.account);
    const kept = [
      ...(deleteBucket ? [] : [`the state bucket ${stateBucket(config, identity.account)}`]),
      ...(result === 'nothing' ? [] : [`the final DB snapshot ${config.names.dbInstance}-final`]),
    ];
    process.stdout.write(
      `${result === 'nothing' ? 'Nothing to destroy.' : `✓ destroyed ${config.project}.`}${kept.length ? ` Kept: ${kept.join(' and ')}.` : ''}` +
        `${deleteBucket ? ` Deleted the state bucket ${stateBucket(config, identity.account)}.` : ''}\n`,
    );
  },
};

if (isMain(import.meta.url)) await main(spec);
