// The step pipeline bootstrap and deploy run, in seconds (the end-to-end file runs it against the sandbox):
// a dry run of steps 1-8 prints each step's commands in the guide's order and runs none; a failing step stops
// the list, is named and timed; a skipped step says why; the summary and the GitHub job summary.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../lib/config.js';
import { ExitCode, InterruptedError, ScriptFailure } from '../lib/errors.js';
import {
  headline,
  jobSummary,
  newContext,
  type PipelineContext,
  type PipelineStep,
  runPipeline,
  runStep,
  summary,
} from '../lib/pipeline.js';
import { STEPS } from '../scripts/bootstrap.js';
import { DEPLOY_STEPS } from '../scripts/deploy.js';
import { Runner } from '../lib/run.js';
import { Timeline } from '../lib/timeline.js';
import { scratchCheckout } from '../lib/runbook.js';
import { fakeBins } from './helpers/fake-bin.js';
import { AwsError, fakeAws } from './helpers/fake-aws.js';
import { withEnv } from './helpers/script.js';

process.env.LLMOPS_STATE_DIR = mkdtempSync(join(tmpdir(), 'pipeline-state-'));
const DIGEST = `sha256:${'ab'.repeat(32)}`;

/** A stand-in app checkout and a copy of terraform/*.tf without any working state (the runbook's). */
const scratch = scratchCheckout;

/** What the simple renderer (and anything else) wrote to stdout while `fn` ran: no colours, no timers. */
async function stdoutOf(fn: () => Promise<unknown>): Promise<{ out: string[]; error?: any }> {
  const out: string[] = [];
  const write = process.stdout.write;
  const plain = (chunk: unknown) =>
    String(chunk)
      .replace(/\x1b\[[0-9;]*m/g, '')
      .replace(/\s*\[\d+(\.\d+)?m?s\]/g, '')
      .replace(/[ \t]+\n/g, '\n');
  process.stdout.write = ((chunk: unknown) => (out.push(plain(chunk)), true)) as any;
  try {
    await fn();
    return { out };
  } catch (error) {
    return { out, error };
  } finally {
    process.stdout.write = write;
  }
}

const ctxOf = (runner: Runner, yes = true, env: Record<string, string> = {}): PipelineContext => ({
  config: loadConfig({ env, envFile: '' }),
  runner,
  yes,
  durations: {},
  timeline: new Timeline(),
});

test('bootstrap in a dry run: steps 1-8 print their commands in order and run none; each is timed; the summary', async () => {
  const { app, terraform } = scratch();
  const trace = join(mkdtempSync(join(tmpdir(), 'pipeline-trace-')), 'argv');
  const lines: string[] = [];
  const runner = new Runner({ dryRun: true, echo: (l) => lines.push(l) });
  const ctx = ctxOf(runner, true, { LLMOPS_BUILD_CONTEXT: app, TF_DIR: terraform, LLMOPS_ALLOW_PLAIN_HTTP: 'true' });
  const code = await withEnv(
    {
      LLMOPS_RENDERER: 'silent',
      LLMOPS_TRACE_ARGV: trace,
      GITHUB_STEP_SUMMARY: undefined,
      AWS_ENDPOINT_URL: undefined,
      AWS_ENDPOINT_URL_S3: undefined,
    },
    () => runPipeline(STEPS, ctx),
  );
  assert.is(code, ExitCode.OK);
  const commands = readFileSync(trace, 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as string[][]).map((c) => c.slice(0, 3).join(' ').replace(terraform, 'TF').replace(app, 'APP')).join(' | '));
  assert.equal(commands, [
    // 1: the tools and who we are
    'aws --version',
    'terraform version -json',
    'docker --version',
    'docker info --format',
    'git --version',
    'gh --version',
    'aws sts get-caller-identity',
    'git -C APP',
    // 2: the image of the current commit, built and smoke-tested
    'git -C APP',
    'docker image inspect',
    'docker build --platform',
    'docker run -d',
    // the CA bundle the tasks check the database with is in the image (DB_SSL_MODE=verify-full)
    'docker cp llmops-smoke-' + process.pid + ':/etc/ssl/certs/rds-global-bundle.pem',
    'docker rm -f',
    // 3: the state bucket, init, plan (the account step 1 found: no second look)
    'aws s3api head-bucket',
    'aws s3api create-bucket',
    'aws s3api put-bucket-versioning',
    'aws s3api put-bucket-encryption',
    'aws s3api put-public-access-block',
    'aws s3api put-bucket-policy',
    'terraform -chdir=TF init',
    'terraform -chdir=TF plan',
    // 4: apply the saved plan
    'terraform -chdir=TF apply',
    // 5: push unless ECR has it
    'aws ecr describe-images',
    'docker image inspect',
    'aws ecr get-login-password | docker login --username',
    'docker tag llmops-system:<GIT_SHA>',
    'docker push <ACCOUNT_ID>.dkr.ecr.us-east-1.amazonaws.com/llmops-system:<GIT_SHA>',
    // 6: the task definition and the service
    'aws sts get-caller-identity',
    'git -C APP',
    'aws s3 cp',
    'aws ecs describe-services',
    // the scan gate: the image's findings before anything is registered
    'aws ecr describe-image-scan-findings',
    'aws ecs register-task-definition',
    // the app's own database user, before any task of the release: its task registered and run once
    'aws ecs register-task-definition',
    'aws ecs describe-services',
    'aws ecs run-task',
    'aws ecs describe-tasks',
    'aws logs get-log-events',
    'aws ecs update-service',
    // 7: verify
    'aws ecs describe-services',
    'aws ecs list-tasks',
    'aws elbv2 describe-target-health',
    'curl -fsS http://<ALB_DNS_NAME>/health',
  ]);
  assert.equal(Object.keys(ctx.durations), [
    '1. Prerequisites',
    '2. Build and test the image',
    '3. Terraform plan',
    '4. Terraform apply',
    '5. Push the image to ECR',
    '6. Task definition and service',
    '7. Verify the deployment',
    '8. Domain (optional)',
  ]);
  assert.ok(
    Object.values(ctx.durations).every((ms) => ms >= 0 && ms < 60_000),
    'each step timed from its start',
  );
  assert.is(ctx.failedStep, undefined);
  assert.is(ctx.pushed?.result, 'pushed');
  assert.is(ctx.pushed?.image, '<ACCOUNT_ID>.dkr.ecr.us-east-1.amazonaws.com/llmops-system@<IMAGE_DIGEST>');
  assert.is(ctx.verified?.outcome, 'ok');
  assert.equal(lines, [], 'everything a step prints goes to its task, not around the list');

  ctx.durations = { '1. Prerequisites': 1234, '5. Push the image to ECR': 56789 };
  const text = await summary(ctx);
  assert.is(
    text,
    [
      '',
      'Summary',
      '  image:           <ACCOUNT_ID>.dkr.ecr.us-east-1.amazonaws.com/llmops-system@<IMAGE_DIGEST>',
      '  task definition: <TASK_DEFINITION_ARN> (new)',
      '  1. Prerequisites                   1.2 s',
      '  5. Push the image to ECR           56.8 s',
      '  total: 58.0 s',
      '  roll back:       npm run rollback   # to the release before <TASK_DEFINITION_ARN>',
    ].join('\n'),
  );
});

test('a failing step stops the list: named, timed, the later steps never run; a skipped step says why; an interrupt says how to resume', async () => {
  const ran: number[] = [];
  const step = (n: number, run: PipelineStep['run']): PipelineStep => ({
    n,
    title: `Step ${n}`,
    run: async (ctx, runner, report) => {
      ran.push(n);
      return run(ctx, runner, report);
    },
  });
  const steps = [
    step(1, async () => 'nothing to do'),
    step(2, async (_ctx, runner) => runner.echo('hello from two')),
    step(3, async () => {
      throw new ScriptFailure('boom', ExitCode.PREFLIGHT);
    }),
    step(4, async () => {}),
  ];
  const ctx = ctxOf(new Runner({ echo: () => assert.unreachable('a step echoes into its task') }), false);
  const { out, error } = await withEnv({ LLMOPS_RENDERER: 'silent' }, () => stdoutOf(() => runPipeline(steps, ctx)));
  assert.instance(error, ScriptFailure);
  assert.is(error.message, 'boom');
  assert.equal(ran, [1, 2, 3]);
  assert.is(ctx.failedStep, 3);
  assert.equal(Object.keys(ctx.durations), ['1. Step 1', '2. Step 2', '3. Step 3']);
  // the timeline has each step that ran, the failed one included, in order and each after the one before
  const phases = ctx.timeline.ordered();
  assert.equal(
    phases.map((p) => p.name),
    ['1. Step 1', '2. Step 2', '3. Step 3'],
  );
  assert.ok(phases.every((p, i) => p.end >= p.start && (i === 0 || p.start >= phases[i - 1]!.end)));
  // without --yes the list is always the simple one (LLMOPS_RENDERER=silent is not taken)
  assert.equal(out, [
    '❯ 1. Step 1\n',
    '✔ 1. Step 1 — skipped: nothing to do\n',
    '❯ 2. Step 2\n',
    '› hello from two\n',
    '✔ 2. Step 2\n',
    '❯ 3. Step 3\n',
  ]);

  // with --yes the renderer is chosen (LLMOPS_RENDERER, else by terminal and CI)
  const quiet = await withEnv({ LLMOPS_RENDERER: 'silent' }, () =>
    stdoutOf(() => runPipeline([step(5, async () => 'done already')], ctxOf(new Runner(), true))),
  );
  assert.equal(quiet, { out: [] });

  const interrupted = ctxOf(new Runner(), true);
  const stopped = await withEnv({ LLMOPS_RENDERER: 'silent' }, () =>
    runPipeline(
      [
        step(6, async () => {
          throw new InterruptedError('SIGINT', 'terraform apply', 'not started');
        }),
      ],
      interrupted,
    ).catch((e) => e),
  );
  assert.instance(stopped, InterruptedError);
  assert.is(stopped.rerun, 'npm run bootstrap (it resumes: each step checks what exists)');
  assert.is(interrupted.failedStep, 6);
});

test('steps on what earlier steps learnt: apply skipped after a plan without changes; push skipped for an image in ECR; no domain; missing tools stop step 1', async () => {
  const step = (n: number) => STEPS.find((s) => s.n === n)!;
  const runner = new Runner({ echo: () => {} });
  const ctx = ctxOf(runner);
  ctx.plan = { noChanges: true } as any;
  assert.is(await step(4).run(ctx, runner, () => {}), 'nothing to apply (step 3 planned no changes)');

  ctx.identity = { account: '123456789012', arn: 'arn:aws:iam::123456789012:user/x', region: 'us-east-1' };
  ctx.ref = { tag: 'abc123', local: 'llmops-system:abc123' } as any;
  ctx.inEcr = DIGEST;
  assert.is(await step(5).run(ctx, runner, () => {}), 'abc123 is already in ECR (sha256:abababababab…)');
  assert.is(ctx.pushed?.result, 'already-in-ecr');

  assert.is(await step(8).run(ctx, runner, () => {}), 'DOMAIN_NAME is not set');

  const none = fakeBins();
  const bare = new Runner({ echo: () => {}, env: { PATH: none.dir } });
  const error = await step(1)
    .run(ctxOf(bare), bare, () => {})
    .catch((e) => e);
  assert.instance(error, ScriptFailure);
  assert.is(error.exitCode, ExitCode.PREFLIGHT);
  assert.is(error.message, 'prerequisites are missing (see the checklist above)');
});

test('step 2 on what it finds: an image already in ECR is neither built nor tested; one already built is smoke-tested only; a new one is built and tested', async () => {
  const server = createServer((_req, res) => res.writeHead(200).end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const SHA = 'c0ffee'.repeat(6) + 'c0ff';
  // ECR's answer through the SDK: the digest `digest` names, else ImageNotFoundException
  let digest: string | undefined;
  const ecr = await fakeAws((call) =>
    call.name !== 'ecr describe-images'
      ? new AwsError(400, 'Unexpected', call.name)
      : digest
        ? { imageDetails: [{ imageDigest: digest }] }
        : new AwsError(400, 'ImageNotFoundException', 'not found'),
  );
  const fakes = fakeBins({
    git: `case "$3" in rev-parse) echo ${SHA};; status) echo;; remote) exit 2;; esac`,
    docker: `case "$1" in
  image) [ -n "$FAKE_BUILT" ] && echo linux/amd64 || exit 1;;
  build) echo "Successfully built";;
  run) echo cid;;
  port) echo 127.0.0.1:${port};;
  inspect) echo "true 0";;
  rm) ;;
esac`,
  });
  const stepTwo = STEPS.find((s) => s.n === 2)!;
  const app = mkdtempSync(join(tmpdir(), 'pipeline-app-'));
  writeFileSync(join(app, 'Dockerfile'), 'FROM scratch\n');
  const attempt = async (fake: Record<string, string>) => {
    const before = fakes.calls().length;
    const runner = new Runner({
      echo: () => {},
      env: { PATH: `${fakes.dir}:${process.env.PATH}`, AWS_ENDPOINT_URL: undefined, CI: undefined, ...fake },
    });
    const ctx = ctxOf(runner, true, { LLMOPS_BUILD_CONTEXT: app });
    digest = fake.FAKE_DIGEST;
    const skipped = await withEnv({ ...ecr.env, CI: undefined }, () => stepTwo.run(ctx, runner, () => {}));
    const docker = fakes
      .calls()
      .slice(before)
      .filter((c) => c[0] === 'docker')
      .map((c) => c[1]);
    return { skipped, ctx, docker };
  };
  try {
    const inEcr = await attempt({ FAKE_DIGEST: DIGEST });
    assert.equal([inEcr.skipped, inEcr.ctx.inEcr, inEcr.docker], [`${SHA.slice(0, 12)} is already in ECR`, DIGEST, []]);
    const cached = await attempt({ FAKE_BUILT: '1' });
    assert.is(cached.skipped, `llmops-system:${SHA.slice(0, 12)} already built (smoke test passed)`);
    assert.is(cached.ctx.inEcr, undefined);
    assert.equal(cached.docker, ['image', 'run', 'port', 'cp', 'rm'], 'smoke-tested (and the CA bundle found), not built');
    const built = await attempt({});
    assert.is(built.skipped, undefined, 'a step that did its work has no skip reason');
    assert.equal(built.docker, ['image', 'build', 'run', 'port', 'cp', 'rm']);
  } finally {
    server.close();
    ecr.close();
  }
});

test('the summary: the URL without the health path, read from Terraform unless a step failed; unchanged revision; migration; the job summary file', async () => {
  const tf = fakeBins();
  // the outputs the stack published beside its state (terraform/outputs.tf), read through the SDK
  const s3 = await fakeAws((call) =>
    call.name === 's3 cp' && call.input.url === 's3://llmops-tfstate-123456789012/llmops/outputs.json'
      ? { app_url: 'http://alb.example/health' }
      : undefined,
  );
  const dir = mkdtempSync(join(tmpdir(), 'pipeline-tf-'));
  const runner = new Runner({
    echo: () => {},
    env: { PATH: `${tf.dir}:${process.env.PATH}`, AWS_ENDPOINT_URL: undefined },
    secrets: ['hunter2-secret'],
  });
  const ctx = ctxOf(runner, true, { TF_DIR: dir });
  ctx.identity = { account: '123456789012', arn: 'arn:aws:iam::123456789012:user/x', region: 'us-east-1' };
  ctx.registered = {
    taskDefinitionArn: 'arn:aws:ecs:us-east-1:123456789012:task-definition/llmops-task:7',
    changed: false,
    migrated: { taskArn: 'arn:aws:ecs:us-east-1:123456789012:task/llmops-cluster/0123abcd' },
  } as any;
  ctx.durations = { '6. Task definition and service': 2000 };
  const file = join(dir, 'step-summary.md');
  writeFileSync(file, '');
  const text = await withEnv({ ...s3.env, GITHUB_STEP_SUMMARY: file }, () => summary(ctx)).finally(() => s3.close());
  assert.equal(text.split('\n').slice(0, 6), [
    '',
    'Summary',
    '  URL:             http://alb.example',
    '  task definition: arn:aws:ecs:us-east-1:123456789012:task-definition/llmops-task:7 (unchanged)',
    '  migration:       task 0123abcd exited 0',
    '  6. Task definition and service     2.0 s',
  ]);
  const job = readFileSync(file, 'utf8');
  assert.match(job, '### ✅ Deploy — llmops-service');
  assert.match(job, '| URL | http://alb.example/health |');
  assert.match(job, '| task definition | `llmops-task:7` (unchanged) |');

  // after a failure, no Terraform call for a line of summary
  const calls = tf.calls().length;
  ctx.failedStep = 6;
  ctx.error = new Error('boom hunter2-secret');
  writeFileSync(file, '');
  const failed = await withEnv({ GITHUB_STEP_SUMMARY: file }, () => summary(ctx));
  assert.is(tf.calls().length, calls);
  assert.not.match(failed, 'URL:');
  assert.match(readFileSync(file, 'utf8'), '### ❌ Deploy failed at step 6 (exit 1) — llmops-service');

  // a dry run writes no job summary
  writeFileSync(file, '');
  const dry = ctxOf(new Runner({ dryRun: true, echo: () => {} }));
  await withEnv({ GITHUB_STEP_SUMMARY: file }, () => summary(dry));
  assert.is(readFileSync(file, 'utf8'), '');
});

test('a step alone (npm run step:N): the same definition, its result on stdout, masked; a skip reason says so; nothing is timed', async () => {
  const runner = new Runner({
    echo: () => assert.unreachable('alone, a step echoes nothing but its commands'),
    secrets: ['hunter2-secret'],
  });
  const ctx = newContext(loadConfig({ env: {}, envFile: '' }), runner, true);
  const seen: PipelineContext[] = [];
  const step: PipelineStep = {
    n: 5,
    title: 'Five',
    run: async (c, r, report) => {
      seen.push(c);
      assert.is(r, runner, "the script's own runner: commands on stderr");
      report('✓ pushed with hunter2-secret');
      return 'already there';
    },
  };
  const { out } = await stdoutOf(() => runStep(step, ctx));
  assert.equal(out, ['✓ pushed with ***\n', 'skipped: already there\n']);
  assert.equal(seen, [ctx]);
  assert.equal(ctx.durations, {});
  const done = await stdoutOf(() => runStep({ ...step, run: async () => undefined }, ctx));
  assert.equal(done.out, [], 'a step that did its work and reported nothing prints nothing');
  // deploy is steps 2, 5, 6 and 7 of bootstrap's list, the same objects
  assert.equal(
    DEPLOY_STEPS.map((s) => STEPS.indexOf(s) + 1),
    [2, 5, 6, 7],
  );
});

test('the headline and the GitHub job summary: what was released, each step, how to undo it, the diagnosis', () => {
  const config = loadConfig({ env: {}, envFile: '' });
  const ctx: PipelineContext = {
    config,
    runner: new Runner(),
    yes: true,
    pushed: { image: 'repo@sha256:abc', tag: 't', digest: 'sha256:abc', repositoryUrl: 'repo', result: 'pushed' },
    registered: { taskDefinitionArn: 'arn:aws:ecs:us-east-1:1:task-definition/llmops-task:9', changed: true } as any,
    verified: { outcome: 'ok', message: '2/2 tasks healthy', diagnosis: [], elapsedMs: 1 },
    durations: { '5. Push the image to ECR': 1500, '7. Verify the deployment': 62_340 },
    timeline: new Timeline(),
  };
  assert.is(
    jobSummary(ctx, 'https://app.example.com'),
    [
      '### ✅ Deploy — llmops-service',
      '',
      '| | |',
      '|---|---|',
      '| URL | https://app.example.com |',
      '| image | `repo@sha256:abc` |',
      '| task definition | `llmops-task:9` |',
      '| verify | ok: 2/2 tasks healthy |',
      '| 5. Push the image to ECR | 1.5 s |',
      '| 7. Verify the deployment | 62.3 s |',
      '',
      'Roll back: run this workflow with `rollback_to` = the previous revision, or `npm run rollback`.',
      '',
    ].join('\n'),
  );
  const failed: PipelineContext = {
    config,
    runner: new Runner(),
    yes: true,
    registered: { taskDefinitionArn: 'llmops-task:9', changed: false } as any,
    verified: {
      outcome: 'rolled-back',
      message: 'ECS rolled back',
      diagnosis: ['task abc stopped: exit 1', 'fix: read the logs'],
      elapsedMs: 1,
    },
    timeline: new Timeline(),
    error: new ScriptFailure('rolled back', ExitCode.ROLLED_BACK),
    failedStep: 7,
    durations: {},
  };
  assert.is(
    jobSummary(failed),
    [
      '### ↩️ Deploy failed and ECS rolled back to the previous release (exit 4) — llmops-service',
      '',
      '| | |',
      '|---|---|',
      '| task definition | `llmops-task:9` (unchanged) |',
      '| verify | rolled-back: ECS rolled back |',
      '',
      'Roll back: run this workflow with `rollback_to` = the previous revision, or `npm run rollback`.',
      '',
      '```',
      'task abc stopped: exit 1',
      'fix: read the logs',
      '```',
      '',
    ].join('\n'),
  );
  const at = (error: unknown, failedStep?: number, verified?: any) => headline({ ...failed, error, failedStep, verified });
  assert.is(at(new ScriptFailure('x', ExitCode.PREFLIGHT), 1), '❌ Deploy not started: preflight failed at step 1 (exit 3)');
  assert.is(at(new ScriptFailure('x', ExitCode.PREFLIGHT)), '❌ Deploy not started: preflight failed (exit 3)');
  assert.is(at(new ScriptFailure('x', 143), 3), '⛔ Deploy interrupted at step 3 (exit 143)');
  assert.is(at(new ScriptFailure('x', ExitCode.INTERRUPTED), 4), `⛔ Deploy interrupted at step 4 (exit ${ExitCode.INTERRUPTED})`);
  assert.is(at(new ScriptFailure('x', ExitCode.TIMEOUT)), '⏳ Deploy timed out: it may still finish (exit 5)');
  assert.is(at(new Error('x')), '❌ Deploy failed (exit 1)');
  // no error but a deployment that did not verify: its outcome decides
  assert.is(
    at(undefined, undefined, { outcome: 'timeout', message: '', diagnosis: [], elapsedMs: 0 }),
    '⏳ Deploy timed out: it may still finish (exit 5)',
  );
  assert.is(at(undefined, undefined, undefined), '✅ Deploy');
});

test.run();
