// Steps 1-8 of the guide as one task list: prerequisites, build, terraform plan and apply, push, task definition,
// verify, DNS. Resumable: each step checks the real state and skips what is done, with the reason.
// Needs:    what step 1 checks; .env (LLMOPS_ENV_FILE=.env,.sandbox/env to rehearse it in the local sandbox)
// Produces: the stack and the app answering on its URL; a summary (URL, image digest, revision, durations, rollback
//           command)
// Next:     npm run deploy for every later release
import { integer, isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import { LOCK_WAIT_OPTION, underDeployLock } from '../lib/lock.js';
import { type PipelineContext, runPipeline, selectSteps, stepList, STEPS, summary } from '../lib/pipeline.js';

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'bootstrap',
  conflicts: [['from', 'only']],
  paths: ['build'],
  options: {
    from: { type: 'string', description: 'start at step N (the steps before it are assumed done)', parse: integer(1, 8) },
    only: { type: 'string', description: 'run only these steps, e.g. 5,6,7', parse: stepList },
    'lock-wait': LOCK_WAIT_OPTION,
  },
  async main({ runner, config, yes, options }: ScriptContext) {
    const steps = selectSteps(STEPS, options);
    const ctx: PipelineContext = { config, runner, yes, durations: {} };
    // steps 1-4 build the infrastructure (Terraform locks its own state); 5-8 change the service: locked
    const before = steps.filter((s) => s.n < 5);
    const after = steps.filter((s) => s.n >= 5);
    try {
      if (before.length) await runPipeline(before, ctx);
      if (after.length) await underDeployLock(runner, config, options['lock-wait'], 'bootstrap', () => runPipeline(after, ctx));
    } catch (error) {
      ctx.error = error;
      throw error;
    } finally {
      process.stdout.write(`${await summary(ctx)}\n`);
    }
  },
};

if (isMain(import.meta.url)) await main(spec);
