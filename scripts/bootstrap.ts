// Steps 1-8 of the guide as one task list: prerequisites, build, terraform plan and apply, push, task definition,
// verify, DNS. Resumable: each step checks the real state and skips what is done, with the reason.
// Needs:    what step 1 checks; .env (LLMOPS_ENV_FILE=.env,.sandbox/env to rehearse it in the local sandbox)
// Produces: the stack and the app answering on its URL; a summary (URL, image digest, revision, durations, rollback
//           command)
// Next:     npm run deploy for every later release
import { integer, isMain, LOCK_WAIT_OPTION, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import { underDeployLock } from '../lib/lock.js';
import { newContext, type PipelineStep, preflightOf, runPipeline, selectSteps, stepList, summary } from '../lib/pipeline.js';
import { step as prerequisites } from './01-prereqs.js';
import { step as build } from './02-build.js';
import { step as plan } from './03-plan.js';
import { step as apply } from './04-apply.js';
import { step as push } from './05-push.js';
import { step as taskDefinition } from './06-taskdef.js';
import { step as verify } from './07-verify.js';
import { step as domain } from './08-dns.js';

/** The guide's steps 1-8, each the definition `npm run step:N` runs. */
export const STEPS: PipelineStep[] = [prerequisites, build, plan, apply, push, taskDefinition, verify, domain];

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'bootstrap',
  conflicts: [['from', 'only']],
  paths: ['build'],
  // what a selected step would refuse (step 3: no certificate, a placeholder in terraform.tfvars) is refused now
  preflight: (options, config) => preflightOf(selectSteps(STEPS, options), config),
  options: {
    from: { type: 'string', description: 'start at step N (the steps before it are assumed done)', parse: integer(1, 8) },
    only: { type: 'string', description: 'run only these steps, e.g. 5,6,7', parse: stepList },
    'lock-wait': LOCK_WAIT_OPTION,
  },
  async main({ runner, config, yes, options }: ScriptContext) {
    const steps = selectSteps(STEPS, options);
    const ctx = newContext(config, runner, yes);
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
