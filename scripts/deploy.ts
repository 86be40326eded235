// Release the current commit: build and smoke-test the image (skipped when ECR already has it), push it, register the
// task definition by digest with release tags, and verify the deployment (exit 4 when ECS rolled it back).
// Needs:    a bootstrapped stack (npm run bootstrap), BUILD_CONTEXT at the commit to release
// Produces: a verified deployment and its release record
// Next:     npm run rollback to return to the previous release
import { isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import { LOCK_WAIT_OPTION, underDeployLock } from '../lib/lock.js';
import { type PipelineContext, runPipeline, STEPS, summary } from '../lib/pipeline.js';

export const DEPLOY_STEPS = STEPS.filter((s) => [2, 5, 6, 7].includes(s.n));

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'deploy',
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
