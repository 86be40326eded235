// List the releases (revision, git sha, image digest, date) and roll the service back to the previous one, or to --to
// N, by pointing it at the existing task definition (nothing is re-registered, nothing deregistered), then verify
// with the step-7 waiter. A release older than the database's schema (a migration since changed it, and migrations
// are not undone) is refused with exit 2 unless --force says its code reads the newer schema; so is one that connects
// as the master while the service connects as its own user (its tasks could not read that secret). A deployment still in
// progress (a canary in its bake) is stopped with ROLLBACK instead: ECS puts the release before back.
// Needs:    a service deployed by step 6 or deploy
// Produces: the service on the chosen revision, verified (exit codes as step 7)
// Next:     fix forward, then npm run deploy
import { resolveIdentity } from '../lib/aws.js';
import { confirm, integer, isMain, LOCK_WAIT_OPTION, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import type { Config } from '../lib/config.js';
import { sh, type Runner } from '../lib/run.js';
import { underDeployLock } from '../lib/lock.js';
import { checkSchema } from '../lib/releases.js';
import { checkRollbackUser } from '../lib/dbuser.js';
import { ExitCode, ScriptFailure, UsageError } from '../lib/errors.js';
import { describeService, newestRevisions, revisionOf } from '../lib/ecs.js';
import { formatResult, OUTCOME_EXIT, waitForDeployment } from '../lib/waiter.js';
import { deploymentInProgress, followDeployment, followServiceDeployment, stopWithRollback } from '../lib/strategy.js';

export interface Release {
  revision: number;
  arn: string;
  image: string;
  digest?: string;
  gitSha?: string;
  releasedAt?: string;
  current: boolean;
}

/** The newest `limit` releases, and revision `also` however old (`--to N` may name any release still registered). */
async function listReleases(runner: Runner, config: Config, limit = 10, also?: number): Promise<Release[]> {
  const service = await describeService(runner, config);
  return (await newestRevisions(runner, config, limit, also)).map(({ arn, taskDefinition, tags: list }): Release => {
    const tags = Object.fromEntries(list.map((t) => [t.key, t.value]));
    const image: string = taskDefinition?.containerDefinitions?.[0]?.image ?? '';
    return {
      revision: taskDefinition?.revision ?? revisionOf(arn),
      arn,
      image,
      digest: tags['llmops:image-digest'] ?? (image.includes('@') ? image.split('@')[1] : undefined),
      gitSha: tags['llmops:git-sha'],
      releasedAt: tags['llmops:released-at'] ?? taskDefinition?.registeredAt?.toISOString(),
      current: !!service?.taskDefinition && arn.split('/').pop() === service.taskDefinition.split('/').pop(),
    };
  });
}

export function formatReleases(releases: Release[]): string {
  const rows = releases.map(
    (r) =>
      `${r.current ? '*' : ' '} ${String(r.revision).padStart(4)}  ${(r.gitSha ?? '-').slice(0, 12).padEnd(12)}  ${(r.digest ?? '-').slice(0, 19).padEnd(19)}  ${r.releasedAt ?? '-'}`,
  );
  return ['  rev.  git sha       image digest         released', ...rows, '(* = running now)'].join('\n');
}

/** The release to go back to: --to N, or the newest deployed release older than the current one. */
export function chooseTarget(releases: Release[], to?: number): Release {
  if (to !== undefined) {
    const n = to;
    const r = releases.find((x) => x.revision === n);
    if (!r)
      throw new UsageError(
        `revision ${n} is not a registered revision of this service's task definition (the newest: ${releases.map((x) => x.revision).join(', ')})`,
      );
    return r;
  }
  const current = releases.find((r) => r.current);
  const older = releases.filter((r) => r.gitSha && (!current || r.revision < current.revision));
  if (!older.length)
    throw new ScriptFailure(
      'there is no earlier release to roll back to (only revisions registered by step 6 / deploy carry release tags)',
      ExitCode.PREFLIGHT,
    );
  return older[0]!;
}

export async function rollback(runner: Runner, config: Config, target: Release): Promise<void> {
  await runner.run(
    sh`aws ecs update-service --cluster ${config.names.cluster} --service ${config.names.service} --task-definition ${target.arn} --region ${config.region} --output json --query service.deployments[0].[id,status,rolloutState]`,
  );
}

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'rollback',
  conflicts: [['list', 'to']],
  options: {
    to: {
      type: 'string',
      placeholder: 'revision',
      description: 'the revision to return to (default: the previous release)',
      parse: integer(1, 999_999_999),
    },
    list: { type: 'boolean', description: 'only list the releases' },
    force: { type: 'boolean', description: "roll back below the database's schema: the older release reads the newer schema" },
    'lock-wait': LOCK_WAIT_OPTION,
  },
  async main({ runner, config, options, yes }: ScriptContext) {
    const identity = await resolveIdentity(runner, config);
    if (runner.dryRun) {
      await checkSchema(runner, config, identity.account, { revision: 0 }, !!options.force);
      await rollback(runner, config, { revision: 0, arn: `${config.names.family}:<PREVIOUS_REVISION>`, image: '', current: false });
      await waitForDeployment(runner, config);
      return;
    }
    // a deployment still in progress (a native strategy's bake, a rolling deployment ECS has not finished): stopped
    // with ROLLBACK, ECS puts the release before it back, rather than start another deployment on top of it
    const inProgress = options.to === undefined && !options.list ? await deploymentInProgress(runner, config) : undefined;
    if (inProgress) {
      if (
        !(await confirm(
          `Stop the deployment in progress (${inProgress.arn.split('/').pop()}) of ${config.names.service} with ROLLBACK?`,
          yes,
        ))
      )
        return ExitCode.FAILED;
      // not under the deploy lock: the deploy that holds it (in its bake) sees its deployment rolled back, exit 4
      await stopWithRollback(runner, config, inProgress.arn, 'a deployment is in progress');
      const stopped = await followServiceDeployment(runner, config, {
        serviceDeploymentArn: inProgress.arn,
        deploymentId: inProgress.deploymentId,
        expectRollback: true,
      });
      process.stdout.write(`${runner.mask(formatResult(stopped))}\n`);
      return OUTCOME_EXIT[stopped.outcome];
    }
    const releases = await listReleases(runner, config, 10, options.to);
    process.stdout.write(`${formatReleases(releases)}\n`);
    if (options.list) return;
    const target = chooseTarget(releases, options.to);
    if (target.current) {
      process.stdout.write(`revision ${target.revision} is already running: nothing to do\n`);
      return;
    }
    await checkSchema(runner, config, identity.account, target, !!options.force);
    await checkRollbackUser(runner, config, identity.account, target.arn);
    if (!(await confirm(`Roll ${config.names.service} back to revision ${target.revision} (${(target.gitSha ?? '').slice(0, 12)})?`, yes)))
      return ExitCode.FAILED;
    const result = await underDeployLock(runner, config, options['lock-wait'], `rollback to ${target.revision}`, async () => {
      await rollback(runner, config, target);
      return (await followDeployment(runner, config, { taskDefinitionArn: target.arn })).result;
    });
    process.stdout.write(`${runner.mask(formatResult(result))}\n`);
    return OUTCOME_EXIT[result.outcome];
  },
};

if (isMain(import.meta.url)) await main(spec);
