// Step 7 — verify the deployment: follow the new PRIMARY deployment (rolloutState, running vs desired, stopped tasks
// and their reasons, target health, service events), polling every second at first and backing off; done when the new
// tasks are healthy, the old ones are out of the ALB (draining: no new requests) and the health URL answers through
// it. It does not wait for the drain itself. A circuit-breaker rollback is a failure. A crash loop (CRASH_LOOP_TASKS new
// tasks stopped before any was healthy) is stopped at once: the service goes back to the revision before (exit 4). A
// deployment this run started is then baked (BAKE_SECONDS): a task of it that stops in that window rolls it back too.
// A native strategy (DEPLOY_STRATEGY blue-green, canary, linear) is followed through ECS's own stages instead: the
// share of the traffic on the new release at each shift, then ECS's bake, to SUCCESSFUL or ECS's rollback (exit 4
// naming the alarm); a crash loop, or a task of the new release stopping while it serves, is stopped with ROLLBACK.
// Needs:    a deployment started by step 6
// Produces: exit 0 ok, 4 rolled back, 1 failed, 5 timed out, 3 preflight; a diagnosis with fixes on failure
// Next:     npm run step:8 (DNS, when DOMAIN_NAME is set)
import { resolveIdentity } from '../lib/aws.js';
import { integer, isMain, main, matching, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import { ScriptFailure } from '../lib/errors.js';
import { newContext, type PipelineStep, runStep } from '../lib/pipeline.js';
import { bakeDeployment, formatResult, OUTCOME_EXIT, type VerifyResult } from '../lib/waiter.js';
import type { Config } from '../lib/config.js';
import { sh, type Runner } from '../lib/run.js';
import { addVerifyPhases } from '../lib/timeline.js';
import { followDeployment } from '../lib/strategy.js';

/**
 * The guide's "wait, then look": instead of a blind 10-minute wait, poll until the deployment is serving. Each poll
 * is these commands, made through the SDK (lib/ecs.ts; `--dry-run` prints them):
 *   aws ecs describe-services --cluster <cluster> --services <service>       rollout state, counts, events
 *   aws ecs list-tasks / describe-tasks --started-by <deployment id>         running and stopped tasks, exit codes
 *   aws elbv2 describe-target-health --target-group-arn <target group>       healthy, draining, the reason why not
 *   curl -fsS http://<ALB DNS name><HEALTH_PATH>                             once the new tasks alone serve
 */
export const step: PipelineStep = {
  n: 7,
  title: 'Verify the deployment',
  async run(ctx, runner, report) {
    ctx.identity ??= await resolveIdentity(runner, ctx.config);
    const started = ctx.registered;
    const followStarted = Date.now();
    // blue-green, canary, linear: ECS's stages and the share of the traffic, to ECS's own end (its bake included);
    // step 6 says how the service deploys (ROLLING unless it says otherwise), step 7 alone asks the service
    const followed = await followDeployment(runner, ctx.config, {
      strategy: started ? (started.strategy ?? 'ROLLING') : undefined,
      taskDefinitionArn: started?.taskDefinitionArn?.startsWith('arn:') ? started.taskDefinitionArn : undefined,
      deploymentId: started?.deploymentId,
      ...ctx.verify,
    });
    const native = followed.native;
    let r = (ctx.verified = followed.result);
    if (native) ctx.timeline.add('ECS stages (traffic shifts, bake)', followStarted, Date.now());
    // a deployment this run started is watched a while longer once healthy: a task that stops then fails it
    if (!native && r.outcome === 'ok' && started?.deploymentId) {
      const bakeStarted = Date.now();
      r = ctx.verified = await bakeDeployment(runner, ctx.config, r, ctx.verify?.bakeSeconds ?? ctx.config.bakeSeconds, ctx.verify);
      ctx.timeline.add('bake', bakeStarted, Date.now());
    }
    // the new tasks' provisioning, pull and start, their health checks, the old tasks out: the deploy's timeline
    addVerifyPhases(ctx.timeline, r.milestones);
    // a crash loop or a failed bake: the service goes back to the release before at once (ECS stops the tasks)
    if (r.rollBackTo) await rollBack(runner, ctx.config, r);
    report(
      runner.dryRun ? '(dry run) would follow the deployment until its tasks are healthy and the health URL answers' : formatResult(r),
    );
    if (r.outcome !== 'ok') throw new ScriptFailure(`${r.outcome}: ${r.message} (diagnosis above)`, OUTCOME_EXIT[r.outcome]);
    ctx.url = r.url;
  },
};

/** Point the service back at the revision before; the deployment is then rolled back, as ECS's own rollback says. */
async function rollBack(runner: Runner, config: Config, r: VerifyResult): Promise<void> {
  await runner.run(
    sh`aws ecs update-service --cluster ${config.names.cluster} --service ${config.names.service} --task-definition ${r.rollBackTo!} --region ${config.region} --output json --query service.deployments[0].[id,status,rolloutState]`,
  );
  r.outcome = 'rolled-back';
  r.message = `${r.message}; rolled back to ${r.rollBackTo!.split('/').pop()}`;
}

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'step:7',
  options: {
    'task-definition': {
      type: 'string',
      placeholder: 'ARN',
      description: "the task definition ARN the deployment must run (default: the service's current one)",
      parse: matching(
        /^(arn:aws[\w-]*:ecs:[a-z0-9-]+:\d{12}:task-definition\/)?[A-Za-z0-9_-]{1,255}(:\d{1,9})?$/,
        'a task definition ARN or family:revision',
      ),
    },
    timeout: {
      type: 'string',
      placeholder: 'seconds',
      description: 'seconds to wait (default: DEPLOY_TIMEOUT_SECONDS)',
      parse: integer(1, 7200),
    },
    url: {
      type: 'string',
      placeholder: 'url',
      description: 'URL to probe instead of http://<ALB DNS name><HEALTH_PATH>',
      parse: matching(/^https?:\/\/[^\s]{1,2000}$/, 'an http:// or https:// URL'),
    },
  },
  async main({ runner, config, yes, options }: ScriptContext) {
    const ctx = newContext(config, runner, yes);
    ctx.verify = { taskDefinitionArn: options['task-definition'], timeoutSeconds: options.timeout, url: options.url };
    await runStep(step, ctx);
  },
};

if (isMain(import.meta.url)) await main(spec);
