// Step 7 — verify the deployment: follow the new PRIMARY deployment (rolloutState, running vs desired, stopped tasks
// and their reasons, target health, service events), polling every second at first and backing off; done when the new
// tasks are healthy, the old ones are out of the ALB (draining: no new requests) and the health URL answers through
// it. It does not wait for the drain itself. A circuit-breaker rollback is a failure.
// Needs:    a deployment started by step 6
// Produces: exit 0 ok, 4 rolled back, 1 failed, 5 timed out, 3 preflight; a diagnosis with fixes on failure
// Next:     npm run step:8 (DNS, when DOMAIN_NAME is set)
import { resolveIdentity } from '../lib/aws.js';
import { integer, isMain, main, matching, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import type { Config } from '../lib/config.js';
import type { Runner } from '../lib/run.js';
import { formatResult, OUTCOME_EXIT, type VerifyOptions, type VerifyResult, waitForDeployment } from '../lib/waiter.js';

export async function step7(runner: Runner, config: Config, options: VerifyOptions = {}): Promise<VerifyResult> {
  await resolveIdentity(runner, config);
  return waitForDeployment(runner, config, options);
}

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'step:7',
  options: {
    'task-definition': {
      type: 'string',
      description: "the task definition ARN the deployment must run (default: the service's current one)",
      parse: matching(
        /^(arn:aws[\w-]*:ecs:[a-z0-9-]+:\d{12}:task-definition\/)?[A-Za-z0-9_-]{1,255}(:\d{1,9})?$/,
        'a task definition ARN or family:revision',
      ),
    },
    timeout: { type: 'string', description: 'seconds to wait (default: DEPLOY_TIMEOUT_SECONDS)', parse: integer(1, 7200) },
    url: {
      type: 'string',
      description: 'URL to probe instead of http://<ALB DNS name><HEALTH_PATH>',
      parse: matching(/^https?:\/\/[^\s]{1,2000}$/, 'an http:// or https:// URL'),
    },
  },
  async main({ runner, config, options }: ScriptContext) {
    const r = await step7(runner, config, {
      taskDefinitionArn: options['task-definition'],
      timeoutSeconds: options.timeout,
      url: options.url,
    });
    process.stdout.write(`${runner.mask(formatResult(r))}\n`);
    return OUTCOME_EXIT[r.outcome];
  },
};

if (isMain(import.meta.url)) await main(spec);
