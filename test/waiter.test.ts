// The step-7 waiter on canned AWS answers: each outcome (ok, rolled back, failed, timeout, preflight) and
// each diagnosis comes from the responses alone, in milliseconds, without the sandbox. The end-to-end
// file proves the same against the emulator; these pin down the decisions.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Deployment, Service, Task } from '@aws-sdk/client-ecs';
import type { TargetHealthDescription } from '@aws-sdk/client-elastic-load-balancing-v2';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { addVerifyPhases, Timeline, timelineRecord } from '../lib/timeline.js';
import { loadConfig } from '../lib/config.js';
import { Runner } from '../lib/run.js';
import { ExitCode, ScriptFailure } from '../lib/errors.js';
import { explainStoppedTask } from '../lib/diagnosis.js';
import { databaseHint } from '../lib/hints.js';
import type { Clients } from '../lib/ecs.js';
import { fakeBins } from './helpers/fake-bin.js';
import { bakeDeployment, formatResult, OUTCOME_EXIT, pollDelayMs, waitForDeployment, type VerifyOptions } from '../lib/waiter.js';
import { newContext } from '../lib/pipeline.js';
import { spec as verifySpec, step as verifyStep } from '../scripts/07-verify.js';
import { helpText, parseFlags } from '../lib/cli.js';
import { alarmsTripped, deploymentAlarms, watchAlarms } from '../lib/alarms.js';

const config = loadConfig({ env: {}, envFile: '' });
const TD = (n: number) => `arn:aws:ecs:us-east-1:123456789012:task-definition/llmops-task:${n}`;
const TG = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/llmops-tg/abc';

/** What AWS answers at one poll (the waiter's describe-services calls count the polls). */
interface World {
  service: Service;
  running?: Task[];
  stopped?: Task[];
  targets?: TargetHealthDescription[];
  logs?: string[];
}

function dep(id: string, status: 'PRIMARY' | 'ACTIVE', td: number, extra: Partial<Deployment> = {}): Deployment {
  return {
    id,
    status,
    taskDefinition: TD(td),
    desiredCount: 1,
    rolloutState: status === 'PRIMARY' ? 'IN_PROGRESS' : 'COMPLETED',
    ...extra,
  };
}

function service(deployments: Deployment[], extra: Partial<Service> = {}): Service {
  return {
    status: 'ACTIVE',
    taskDefinition: deployments.find((d) => d.status === 'PRIMARY')?.taskDefinition,
    deployments,
    loadBalancers: [{ targetGroupArn: TG }],
    deploymentConfiguration: { deploymentCircuitBreaker: { enable: true, rollback: true } },
    events: [],
    ...extra,
  };
}

const task = (id: string, ip: string, extra: Partial<Task> = {}): Task => ({
  taskArn: `arn:aws:ecs:us-east-1:123456789012:task/llmops-cluster/${id}`,
  taskDefinitionArn: TD(2),
  lastStatus: 'RUNNING',
  desiredStatus: 'RUNNING',
  containers: [{ name: 'llmops-app', networkInterfaces: [{ privateIpv4Address: ip }] }],
  ...extra,
});

const stoppedTask = (id: string, ip: string, reason: string, exitCode?: number, containerReason?: string) =>
  task(id, ip, {
    lastStatus: 'STOPPED',
    desiredStatus: 'STOPPED',
    stoppedReason: reason,
    containers: [{ name: 'llmops-app', exitCode, reason: containerReason, networkInterfaces: [{ privateIpv4Address: ip }] }],
  });

const LB = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/llmops-alb/abc';

/** A request the waiter makes only with these inputs; anything else is an error, as AWS would answer it. */
function expect(ok: boolean, command: any): void {
  if (!ok) throw new Error(`unexpected input to ${command.constructor.name}: ${JSON.stringify(command.input)}`);
}

/**
 * Canned clients: `timeline(poll)` is the world at the n-th describe-services. They answer only calls made as a
 * real run makes them (the cluster and service, tasks started by the deployment followed, its target group, the
 * stopped task's log stream), so a waiter asking for the wrong thing gets an error, not the right answer.
 * Tasks are started by ecs-svc/2 unless they say otherwise; `dns`: the load balancer's name, when asked.
 */
function cannedAws(timeline: (poll: number) => World, dns?: string): { clients: Clients; polls: () => number } {
  let poll = -1;
  const world = () => timeline(Math.max(poll, 0));
  const startedBy = (t: Task) => t.startedBy ?? 'ecs-svc/2';
  const answer = async (command: any): Promise<any> => {
    const input = command.input;
    const inCluster = input.cluster === 'llmops-cluster';
    switch (command.constructor.name) {
      case 'DescribeServicesCommand':
        expect(inCluster && input.services?.length === 1 && input.services[0] === 'llmops-service', command);
        poll++;
        return { services: [world().service] };
      case 'ListTasksCommand': {
        expect(inCluster && ['RUNNING', 'STOPPED'].includes(input.desiredStatus) && !!input.startedBy, command);
        const tasks = input.desiredStatus === 'STOPPED' ? (world().stopped ?? []) : (world().running ?? []);
        return { taskArns: tasks.filter((t) => startedBy(t) === input.startedBy).map((t) => t.taskArn) };
      }
      case 'DescribeTasksCommand':
        expect(inCluster, command);
        return { tasks: [...(world().running ?? []), ...(world().stopped ?? [])].filter((t) => input.tasks.includes(t.taskArn)) };
      case 'DescribeTargetHealthCommand':
        expect(input.TargetGroupArn === TG, command);
        return { TargetHealthDescriptions: world().targets ?? [] };
      case 'DescribeTargetGroupsCommand':
        expect(dns !== undefined && input.TargetGroupArns?.[0] === TG, command);
        return { TargetGroups: [{ TargetGroupArn: TG, LoadBalancerArns: [LB] }] };
      case 'DescribeLoadBalancersCommand':
        expect(dns !== undefined && input.LoadBalancerArns?.[0] === LB, command);
        return { LoadBalancers: [{ LoadBalancerArn: LB, DNSName: dns }] };
      case 'GetLogEventsCommand': {
        const ids = (world().stopped ?? []).map((t) => t.taskArn!.split('/').pop());
        expect(
          input.logGroupName === '/ecs/llmops-task' &&
            ids.some((id) => input.logStreamName === `ecs/llmops-app/${id}`) &&
            input.limit === 100 &&
            input.startFromHead === false,
          command,
        );
        return { events: (world().logs ?? []).map((message) => ({ message })) };
      }
      case 'DescribeTaskDefinitionCommand':
        expect(input.taskDefinition === TD(2), command);
        return {
          taskDefinition: {
            containerDefinitions: [
              {
                name: 'llmops-app',
                logConfiguration: {
                  logDriver: 'awslogs',
                  options: { 'awslogs-group': '/ecs/llmops-task', 'awslogs-stream-prefix': 'ecs' },
                },
              },
            ],
          },
        };
      default:
        throw new Error(`unexpected ${command.constructor.name}`);
    }
  };
  const client = { send: answer, destroy() {} } as any;
  return { clients: { ecs: client, elb: client, logs: client }, polls: () => poll };
}

/** Revision 2 deploying until poll `at`, then the circuit breaker failed it and revision 1 is PRIMARY again. */
const rollsBackAt = (at: number, poll: number, reason = 'circuit breaker') =>
  poll < at
    ? service([dep('ecs-svc/2', 'PRIMARY', 2), dep('ecs-svc/1', 'ACTIVE', 1)])
    : service([dep('ecs-svc/3', 'PRIMARY', 1), dep('ecs-svc/2', 'ACTIVE', 2, { rolloutState: 'FAILED', rolloutStateReason: reason })]);

let server: Server;
let url = '';
let status = 200;

test.before(async () => {
  server = createServer((_req, res) => res.writeHead(status).end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
});
test.after(() => void server.close());

async function wait(timeline: (poll: number) => World, options: VerifyOptions = {}, dns?: string) {
  const lines: string[] = [];
  const aws = cannedAws(timeline, dns);
  const result = await waitForDeployment(new Runner({ echo: (l) => lines.push(l) }), config, {
    url,
    timeoutSeconds: 5,
    pollDelay: () => 5,
    ...aws,
    ...options,
  });
  return { result, lines, polls: aws.polls() };
}

test('ok: the new tasks run, their targets turn healthy, then the URL answers', async () => {
  status = 200;
  const { result, lines } = await wait((poll) => ({
    service: service([dep('ecs-svc/2', 'PRIMARY', 2), dep('ecs-svc/1', 'ACTIVE', 1)]),
    running: poll >= 2 ? [task('t1', '10.0.1.5')] : [],
    targets: poll >= 2 ? [{ Target: { Id: '10.0.1.5' }, TargetHealth: { State: poll >= 4 ? 'healthy' : 'initial' } }] : [],
  }));
  assert.is(result.outcome, 'ok', result.message);
  assert.is(result.deploymentId, 'ecs-svc/2');
  assert.match(result.message, /1\/1 tasks running, 1 healthy targets/);
  assert.ok(
    lines.some((l) => /targets 0\/1 healthy, 1 initial/.test(l)),
    lines.join('\n'),
  );
  assert.ok(lines.some((l) => l.includes(`✓ ${url} answered 200`)));
});

test("without a URL given, the one probed is the load balancer's DNS name and HEALTH_PATH, found from the service's target group", async () => {
  status = 200;
  const host = new URL(url).host;
  const { result, lines } = await wait(
    () => ({
      service: service([dep('ecs-svc/2', 'PRIMARY', 2)]),
      running: [task('t1', '10.0.1.5')],
      targets: [{ Target: { Id: '10.0.1.5' }, TargetHealth: { State: 'healthy' } }],
    }),
    { url: undefined },
    host,
  );
  assert.is(result.outcome, 'ok', result.message);
  assert.is(result.url, `http://${host}/health`);
  assert.ok(lines.includes(`  ✓ http://${host}/health answered 200`), lines.join('\n'));
});

test('ok waits for the URL: healthy targets but a 503 from the app is not done', async () => {
  status = 503;
  const { result, lines } = await wait(
    () => ({
      service: service([dep('ecs-svc/2', 'PRIMARY', 2)]),
      running: [task('t1', '10.0.1.5')],
      targets: [{ Target: { Id: '10.0.1.5' }, TargetHealth: { State: 'healthy' } }],
    }),
    { timeoutSeconds: 1 },
  );
  status = 200;
  assert.is(result.outcome, 'timeout');
  assert.match(result.message, /waiting for http/);
  assert.not.ok(
    lines.some((l) => l.includes('answered')),
    'a 503 is not an answer',
  );
});

test('ok needs every condition: fewer tasks running than desired, or targets not yet healthy, is not done though the URL answers', async () => {
  status = 200;
  const two = service([dep('ecs-svc/2', 'PRIMARY', 2, { desiredCount: 2 })]);
  const healthy = (ip: string) => ({ Target: { Id: ip }, TargetHealth: { State: 'healthy' as const } });
  // one of two tasks running, yet two healthy targets (the second task's, registered before it reports RUNNING)
  const short = await wait(
    () => ({
      service: two,
      running: [task('t1', '10.0.1.5'), task('t2', '10.0.1.6', { lastStatus: 'PROVISIONING' })],
      targets: [healthy('10.0.1.5'), healthy('10.0.1.6')],
    }),
    { timeoutSeconds: 1 },
  );
  assert.is(short.result.outcome, 'timeout', short.result.message);
  // both running, one target still initial
  const initial = await wait(
    () => ({
      service: two,
      running: [task('t1', '10.0.1.5'), task('t2', '10.0.1.6')],
      targets: [healthy('10.0.1.5'), { Target: { Id: '10.0.1.6' }, TargetHealth: { State: 'initial' } }],
    }),
    { timeoutSeconds: 1 },
  );
  assert.is(initial.result.outcome, 'timeout', initial.result.message);
});

test('ok waits for the old tasks to leave the load balancer: while an old target is healthy it still gets requests, so the URL may answer the old version; draining is enough', async () => {
  status = 200;
  const { result, lines, polls } = await wait((poll) => ({
    service: service([dep('ecs-svc/2', 'PRIMARY', 2), dep('ecs-svc/1', 'ACTIVE', 1)]),
    running: [task('t1', '10.0.1.5')],
    targets: [
      { Target: { Id: '10.0.1.5' }, TargetHealth: { State: 'healthy' } },
      { Target: { Id: '10.0.9.9' }, TargetHealth: { State: poll >= 3 ? 'draining' : 'healthy' } },
    ],
  }));
  assert.is(result.outcome, 'ok', result.message);
  assert.is(polls, 3, 'done at the first poll that found the old target draining');
  // the URL is asked only then: before, its answer may have been the old version's
  assert.equal(
    lines.slice(2).map((l) => l.replace(/\s+\[\d+ s\]$/, '')),
    [
      '  IN_PROGRESS tasks 1/1 running; targets 1/1 healthy; 1 old still serving',
      `  ✓ ${url} answered 200`,
      '  IN_PROGRESS tasks 1/1 running; targets 1/1 healthy',
    ],
  );
  // a target that never leaves (not ECS's, or a deregistration that never comes): a timeout that says why
  const stuck = await wait(
    () => ({
      service: service([dep('ecs-svc/2', 'PRIMARY', 2)]),
      running: [task('t1', '10.0.1.5')],
      targets: [
        { Target: { Id: '10.0.1.5' }, TargetHealth: { State: 'healthy' } },
        { Target: { Id: '10.0.9.9' }, TargetHealth: { State: 'healthy' } },
      ],
    }),
    { timeoutSeconds: 1 },
  );
  assert.is(stuck.result.outcome, 'timeout', stuck.result.message);
  assert.match(stuck.result.message, '1 old still serving');
});

test("the milestones for the deploy's timeline: the new tasks' first creation and pull, last pull end and start; the polls that saw one healthy target, all of them, no old one", async () => {
  status = 200;
  const at = (s: number) => new Date(Date.UTC(2026, 11, 4, 10, 0, s));
  const times = (c: number, p0: number, p1: number, s0: number) => ({
    createdAt: at(c),
    pullStartedAt: at(p0),
    pullStoppedAt: at(p1),
    startedAt: at(s0),
  });
  const { result } = await wait((poll) => ({
    service: service([dep('ecs-svc/2', 'PRIMARY', 2), dep('ecs-svc/1', 'ACTIVE', 1)]),
    running: [task('t1', '10.0.1.5', times(1, 3, 9, 10)), task('t2', '10.0.1.6', times(2, 4, 12, 14))],
    targets: [
      { Target: { Id: '10.0.1.5' }, TargetHealth: { State: poll >= 2 ? 'healthy' : 'initial' } },
      { Target: { Id: '10.0.1.6' }, TargetHealth: { State: poll >= 3 ? 'healthy' : 'initial' } },
      { Target: { Id: '10.0.9.9' }, TargetHealth: { State: poll >= 4 ? 'draining' : 'healthy' } },
    ],
  }));
  assert.is(result.outcome, 'ok', result.message);
  const m = result.milestones!;
  assert.equal(
    [m.created, m.pullStarted, m.pullStopped, m.started],
    [at(1), at(3), at(12), at(14)].map((d) => d.getTime()),
  );
  assert.ok(m.firstHealthy! <= m.allHealthy! && m.allHealthy! <= m.oldOut!, JSON.stringify(m));
  // and what the timeline makes of them
  const t = new Timeline(at(0).getTime());
  addVerifyPhases(t, { ...m, firstHealthy: at(16).getTime(), allHealthy: at(20).getTime(), oldOut: at(25).getTime() });
  assert.equal(timelineRecord(t).phases, [
    { name: 'tasks provisioning', from: 1, to: 3 },
    { name: 'image pull', from: 3, to: 12 },
    { name: 'container start', from: 12, to: 14 },
    { name: 'health checks', from: 14, to: 20, detail: 'first healthy after 2.0 s' },
    { name: 'old tasks out', from: 20, to: 25 },
  ]);
  assert.ok(m.firstLook! < m.allHealthy!, 'watched coming up: healthy after the first look');

  // a steady service checked again (a no-op deploy): all healthy at the first look, its tasks' times are an
  // earlier deployment's, not phases of this run
  const steady = await wait(() => ({
    service: service([dep('ecs-svc/2', 'PRIMARY', 2)]),
    running: [task('t1', '10.0.1.5', times(1, 3, 9, 10)), task('t2', '10.0.1.6', times(2, 4, 12, 14))],
    targets: [
      { Target: { Id: '10.0.1.5' }, TargetHealth: { State: 'healthy' } },
      { Target: { Id: '10.0.1.6' }, TargetHealth: { State: 'healthy' } },
    ],
  }));
  assert.is(steady.result.outcome, 'ok', steady.result.message);
  assert.is(steady.result.milestones!.allHealthy, steady.result.milestones!.firstLook);
  const none = new Timeline(Date.now());
  addVerifyPhases(none, steady.result.milestones);
  assert.equal(none.phases, []);
});

test('rolled back: the circuit breaker failed the deployment and the previous revision is PRIMARY again', async () => {
  const failed = stoppedTask('t9', '10.0.1.9', 'Essential container in task exited', 1);
  const { result } = await wait((poll) => ({
    service: rollsBackAt(2, poll, 'ECS deployment circuit breaker: tasks failed to start.'),
    stopped: poll >= 1 ? [failed] : [],
    logs: ['listening on 3000', 'Error: connect ECONNREFUSED 10.0.2.7:5432'],
  }));
  assert.is(result.outcome, 'rolled-back', result.message);
  assert.is(
    result.message,
    `deployment ecs-svc/2 failed (ECS deployment circuit breaker: tasks failed to start.); ECS rolled back to ${TD(1)}`,
  );
  assert.equal([result.deploymentId, result.taskDefinition, result.url], ['ecs-svc/2', TD(2), url]);
  const diagnosis = result.diagnosis.join('\n');
  assert.match(diagnosis, /exit code 1/);
  assert.match(diagnosis, /fix: the app exited with code 1 at start/);
  assert.match(diagnosis, /\| Error: connect ECONNREFUSED 10\.0\.2\.7:5432/);
});

test('exec format error in the logs: the image is for another CPU than the task, and the fix says PLATFORM', async () => {
  const { result } = await wait((poll) => ({
    service: rollsBackAt(2, poll),
    stopped: poll >= 1 ? [stoppedTask('t1', '10.0.1.5', 'Essential container in task exited', 255)] : [],
    logs: ['exec /usr/local/bin/docker-entrypoint.sh: exec format error'],
  }));
  assert.is(result.outcome, 'rolled-back');
  assert.match(result.diagnosis.join('\n'), /fix: exec format error: the image was built for another CPU architecture .*PLATFORM/);
});

test('rolled back after many stopped tasks: with the circuit breaker on, the waiter never gives up on a count (ECS trips it after 3 at least) and the exit is 4', async () => {
  // a task stops at each poll; the breaker trips at the sixth: three or five stopped tasks are not an outcome
  const stopped = ['a', 'b', 'c', 'd', 'e', 'f'].map((id, i) =>
    stoppedTask(id, `10.0.1.${i + 1}`, 'Essential container in task exited', 1),
  );
  const { result, polls } = await wait((poll) => ({
    service: rollsBackAt(6, poll, 'ECS deployment circuit breaker: tasks failed to start.'),
    stopped: stopped.slice(0, Math.min(poll, 6)),
  }));
  assert.is(result.outcome, 'rolled-back', result.message);
  assert.ok(polls >= 6, `followed until the rollback (${polls} polls)`);
  assert.is(OUTCOME_EXIT[result.outcome], ExitCode.ROLLED_BACK);
  assert.is(ExitCode.ROLLED_BACK, 4);
  assert.match(result.diagnosis.join('\n'), /exit code 1/);
});

test('a crash loop is stopped at CRASH_LOOP_TASKS stopped tasks, none healthy: sooner than the breaker of 10 tasks (5), and with it off', async () => {
  const exits = ['a', 'b', 'c', 'd', 'e'].map((id, i) => stoppedTask(id, `10.0.1.${i + 1}`, 'Essential container in task exited', 3));
  const world = (breaker: boolean) => (poll: number) => ({
    service: service([dep('ecs-svc/2', 'PRIMARY', 2, { desiredCount: 10 }), dep('ecs-svc/1', 'ACTIVE', 1)], {
      deploymentConfiguration: { deploymentCircuitBreaker: { enable: breaker, rollback: breaker } },
    }),
    stopped: exits.slice(0, Math.min(poll + 1, 5)),
  });
  for (const breaker of [true, false]) {
    const { result } = await wait(world(breaker));
    assert.is(result.outcome, 'failed', result.message);
    assert.is(result.rollBackTo, TD(1), 'back to the release before');
    assert.match(
      result.message,
      `3 tasks of deployment ecs-svc/2 stopped before any was healthy (CRASH_LOOP_TASKS=3; ${breaker ? 'the circuit breaker would wait for 5' : 'the circuit breaker is off'})`,
    );
    assert.match(result.diagnosis.join('\n'), /exit code 3/);
  }
  // off (0), or where the breaker trips as soon (desired 2: at 3), it is ECS's decision
  assert.is((await wait(world(true), { crashLoopTasks: 0, timeoutSeconds: 1 })).result.rollBackTo, undefined);
  const small = await wait(
    (poll) => ({
      service: service([dep('ecs-svc/2', 'PRIMARY', 2, { desiredCount: 2 }), dep('ecs-svc/1', 'ACTIVE', 1)]),
      stopped: exits.slice(0, poll + 1),
    }),
    { timeoutSeconds: 1 },
  );
  assert.is(small.result.rollBackTo, undefined);
  assert.is(small.result.outcome, 'timeout');
  // a task that was healthy once: not a crash loop (the breaker or the count below decides)
  const healthyOnce = await wait((poll) => ({
    ...world(false)(poll),
    stopped: exits.slice(0, Math.max(0, poll - 1)),
    running: poll <= 1 ? [task('t1', '10.0.1.9')] : [],
    targets: poll <= 1 ? [{ Target: { Id: '10.0.1.9' }, TargetHealth: { State: 'healthy' } }] : [],
  }));
  assert.is(healthyOnce.result.rollBackTo, undefined);
  assert.match(healthyOnce.result.message, 'failed (the circuit breaker is off');
});

test('failed: with the circuit breaker off, three stopped tasks end the wait, each reason with its fix', async () => {
  const pull = 'CannotPullContainerError: pull image manifest has been retried 5 time(s)';
  const { result } = await wait((poll) => ({
    service: service([dep('ecs-svc/2', 'PRIMARY', 2)], {
      deploymentConfiguration: { deploymentCircuitBreaker: { enable: false, rollback: false } },
    }),
    stopped: [
      stoppedTask('a', '10.0.1.1', 'Task failed to start', undefined, pull),
      ...(poll >= 1 ? [stoppedTask('b', '10.0.1.2', 'Task failed to start', undefined, pull)] : []),
      ...(poll >= 2 ? [stoppedTask('c', '10.0.1.3', 'Task failed to start', undefined, pull)] : []),
    ],
  }));
  assert.is(result.outcome, 'failed');
  assert.is(result.message, '3 tasks of deployment ecs-svc/2 failed (the circuit breaker is off: ECS would keep retrying)');
  assert.match(result.diagnosis.join('\n'), /fix: the image cannot be pulled: check that it exists in ECR/);
});

test('failed: ECS cannot place the tasks (an event after the wait began)', async () => {
  const { result } = await wait((poll) => ({
    service: service([dep('ecs-svc/2', 'PRIMARY', 2)], {
      events:
        poll >= 1
          ? [
              {
                id: 'e1',
                createdAt: new Date(Date.now() + 1000),
                message: '(service llmops-service) was unable to place a task because no container instance met all of its requirements.',
              },
            ]
          : [],
    }),
  }));
  assert.is(result.outcome, 'failed');
  assert.is(
    result.message,
    'ECS cannot place the tasks: (service llmops-service) was unable to place a task because no container instance met all of its requirements.',
  );
  assert.equal(result.diagnosis, ['fix: check the subnets, security groups and Fargate capacity for the requested TASK_CPU / TASK_MEMORY']);
  assert.match(result.diagnosis.join('\n'), /subnets, security groups and Fargate capacity/);
});

test('an unhealthy target says why: the target-health reason and its fix are in the diagnosis', async () => {
  const { result } = await wait((poll) => ({
    service: rollsBackAt(3, poll),
    running: poll < 3 ? [task('t1', '10.0.1.5')] : [],
    stopped: poll >= 3 ? [stoppedTask('t1', '10.0.1.5', 'Task failed ELB health checks in (target-group llmops-tg)')] : [],
    targets: [
      {
        Target: { Id: '10.0.1.5' },
        TargetHealth: {
          State: 'unhealthy',
          Reason: 'Target.ResponseCodeMismatch',
          Description: 'Health checks failed with these codes: [404]',
        },
      },
    ],
  }));
  assert.is(result.outcome, 'rolled-back');
  const diagnosis = result.diagnosis.join('\n');
  assert.match(diagnosis, /target 10\.0\.1\.5: Target\.ResponseCodeMismatch: Health checks failed with these codes: \[404\]/);
  assert.match(diagnosis, /fix: the app answers the health path with another status than 200/);
  assert.match(diagnosis, /fix: the load balancer marked the task unhealthy/);
});

test('failed, not rolled back: another deployment replaced the one followed (a newer revision, not the previous)', async () => {
  const { result } = await wait((poll) => ({
    service:
      poll < 2
        ? service([dep('ecs-svc/2', 'PRIMARY', 2), dep('ecs-svc/1', 'ACTIVE', 1)])
        : service([dep('ecs-svc/4', 'PRIMARY', 3), dep('ecs-svc/2', 'ACTIVE', 2)]),
  }));
  assert.is(result.outcome, 'failed');
  assert.is(result.message, 'deployment ecs-svc/2 failed: the deployment was replaced');
  assert.equal([result.deploymentId, result.taskDefinition], ['ecs-svc/2', TD(2)]);
});

test('timeout: still in progress at the deadline, with the last state and how to follow it again', async () => {
  const { result, polls } = await wait(
    () => ({ service: service([dep('ecs-svc/2', 'PRIMARY', 2)]), running: [task('t1', '10.0.1.5', { lastStatus: 'PENDING' })] }),
    { timeoutSeconds: 1 },
  );
  assert.is(result.outcome, 'timeout');
  assert.is(
    result.message,
    `gave up after 1 s (DEPLOY_TIMEOUT_SECONDS); last state: IN_PROGRESS tasks 0/1 running; targets 0/1 healthy. The deployment may still finish: npm run step:7`,
  );
  assert.ok(polls > 10, `polled ${polls} times at the given interval`);
});

test('preflight: no ACTIVE service, or a service that is not deploying the wanted revision', async () => {
  const gone = await wait(() => ({ service: service([], { status: 'INACTIVE' }) }));
  assert.is(gone.result.outcome, 'preflight');
  assert.is(gone.result.message, 'service llmops-service is not ACTIVE in cluster llmops-cluster: run npm run step:4');
  const other = await wait(() => ({ service: service([dep('ecs-svc/1', 'PRIMARY', 1, { rolloutState: 'COMPLETED' })]) }), {
    taskDefinitionArn: TD(7),
  });
  assert.is(other.result.outcome, 'preflight');
  assert.is(other.result.message, `service llmops-service is not deploying ${TD(7)} (its primary deployment runs ${TD(1)})`);
});

test('already over before the first look: a deployment that failed within seconds is reported, not waited for', async () => {
  const { result, polls } = await wait(
    () => ({
      service: service([
        dep('ecs-svc/3', 'PRIMARY', 1),
        dep('ecs-svc/2', 'ACTIVE', 2, { rolloutState: 'FAILED', rolloutStateReason: 'circuit breaker' }),
      ]),
      stopped: [stoppedTask('t1', '10.0.1.5', 'Essential container in task exited', 137)],
    }),
    { deploymentId: 'ecs-svc/2' },
  );
  assert.is(result.outcome, 'rolled-back');
  assert.is(polls, 0, 'one describe-services, no polling loop');
  assert.match(result.diagnosis.join('\n'), /exit 137: the container was killed/);
});

test('already over, every way: failed while still primary (rollback off); gone with or without stopped tasks; no deployment at all', async () => {
  const off = { deploymentConfiguration: { deploymentCircuitBreaker: { enable: true, rollback: false } } };
  const stuck = await wait(
    () => ({
      service: service([dep('ecs-svc/2', 'PRIMARY', 2, { rolloutState: 'FAILED', rolloutStateReason: 'circuit breaker' })], off),
    }),
    { deploymentId: 'ecs-svc/2' },
  );
  assert.equal([stuck.result.outcome, stuck.result.message, stuck.polls], ['failed', 'deployment ecs-svc/2 failed (circuit breaker)', 0]);
  assert.is(stuck.result.taskDefinition, TD(2));

  const replaced = await wait(() => ({ service: service([dep('ecs-svc/3', 'PRIMARY', 1)]) }), { deploymentId: 'ecs-svc/9' });
  assert.equal(
    [replaced.result.outcome, replaced.result.message, replaced.polls],
    ['preflight', `deployment ecs-svc/9 is no longer the service's primary deployment (now ecs-svc/3 running ${TD(1)})`, 0],
  );
  const gone = await wait(
    () => ({
      service: service([dep('ecs-svc/3', 'PRIMARY', 1)]),
      stopped: [{ ...stoppedTask('t1', '10.0.1.5', 'Essential container in task exited', 3), startedBy: 'ecs-svc/9' }],
    }),
    { deploymentId: 'ecs-svc/9' },
  );
  assert.equal(
    [gone.result.outcome, gone.result.message, gone.result.taskDefinition],
    ['rolled-back', `deployment ecs-svc/9 failed (its tasks stopped); ECS rolled back to ${TD(1)}`, TD(1)],
  );
  assert.ok(
    gone.lines.some((l) => l.startsWith('  ✗ task t1 stopped: Essential container in task exited (exit code 3)')),
    gone.lines.join('\n'),
  );
  const none = await wait(() => ({ service: service([], { taskDefinition: TD(1) }) }), { deploymentId: 'ecs-svc/9' });
  assert.equal(
    [none.result.outcome, none.result.message],
    ['preflight', "deployment ecs-svc/9 is no longer the service's primary deployment (it has none now)"],
  );
});

test('the deployment followed without an id: the primary one running the revision, by its full or short name, before an older one running it too', async () => {
  status = 200;
  const world = () => ({
    service: service([dep('ecs-svc/4', 'ACTIVE', 2), dep('ecs-svc/5', 'PRIMARY', 2)]),
    running: [task('t1', '10.0.1.5', { startedBy: 'ecs-svc/5' })],
    targets: [{ Target: { Id: '10.0.1.5' }, TargetHealth: { State: 'healthy' as const } }],
  });
  for (const wanted of [TD(2), 'llmops-task:2']) {
    const { result } = await wait(world, { taskDefinitionArn: wanted });
    assert.equal([result.outcome, result.deploymentId], ['ok', 'ecs-svc/5'], wanted);
  }
  // none primary with it: the latest that ran it, already replaced
  const older = await wait(() => ({ service: service([dep('ecs-svc/6', 'PRIMARY', 3), dep('ecs-svc/4', 'ACTIVE', 2)]) }), {
    taskDefinitionArn: TD(2),
  });
  assert.equal(
    [older.result.outcome, older.result.deploymentId ?? older.result.message],
    ['preflight', `deployment ecs-svc/4 is no longer the service's primary deployment (now ecs-svc/6 running ${TD(3)})`],
  );
});

test('while waiting: a service that disappears fails; new events are printed oldest first, once', async () => {
  const gone = await wait((poll) => ({ service: poll < 2 ? service([dep('ecs-svc/2', 'PRIMARY', 2)]) : (undefined as any) }));
  assert.equal([gone.result.outcome, gone.result.message], ['failed', 'service llmops-service disappeared']);
  const events = await wait(
    (poll) => ({
      service: service([dep('ecs-svc/2', 'PRIMARY', 2)], {
        // ECS lists events newest first
        events:
          poll >= 1
            ? [
                { id: 'e3', message: 'third' },
                { id: 'e2', message: 'second' },
                { id: 'e1', message: 'first' },
              ]
            : [{ id: 'e1', message: 'first' }],
      }),
    }),
    { timeoutSeconds: 0.3 },
  );
  assert.equal(
    events.lines.filter((l) => l.startsWith('  event: ')),
    ['  event: second', '  event: third'],
  );
});

test('the circuit breaker unset counts as off: three stopped tasks fail the wait', async () => {
  const stopped = ['a', 'b', 'c'].map((id, i) => stoppedTask(id, `10.0.1.${i + 1}`, 'Essential container in task exited', 1));
  for (const deploymentConfiguration of [{}, undefined]) {
    const { result } = await wait(() => ({
      service: { ...service([dep('ecs-svc/2', 'PRIMARY', 2)]), deploymentConfiguration },
      stopped,
    }));
    assert.is(result.outcome, 'failed', JSON.stringify(deploymentConfiguration));
    assert.is(result.message, '3 tasks of deployment ecs-svc/2 failed (the circuit breaker is off: ECS would keep retrying)');
  }
});

test('"unable to place a task" fails the wait only when it happened after the wait began', async () => {
  status = 200;
  const placed = (events: Service['events']) =>
    wait((poll) => ({
      service: service([dep('ecs-svc/2', 'PRIMARY', 2)], { events: poll >= 1 ? events : [] }),
      running: poll >= 2 ? [task('t1', '10.0.1.5')] : [],
      targets: poll >= 2 ? [{ Target: { Id: '10.0.1.5' }, TargetHealth: { State: 'healthy' as const } }] : [],
    }));
  const message = '(service llmops-service) was unable to place a task because no container instance met all of its requirements.';
  const old = await placed([{ id: 'e1', message, createdAt: new Date(Date.now() - 3_600_000) }]);
  assert.is(old.result.outcome, 'ok', "an hour-old event is not this deployment's");
  const undated = await placed([{ id: 'e1', message }]);
  assert.is(undated.result.outcome, 'ok', 'an event without a time is not taken as new');
  const unnamed = await placed([{ message, createdAt: new Date() }]);
  assert.is(unnamed.result.outcome, 'ok', 'an event without an id is not one ECS sent');
  const other = await placed([{ id: 'e1', message: '(service llmops-service) has started 1 tasks', createdAt: new Date() }]);
  assert.is(other.result.outcome, 'ok');
  const now = await placed([{ id: 'e1', message, createdAt: new Date() }]);
  assert.equal([now.result.outcome, now.result.message], ['failed', `ECS cannot place the tasks: ${message}`]);
});

test('a stopped task that wrote nothing: its diagnosis has no log section; with DOMAIN_NAME the URL asked is https on the domain', async () => {
  const { result } = await wait(
    () => ({
      service: service([
        dep('ecs-svc/3', 'PRIMARY', 1),
        dep('ecs-svc/2', 'ACTIVE', 2, { rolloutState: 'FAILED', rolloutStateReason: 'x' }),
      ]),
      stopped: [stoppedTask('t1', '10.0.1.5', 'Essential container in task exited', 1)],
      logs: [],
    }),
    { deploymentId: 'ecs-svc/2' },
  );
  assert.equal(result.diagnosis, [
    'stopped task t1: Essential container in task exited (exit code 1)\n    fix: the app exited with code 1 at start: see its last log lines below',
  ]);
  const domain = loadConfig({
    env: { LLMOPS_DOMAIN_NAME: 'app.invalid', LLMOPS_HOSTED_ZONE_ID: 'Z123' },
    envFile: '',
  });
  // the targets are not healthy yet: the URL is not asked (no DNS lookup here), but it is the one followed
  const probed = await waitForDeployment(new Runner({ echo: () => {} }), domain, {
    timeoutSeconds: 0.3,
    pollDelay: () => 5,
    ...cannedAws(() => ({
      service: service([dep('ecs-svc/2', 'PRIMARY', 2)]),
      running: [task('t1', '10.0.1.5')],
      targets: [{ Target: { Id: '10.0.1.5' }, TargetHealth: { State: 'initial' } }],
    })),
  });
  assert.equal([probed.outcome, probed.url], ['timeout', 'https://app.invalid/health']);
});

test('dry run: the four things it would poll, printed as commands, and no AWS call', async () => {
  const lines: string[] = [];
  const aws = cannedAws(() => {
    throw new Error('a dry run called AWS');
  });
  const result = await waitForDeployment(new Runner({ dryRun: true, echo: (l) => lines.push(l) }), config, aws);
  assert.is(result.outcome, 'ok');
  assert.is(result.message, 'dry run');
  const note = '   # polled through the SDK until the deployment is healthy';
  assert.equal(lines, [
    `[dry-run] $ aws ecs describe-services --cluster llmops-cluster --services llmops-service${note}`,
    `[dry-run] $ aws ecs list-tasks --cluster llmops-cluster --service-name llmops-service${note}`,
    `[dry-run] $ aws elbv2 describe-target-health --target-group-arn '<TARGET_GROUP_ARN>'${note}`,
    `[dry-run] $ curl -fsS 'http://<ALB_DNS_NAME>/health'${note}`,
  ]);
  assert.is(aws.polls(), -1, 'no describe-services');
});

test('a task whose address is only in its ENI attachment (Fargate before the container reports it) still counts', async () => {
  status = 200;
  const eniOnly = task('t1', 'unused', {
    containers: [{ name: 'llmops-app' }],
    attachments: [
      {
        type: 'ElasticNetworkInterface',
        details: [
          { name: 'subnetId', value: 'subnet-1' },
          { name: 'privateIPv4Address', value: '10.0.1.7' },
        ],
      },
    ],
  });
  const { result } = await wait(() => ({
    service: service([dep('ecs-svc/2', 'PRIMARY', 2)]),
    running: [eniOnly],
    targets: [{ Target: { Id: '10.0.1.7' }, TargetHealth: { State: 'healthy' } }],
  }));
  assert.is(result.outcome, 'ok', result.message);
  assert.match(result.message, '1 healthy targets');
});

test('lost contact with AWS while waiting: the error says the deployment carries on and how to follow it; other errors are left as they are', async () => {
  const failing = (error: Error): Clients => {
    const client = { send: async () => Promise.reject(error), destroy() {} } as any;
    return { ecs: client, elb: client, logs: client };
  };
  const run = (error: Error) =>
    waitForDeployment(new Runner({ echo: () => {} }), config, { url, clients: failing(error) }).catch((e: Error) => e);
  const expired = Object.assign(new Error('The security token included in the request is expired'), {
    name: 'ExpiredTokenException',
    $metadata: { httpStatusCode: 403 },
  });
  const e1 = await run(expired);
  assert.is(
    (e1 as Error).message,
    'lost contact with AWS while following the deployment of llmops-service (ExpiredTokenException: The security token included in the request is expired); the deployment carries on in ECS: `npm run step:7` follows it again',
  );
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4566'), { code: 'ECONNREFUSED' });
  assert.match(((await run(refused)) as Error).message, /^lost contact with AWS .*ECONNREFUSED/);
  const bug = new TypeError('x is not a function');
  assert.is(((await run(bug)) as Error).message, 'x is not a function');
});

test('stopped-task explanations: reason, exit code, container reason and the fix, in one line each', () => {
  const c = (exitCode?: number, reason?: string) => [{ name: 'llmops-app', exitCode, reason }];
  assert.is(
    explainStoppedTask({ stoppedReason: 'Essential container in task exited', containers: c(1) }),
    'Essential container in task exited (exit code 1)\n    fix: the app exited with code 1 at start: see its last log lines below',
  );
  assert.is(
    explainStoppedTask({ stoppedReason: 'Essential container in task exited', containers: c(137) }),
    'Essential container in task exited (exit code 137)\n    fix: exit 137: the container was killed (SIGKILL): out of memory (raise TASK_MEMORY) or it ignored SIGTERM for stopTimeout',
  );
  assert.is(
    explainStoppedTask({ stoppedReason: 'Scaling activity initiated by deployment', containers: c(0) }),
    'Scaling activity initiated by deployment (exit code 0)\n    fix: see the service events and logs below',
  );
  assert.is(explainStoppedTask({}), 'unknown reason\n    fix: see the service events and logs below');
  // "exited" without an exit code (ECS has not reported it, or reports null) is not "exited with code …"
  for (const exitCode of [undefined, null as unknown as number])
    assert.is(
      explainStoppedTask({ stoppedReason: 'Essential container in task exited', containers: c(exitCode) }),
      'Essential container in task exited\n    fix: see the service events and logs below',
    );
  assert.is(
    explainStoppedTask({
      stoppedReason: 'Task failed to start',
      containers: c(undefined, 'OutOfMemoryError: Container killed due to memory usage'),
    }),
    'Task failed to start — OutOfMemoryError: Container killed due to memory usage\n    fix: the container ran out of memory: raise TASK_MEMORY (a valid Fargate size for TASK_CPU) or fix the leak',
  );
  assert.match(
    explainStoppedTask({ stoppedReason: 'ResourceInitializationError: unable to pull secrets', containers: c() }),
    'fix: the task could not read its secrets or create its log stream',
  );
  assert.match(
    explainStoppedTask({ stoppedReason: 'x', containers: c(undefined, 'CannotStartContainerError: bad user') }),
    'fix: the container could not start',
  );
});

test('polling: every second for 15 s, every 2 s until a minute, then every 5 s', () => {
  assert.equal([0, 14_999, 15_000, 59_999, 60_000, 600_000].map(pollDelayMs), [1000, 1000, 2000, 2000, 5000, 5000]);
});

test("each outcome's exit code, and the one-line result with its diagnosis", () => {
  assert.equal(OUTCOME_EXIT, {
    ok: ExitCode.OK,
    'rolled-back': ExitCode.ROLLED_BACK,
    failed: ExitCode.FAILED,
    timeout: ExitCode.TIMEOUT,
    preflight: ExitCode.PREFLIGHT,
  });
  assert.is(formatResult({ outcome: 'ok', message: 'healthy', diagnosis: [], elapsedMs: 1540 }), '✓ ok: healthy (1.5 s)');
  assert.is(
    formatResult({ outcome: 'failed', message: 'it failed', diagnosis: ['stopped task a', 'target b'], elapsedMs: 20_000 }),
    '✗ failed: it failed (20.0 s)\n  stopped task a\n  target b',
  );
});

test('the transcript of a rollout, line by line: the deployment, new events once each, the status only when it changes, the answer', async () => {
  status = 200;
  const events = (poll: number) =>
    [
      { id: 'e1', message: '(service llmops-service) has started 2 tasks: (task t1) (task t2).' },
      ...(poll >= 3 ? [{ id: 'e2', message: '(service llmops-service) registered 2 targets in (target-group llmops-tg)' }] : []),
    ].reverse();
  const { result, lines } = await wait((poll) => ({
    service: service(
      [
        dep('ecs-svc/2', 'PRIMARY', 2, { desiredCount: 2, pendingCount: poll < 2 ? 2 : 0, failedTasks: poll >= 2 ? 1 : 0 }),
        dep('ecs-svc/1', 'ACTIVE', 1),
      ],
      { events: events(poll) },
    ),
    running: poll >= 2 ? [task('t1', '10.0.1.5'), task('t2', '10.0.2.6', { lastStatus: poll >= 3 ? 'RUNNING' : 'PENDING' })] : [],
    targets:
      poll >= 2
        ? [
            { Target: { Id: '10.0.1.5' }, TargetHealth: { State: poll >= 4 ? 'healthy' : 'initial' } },
            { Target: { Id: '10.0.2.6' }, TargetHealth: { State: poll >= 5 ? 'healthy' : poll >= 4 ? 'unhealthy' : 'initial' } },
            { Target: { Id: '10.9.9.9' }, TargetHealth: { State: 'draining' } },
          ]
        : [],
  }));
  assert.is(result.outcome, 'ok', result.message);
  assert.is(result.message, `deployment ecs-svc/2 is healthy: 2/2 tasks running, 2 healthy targets, ${url} answers`);
  assert.is(result.taskDefinition, TD(2));
  assert.is(result.url, url);
  assert.equal(
    lines.map((l) => l.replace(/\[\d+ s\]$/, '[t]')),
    [
      '# following the deployment of llmops-service (SDK polling: ecs describe-services / list-tasks / describe-tasks, elbv2 describe-target-health)',
      `# deployment ecs-svc/2: ${TD(2)}, desired 2`,
      // e1 was there before the wait began: not news
      '  IN_PROGRESS tasks 0/2 running, 2 pending; targets 0/2 healthy   [t]',
      '  IN_PROGRESS tasks 1/2 running, 1 failed; targets 0/2 healthy, 2 initial   [t]',
      '  event: (service llmops-service) registered 2 targets in (target-group llmops-tg)',
      '  IN_PROGRESS tasks 2/2 running, 1 failed; targets 0/2 healthy, 2 initial   [t]',
      '  IN_PROGRESS tasks 2/2 running, 1 failed; targets 1/2 healthy, 1 unhealthy   [t]',
      `  ✓ ${url} answered 200`,
      '  IN_PROGRESS tasks 2/2 running, 1 failed; targets 2/2 healthy   [t]',
    ],
  );
});

test('desired count 0: nothing to run is ok at once; no load balancer: running tasks are enough', async () => {
  const zero = await wait(() => ({
    service: service([dep('ecs-svc/2', 'PRIMARY', 2, { desiredCount: 0 }), dep('ecs-svc/1', 'ACTIVE', 1)]),
  }));
  assert.equal([zero.result.outcome, zero.result.message, zero.result.taskDefinition], ['ok', 'desired count is 0: nothing to run', TD(2)]);
  assert.not.ok(
    zero.lines.some((l) => l.includes('answered')),
    'nothing runs: the URL is not asked',
  );
  const bare = await wait(
    () => ({
      service: service([dep('ecs-svc/2', 'PRIMARY', 2), dep('ecs-svc/1', 'ACTIVE', 1)], { loadBalancers: [] }),
      running: [task('t1', '10.0.1.5')],
    }),
    { url: undefined },
  );
  assert.is(bare.result.outcome, 'ok', bare.result.message);
  assert.is(bare.result.message, 'deployment ecs-svc/2 is healthy: 1/1 tasks running');
  assert.is(bare.lines.filter((l) => l.includes('tasks 1/1 running')).length, 1);
  assert.ok(
    bare.lines.some((l) => l.replace(/\[\d+ s\]$/, '[t]') === '  IN_PROGRESS tasks 1/1 running   [t]'),
    bare.lines.join('\n'),
  );
});

test('the diagnosis exactly: one entry per distinct reason, the last log lines, the latest three target reasons with their fixes; already over: said and reported at once', async () => {
  status = 200;
  const a = stoppedTask('ta', '10.0.1.5', 'Essential container in task exited', 1);
  const b = stoppedTask('tb', '10.0.1.6', 'Essential container in task exited', 1);
  const c = stoppedTask('tc', '10.0.1.7', 'Task failed ELB health checks in (target-group llmops-tg)', 0);
  const { result } = await wait(
    () => ({
      service: service([
        dep('ecs-svc/3', 'PRIMARY', 1),
        dep('ecs-svc/2', 'ACTIVE', 2, { rolloutState: 'FAILED', rolloutStateReason: 'circuit breaker' }),
      ]),
      stopped: [a, b, c],
      logs: ['booting', 'Error: listen EADDRINUSE'],
    }),
    { deploymentId: 'ecs-svc/2' },
  );
  const logs = '  last log lines:\n    | booting\n    | Error: listen EADDRINUSE';
  assert.equal(result.diagnosis, [`stopped task tb: ${explainStoppedTask(b)}`, logs, `stopped task tc: ${explainStoppedTask(c)}`, logs]);
  assert.is(result.message, `deployment ecs-svc/2 failed (circuit breaker); ECS rolled back to ${TD(1)}`);

  // followed by id, no longer primary, nothing stopped: not a failure of this deployment
  const replaced = await wait(
    () => ({ service: service([dep('ecs-svc/4', 'PRIMARY', 3), dep('ecs-svc/2', 'ACTIVE', 2, { rolloutState: 'COMPLETED' })]) }),
    { deploymentId: 'ecs-svc/2' },
  );
  assert.is(replaced.result.outcome, 'preflight');
  assert.is(replaced.result.message, `deployment ecs-svc/2 is no longer the service's primary deployment (now ecs-svc/4 running ${TD(3)})`);
  // its tasks stopped, not primary, not rolled back to anything: failed
  const stoppedOnly = await wait(
    () => ({ service: service([dep('ecs-svc/2', 'ACTIVE', 2, { rolloutState: 'IN_PROGRESS' })], { taskDefinition: TD(2) }), stopped: [a] }),
    { deploymentId: 'ecs-svc/2' },
  );
  assert.is(stoppedOnly.result.outcome, 'failed');
  assert.is(stoppedOnly.result.message, 'deployment ecs-svc/2 failed (its tasks stopped)');
  assert.ok(stoppedOnly.lines.includes(`  ✗ task ta stopped: ${explainStoppedTask(a)}`), stoppedOnly.lines.join('\n'));
});

test("a database error in a stopped task's log, even above the 15 lines shown, gets doctor's fix; the lines shown are the last 15", async () => {
  const c = stoppedTask('tc', '10.0.1.7', 'Task failed ELB health checks in (target-group llmops-tg)', 0);
  const requests = Array.from({ length: 20 }, (_, i) => `GET /health 404 #${i}`);
  const { result } = await wait(
    () => ({
      service: service([
        dep('ecs-svc/3', 'PRIMARY', 1),
        dep('ecs-svc/2', 'ACTIVE', 2, { rolloutState: 'FAILED', rolloutStateReason: 'circuit breaker' }),
      ]),
      stopped: [c],
      logs: [
        'health: down: psql: error: connection to server at "db" (10.0.2.3), port 5432 failed: SSL error: certificate verify failed',
        ...requests,
      ],
    }),
    { deploymentId: 'ecs-svc/2' },
  );
  assert.equal(result.diagnosis, [
    `stopped task tc: ${explainStoppedTask(c)}`,
    `  last log lines:\n${requests
      .slice(-15)
      .map((l) => `    | ${l}`)
      .join('\n')}`,
    `    fix: ${databaseHint('SSL error: certificate verify failed')}`,
  ]);
  assert.match(result.diagnosis.at(-1)!, 'https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem');
});

test('every stopped-task explanation and target-health fix, word for word; only the latest three unhealthy targets of this deployment', async () => {
  const fixes: [string, string][] = [
    [
      'CannotPullContainerError: pull image manifest has been retried',
      'the image cannot be pulled: check that it exists in ECR (npm run step:5), that the execution role may pull it, and that the private subnets reach ECR (NAT gateway or VPC endpoints)',
    ],
    [
      'ResourceInitializationError: unable to pull secrets',
      'the task could not read its secrets or create its log stream: check that every secrets[].valueFrom ARN exists (npm run secrets), the execution role may read it, and the log group exists',
    ],
    [
      'OutOfMemoryError: Container killed due to memory usage',
      'the container ran out of memory: raise TASK_MEMORY (a valid Fargate size for TASK_CPU) or fix the leak',
    ],
    [
      'Task failed ELB health checks in (target-group x)',
      'the load balancer marked the task unhealthy: see the target-health reason below',
    ],
    [
      'CannotStartContainerError: exec format error',
      'exec format error: the image was built for another CPU architecture than the task runs (runtimePlatform): build it with --platform linux/amd64 (PLATFORM, the default) or set PLATFORM=linux/arm64 for ARM64 Fargate, then deploy again',
    ],
    ['CannotStartContainerError: no such file', 'the container could not start: check the entry point / command and the user it runs as'],
  ];
  for (const [reason, fix] of fixes) assert.is(explainStoppedTask({ stoppedReason: reason }), `${reason}\n    fix: ${fix}`);
  assert.is(
    explainStoppedTask({ stoppedReason: 'Essential container in task exited', containers: [{ exitCode: 137, reason: 'OOM?' }] }),
    'Essential container in task exited (exit code 137) — OOM?\n    fix: exit 137: the container was killed (SIGKILL): out of memory (raise TASK_MEMORY) or it ignored SIGTERM for stopTimeout',
  );
  assert.is(
    explainStoppedTask({ stoppedReason: 'Essential container in task exited', containers: [{ exitCode: 0 }] }),
    'Essential container in task exited (exit code 0)\n    fix: the app exited with code 0 at start: see its last log lines below',
  );
  assert.is(
    explainStoppedTask({ containers: [{ exitCode: null as any }] }),
    'unknown reason\n    fix: see the service events and logs below',
  );
  assert.is(
    explainStoppedTask({ stoppedReason: 'Scaling activity', containers: [{ reason: 'CannotPullContainerError: denied' }] }),
    'Scaling activity — CannotPullContainerError: denied\n    fix: the image cannot be pulled: check that it exists in ECR (npm run step:5), that the execution role may pull it, and that the private subnets reach ECR (NAT gateway or VPC endpoints)',
  );

  const unhealthy = (ip: string, state: string, reason: string) =>
    ({
      Target: { Id: ip },
      TargetHealth: { State: state, Reason: reason, Description: `${reason} here` },
    }) as TargetHealthDescription;
  const { result } = await wait((poll) => ({
    service: rollsBackAt(3, poll),
    running: poll < 3 ? ['10.0.1.1', '10.0.1.2', '10.0.1.3', '10.0.1.4', '10.0.1.5'].map((ip, i) => task(`t${i}`, ip)) : [],
    targets: [
      unhealthy('10.0.1.1', 'unhealthy', 'Target.ResponseCodeMismatch'),
      unhealthy('10.0.1.2', 'unhealthy', 'Target.Timeout'),
      unhealthy('10.0.1.3', 'unhealthy', 'Target.FailedHealthChecks'),
      unhealthy('10.0.1.4', 'unhealthy', 'Elb.Mystery'),
      unhealthy('10.0.1.5', 'draining', 'Target.DeregistrationInProgress'),
      unhealthy('10.9.9.9', 'unhealthy', 'Target.Timeout'),
    ],
  }));
  assert.equal(result.diagnosis, [
    'target 10.0.1.2: Target.Timeout: Target.Timeout here\n    fix: the health check timed out: the app must listen on 0.0.0.0:CONTAINER_PORT and answer within 5 s; the tasks security group must allow the ALB',
    'target 10.0.1.3: Target.FailedHealthChecks: Target.FailedHealthChecks here\n    fix: the ALB could not connect: the app must listen on 0.0.0.0:CONTAINER_PORT; check the tasks security group allows the ALB on that port',
    'target 10.0.1.4: Elb.Mystery: Elb.Mystery here\n    fix: see the target group health check settings (npm run doctor)',
  ]);
});

test('the bake: a task of the new deployment that stops inside it fails the deploy, back to the release before; none stopping: ok, baked', async () => {
  status = 200;
  const healthy = (): World => ({
    service: service([dep('ecs-svc/2', 'PRIMARY', 2), dep('ecs-svc/1', 'ACTIVE', 1)]),
    running: [task('t1', '10.0.1.5')],
    targets: [{ Target: { Id: '10.0.1.5' }, TargetHealth: { State: 'healthy' } }],
  });
  const runner = new Runner({ echo: () => {} });
  const { result: ok } = await wait(healthy);
  assert.is(ok.outcome, 'ok');
  assert.is(ok.previousTaskDefinition, TD(1));
  // a task stops after a few looks into the bake (the canned world counts what it is asked)
  let asked = 0;
  const aws = cannedAws(() => ({
    ...healthy(),
    stopped: ++asked > 4 ? [stoppedTask('t1', '10.0.1.5', 'Essential container in task exited', 3)] : [],
  }));
  const failed = await bakeDeployment(runner, config, ok, 5, { ...aws, pollDelay: () => 5 });
  assert.is(failed.outcome, 'failed', failed.message);
  assert.is(failed.rollBackTo, TD(1));
  assert.match(failed.message, /^deployment ecs-svc\/2 failed its bake: 1 task\(s\) stopped \d+ s into the 5 s bake$/);
  assert.match(failed.diagnosis.join('\n'), /exit code 3/);
  const baked = await bakeDeployment(runner, config, ok, 1, { ...cannedAws(healthy), pollDelay: () => 5 });
  assert.is(baked.outcome, 'ok');
  assert.match(baked.message, /; baked 1 s$/);
  assert.is(await bakeDeployment(runner, config, ok, 0), ok, 'BAKE_SECONDS=0: no bake');
});

test("the bake reads the service's deployment alarms: one that trips after the deployment began fails it, named with its numbers; an earlier release's is not this one's", async () => {
  status = 200;
  const withAlarms = (): World => {
    const s = service([dep('ecs-svc/2', 'PRIMARY', 2), dep('ecs-svc/1', 'ACTIVE', 1)]);
    return {
      service: {
        ...s,
        deploymentConfiguration: { alarms: { enable: true, rollback: true, alarmNames: ['llmops-deploy-5xx', 'llmops-deploy-latency'] } },
      },
      running: [task('t1', '10.0.1.5')],
      targets: [{ Target: { Id: '10.0.1.5' }, TargetHealth: { State: 'healthy' } }],
    };
  };
  const { result: ok } = await wait(withAlarms);
  const alarm = (updated: Date | number | string, state = 'ALARM') => ({
    MetricAlarms: [
      {
        AlarmName: 'llmops-deploy-5xx',
        MetricName: 'HTTPCode_Target_5XX_Count',
        Statistic: 'Sum',
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Threshold: 5,
        Period: 60,
        StateValue: state,
        StateReason: 'Threshold Crossed: 1 datapoint [12.0 (04/12/26 14:20:00)] was greater than or equal to the threshold (5.0).',
        StateUpdatedTimestamp: updated,
      },
    ],
  });
  /** The bake with CloudWatch answering `answer` (or failing with it) through the SDK's client. */
  const bake = async (answer: object | Error) => {
    const lines: string[] = [];
    const asked: any[] = [];
    const cloudwatch = {
      send: async (command: any) => {
        expect(command.constructor.name === 'DescribeAlarmsCommand', command);
        asked.push(command.input);
        if (answer instanceof Error) throw answer;
        return answer;
      },
      destroy: () => {},
    } as any;
    const canned = cannedAws(withAlarms);
    const runner = new Runner({ echo: (l) => lines.push(l), env: { PATH: '/nonexistent' } });
    const r = await bakeDeployment(runner, config, ok, 1, { ...canned, clients: { ...canned.clients, cloudwatch }, pollDelay: () => 5 });
    return { r, lines, asked };
  };
  const tripped = await bake(alarm(new Date()));
  assert.is(tripped.r.outcome, 'failed');
  assert.is(tripped.r.rollBackTo, TD(1), 'back to the release before');
  assert.match(
    tripped.r.message,
    /^deployment ecs-svc\/2 failed its bake: alarm llmops-deploy-5xx \(HTTPCode_Target_5XX_Count Sum >= 5 over 60 s\) is in ALARM: Threshold Crossed: 1 datapoint \[12\.0 \(04\/12\/26 14:20:00\)\] was greater than or equal to the threshold \(5\.0\)\. \(\d+ s into the 1 s bake\)$/,
  );
  assert.ok(
    tripped.lines.includes(
      '# bake: and its deployment alarms, every poll: aws cloudwatch describe-alarms --alarm-names llmops-deploy-5xx llmops-deploy-latency --state-value ALARM   # via the SDK',
    ),
    tripped.lines.join('\n'),
  );
  assert.equal(tripped.asked[0], { AlarmNames: ['llmops-deploy-5xx', 'llmops-deploy-latency'], StateValue: 'ALARM' });
  // the time as the CLI may print it too: ISO 8601, or epoch seconds (CLI v1 over CBOR)
  assert.is((await bake(alarm(new Date().toISOString()))).r.outcome, 'failed');
  const epoch = await bake(alarm(Date.now() / 1000));
  assert.is(epoch.r.outcome, 'failed', epoch.r.message);
  // in ALARM since before the deployment began (an earlier release's errors): not this release's
  const stale = await bake(alarm(new Date(Date.now() - 3_600_000)));
  assert.is(stale.r.outcome, 'ok', stale.r.message);
  assert.is(
    stale.lines.filter(
      (l) => l === "  (llmops-deploy-5xx was in ALARM before this deployment began: an earlier release's, not held against this one)",
    ).length,
    1,
    'said once',
  );
  // an answer of another state (an emulator may ignore StateValue beside AlarmNames) is not an alarm
  const okNow = await bake(alarm(new Date(), 'OK'));
  assert.is(okNow.r.outcome, 'ok', okNow.r.message);
  const staleEpoch = await bake(alarm(Date.now() / 1000 - 3600));
  assert.is(staleEpoch.r.outcome, 'ok', staleEpoch.r.message);
  // none in ALARM; and a service without deployment alarms is not asked
  assert.is((await bake({ MetricAlarms: [] })).r.outcome, 'ok');
  // alarms that cannot be read (a role without the statement): said once, the bake goes on with the stopped tasks
  const denied = await bake(
    Object.assign(new Error('User is not authorized to perform: cloudwatch:DescribeAlarms'), { name: 'AccessDenied' }),
  );
  assert.is(denied.r.outcome, 'ok');
  assert.is(
    denied.lines.filter((l) =>
      l.includes('the deployment alarms could not be read: cloudwatch:DescribeAlarms, statement ReadTheDeploymentAlarms'),
    ).length,
    1,
  );
  const plain = await bakeDeployment(new Runner({ echo: () => {}, env: { PATH: '/nonexistent' } }), config, ok, 1, {
    ...cannedAws(() => ({ ...withAlarms(), service: service([dep('ecs-svc/2', 'PRIMARY', 2)]) })),
    pollDelay: () => 5,
  });
  assert.is(plain.outcome, 'ok', 'no alarms configured: no describe-alarms (no CloudWatch client given, none reachable)');
});

test("step 7, the definition: it follows the deployment step 6 started, reports the result; an outcome but ok is a failure with the outcome's exit code", async () => {
  status = 200;
  const run = async (timeline: (poll: number) => World) => {
    const runner = new Runner({ echo: () => {} });
    const ctx = newContext(config, runner, true);
    ctx.identity = { account: '123456789012', arn: 'arn:aws:iam::123456789012:user/ci', region: 'us-east-1' };
    ctx.registered = { taskDefinitionArn: TD(2), revision: 2, changed: true, image: 'i', digest: 'd', deploymentId: 'ecs-svc/2' };
    ctx.verify = { url, timeoutSeconds: 5, pollDelay: () => 5, bakeSeconds: 1, ...cannedAws(timeline) };
    const reported: string[] = [];
    const error = await verifyStep
      .run(ctx, runner, (t) => reported.push(t))
      .then(
        () => undefined,
        (e) => e,
      );
    return { ctx, reported, error };
  };
  const ok = await run(() => ({
    service: service([dep('ecs-svc/2', 'PRIMARY', 2), dep('ecs-svc/1', 'ACTIVE', 1)]),
    running: [task('t1', '10.0.1.5')],
    targets: [{ Target: { Id: '10.0.1.5' }, TargetHealth: { State: 'healthy' } }],
  }));
  assert.is(ok.error, undefined);
  assert.is(ok.ctx.verified?.deploymentId, 'ecs-svc/2');
  assert.is(ok.ctx.url, url);
  assert.equal(ok.reported, [formatResult(ok.ctx.verified!)]);
  assert.match(ok.reported[0]!, /^✓ ok: deployment ecs-svc\/2 is healthy.*; baked 1 s/);
  assert.ok(ok.ctx.timeline.phases.some((p) => p.name === 'bake' && p.end - p.start >= 1000));

  const back = await run((poll) => ({ service: rollsBackAt(1, poll) }));
  assert.instance(back.error, ScriptFailure);
  assert.is(back.error.exitCode, ExitCode.ROLLED_BACK);
  assert.match(
    back.error.message,
    /^rolled-back: deployment ecs-svc\/2 failed \(circuit breaker\); ECS rolled back to .*:1 \(diagnosis above\)$/,
  );
  assert.match(back.reported[0]!, /^✗ rolled-back: /);
  assert.is(back.ctx.url, undefined, 'no URL for a release that is not serving');
});

test('npm run step:7 -- --task-definition/--timeout/--url: each value parsed or refused naming the flag and what it expects; --help lists them', () => {
  const parse = (...argv: string[]) => parseFlags(verifySpec, argv);
  const arn = 'arn:aws:ecs:us-east-1:123456789012:task-definition/llmops-task:12';
  assert.equal(parse('--task-definition', arn, '--timeout', '7200', '--url', 'https://app.example.com/health').values, {
    'task-definition': arn,
    timeout: 7200,
    url: 'https://app.example.com/health',
  });
  for (const ok of ['llmops-task:3', 'llmops-task', 'arn:aws-cn:ecs:cn-north-1:123456789012:task-definition/x_y-z']) {
    assert.equal(parse('--task-definition', ok).problems, [], ok);
  }
  assert.is(parse('--timeout', '1').values.timeout, 1);
  assert.equal(parse('--url', 'http://127.0.0.1:8080/health').problems, []);
  assert.equal(parse('--task-definition', arn, '--timeout', '7200', '--url', 'https://app.example.com/health').problems, []);
  const refused: [string[], string][] = [
    [['--task-definition', 'llmops task:1'], '--task-definition expects a task definition ARN or family:revision, got "llmops task:1"'],
    [['--task-definition', 'llmops-task:v2'], '--task-definition expects a task definition ARN or family:revision'],
    [['--task-definition', 'arn:aws:ecs:us-east-1:12345:task-definition/x:1'], '--task-definition expects a task definition ARN'],
    [['--timeout', '10m'], '--timeout expects'],
    [['--timeout', '0'], '--timeout expects'],
    [['--timeout', '7201'], '--timeout expects'],
    [['--url', 'file:///etc/passwd'], '--url expects an http:// or https:// URL, got "file:///etc/passwd"'],
    [['--url', 'http://a b'], '--url expects an http:// or https:// URL'],
    [['--url', 'ftp://host/http://x'], '--url expects an http:// or https:// URL'],
    [['--url', `http://${'a'.repeat(2001)}`], '--url expects an http:// or https:// URL'],
    [['--task-definition', `x${':1'.repeat(2)}`], '--task-definition expects'],
  ];
  for (const [argv, problem] of refused) {
    const { problems } = parse(...argv);
    assert.is(problems.length, 1, argv.join(' '));
    assert.match(problems[0]!, problem, argv.join(' '));
  }
  const help = helpText(verifySpec);
  assert.match(help, 'npm run step:7 -- [options]');
  for (const line of [
    "--task-definition <ARN>  the task definition ARN the deployment must run (default: the service's current one)",
    '--timeout <seconds>',
    'seconds to wait (default: DEPLOY_TIMEOUT_SECONDS)',
    '--url <url>',
    'URL to probe instead of http://<ALB DNS name><HEALTH_PATH>',
  ])
    assert.match(help, line);
});

test("the deployment alarms: ECS's own list when they are on; each said with its metric, operator, threshold and reason; one that tripped before the deployment is not held against it", async () => {
  const on = { deploymentConfiguration: { alarms: { enable: true, rollback: true, alarmNames: ['a-5xx', 'a-latency'] } } } as any;
  assert.equal(deploymentAlarms(on), ['a-5xx', 'a-latency']);
  assert.equal(deploymentAlarms({ deploymentConfiguration: { alarms: { enable: false, alarmNames: ['a-5xx'] } } } as any), []);
  assert.equal(deploymentAlarms({ deploymentConfiguration: { alarms: { enable: true } } } as any), []);
  assert.equal(deploymentAlarms({} as any), []);
  assert.equal(deploymentAlarms(undefined), []);

  const since = Date.parse('2026-12-04T10:00:00Z');
  const alarm = (name: string, op: string, state: string, updated: unknown) => ({
    AlarmName: name,
    MetricName: 'HTTPCode_Target_5XX_Count',
    Statistic: 'Sum',
    ComparisonOperator: op,
    Threshold: 5,
    Period: 60,
    StateValue: state,
    StateReason: 'why',
    StateUpdatedTimestamp: updated,
  });
  const asked: any[] = [];
  const reader = (alarms: any[] | Error) => ({
    send: async (c: any) => {
      asked.push(c.input);
      if (alarms instanceof Error) throw alarms;
      return { MetricAlarms: alarms };
    },
    destroy() {},
  });
  const all = [
    alarm('ge', 'GreaterThanOrEqualToThreshold', 'ALARM', new Date(since)),
    alarm('gt', 'GreaterThanThreshold', 'ALARM', (since - 1000) / 1000),
    alarm('lt', 'LessThanThreshold', 'ALARM', new Date(since - 1001).toISOString()),
    alarm('le', 'LessThanOrEqualToThreshold', 'ALARM', undefined),
    alarm('odd', 'LessThanLowerThreshold', 'ALARM', new Date(since - 60_000)),
    alarm('ok', 'GreaterThanThreshold', 'OK', new Date(since)),
  ];
  const tripped = await alarmsTripped(reader(all), ['ge', 'gt', 'lt', 'le', 'odd', 'ok'], since);
  assert.equal(asked[0], { AlarmNames: ['ge', 'gt', 'lt', 'le', 'odd', 'ok'], StateValue: 'ALARM' });
  assert.equal(
    tripped?.map((t) => [t.name, t.text, t.earlier]),
    [
      ['ge', 'alarm ge (HTTPCode_Target_5XX_Count Sum >= 5 over 60 s) is in ALARM: why', false],
      ['gt', 'alarm gt (HTTPCode_Target_5XX_Count Sum > 5 over 60 s) is in ALARM: why', false],
      ['lt', 'alarm lt (HTTPCode_Target_5XX_Count Sum < 5 over 60 s) is in ALARM: why', true],
      ['le', 'alarm le (HTTPCode_Target_5XX_Count Sum <= 5 over 60 s) is in ALARM: why', false],
      ['odd', 'alarm odd (HTTPCode_Target_5XX_Count Sum LessThanLowerThreshold 5 over 60 s) is in ALARM: why', true],
    ],
    'an alarm in OK is not tripped; a second (Date, epoch seconds, ISO text) decides what came before',
  );
  const any = await alarmsTripped(reader(all), ['ok'], since, true);
  assert.equal(asked[1], { AlarmNames: ['ok'] }, 'whatever their state: no StateValue');
  assert.ok(any?.some((t) => t.text === 'alarm ok (HTTPCode_Target_5XX_Count Sum > 5 over 60 s) tripped (OK now): why'));
  assert.is(await alarmsTripped(reader(new Error('AccessDenied')), ['ge'], since), undefined);

  // the bake's watch: said once; what tripped before is said once and not returned; unreadable is said once
  const lines: string[] = [];
  const runner = new Runner({ echo: (l) => lines.push(l) });
  assert.equal(await watchAlarms(runner, async () => reader(all), undefined, since)(), []);
  assert.equal(lines, [], 'no alarms: nothing said or read');
  const watch = watchAlarms(runner, async () => reader([all[0], all[2]]), on, since);
  assert.equal(lines, [
    '# bake: and its deployment alarms, every poll: aws cloudwatch describe-alarms --alarm-names a-5xx a-latency --state-value ALARM   # via the SDK',
  ]);
  assert.equal(await watch(), ['alarm ge (HTTPCode_Target_5XX_Count Sum >= 5 over 60 s) is in ALARM: why']);
  await watch();
  assert.equal(
    lines.filter((l) => l.includes('was in ALARM before')),
    ["  (lt was in ALARM before this deployment began: an earlier release's, not held against this one)"],
  );
  const blind = watchAlarms(runner, async () => reader(new Error('AccessDenied')), on, since);
  assert.equal(await blind(), []);
  await blind();
  assert.is(lines.filter((l) => l.includes('could not be read')).length, 1);
});

test.run();
