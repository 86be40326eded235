// Release the current commit: build and smoke-test the image (skipped when ECR already has it), push it, register the
// task definition by digest with release tags, and verify the deployment (exit 4 when ECS rolled it back).
// Needs:    a bootstrapped stack (npm run bootstrap), BUILD_CONTEXT at the commit to release
// Produces: a verified deployment and its release record
// Next:     open the URL in the summary; npm run logs to watch it (npm run rollback if the release misbehaves)
import {
  isMain,
  LOCK_WAIT_OPTION,
  main,
  SCAN_ALLOW_OPTIONS,
  SCAN_ALLOW_REQUIRES,
  scanAllowOf,
  type ScriptContext,
  type ScriptSpec,
} from '../lib/cli.js';
import { resolveIdentity } from '../lib/aws.js';
import { preflight } from '../lib/preflight.js';
import { terraformOutputs } from '../lib/terraform.js';
import { newContext, type PipelineStep, runRelease, summary } from '../lib/pipeline.js';
import { step as build } from './02-build.js';
import { step as push } from './05-push.js';
import { step as taskDefinition } from './06-taskdef.js';
import { step as verify } from './07-verify.js';

/** A release: the guide's steps 2, 5, 6 and 7, each the definition `npm run step:N` runs. */
export const DEPLOY_STEPS: PipelineStep[] = [build, push, taskDefinition, verify];

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'deploy',
  paths: ['build'],
  options: {
    'lock-wait': LOCK_WAIT_OPTION,
    ...SCAN_ALLOW_OPTIONS,
    'skip-preflight': {
      type: 'boolean',
      description: 'do not ask IAM first whether every call of the deploy is allowed (npm run preflight)',
    },
  },
  requires: SCAN_ALLOW_REQUIRES,
  async main({ runner, config, yes, options }: ScriptContext) {
    const ctx = { ...newContext(config, runner, yes), scanAllow: scanAllowOf(options) };
    try {
      // a permission the deploy lacks stops it here (exit 3), not at minute 5
      if (!options['skip-preflight']) {
        const started = Date.now();
        ctx.identity = await resolveIdentity(runner, config);
        await preflight(runner, config, ctx.identity, await terraformOutputs(runner, config, ctx.identity.account));
        ctx.timeline.add('preflight (IAM)', started, Date.now());
      }
      await runRelease(DEPLOY_STEPS, ctx, options['lock-wait'], 'deploy');
    } catch (error) {
      ctx.error = error;
      throw error;
    } finally {
      process.stdout.write(`${await summary(ctx)}\n`);
    }
  },
};

if (isMain(import.meta.url)) await main(spec);
