// Day-2 operations in seconds, on canned CLI answers (the end-to-end file proves them in the sandbox): the
// one-off task's outcomes (exit 0, a failing command, never started, a timeout that stops it), the migration's
// failure, MIGRATE_COMMAND's words, ECS Exec's permission check, PostgreSQL error hints and CLI timestamps.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { commandWords } from '../lib/schema.js';
import { loadConfig } from '../lib/config.js';
import { ExitCode, ScriptFailure } from '../lib/errors.js';
import { databaseHint } from '../lib/hints.js';
import { migrate, oneOffFailure, runOneOff } from '../lib/oneoff.js';
import { Runner } from '../lib/run.js';
import { allowsExec, EXEC_ACTIONS } from '../scripts/exec.js';
import { epochMs } from '../scripts/doctor.js';
import { fakeBins } from './helpers/fake-bin.js';
import { AwsError, fakeAws as awsEndpoint, setEnv, type FakeAws } from './helpers/fake-aws.js';
import { isDeepStrictEqual } from 'node:util';

process.env.LLMOPS_STATE_DIR = mkdtempSync(join(tmpdir(), 'oneoff-state-'));
const TASK = 'arn:aws:ecs:us-east-1:123456789012:task/llmops-cluster/0123456789abcdef0123456789abcdef';

/**
 * A fake aws CLI that answers only the calls made exactly as a real run makes them (cluster, task, region,
 * log stream): run-task (FAKE_RUN=fails: a placement
 * failure), describe-tasks as FAKE_TASK says, the log lines (FAKE_LOGS=none: none), stop-task.
 */
function fakeAws() {
  return fakeBins({
    aws: `has() { case " $ARGS " in *" $1 "*) return 0;; esac; return 1; }
ARGS="$*"
has "--region us-east-1" || { echo "no --region us-east-1 in: $*" >&2; exit 1; }
case "$1 $2" in
  "ecs run-task")
    has "--cluster llmops-cluster" || exit 1
    if [ "$FAKE_RUN" = fails ]; then echo '{"tasks":[],"failures":[{"arn":"arn:aws:ecs:us-east-1:123456789012:cluster/llmops-cluster","reason":"RESOURCE:MEMORY"}]}'
    elif [ "$FAKE_RUN" = empty ]; then echo ''
    else echo '{"tasks":[{"taskArn":"${TASK}"}],"failures":[]}'; fi;;
  "ecs describe-tasks")
    has "--cluster llmops-cluster --tasks ${TASK}" || exit 1
    n=$(cat "$(dirname "$0")/.describes" 2>/dev/null || echo 0); n=$((n + 1)); echo $n > "$(dirname "$0")/.describes"
    case "$FAKE_TASK" in
      later) if [ $n -ge 3 ]; then echo '{"tasks":[{"lastStatus":"STOPPED","containers":[{"name":"llmops-app","exitCode":0}]}]}'; else echo '{"tasks":[{"lastStatus":"RUNNING","containers":[{"name":"llmops-app"}]}]}'; fi;;
      nocontainers) echo '{"tasks":[{"lastStatus":"STOPPED","stopCode":"TaskFailedToStart","stoppedReason":"Timeout waiting for network interface provisioning to complete."}]}';;
      empty) echo '{}';;
      ok) echo '{"tasks":[{"lastStatus":"STOPPED","stopCode":"EssentialContainerExited","containers":[{"name":"log-router","exitCode":1},{"name":"llmops-app","exitCode":0}]}]}';;
      fails) echo '{"tasks":[{"lastStatus":"STOPPED","stopCode":"EssentialContainerExited","containers":[{"name":"log-router","exitCode":0},{"name":"llmops-app","exitCode":3}]}]}';;
      pull) echo '{"tasks":[{"lastStatus":"STOPPED","stopCode":"TaskFailedToStart","stoppedReason":"CannotPullContainerError: pull image manifest has been retried","containers":[{"name":"llmops-app","reason":"ref not found"}]}]}';;
      *) echo '{"tasks":[{"lastStatus":"RUNNING","containers":[{"name":"llmops-app"}]}]}';;
    esac;;
  "logs get-log-events")
    has "--log-group-name /ecs/llmops-task --log-stream-name ecs/llmops-app/0123456789abcdef0123456789abcdef --start-from-head" || exit 1
    if [ "$FAKE_LOGS" = none ]; then echo '{"events":[]}'
    elif [ "$FAKE_LOGS" = fail ]; then echo 'An error occurred (ResourceNotFoundException) when calling the GetLogEvents operation: The specified log stream does not exist.' >&2; exit 254
    else echo '{"events":[{"message":"migrate: applying 002_add_column"},{"message":"ERROR:  relation \\"no_such_table\\" does not exist"}]}'; fi;;
  "ecs stop-task") has "--cluster llmops-cluster --task ${TASK}" || exit 1; echo '{}';;
  *) echo "unexpected: $*" >&2; exit 1;;
esac`,
  });
}

/** The service as the SDK reads it (FAKE_SERVICE=nonet: without a network), from this file's AWS endpoint. */
const SERVICE = {
  status: 'ACTIVE',
  desiredCount: 2,
  taskDefinition: 'arn:aws:ecs:us-east-1:123456789012:task-definition/llmops-task:7',
  deployments: [],
  networkConfiguration: {
    awsvpcConfiguration: { subnets: ['subnet-private-a', 'subnet-private-b'], securityGroups: ['sg-tasks'], assignPublicIp: 'DISABLED' },
  },
};
const sdk = { service: SERVICE as object, log: undefined as string | undefined };
let endpoint: FakeAws;
let restoreEnv: () => void;
test.before(async () => {
  endpoint = await awsEndpoint(
    (call) => {
      if (
        call.name !== 'ecs describe-services' ||
        !isDeepStrictEqual(call.input, { cluster: 'llmops-cluster', services: ['llmops-service'] })
      )
        return new AwsError(400, 'Unexpected', `${call.name} ${JSON.stringify(call.input)}`);
      return { services: [sdk.service] };
    },
    () => sdk.log,
  );
  restoreEnv = setEnv(endpoint.env);
});
test.after(() => {
  restoreEnv();
  endpoint.close();
});

function setup(task: string, settings: Record<string, string> = {}, fake: Record<string, string> = {}, dryRun = false) {
  const fb = fakeAws();
  sdk.log = fb.log;
  sdk.service =
    fake.FAKE_SERVICE === 'nonet' ? { status: 'ACTIVE', desiredCount: 2, taskDefinition: 'llmops-task:7', deployments: [] } : SERVICE;
  const lines: string[] = [];
  const runner = new Runner({
    dryRun,
    echo: (l) => lines.push(l),
    env: { PATH: `${fb.dir}:${process.env.PATH}`, FAKE_TASK: task, ...fake },
    retryBaseMs: 1,
  });
  const config = loadConfig({ env: { LLMOPS_MIGRATE_COMMAND: '/bin/migrate up', ...settings }, envFile: '' });
  return { fb, lines, runner, config };
}

const job = {
  what: 'migration',
  taskDefinitionArn: 'llmops-task:8',
  command: ['/bin/migrate', 'up'],
  startedBy: 'llmops-migrate',
  timeoutSeconds: 60,
};

test('one-off task: run in the service subnets and security group with the command override, followed to exit 0', async () => {
  const { fb, lines, runner, config } = setup('ok');
  const r = await runOneOff(runner, config, job);
  assert.is(r.exitCode, 0, "the app container's exit code, not a sidecar's");
  assert.is(r.taskArn, TASK);
  assert.equal(r.logLines, ['migrate: applying 002_add_column', 'ERROR:  relation "no_such_table" does not exist']);
  assert.ok(
    lines.includes('# migration: task 0123456789abcdef0123456789abcdef started; waiting for it to stop (at most 60 s)'),
    lines.join('\n'),
  );
  assert.ok(lines.includes('# migration: task 0123456789abcdef0123456789abcdef exited 0'));
  assert.is(oneOffFailure(r), undefined);
  const run = fb.calls().find((c) => c[1] === 'ecs' && c[2] === 'run-task')!;
  assert.ok(run, 'run-task was called');
  const arg = (name: string) => run[run.indexOf(name) + 1]!;
  assert.is(arg('--task-definition'), 'llmops-task:8');
  assert.is(arg('--launch-type'), 'FARGATE');
  assert.is(arg('--started-by'), 'llmops-migrate');
  const network = JSON.parse(readFileSync(arg('--network-configuration').replace('file://', ''), 'utf8'));
  assert.equal(network.awsvpcConfiguration, {
    subnets: ['subnet-private-a', 'subnet-private-b'],
    securityGroups: ['sg-tasks'],
    assignPublicIp: 'DISABLED',
  });
  const overrides = JSON.parse(readFileSync(arg('--overrides').replace('file://', ''), 'utf8'));
  assert.equal(overrides, { containerOverrides: [{ name: 'llmops-app', command: ['/bin/migrate', 'up'] }] });
  assert.ok(lines.includes('  | migrate: applying 002_add_column'), 'the log lines are printed');
  assert.not.ok(
    lines.some((l) => l.includes('(no log lines')),
    'lines were there: no "no log lines"',
  );
  assert.ok(
    lines.includes(
      `$ aws ecs describe-tasks --cluster llmops-cluster --tasks ${TASK} --region us-east-1 --output json   # until lastStatus is STOPPED`,
    ),
    lines.join('\n'),
  );
  assert.not.ok(
    fb.calls().some((c) => c[2] === 'stop-task'),
    'a task that stopped is not stopped again',
  );
});

test('one-off task: the network the caller already described is used as it is (no second describe-services)', async () => {
  const { fb, runner, config } = setup('ok');
  const network = { subnets: ['subnet-x'], securityGroups: ['sg-x'], assignPublicIp: 'DISABLED' };
  await migrate(runner, config, 'llmops-task:8', network);
  assert.not.ok(fb.calls().some((c) => c[2] === 'describe-services'));
  const run = fb.calls().find((c) => c[2] === 'run-task')!;
  assert.is(run[run.indexOf('--started-by') + 1], 'llmops-migrate', 'the migration is found by who started it');
  const file = run[run.indexOf('--network-configuration') + 1]!.replace('file://', '');
  assert.equal(JSON.parse(readFileSync(file, 'utf8')).awsvpcConfiguration, network);
});

test('migration: a command that exits non-zero fails with its exit code and its log lines printed', async () => {
  const { lines, runner, config } = setup('fails');
  const error = await migrate(runner, config, 'llmops-task:8').catch((e) => e);
  assert.ok(lines.includes('# migration: /bin/migrate up with llmops-task:8, before the service is updated'), lines.join('\n'));
  assert.ok(lines.includes('# migration: task 0123456789abcdef0123456789abcdef exited 3'));
  assert.instance(error, ScriptFailure);
  assert.is(error.exitCode, ExitCode.FAILED);
  assert.match(error.message, 'the migration failed: it exited with code 3 (its log lines are above');
  assert.ok(lines.some((l) => l.includes('relation "no_such_table" does not exist')));
});

test('migration: a task that never ran its command fails with the stop reason', async () => {
  const { runner, config } = setup('pull');
  const error = await migrate(runner, config, 'llmops-task:8').catch((e) => e);
  assert.match(
    error.message,
    'it stopped before its command ran: CannotPullContainerError: pull image manifest has been retried — ref not found',
  );
});

test('a task that never ran its command: "stopped", not "exited"; without containers the task\'s own reason alone', async () => {
  const pull = setup('pull');
  await migrate(pull.runner, pull.config, 'llmops-task:8').catch(() => undefined);
  assert.ok(pull.lines.includes('# migration: task 0123456789abcdef0123456789abcdef stopped'), pull.lines.join('\n'));
  const bare = setup('nocontainers');
  const r = await runOneOff(bare.runner, bare.config, job);
  assert.is(r.exitCode, undefined);
  assert.is(r.stopCode, 'TaskFailedToStart');
  assert.is(r.stoppedReason, 'Timeout waiting for network interface provisioning to complete.');
  assert.is(oneOffFailure(r), 'it stopped before its command ran: Timeout waiting for network interface provisioning to complete.');
  assert.is(
    oneOffFailure({ taskArn: TASK, logLines: [], stopCode: 'SpotInterruption' }),
    'it stopped before its command ran: SpotInterruption',
  );
  assert.is(oneOffFailure({ taskArn: TASK, logLines: [] }), 'it stopped before its command ran: unknown reason');
});

test('a task still running is polled about once a second until it stops, and not stopped before its time', async () => {
  const { fb, lines, runner, config } = setup('later');
  const r = await runOneOff(runner, config, job);
  assert.is(r.exitCode, 0);
  assert.is(fb.calls().filter((c) => c[2] === 'describe-tasks').length, 3);
  assert.not.ok(
    fb.calls().some((c) => c[2] === 'stop-task'),
    lines.join('\n'),
  );
});

test('answers with nothing in them: run-task without output is "returned no task"; describe-tasks without a task waits to the timeout', async () => {
  const none = setup('ok', {}, { FAKE_RUN: 'empty' });
  const error = await runOneOff(none.runner, none.config, job).catch((e) => e);
  assert.instance(error, ScriptFailure);
  assert.is(error.message, 'the migration task did not start: run-task returned no task');
  const empty = setup('empty');
  const late = await runOneOff(empty.runner, empty.config, { ...job, timeoutSeconds: 0.5 }).catch((e) => e);
  assert.instance(late, ScriptFailure);
  assert.is(late.exitCode, ExitCode.TIMEOUT);
});

test('a log stream that cannot be read is said, and the result stands', async () => {
  const { lines, runner, config } = setup('ok', {}, { FAKE_LOGS: 'fail' });
  const r = await runOneOff(runner, config, job);
  assert.is(r.exitCode, 0);
  assert.equal(r.logLines, []);
  assert.ok(lines.includes('  (no log lines: the task wrote nothing, or its log stream could not be read)'), lines.join('\n'));
});

test('one-off task that ECS could not place: the failure reason, nothing waited for', async () => {
  const { fb, runner, config } = setup('ok', {}, { FAKE_RUN: 'fails' });
  const error = await runOneOff(runner, config, job).catch((e) => e);
  assert.instance(error, ScriptFailure);
  assert.is(error.message, 'the migration task did not start: RESOURCE:MEMORY (arn:aws:ecs:us-east-1:123456789012:cluster/llmops-cluster)');
  assert.not.ok(fb.calls().some((c) => c[2] === 'describe-tasks'));
});

test('one-off task on a service without a network: refused before run-task (exit 3)', async () => {
  const { fb, runner, config } = setup('ok', {}, { FAKE_SERVICE: 'nonet' });
  const error = await runOneOff(runner, config, job).catch((e) => e);
  assert.is(error.exitCode, ExitCode.PREFLIGHT);
  assert.match(error.message, 'service llmops-service has no awsvpc network configuration to run the migration in');
  assert.not.ok(fb.calls().some((c) => c[2] === 'run-task'));
});

test('one-off task that wrote nothing: said so, not an empty list silently', async () => {
  const { lines, runner, config } = setup('ok', {}, { FAKE_LOGS: 'none' });
  const r = await runOneOff(runner, config, job);
  assert.equal(r.logLines, []);
  assert.ok(lines.includes('  (no log lines: the task wrote nothing, or its log stream could not be read)'));
});

test('one-off task --dry-run: the commands with placeholders, nothing run', async () => {
  const { fb, lines, runner, config } = setup('ok', {}, {}, true);
  const state = process.env.LLMOPS_STATE_DIR;
  process.env.LLMOPS_STATE_DIR = mkdtempSync(join(tmpdir(), 'oneoff-dry-'));
  const r = await migrate(runner, config, 'llmops-task:8');
  assert.equal(readdirSync(process.env.LLMOPS_STATE_DIR), [], 'a dry run writes no file');
  process.env.LLMOPS_STATE_DIR = state;
  assert.equal(r, { taskArn: '<TASK_ARN>', logLines: [] });
  assert.equal(fb.calls(), []);
  const text = lines.join('\n');
  assert.match(text, '[dry-run] # every few seconds until the task is STOPPED (at most 600 s):');
  assert.match(text, "aws ecs describe-tasks --cluster llmops-cluster --tasks '<TASK_ARN>' --region us-east-1 --output json");
  assert.match(text, "--log-stream-name 'ecs/llmops-app/<TASK_ID>' --start-from-head --region us-east-1");
  assert.match(text, 'aws ecs run-task --cluster llmops-cluster --task-definition llmops-task:8 --launch-type FARGATE');
});

test('one-off task past its timeout is stopped and the run ends with exit 5', async () => {
  const { fb, runner, config } = setup('hangs');
  const error = await runOneOff(runner, config, { ...job, timeoutSeconds: 0.5 }).catch((e) => e);
  assert.instance(error, ScriptFailure);
  assert.is(error.exitCode, ExitCode.TIMEOUT);
  assert.match(error.message, 'did not finish within 0.5 s: the task was stopped');
  assert.not.match(error.message, 'MIGRATE_TIMEOUT_SECONDS', 'a task without a setting of its own names none');
  const named = await runOneOff(setup('hangs').runner, config, {
    ...job,
    timeoutSeconds: 0.5,
    timeoutSetting: 'MIGRATE_TIMEOUT_SECONDS',
  }).catch((e) => e);
  assert.match(named.message, 'did not finish within 0.5 s: the task was stopped (raise MIGRATE_TIMEOUT_SECONDS if it needs longer)');
  const stop = fb.calls().find((c) => c[2] === 'stop-task')!;
  assert.ok(stop, 'stop-task was called');
  assert.is(stop[stop.indexOf('--task') + 1], TASK);
  assert.is(stop[stop.indexOf('--reason') + 1], 'migration timed out after 0.5 s');
  assert.equal(error.logLines, ['migrate: applying 002_add_column', 'ERROR:  relation "no_such_table" does not exist'], 'its lines so far');
  // it waited between polls: one at the start, one after about a second, then the stop (a busy loop asks dozens of times)
  assert.ok(fb.calls().filter((c) => c[2] === 'describe-tasks').length <= 3, JSON.stringify(fb.calls().map((c) => c[2])));
});

test('no MIGRATE_COMMAND: no migration, nothing called', async () => {
  const fb = fakeAws();
  const runner = new Runner({ echo: () => {}, env: { PATH: `${fb.dir}:${process.env.PATH}` } });
  assert.is(await migrate(runner, loadConfig({ env: {}, envFile: '' }), 'llmops-task:8'), undefined);
  assert.equal(fb.calls(), []);
});

test('MIGRATE_COMMAND words: spaces split, JSON keeps what a word cannot hold, shell syntax refused with the fix', () => {
  assert.equal(commandWords(' /bin/migrate   up '), ['/bin/migrate', 'up']);
  assert.equal(commandWords('["sh", "-c", "a && b"]'), ['sh', '-c', 'a && b']);
  for (const bad of ['sh -c "a b"', "it's", 'echo $HOME', 'a\\b', '["x", ', '[]', '[1]', '[""]'])
    assert.type(commandWords(bad), 'string', `${bad} should be refused`);
  assert.match(String(commandWords('sh -c "a b"')), 'write it as a JSON array');
});

test('ECS Exec permissions: the four ssmmessages actions, by name, service wildcard or *, and nothing for a Deny', () => {
  const allow = (Action: unknown) => ({ Statement: [{ Effect: 'Allow', Action, Resource: '*' }] });
  assert.equal(allowsExec([allow(EXEC_ACTIONS)]), []);
  assert.equal(allowsExec([allow('ssmmessages:*')]), []);
  assert.equal(allowsExec([allow('*')]), []);
  assert.equal(allowsExec([allow(['ssmmessages:Create*'])]), ['ssmmessages:OpenControlChannel', 'ssmmessages:OpenDataChannel']);
  assert.equal(allowsExec([{ Statement: [{ Effect: 'Deny', Action: '*', Resource: '*' }] }]), EXEC_ACTIONS);
  assert.equal(allowsExec([allow('s3:GetObject')]), EXEC_ACTIONS);
  assert.equal(allowsExec([]), EXEC_ACTIONS);
});

test("PostgreSQL's errors, explained for a task on ECS", () => {
  assert.match(databaseHint('FATAL:  password authentication failed for user "app"')!, 'force-new-deployment');
  assert.match(
    databaseHint('pg_hba.conf rejects connection for host "10.0.1.5", user "app", database "app", no encryption')!,
    'PGSSLMODE=verify-full',
  );
  assert.match(databaseHint('SSL error: certificate verify failed')!, "the image must carry AWS's RDS CA bundle");
  assert.match(databaseHint('could not translate host name "db.example" to address: Name or service not known')!, 'rds_address');
  assert.match(databaseHint('connection to server at "10.0.2.3", port 5432 failed: Connection timed out')!, 'tasks -> RDS');
  assert.match(databaseHint('FATAL:  database "nope" does not exist')!, 'db_name');
  assert.is(databaseHint('all good'), undefined);
});

test('CLI timestamps: v1 epoch seconds and v2 ISO 8601 are the same instant', () => {
  assert.is(epochMs(1795745680), 1795745680_000);
  assert.is(epochMs('1795745065.333'), 1795745065_333);
  assert.is(epochMs('2026-11-27T02:14:40Z'), Date.parse('2026-11-27T02:14:40Z'));
  assert.is(epochMs(undefined), undefined);
  assert.is(epochMs('not a date'), undefined);
});

test.run();
