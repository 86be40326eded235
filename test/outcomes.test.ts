// Honest outcomes and no file content in errors (issue 12): the job summary says failed, locked or rolled
// back when that is what happened; an AccessDenied is a failed call (exit 1), not bad input (exit 2); and a
// malformed file of every kind the toolkit reads never has its content — a canary here — in any output.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../lib/config.js';
import { ecrRegistry, getCallerIdentity, resolveIdentity } from '../lib/aws.js';
import { startMoto } from './helpers/moto.js';
import { Runner } from '../lib/run.js';
import { renderTemplate } from '../lib/template.js';
import { readAppEnv, upsertSecret } from '../scripts/secrets.js';
import { fakeBins, HEALTHY_TOOLS } from './helpers/fake-bin.js';
import { ROOT, runScriptFile, withEnv } from './helpers/script.js';
import { execa } from 'execa';
import { unrun } from './helpers/uvu-summary.js';
import {
  AccountGuardError,
  CommandError,
  ConfigError,
  CredentialsError,
  EXPECTED_ERRORS,
  ExitCode,
  exitCodeFor,
  InterruptedError,
  LockedError,
  ScriptFailure,
  SecretInArgvError,
  UsageError,
} from '../lib/errors.js';
import { prepareTfvars } from '../lib/infra.js';
import { headline, jobSummary, type PipelineContext } from '../lib/pipeline.js';
import { Timeline } from '../lib/timeline.js';

const config = loadConfig({ env: {}, envFile: '' });
const ctx = (over: Partial<PipelineContext>): PipelineContext => ({
  config,
  runner: new Runner({ echo: () => {} }),
  yes: true,
  durations: {},
  timeline: new Timeline(),
  ...over,
});
const CANARY = `Leak-Canary-${Math.random().toString(36).slice(2, 10)}`;

test('the job summary is ✅ only for a verified deploy; locked, bad input, rolled back and failed say so', () => {
  const verified = (outcome: any) => ({ outcome, message: 'm', diagnosis: [], elapsedMs: 1 });
  assert.match(headline(ctx({ verified: verified('ok') })), '✅ Deploy');
  assert.match(headline(ctx({ error: new LockedError(undefined, 0) })), '🔒 Deploy not started: another deploy holds the lock (exit 6)');
  assert.match(headline(ctx({ error: new UsageError('x') })), 'not started: bad configuration or flags (exit 2)');
  assert.match(
    headline(ctx({ error: new ScriptFailure('rolled-back', ExitCode.ROLLED_BACK), verified: verified('rolled-back') })),
    'ECS rolled back',
  );
  assert.match(headline(ctx({ error: new ScriptFailure('timeout', ExitCode.TIMEOUT) })), 'timed out');
  assert.match(headline(ctx({ error: new Error('boom'), failedStep: 5 })), '❌ Deploy failed at step 5 (exit 1)');
  assert.not.match(jobSummary(ctx({ error: new LockedError(undefined, 0) })), '✅');
});

test('exit codes: one mapping for every error the scripts raise', () => {
  assert.is(exitCodeFor(new ConfigError([], 'x')), 2);
  assert.is(exitCodeFor(new LockedError(undefined, 0)), 6);
  assert.is(exitCodeFor(new ScriptFailure('x', 4)), 4);
  assert.is(exitCodeFor(new CommandError('terraform apply', 1, 'Error acquiring the state lock')), 6);
  assert.is(exitCodeFor(new Error('x')), 1);
});

test('exit codes: each error, each code, and the numbers the README documents', () => {
  assert.equal(ExitCode, { OK: 0, FAILED: 1, USAGE: 2, PREFLIGHT: 3, ROLLED_BACK: 4, TIMEOUT: 5, LOCKED: 6, INTERRUPTED: 130 });
  const table: [Error, number][] = [
    [new UsageError('x'), 2],
    [new ConfigError([{ variable: 'A', message: 'm' }], 'the environment'), 2],
    [new AccountGuardError('1', '2', 'arn'), 3],
    [new CredentialsError('no credentials'), 3],
    [new LockedError(undefined, 0), 6],
    [new ScriptFailure('x'), 1],
    [new ScriptFailure('x', ExitCode.TIMEOUT), 5],
    [new InterruptedError('SIGINT', 'terraform apply'), 130],
    [new InterruptedError('SIGTERM', 'terraform apply'), 143],
    [new CommandError('terraform apply', 1, 'Error: Error acquiring the state lock\nLock Info: …'), 6],
    [new CommandError('terraform apply', 3, 'Error: something else'), 1],
    [new SecretInArgvError('aws'), 1],
    [new TypeError('x'), 1],
    [new Error('Error acquiring the state lock'), 1], // only a command's failure means another terraform run holds it
  ];
  for (const [error, code] of table) assert.is(exitCodeFor(error), code, `${error.name}: ${error.message}`);
  assert.is(exitCodeFor('a string thrown'), 1);
  assert.is(new ScriptFailure('x').exitCode, ExitCode.FAILED, 'a ScriptFailure fails with 1 unless it says otherwise');
});

test('errors: each one is named, is printed without a stack, and says what happened and the fix', () => {
  const names: [Error, string][] = [
    [new UsageError('x'), 'UsageError'],
    [new ScriptFailure('x'), 'ScriptFailure'],
    [new ConfigError([], 'x'), 'ConfigError'],
    [new CommandError('c', 1, ''), 'CommandError'],
    [new SecretInArgvError('aws'), 'SecretInArgvError'],
    [new InterruptedError('SIGINT', 'c'), 'InterruptedError'],
    [new AccountGuardError('1', '2', 'a'), 'AccountGuardError'],
    [new CredentialsError('x'), 'CredentialsError'],
    [new LockedError(undefined, 0), 'LockedError'],
  ];
  for (const [error, name] of names) assert.is(error.name, name);
  // every one of them, and nothing else, is printed as it is (no stack)
  const sorted = (classes: Function[]) => classes.map((c) => c.name).sort();
  assert.equal(sorted([...EXPECTED_ERRORS]), sorted(names.map(([error]) => error.constructor)));

  // ConfigError: one line per problem, the value quoted when there is one, singular/plural, where to fix it
  assert.is(
    new ConfigError([{ variable: 'AWS_REGION', value: 'mars-1', message: 'not a region' }], 'the environment').message,
    'Invalid configuration (the environment): 1 problem\n  ✗ AWS_REGION="mars-1": not a region\nFix them in .env or the environment; .env.example documents every variable.',
  );
  assert.is(
    new ConfigError(
      [
        { variable: 'A', message: 'm1' },
        { variable: 'B', value: '', message: 'm2' },
      ],
      '/x/.env',
    ).message,
    'Invalid configuration (/x/.env): 2 problems\n  ✗ A: m1\n  ✗ B="": m2\nFix them in /x/.env or the environment; .env.example documents every variable.',
  );
  // CommandError: the command, its exit code, each stderr line marked, the fix on its own line
  assert.is(
    new CommandError('docker push x', 1, 'denied\nretry', 'run step 5 again').message,
    'Command failed (exit 1): docker push x\n  | denied\n  | retry\n  fix: run step 5 again',
  );
  assert.is(new CommandError('docker push x', 2, '').message, 'Command failed (exit 2): docker push x');
  assert.is(
    new SecretInArgvError('aws').message,
    'Refusing to run aws: a secret value would appear in the process arguments (pass it on stdin or in a 0600 file)',
  );
  assert.is(new InterruptedError('SIGINT', 'terraform apply').message, 'interrupted (SIGINT) while running: terraform apply');
  assert.is(
    new InterruptedError('SIGTERM', 'terraform apply', 'Stopping operation...\nwaiting').message,
    'interrupted (SIGTERM) while running: terraform apply\n  | Stopping operation...\n  | waiting',
  );
  assert.is(
    new AccountGuardError('111111111111', '222222222222', 'arn:aws:iam::222222222222:user/x').message,
    'Refusing to touch AWS account 222222222222 (arn:aws:iam::222222222222:user/x): EXPECTED_ACCOUNT_ID is 111111111111.\n' +
      '  fix: switch credentials (AWS_PROFILE) to account 111111111111, or correct EXPECTED_ACCOUNT_ID in .env',
  );
  const fix = '.\n  fix: wait for it (--lock-wait SECONDS), or if that process is dead and the lock is not yet expired: npm run unlock';
  assert.is(new LockedError(undefined, 0).message, `another deploy holds the lock${fix}`);
  assert.is(
    new LockedError({ holder: 'ci', host: 'runner-1', pid: 42, acquiredAt: '2026-11-27T10:00:00Z', what: 'deploy abc123' }, 30).message,
    `another deploy holds the lock: deploy abc123 by ci (pid 42 on runner-1) since 2026-11-27T10:00:00Z — waited 30 s${fix}`,
  );
});

test('secrets: AccessDenied reading a secret is a failed call (exit 1) with the fix, not bad input (was exit 2)', async () => {
  const fakes = fakeBins({
    aws: 'echo "An error occurred (AccessDeniedException) when calling the GetSecretValue operation: User: arn:aws:sts::1:assumed-role/deploy/x is not authorized" >&2; exit 254',
  });
  const runner = new Runner({ echo: () => {}, env: { PATH: fakes.dir }, retryBaseMs: 1 });
  const error = await upsertSecret(runner, config, 'llmops/app/env', '{"K":"v"}').catch((e) => e);
  assert.instance(error, ScriptFailure);
  assert.is(exitCodeFor(error), ExitCode.FAILED);
  assert.match(error.message, 'AccessDenied');
  assert.match(error.message, 'fix: ');
});

// --- no file content in any error --------------------------------------------------------------------------

test('malformed app env JSON: the error names the file and the position, never its text (Node quotes it)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'leak-'));
  for (const [name, text] of [
    ['trailing.json', `{"OPENAI_API_KEY": "${CANARY}",}`],
    ['unquoted.json', `{"OPENAI_API_KEY": ${CANARY}}`],
    ['truncated.json', `{"OPENAI_API_KEY": "${CANARY}`],
    ['single.json', `{'OPENAI_API_KEY': '${CANARY}'}`],
  ]) {
    writeFileSync(join(dir, name!), text!);
    const error = (() => {
      try {
        readAppEnv(join(dir, name!));
      } catch (e) {
        return e as Error;
      }
    })();
    assert.instance(error, UsageError, name);
    assert.match(error!.message, `${name} is not valid JSON`);
    assert.not.match(error!.message, CANARY, `${name}: ${error!.message}`);
  }
});

test('a malformed template never quotes its text', () => {
  const error = (() => {
    try {
      renderTemplate(`{"containerDefinitions": [{"secret": "${CANARY}" "x"}]}`, {}, 'config/ecs-task-definition.json');
    } catch (e) {
      return e as Error;
    }
  })();
  assert.match(error!.message, 'config/ecs-task-definition.json is not valid JSON');
  assert.not.match(error!.message, CANARY);
});

test('your terraform.tfvars with a placeholder: the line is named, its value is not shown', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tfv-'));
  writeFileSync(join(dir, 'main.tf'), '');
  writeFileSync(join(dir, 'terraform.tfvars'), `db_password = "${CANARY}-change-me"\nalarm_email = "<ALARM_EMAIL>"\n`);
  const c = loadConfig({ env: { TF_DIR: dir }, envFile: '' });
  const error = (() => {
    try {
      prepareTfvars(new Runner({ echo: () => {} }), c);
    } catch (e) {
      return e as Error;
    }
  })();
  assert.match(error!.message, 'line 1');
  assert.match(error!.message, 'line 2');
  assert.not.match(error!.message, CANARY);
});

test('malformed env files and input files: no canary in any output of the script that reads them (exit 2)', async () => {
  const fakes = fakeBins(HEALTHY_TOOLS);
  const dir = mkdtempSync(join(tmpdir(), 'envleak-'));
  mkdirSync(join(dir, 'd'));
  const files: [string, string][] = [
    ['hash.env', `DB_PASSWORD=${CANARY}#rest\n`],
    ['unclosed.env', `DB_PASSWORD="${CANARY}\n`],
    ['noequals.env', `${CANARY} DB_PASSWORD\n`],
    ['after-quote.env', `DB_PASSWORD="${CANARY}" trailing-${CANARY}\n`],
    ['bad-value.env', `DB_PASSWORD=${CANARY}/with@bad"chars\n`],
    ['bad-webhook.env', `SLACK_WEBHOOK=http://example.com/${CANARY}\n`],
    ['typo.env', `DB_PASWORD=${CANARY}\n`],
  ];
  const runs = await Promise.all(
    files.map(async ([name, text]) => {
      writeFileSync(join(dir, name), text);
      return { name, r: await runScriptFile('scripts/secrets.ts', ['--dry-run'], { PATH: fakes.dir, LLMOPS_ENV_FILE: join(dir, name) }) };
    }),
  );
  writeFileSync(join(dir, 'app.json'), `{"KEY": ${CANARY}}`);
  writeFileSync(join(dir, 'pw.txt'), `${CANARY}/@"`);
  runs.push({
    name: 'app env JSON',
    r: await runScriptFile('scripts/secrets.ts', ['--app-env-file', join(dir, 'app.json'), '--dry-run'], { PATH: fakes.dir }),
  });
  runs.push({
    name: 'password file',
    r: await runScriptFile('scripts/secrets.ts', ['--db-password-file', join(dir, 'pw.txt'), '--dry-run'], { PATH: fakes.dir }),
  });
  for (const { name, r } of runs) {
    assert.is(r.exitCode, 2, `${name}: exit ${r.exitCode}\n${r.all}`);
    assert.not.match(r.all, CANARY, `${name} leaked its content:\n${r.all}`);
  }
});

test('the account guard: resolveIdentity refuses another account before any change, and passes the expected one (kills: no guard in resolveIdentity)', async () => {
  const moto = await startMoto();
  try {
    await withEnv(moto.env, async () => {
      const runner = new Runner({ echo: () => {} });
      const wrong = loadConfig({ env: { LLMOPS_EXPECTED_ACCOUNT_ID: '111111111111' }, envFile: '' });
      const error = await resolveIdentity(runner, wrong).catch((e) => e);
      assert.instance(error, AccountGuardError);
      assert.is(exitCodeFor(error), ExitCode.PREFLIGHT);
      assert.match(error.message, 'Refusing to touch AWS account 123456789012');
      const right = loadConfig({ env: { LLMOPS_EXPECTED_ACCOUNT_ID: '123456789012' }, envFile: '' });
      assert.is((await resolveIdentity(runner, right)).account, '123456789012');
      assert.is((await resolveIdentity(runner, config)).account, '123456789012', 'no guard configured: any account');
    });
  } finally {
    await moto.stop();
  }
});

test('the AWS identity: echoed as the CLI command it stands for; a dry run asks nothing; an error says what and the fix; a silent endpoint times out', async () => {
  assert.is(process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED, 'true', "the SDK's Node-version warning is off in every script");
  assert.is(ecrRegistry('123456789012', 'ap-northeast-2'), '123456789012.dkr.ecr.ap-northeast-2.amazonaws.com');
  const lines: string[] = [];
  const dry = new Runner({ echo: (l) => lines.push(l), dryRun: true });
  // a dry run answers the guide's placeholders, without a call (the endpoint here answers nothing)
  const placeholder = await withEnv({ AWS_ENDPOINT_URL: 'http://127.0.0.1:9' }, () => resolveIdentity(dry, config));
  assert.equal(placeholder, { account: '<ACCOUNT_ID>', arn: '<CALLER_ARN>', region: config.region });
  assert.equal(lines, ['[dry-run] $ aws sts get-caller-identity   # via the SDK']);

  const moto = await startMoto();
  try {
    lines.length = 0;
    const live = new Runner({ echo: (l) => lines.push(l) });
    const identity = await withEnv(moto.env, () => resolveIdentity(live, config));
    assert.equal(identity, { account: '123456789012', arn: 'arn:aws:sts::123456789012:user/moto', region: config.region });
    assert.equal(lines, ['$ aws sts get-caller-identity   # via the SDK']);
  } finally {
    await moto.stop();
  }

  // an error the hints do not know: its name and message, and the general fix
  const teapot = createServer((_, res) =>
    res
      .writeHead(403, { 'content-type': 'text/xml' })
      .end('<ErrorResponse><Error><Type>Sender</Type><Code>Teapot</Code><Message>short and stout</Message></Error></ErrorResponse>'),
  );
  // an endpoint that takes the connection and never answers
  const silent = createNetServer(() => {});
  await Promise.all([teapot, silent].map((srv) => new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))));
  const url = (srv: { address(): unknown }) => `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  const keys = { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'x' };
  try {
    const e = await withEnv({ ...keys, AWS_ENDPOINT_URL: url(teapot) }, () => getCallerIdentity('us-east-1')).catch((err) => err);
    assert.instance(e, CredentialsError);
    assert.is(
      e.message,
      'Cannot read the AWS identity (sts get-caller-identity): Teapot: short and stout\n  fix: check your AWS credentials and network',
    );
    const refused = await withEnv({ ...keys, AWS_ENDPOINT_URL: 'http://127.0.0.1:9' }, () => getCallerIdentity('us-east-1')).catch(
      (err) => err,
    );
    assert.match(refused.message, 'ECONNREFUSED 127.0.0.1:9\n  fix: the AWS endpoint is unreachable');
    const started = Date.now();
    const timedOut = await withEnv({ ...keys, AWS_ENDPOINT_URL: url(silent) }, () => getCallerIdentity('us-east-1', 300)).catch(
      (err) => err,
    );
    assert.instance(timedOut, CredentialsError);
    assert.match(
      timedOut.message,
      'exceeded the configured 300 ms requestTimeout.\n  fix: the AWS endpoint took the connection but did not answer in time',
    );
    assert.ok(Date.now() - started < 10_000, `bounded by its timeout (${Date.now() - started} ms)`);
  } finally {
    teapot.close();
    silent.close();
  }
});

test('npm test fails a file whose before hook threw (uvu itself exits 0 with "Total: 4, Passed: 0")', () => {
  assert.match(String(unrun('  Total:     4\x1b[32m\n  Passed:    0\x1b[39m\n  Skipped:   0\n')), 'only 0 of 4');
  assert.is(unrun('  Total:     4\n  Passed:    4\n  Skipped:   0\n'), undefined);
  assert.is(unrun('  Total:     5\n  Passed:    3\n  Skipped:   2\n'), undefined);
  assert.match(String(unrun('crashed')), 'no uvu summary');
});

test("and says why: the before hook's error is printed (uvu swallows it), and the file still fails", async () => {
  const dir = mkdtempSync(join(ROOT, 'test', '.hook-'));
  try {
    writeFileSync(
      join(dir, 'demo.test.ts'),
      "import { test } from 'uvu';\ntest.before(async () => { throw new Error('moto did not start'); });\ntest('x', () => {});\ntest.run();\n",
    );
    const argv = [
      '--import',
      'tsx',
      '--import',
      join(ROOT, 'test/helpers/hook-errors.ts'),
      join(ROOT, 'node_modules/uvu/bin.js'),
      dir,
      'demo',
    ];
    const r = await execa(process.execPath, argv, { cwd: ROOT, reject: false, all: true });
    assert.match(r.all, 'a test.before hook failed: Error: moto did not start');
    assert.match(String(unrun(r.all)), 'only 0 of 1');
    // without it, nothing says why
    const bare = await execa(
      process.execPath,
      argv.filter((a, i) => i < 2 || i > 3),
      { cwd: ROOT, reject: false, all: true },
    );
    assert.not.match(bare.all, 'moto did not start');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
