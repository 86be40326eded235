// Day-2 operations in seconds, on canned CLI answers (the end-to-end file proves them in the sandbox): the
// one-off task's outcomes (exit 0, a failing command, never started, a timeout that stops it), the migration's
// failure, MIGRATE_COMMAND's words, ECS Exec's permission check, PostgreSQL error hints and CLI timestamps.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { commandWords, loadConfig } from '../lib/config.js';
import { ExitCode, ScriptFailure } from '../lib/errors.js';
import { databaseHint } from '../lib/hints.js';
import { migrate, oneOffFailure, runOneOff } from '../lib/oneoff.js';
import { Runner } from '../lib/run.js';
import { allowsExec, EXEC_ACTIONS } from '../scripts/exec.js';
import { epochMs } from '../scripts/doctor.js';
import { fakeBins } from './helpers/fake-bin.js';

process.env.LLMOPS_STATE_DIR = mkdtempSync(join(tmpdir(), 'oneoff-state-'));
const TASK = 'arn:aws:ecs:us-east-1:123456789012:task/llmops-cluster/0123456789abcdef0123456789abcdef';

/** A fake aws CLI: the service, run-task, describe-tasks as FAKE_TASK says, the log lines, stop-task. */
function fakeAws() {
  return fakeBins({
    aws: `case "$1 $2" in
  "ecs describe-services") echo '{"services":[{"status":"ACTIVE","desiredCount":2,"taskDefinition":"arn:aws:ecs:us-east-1:123456789012:task-definition/llmops-task:7","deployments":[],"networkConfiguration":{"awsvpcConfiguration":{"subnets":["subnet-private-a","subnet-private-b"],"securityGroups":["sg-tasks"],"assignPublicIp":"DISABLED"}}}]}';;
  "ecs run-task") echo '{"tasks":[{"taskArn":"${TASK}"}],"failures":[]}';;
  "ecs describe-tasks") case "$FAKE_TASK" in
      ok) echo '{"tasks":[{"lastStatus":"STOPPED","stopCode":"EssentialContainerExited","containers":[{"name":"llmops-app","exitCode":0}]}]}';;
      fails) echo '{"tasks":[{"lastStatus":"STOPPED","stopCode":"EssentialContainerExited","containers":[{"name":"llmops-app","exitCode":3}]}]}';;
      pull) echo '{"tasks":[{"lastStatus":"STOPPED","stopCode":"TaskFailedToStart","stoppedReason":"CannotPullContainerError: pull image manifest has been retried","containers":[{"name":"llmops-app"}]}]}';;
      *) echo '{"tasks":[{"lastStatus":"RUNNING","containers":[{"name":"llmops-app"}]}]}';;
    esac;;
  "logs get-log-events") echo '{"events":[{"message":"migrate: applying 002_add_column"},{"message":"ERROR:  relation \\"no_such_table\\" does not exist"}]}';;
  "ecs stop-task") echo '{}';;
  *) echo "unexpected: $*" >&2; exit 1;;
esac`,
  });
}

function setup(task: string, settings: Record<string, string> = {}) {
  const fb = fakeAws();
  const lines: string[] = [];
  const runner = new Runner({
    echo: (l) => lines.push(l),
    env: { PATH: `${fb.dir}:${process.env.PATH}`, FAKE_TASK: task },
    retryBaseMs: 1,
  });
  const config = loadConfig({ env: { LLMOPS_MIGRATE_COMMAND: '/bin/migrate up', ...settings }, envFile: '' });
  return { fb, lines, runner, config };
}

test('one-off task: run in the service subnets and security group with the command override, followed to exit 0', async () => {
  const { fb, lines, runner, config } = setup('ok');
  const r = await runOneOff(runner, config, {
    what: 'migration',
    taskDefinitionArn: 'llmops-task:8',
    command: ['/bin/migrate', 'up'],
    startedBy: 'llmops-migrate',
    timeoutSeconds: 60,
  });
  assert.is(r.exitCode, 0);
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
  const file = run[run.indexOf('--network-configuration') + 1]!.replace('file://', '');
  assert.equal(JSON.parse(readFileSync(file, 'utf8')).awsvpcConfiguration, network);
});

test('migration: a command that exits non-zero fails with its exit code and its log lines printed', async () => {
  const { lines, runner, config } = setup('fails');
  const error = await migrate(runner, config, 'llmops-task:8').catch((e) => e);
  assert.instance(error, ScriptFailure);
  assert.is(error.exitCode, ExitCode.FAILED);
  assert.match(error.message, 'the migration failed: it exited with code 3 (its log lines are above');
  assert.ok(lines.some((l) => l.includes('relation "no_such_table" does not exist')));
});

test('migration: a task that never ran its command fails with the stop reason', async () => {
  const { runner, config } = setup('pull');
  const error = await migrate(runner, config, 'llmops-task:8').catch((e) => e);
  assert.match(error.message, 'it stopped before its command ran: CannotPullContainerError');
});

test('one-off task past its timeout is stopped and the run ends with exit 5', async () => {
  const { fb, runner, config } = setup('hangs');
  const error = await runOneOff(runner, config, {
    what: 'migration',
    taskDefinitionArn: 'llmops-task:8',
    command: ['/bin/migrate'],
    startedBy: 'llmops-migrate',
    timeoutSeconds: 0.5,
  }).catch((e) => e);
  assert.instance(error, ScriptFailure);
  assert.is(error.exitCode, ExitCode.TIMEOUT);
  assert.match(error.message, 'did not finish within 0.5 s: the task was stopped');
  const stop = fb.calls().find((c) => c[2] === 'stop-task')!;
  assert.ok(stop, 'stop-task was called');
  assert.is(stop[stop.indexOf('--task') + 1], TASK);
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
    'sslmode=require',
  );
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
