// Deploy — the guide's "update deploy" for every release after bootstrap: build (skipped when ECR
// already holds the commit's image), push, task definition by digest, verify.
// Needs:    a bootstrapped stack; the app checkout at the commit to release.
// Produces: a new deployment, verified; the release recorded in the task definition's tags (git sha,
//           digest, time) where `npm run rollback` finds it without any local file.
// Next:     npm run rollback if the release misbehaves later.
import { isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import { LOCK_WAIT_OPTION, underDeployLock } from '../lib/lock.js';
import { type PipelineContext, runPipeline, STEPS, summary } from '../lib/pipeline.js';

export const DEPLOY_STEPS = STEPS.filter((s) => [2, 5, 6, 7].includes(s.n));

export const spec: ScriptSpec = {
  command: 'deploy',
  summary:
    'Release the current commit: build and smoke-test the image (skipped when ECR already has it), push it, register the task definition by digest with release tags, and verify the deployment (exit 4 when ECS rolled it back).',
  needs: 'a bootstrapped stack (npm run bootstrap), BUILD_CONTEXT at the commit to release',
  produces: 'a verified deployment and its release record',
  next: 'npm run rollback to return to the previous release',
  paths: ['build'],
  options: {
    'lock-wait': LOCK_WAIT_OPTION,
  },
  async main({ runner, config, yes, options }: ScriptContext) {
    const ctx: PipelineContext = { config, runner, yes, durations: {} };
    try {
      await underDeployLock(runner, config, options['lock-wait'], 'deploy', () => runPipeline(DEPLOY_STEPS, ctx));
    } catch (error) {
      ctx.error = error;
      throw error;
    } finally {
      process.stdout.write(`${await summary(ctx)}\n`);
    }
  },
};

if (isMain(import.meta.url)) await main(spec);
