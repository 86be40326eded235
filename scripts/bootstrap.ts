// Steps 1-8 of the guide as one task list: prerequisites, build, terraform plan and apply, push, task definition,
// verify, DNS. Resumable: each step checks the real state and skips what is done, with the reason.
// Needs:    what step 1 checks; .env (LLMOPS_ENV_FILE=.env,.sandbox/env to rehearse it in the local sandbox)
// Produces: the stack and the app answering on its URL; a summary (URL, image digest, revision, durations, rollback
//           command)
// Next:     npm run deploy for every later release
import {
  integer,
  isMain,
  LOCK_WAIT_OPTION,
  main,
  SCAN_ALLOW_OPTIONS,
  SCAN_ALLOW_REQUIRES,
  scanAllowOf,
  type ScriptContext,
  type ScriptSpec,
} from '../lib/cli.js';
import { resolve } from 'node:path';
import type { Config } from '../lib/config.js';
import { readEnvFiles } from '../lib/envfiles.js';
import type { ConfigProblem } from '../lib/errors.js';
import { newContext, type PipelineStep, preflightOf, runPipeline, runRelease, selectSteps, stepList, summary } from '../lib/pipeline.js';
import { step as prerequisites } from './01-prereqs.js';
import { step as build } from './02-build.js';
import { step as plan } from './03-plan.js';
import { step as apply } from './04-apply.js';
import { step as push } from './05-push.js';
import { step as taskDefinition } from './06-taskdef.js';
import { step as verify } from './07-verify.js';
import { step as domain } from './08-dns.js';
import { SANDBOX_ACCOUNT, SANDBOX_DIR } from '../sandbox/control.js';

/**
 * The sandbox: every AWS client points at a loopback endpoint, set in the environment or in an env file
 * (`npm run sandbox:up` writes `.sandbox/env`; the files reach the environment only after this check).
 */
export function inSandbox(env: NodeJS.ProcessEnv): boolean {
  return [env.AWS_ENDPOINT_URL, readEnvFiles(env).vars.AWS_ENDPOINT_URL].some((url) =>
    /^https?:\/\/(127\.|localhost[:/]|\[::1\])/.test(url ?? ''),
  );
}

/**
 * What a stack in a new account needs from you and the rehearsal fills in (`npm run demo` lists them): the
 * account the run may touch, and where alarms go (.env.example's address reaches nobody). The app and the
 * certificate (or the plain-HTTP opt-in) are checked by the steps' own preflight.
 */
export function newAccountProblems(config: Config, env: NodeJS.ProcessEnv = process.env): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (!config.expectedAccountId)
    problems.push({
      variable: 'EXPECTED_ACCOUNT_ID',
      message:
        'not set: bootstrap creates a whole stack, so name the one account it may touch: EXPECTED_ACCOUNT_ID=<12 digits> in .env (aws sts get-caller-identity --query Account --output text)',
    });
  if (!inSandbox(env) && /@example\.(com|org|net)$/i.test(config.alarmEmail ?? ''))
    problems.push({
      variable: 'ALARM_EMAIL',
      value: config.alarmEmail,
      message: "is .env.example's address, which reaches nobody: set ALARM_EMAIL=<your team's address> in .env",
    });
  return problems;
}

/** After a rehearsal (`npm run demo`): what the sandbox filled in that your account needs from you, as .env lines. */
export function rehearsalFilledIn(config: Config, env: NodeJS.ProcessEnv = process.env): string[] {
  if (!inSandbox(env)) return [];
  const lines: string[] = [];
  if (resolve(config.app.buildContext).startsWith(SANDBOX_DIR))
    lines.push("  BUILD_CONTEXT=<your app's git checkout>        # the rehearsal built its sample app");
  if (config.expectedAccountId === SANDBOX_ACCOUNT) lines.push("  EXPECTED_ACCOUNT_ID=<your 12-digit account id>  # the sandbox's account");
  if (/@example\.(com|org|net)$/i.test(config.alarmEmail ?? ''))
    lines.push("  ALARM_EMAIL=<your team's address>             # alarms went to nobody");
  if (!config.domain && config.allowPlainHttp)
    lines.push(
      '  DOMAIN_NAME=<app.your-domain> and HOSTED_ZONE_ID=<zone> for HTTPS, or ALLOW_PLAIN_HTTP=true knowingly  # the sandbox served plain HTTP',
    );
  return lines.length ? ['', 'Your own account needs in .env what this rehearsal filled in:', ...lines] : [];
}

/** The guide's steps 1-8, each the definition `npm run step:N` runs. */
export const STEPS: PipelineStep[] = [prerequisites, build, plan, apply, push, taskDefinition, verify, domain];

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'bootstrap',
  conflicts: [['from', 'only']],
  paths: ['build'],
  // what a selected step would refuse (step 3: no certificate, a placeholder in terraform.tfvars) is refused now,
  // and, when this run creates the stack (step 3), what a new account needs from you that the rehearsal fills in
  preflight: (options, config) => {
    const steps = selectSteps(STEPS, options);
    return [...(steps.includes(plan) ? newAccountProblems(config) : []), ...preflightOf(steps, config)];
  },
  options: {
    from: { type: 'string', placeholder: 'N', description: 'start at step N (the steps before it are assumed done)', parse: integer(1, 8) },
    only: { type: 'string', placeholder: 'N,M', description: 'run only these steps, e.g. 5,6,7', parse: stepList },
    'lock-wait': LOCK_WAIT_OPTION,
    ...SCAN_ALLOW_OPTIONS,
  },
  requires: SCAN_ALLOW_REQUIRES,
  async main({ runner, config, yes, options }: ScriptContext) {
    const steps = selectSteps(STEPS, options);
    const ctx = { ...newContext(config, runner, yes), scanAllow: scanAllowOf(options) };
    // steps 1-4 build the infrastructure (Terraform locks its own state); 5-8 change the service: locked
    const before = steps.filter((s) => s.n < 5);
    const after = steps.filter((s) => s.n >= 5);
    try {
      if (before.length) await runPipeline(before, ctx);
      if (after.length) await runRelease(after, ctx, options['lock-wait'], 'bootstrap');
    } catch (error) {
      ctx.error = error;
      throw error;
    } finally {
      process.stdout.write(`${[await summary(ctx), ...rehearsalFilledIn(config)].join('\n')}\n`);
    }
  },
};

if (isMain(import.meta.url)) await main(spec);
