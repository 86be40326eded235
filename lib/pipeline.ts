// What a guide step is, and how steps run: one alone (`npm run step:5`), or several as one listr2 task list
// (bootstrap, deploy) sharing what each step learned; per-step durations, the summary and the GitHub job
// summary. The steps themselves, their commands and decisions, are the numbered files in scripts/.
import { appendFileSync } from 'node:fs';
import type { ListrTaskWrapper } from 'listr2';
import type { Identity } from './aws.js';
import { matching } from './flags.js';
import type { Config } from './config.js';
import type { Runner } from './run.js';
import { chooseRenderer, taskList, taskRunner } from './tasks.js';
import { releaseKey, stateBucket, terraformOutputs } from './terraform.js';
import { type DeployLock, underDeployLock } from './lock.js';
import { awsErrorText, s3Send } from './aws.js';
import { reportedSchema } from './releases.js';
import type { ImageRef } from './image.js';
import type { PlanSummary } from './infra.js';
import type { Pushed, ScanAllow } from './ecr.js';
import type { Registered } from './taskdef.js';
import { OUTCOME_EXIT, type VerifyOptions, type VerifyResult } from './waiter.js';
import { mermaidGantt, Timeline, timelineRecord, timelineTable } from './timeline.js';
import { type ConfigProblem, ExitCode, exitCodeFor, InterruptedError } from './errors.js';

export interface PipelineContext {
  config: Config;
  runner: Runner;
  yes: boolean;
  identity?: Identity;
  ref?: ImageRef;
  /** The image's digest when step 2 found it already in ECR. */
  inEcr?: string;
  plan?: PlanSummary;
  pushed?: Pushed;
  registered?: Registered;
  /** The scan gate's exception for one image digest (`--allow-findings`, `--reason`). */
  scanAllow?: ScanAllow;
  /** Step 7's flags when it runs alone (`--task-definition`, `--timeout`, `--url`). */
  verify?: VerifyOptions;
  verified?: VerifyResult;
  url?: string;
  /**
   * The deploy lock of a release (bootstrap, deploy): a step takes it before its first change, so a run that
   * changes nothing writes nothing. A step run alone (`npm run step:6`) takes none.
   */
  lock?: DeployLock;
  /** The step that failed, if one did. */
  failedStep?: number;
  /** Why the run stopped, if it did not finish: the summary says what happened, not ✅. */
  error?: unknown;
  durations: Record<string, number>;
  /** The run's phases with their times: each step, and what steps record inside them (lib/timeline.ts). */
  timeline: Timeline;
}

/** Where a step's result goes: standard output when it runs alone, its task's output in a list. */
export type Report = (text: string) => void;

/**
 * One step of the guide: its commands, in the guide's order, and the decisions between them. It reads what
 * earlier steps learnt from `ctx` (and finds it out itself when it runs alone), records what it learns there,
 * and returns a skip reason when it had nothing to do.
 */
export interface PipelineStep {
  n: number;
  title: string;
  /** What would make the step refuse, found before anything runs (no command, request or write). */
  preflight?(config: Config): ConfigProblem[];
  run(ctx: PipelineContext, runner: Runner, report: Report): Promise<string | void>;
}

/** The preflight problems of the steps a run will take: checked by the script before its first command. */
export const preflightOf = (steps: PipelineStep[], config: Config): ConfigProblem[] => steps.flatMap((s) => s.preflight?.(config) ?? []);

/** A context for steps that share nothing yet: one script's run. */
export const newContext = (config: Config, runner: Runner, yes: boolean): PipelineContext => ({
  config,
  runner,
  yes,
  durations: {},
  timeline: new Timeline(),
});

/**
 * `npm run step:N`: the step alone, with the script's runner (commands on stderr) and its result on stdout.
 * A skip reason is printed as `skipped: …`.
 */
export async function runStep(step: PipelineStep, ctx: PipelineContext): Promise<string | void> {
  const report: Report = (text) => process.stdout.write(`${ctx.runner.mask(text)}\n`);
  const skipped = await step.run(ctx, ctx.runner, report);
  if (skipped) report(`skipped: ${skipped}`);
  return skipped;
}

/** `--only 5,6,7`: step numbers 1-8, each once. */
export const stepList = (raw: string): number[] => {
  const only = matching(
    /^[1-8](,[1-8])*$/,
    'step numbers from 1 to 8 separated by "," (e.g. 5,6,7)',
  )(raw)
    .split(',')
    .map(Number);
  if (new Set(only).size !== only.length) throw new Error('expects each step once');
  return only;
};

/** The steps --from N or --only a,b,c select (both parsed at the boundary; they cannot be given together). */
export function selectSteps(steps: PipelineStep[], options: { from?: number; only?: number[] }): PipelineStep[] {
  if (options.only) return steps.filter((s) => options.only!.includes(s.n));
  const from = options.from ?? steps[0]!.n;
  return steps.filter((s) => s.n >= from);
}

/**
 * A release's steps (5-8) under the deploy lock, which a step takes right before its first change (the push, the
 * registration, the DNS change): a release with nothing to change writes no lock (lib/lock.ts, `'first change'`).
 */
export function runRelease(steps: PipelineStep[], ctx: PipelineContext, lockWait: number | undefined, what: string): Promise<number> {
  return underDeployLock(
    ctx.runner,
    ctx.config,
    lockWait,
    what,
    (lock) => runPipeline(steps, Object.assign(ctx, { lock })),
    'first change',
  );
}

/** Run the steps as one listr2 list: each shows its commands, duration, and why it was skipped. */
export async function runPipeline(steps: PipelineStep[], ctx: PipelineContext): Promise<number> {
  let failure: unknown;
  const list = await taskList<PipelineContext>(
    steps.map((step) => ({
      title: `${step.n}. ${step.title}`,
      task: async (_c: PipelineContext, task: ListrTaskWrapper<any, any, any>) => {
        // sub-millisecond: steps that take less than a millisecond (skips) still come in their order on the timeline
        const started = performance.timeOrigin + performance.now();
        try {
          const runner = taskRunner(ctx.runner, task);
          const skipped = await step.run(ctx, runner, (text) => runner.echo(text));
          if (skipped) task.title = `${step.n}. ${step.title} — skipped: ${skipped}`;
        } catch (error) {
          if (error instanceof InterruptedError) error.rerun = 'npm run bootstrap (it resumes: each step checks what exists)';
          ctx.failedStep = step.n;
          failure = error;
          throw error;
        } finally {
          const ended = performance.timeOrigin + performance.now();
          ctx.durations[`${step.n}. ${step.title}`] = Math.round(ended - started);
          ctx.timeline.add(`${step.n}. ${step.title}`, started, ended);
        }
      },
      rendererOptions: { persistentOutput: true, outputBar: 8 },
    })),
    { ctx, renderer: ctx.yes ? chooseRenderer() : 'simple' },
  );
  try {
    await list.run();
  } catch {
    /* reported by the caller from `failure` */
  }
  if (failure) throw failure;
  return ExitCode.OK;
}

export async function summary(ctx: PipelineContext): Promise<string> {
  const { config, runner } = ctx;
  const lines = ['', 'Summary'];
  let url = ctx.url;
  // after a failure AWS may be unreachable: terraform would spend a minute retrying for a line of summary
  if (!url && !runner.dryRun && ctx.identity && ctx.failedStep === undefined) {
    url = await terraformOutputs(
      runner.withEcho(() => {}),
      config,
      ctx.identity.account,
    )
      .then((o) => o.get('app_url'))
      .catch(() => undefined);
  }
  if (url) lines.push(`  URL:             ${url.replace(config.app.healthPath, '') || url}`);
  if (ctx.pushed) lines.push(`  image:           ${ctx.pushed.image}`);
  if (ctx.registered)
    lines.push(`  task definition: ${ctx.registered.taskDefinitionArn}${ctx.registered.changed ? ' (new)' : ' (unchanged)'}`);
  if (ctx.registered?.migrated) lines.push(`  migration:       task ${ctx.registered.migrated.taskArn.split('/').pop()} exited 0`);
  for (const [step, ms] of Object.entries(ctx.durations)) lines.push(`  ${step.padEnd(34)} ${(ms / 1000).toFixed(1)} s`);
  lines.push(`  total: ${(Object.values(ctx.durations).reduce((a, b) => a + b, 0) / 1000).toFixed(1)} s`);
  if (!runner.dryRun && ctx.timeline.phases.length) lines.push('Timeline (seconds from the start)', ...timelineTable(ctx.timeline));
  // a line to paste: the release before this one is found by rollback from the release tags, not written here as a placeholder
  lines.push(
    `  roll back:       npm run rollback${config.environment ? ` -- --env ${config.environment}` : ''}   # to the release before ${ctx.registered?.taskDefinitionArn.split('/').pop() ?? 'the current one'}`,
  );
  if (process.env.GITHUB_STEP_SUMMARY && !runner.dryRun) appendFileSync(process.env.GITHUB_STEP_SUMMARY, runner.mask(jobSummary(ctx, url)));
  const record = await recordRelease(ctx);
  if (record) lines.push(`  release record:  ${record}`);
  return runner.mask(lines.join('\n'));
}

/**
 * A new revision's record beside the state (`<project>/releases/<family>-<revision>.json`): what was released, how
 * it ended and its timeline, for `npm run bench` and a later look. Best effort: a deploy is not failed for it.
 */
export async function recordRelease(ctx: PipelineContext): Promise<string | undefined> {
  const { config, runner, registered } = ctx;
  if (runner.dryRun || !registered?.changed || !ctx.identity || !registered.revision) return undefined;
  const url = `s3://${stateBucket(config, ctx.identity.account)}/${releaseKey(config, registered.revision)}`;
  const record = {
    taskDefinition: registered.taskDefinitionArn,
    image: registered.image,
    outcome: ctx.verified?.outcome ?? (ctx.error === undefined ? 'registered' : 'failed'),
    // the schema its migration left, which a rollback to it is checked against (lib/releases.ts)
    schema: registered.migrated ? reportedSchema(registered.migrated.logLines) : undefined,
    timeline: timelineRecord(ctx.timeline),
  };
  // bookkeeping at the end of every release: through the SDK (`aws s3 cp - <url>`), not a CLI process
  const put = (s3: typeof import('@aws-sdk/client-s3')) =>
    new s3.PutObjectCommand({
      Bucket: stateBucket(config, ctx.identity!.account),
      Key: releaseKey(config, registered.revision!),
      Body: runner.mask(JSON.stringify(record)), // no secret in it; one would be masked anyway
      ContentType: 'application/json',
    });
  return s3Send(config, put).then(
    () => url,
    (error) => `not written (${awsErrorText(error)})`,
  );
}

/** What happened, in one honest line: only a run that finished with its deployment verified is ✅. */
export function headline(ctx: PipelineContext): string {
  if (ctx.error === undefined && (!ctx.verified || ctx.verified.outcome === 'ok')) return '✅ Deploy';
  const code = ctx.error !== undefined ? exitCodeFor(ctx.error) : OUTCOME_EXIT[ctx.verified!.outcome];
  const step = ctx.failedStep ? ` at step ${ctx.failedStep}` : '';
  switch (code) {
    case ExitCode.USAGE:
      return '❌ Deploy not started: bad configuration or flags (exit 2)';
    case ExitCode.PREFLIGHT:
      return `❌ Deploy not started: preflight failed${step} (exit 3)`;
    case ExitCode.ROLLED_BACK:
      return '↩️ Deploy failed and ECS rolled back to the previous release (exit 4)';
    case ExitCode.TIMEOUT:
      return '⏳ Deploy timed out: it may still finish (exit 5)';
    case ExitCode.LOCKED:
      return '🔒 Deploy not started: another deploy holds the lock (exit 6)';
    case ExitCode.INTERRUPTED:
    case 143:
      return `⛔ Deploy interrupted${step} (exit ${code})`;
    default:
      return `❌ Deploy failed${step} (exit ${code})`;
  }
}

/** Markdown for the GitHub job summary: what was released, how long each step took, how to undo it. */
export function jobSummary(ctx: PipelineContext, url?: string): string {
  const { config } = ctx;
  const rows = [
    `### ${headline(ctx)} — ${config.names.service}`,
    '',
    '| | |',
    '|---|---|',
    ...(url ? [`| URL | ${url} |`] : []),
    ...(ctx.pushed ? [`| image | \`${ctx.pushed.image}\` |`] : []),
    ...(ctx.registered
      ? [`| task definition | \`${ctx.registered.taskDefinitionArn.split('/').pop()}\`${ctx.registered.changed ? '' : ' (unchanged)'} |`]
      : []),
    ...(ctx.verified ? [`| verify | ${ctx.verified.outcome}: ${ctx.verified.message} |`] : []),
    ...Object.entries(ctx.durations).map(([step, ms]) => `| ${step} | ${(ms / 1000).toFixed(1)} s |`),
    '',
    `Roll back: run this workflow with \`rollback_to\` = the previous revision, or \`npm run rollback\`.`,
    ...(ctx.timeline.phases.length ? ['', mermaidGantt(ctx.timeline, `${config.names.service} deploy`)] : []),
    ...(ctx.verified?.diagnosis.length ? ['', '```', ...ctx.verified.diagnosis, '```'] : []),
    '',
  ];
  return rows.join('\n');
}
