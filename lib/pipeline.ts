// The step pipeline bootstrap and deploy run: steps 1-8 as one listr2 task list sharing what each step
// learned, per-step durations, the summary and the GitHub job summary.
import { appendFileSync } from 'node:fs';
import type { ListrTaskWrapper } from 'listr2';
import { type Identity, resolveIdentity } from './aws.js';
import { matching } from './flags.js';
import type { Config } from './config.js';
import type { Runner } from './run.js';
import { chooseRenderer, taskList, taskRunner } from './tasks.js';
import { terraformOutputs } from './terraform.js';
import { formatChecklist, runChecksQuietly } from './prereqs.js';
import { buildImage, imageRef, type ImageRef, smokeTest } from './image.js';
import { applyPlan, formatSummary, planInfrastructure, type PlanSummary } from './infra.js';
import { ecrDigest, type Pushed, pushImage } from './ecr.js';
import { type Registered, releaseTaskDefinition } from './taskdef.js';
import { formatResult, OUTCOME_EXIT, type VerifyResult, waitForDeployment } from './waiter.js';
import { pointDomain } from './dns.js';
import { ExitCode, exitCodeFor, InterruptedError, ScriptFailure } from './errors.js';

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
  verified?: VerifyResult;
  url?: string;
  /** The step that failed, if one did. */
  failedStep?: number;
  /** Why the run stopped, if it did not finish: the summary says what happened, not ✅. */
  error?: unknown;
  durations: Record<string, number>;
}

export interface PipelineStep {
  n: number;
  title: string;
  /** Returns a skip reason when the step had nothing to do. */
  run(ctx: PipelineContext, runner: Runner): Promise<string | void>;
}

export const STEPS: PipelineStep[] = [
  {
    n: 1,
    title: 'Prerequisites',
    async run(ctx, runner) {
      const results = await runChecksQuietly(runner, ctx.config);
      runner.echo(formatChecklist(results));
      if (results.some((r) => r.required && r.result.status === 'fail'))
        throw new ScriptFailure('prerequisites are missing (see the checklist above)', ExitCode.PREFLIGHT);
      ctx.identity = await resolveIdentity(runner, ctx.config);
    },
  },
  {
    n: 2,
    title: 'Build and test the image',
    async run(ctx, runner) {
      ctx.ref = await imageRef(runner, ctx.config);
      ctx.inEcr = runner.dryRun ? undefined : await ecrDigest(runner, ctx.config, ctx.ref.tag).catch(() => undefined);
      if (ctx.inEcr) return `${ctx.ref.tag} is already in ECR`;
      const built = await buildImage(runner, ctx.config, ctx.ref);
      await smokeTest(runner, ctx.config, ctx.ref);
      if (built === 'cached') return `${ctx.ref.local} already built (smoke test passed)`;
    },
  },
  {
    n: 3,
    title: 'Terraform plan',
    async run(ctx, runner) {
      ctx.plan = await planInfrastructure(runner, ctx.config);
      if (ctx.plan) runner.echo(formatSummary(ctx.plan));
      if (ctx.plan?.noChanges) return 'no changes: the infrastructure matches the configuration';
    },
  },
  {
    n: 4,
    title: 'Terraform apply',
    async run(ctx, runner) {
      if (ctx.plan?.noChanges) return 'nothing to apply (step 3 planned no changes)';
      const r = await applyPlan(runner, ctx.config, ctx.yes);
      if (r === 'declined') throw new ScriptFailure('terraform apply declined');
      if (r === 'no-changes') return 'nothing to apply';
    },
  },
  {
    n: 5,
    title: 'Push the image to ECR',
    async run(ctx, runner) {
      ctx.identity ??= await resolveIdentity(runner, ctx.config);
      ctx.ref ??= await imageRef(runner, ctx.config);
      ctx.pushed = await pushImage(runner, ctx.config, ctx.ref, ctx.identity.account, ctx.inEcr);
      if (ctx.pushed.result === 'already-in-ecr') return `${ctx.pushed.tag} is already in ECR (${ctx.pushed.digest.slice(0, 19)}…)`;
    },
  },
  {
    n: 6,
    title: 'Task definition and service',
    async run(ctx, runner) {
      const known = ctx.ref && ctx.pushed && !runner.dryRun ? { ref: ctx.ref, digest: ctx.pushed.digest } : undefined;
      ctx.registered = await releaseTaskDefinition(runner, ctx.config, ctx.yes, known);
      if (!ctx.registered.changed) return `${ctx.registered.taskDefinitionArn.split('/').pop()} already runs this image: no new revision`;
    },
  },
  {
    n: 7,
    title: 'Verify the deployment',
    async run(ctx, runner) {
      ctx.verified = await waitForDeployment(runner, ctx.config, {
        taskDefinitionArn: ctx.registered?.taskDefinitionArn?.startsWith('arn:') ? ctx.registered.taskDefinitionArn : undefined,
        deploymentId: ctx.registered?.deploymentId,
      });
      runner.echo(formatResult(ctx.verified));
      if (ctx.verified.outcome !== 'ok')
        throw new ScriptFailure(`${ctx.verified.outcome}: ${ctx.verified.message} (diagnosis above)`, OUTCOME_EXIT[ctx.verified.outcome]);
      ctx.url = ctx.verified.url;
    },
  },
  {
    n: 8,
    title: 'Domain (optional)',
    async run(ctx, runner) {
      const r = await pointDomain(runner, ctx.config);
      if (r === 'skipped') return 'DOMAIN_NAME is not set';
      if (r === 'unchanged') return `${ctx.config.domain!.name} already points at the app`;
    },
  },
];

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

/** Run the steps as one listr2 list: each shows its commands, duration, and why it was skipped. */
export async function runPipeline(steps: PipelineStep[], ctx: PipelineContext): Promise<number> {
  let failure: unknown;
  const list = await taskList<PipelineContext>(
    steps.map((step) => ({
      title: `${step.n}. ${step.title}`,
      task: async (_c: PipelineContext, task: ListrTaskWrapper<any, any, any>) => {
        const started = Date.now();
        try {
          const skipped = await step.run(ctx, taskRunner(ctx.runner, task));
          if (skipped) task.title = `${step.n}. ${step.title} — skipped: ${skipped}`;
        } catch (error) {
          if (error instanceof InterruptedError) error.rerun = 'npm run bootstrap (it resumes: each step checks what exists)';
          ctx.failedStep = step.n;
          failure = error;
          throw error;
        } finally {
          ctx.durations[`${step.n}. ${step.title}`] = Date.now() - started;
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
  lines.push(
    `  roll back:       npm run rollback   (or: aws ecs update-service --cluster ${config.names.cluster} --service ${config.names.service} --task-definition ${config.names.family}:<previous revision>)`,
  );
  if (process.env.GITHUB_STEP_SUMMARY && !runner.dryRun) appendFileSync(process.env.GITHUB_STEP_SUMMARY, runner.mask(jobSummary(ctx, url)));
  return runner.mask(lines.join('\n'));
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
    ...(ctx.verified?.diagnosis.length ? ['', '```', ...ctx.verified.diagnosis, '```'] : []),
    '',
  ];
  return rows.join('\n');
}
