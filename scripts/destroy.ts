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
import { isMain, LOCK_WAIT_OPTION, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import type { Config } from '../lib/config.js';
import { ExitCode, UsageError } from '../lib/errors.js';
import { formatSummary, type PlanSummary, prepareTfvars, removePlan, showPlan } from '../lib/infra.js';
import { underDeployLock } from '../lib/lock.js';
import { sh, type Runner } from '../lib/run.js';
import { chdir, planFile, stateBucket, terraformEnv, terraformInit, varFileArgs } from '../lib/terraform.js';

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
      placeholder: 'stack name',
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

/** The object versions (and delete markers) of the state bucket, as `delete-objects` takes them. */
async function stateBucketVersions(runner: Runner, config: Config, bucket: string): Promise<{ Key: string; VersionId: string }[]> {
  const listed = await runner.json<any>(sh`aws s3api list-object-versions --bucket ${bucket} --region ${config.region} --output json`);
  return [...(listed?.Versions ?? []), ...(listed?.DeleteMarkers ?? [])].map((v: any) => ({ Key: v.Key, VersionId: v.VersionId }));
}

/**
 * Other stacks whose state is in the bucket (another environment of the project): their state keys. The
 * bucket is one per project, so it may be deleted only with the last stack.
 */
export async function otherStacksInBucket(runner: Runner, config: Config, account: string): Promise<string[]> {
  if (runner.dryRun) return [];
  const bucket = stateBucket(config, account);
  const keys = (await stateBucketVersions(runner, config, bucket)).map((v) => v.Key);
  const own = `${config.project}/`;
  return [...new Set(keys.filter((k) => k.endsWith('/terraform.tfstate') && !k.startsWith(own)))].sort();
}

/** Empty the (versioned) state bucket, every version and delete marker, and delete it. */
export async function deleteStateBucket(runner: Runner, config: Config, account: string): Promise<void> {
  const bucket = stateBucket(config, account);
  const versions = await stateBucketVersions(runner, config, bucket); // none in a dry run: it only prints the list
  for (let i = 0; i < versions.length; i += 1000) {
    const batch = JSON.stringify({ Objects: versions.slice(i, i + 1000), Quiet: true });
    await runner.run(sh`aws s3api delete-objects --bucket ${bucket} --region ${config.region} --delete ${batch}`);
  }
  await runner.run(sh`aws s3api delete-bucket --bucket ${bucket} --region ${config.region}`);
}

/**
 * What stops a plain `terraform destroy` of this stack, and the variables that lift it (TF_VAR_, so a module
 * without them ignores them): deletion protection (ALB, RDS), a repository with images, and the ALB's access-log
 * bucket once it holds logs (its force_destroy follows alb_deletion_protection, and must reach the state first).
 */
const PROTECTED = ['aws_lb.this', 'aws_db_instance.this', 'aws_ecr_repository.app', 'aws_s3_bucket.alb_logs'];
const UNPROTECT = { TF_VAR_alb_deletion_protection: 'false', TF_VAR_db_deletion_protection: 'false', TF_VAR_ecr_force_delete: 'true' };

/**
 * Tear the stack down: plan the destroy and show it, confirm, lift deletion protection (ALB, RDS) and let ECR
 * and S3 delete a repository with images and a log bucket with logs (a targeted apply of just those), then
 * destroy. The state bucket stays.
 */
export async function destroyStack(
  runner: Runner,
  config: Config,
  account: string,
  confirmed: (summary: PlanSummary) => Promise<boolean>,
): Promise<'destroyed' | 'nothing' | 'declined'> {
  prepareTfvars(runner, config);
  await terraformInit(runner, config, account);
  const env = { ...terraformEnv(config), ...UNPROTECT };
  await runner.run(sh`terraform ${chdir(config)} plan -destroy -input=false -no-color ${varFileArgs(config)} -out=${planFile(config)}`, {
    env,
    stream: true,
    timeoutMs: 30 * 60_000,
  });
  if (!runner.dryRun) {
    const summary = await showPlan(runner, config);
    removePlan(config); // a destroy plan is never left for step 4 to apply
    runner.echo(formatSummary(summary));
    if (summary.noChanges) return 'nothing';
    if (!(await confirmed(summary))) return 'declined';
  }
  const inState = runner.dryRun
    ? PROTECTED
    : (await runner.run(sh`terraform ${chdir(config)} state list`, { env })).stdout.split('\n').filter((a) => PROTECTED.includes(a));
  if (inState.length) {
    const targets = inState.map((a) => `-target=${a}`);
    await runner.run(sh`terraform ${chdir(config)} apply -input=false -no-color -auto-approve ${varFileArgs(config)} ${targets}`, {
      env,
      stream: true,
      timeoutMs: 30 * 60_000,
    });
  }
  await runner.run(sh`terraform ${chdir(config)} destroy -input=false -no-color -auto-approve ${varFileArgs(config)}`, {
    env,
    stream: true,
    timeoutMs: 60 * 60_000,
  });
  return 'destroyed';
}

if (isMain(import.meta.url)) await main(spec);
