// DEPLOY_STRATEGY: what step 6 sets on the service (the whole deployment configuration sent back, the load balancer
// with the second target group), what a stack applied for another strategy refuses, and how a native deployment is
// followed: its stages and traffic shares, ECS's rollback on an alarm (exit 4 naming it), a crash loop stopped with
// ROLLBACK, and rollback's own stop of a deployment in progress.
import type { Service, ServiceDeployment, Task } from '@aws-sdk/client-ecs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../lib/config.js';
import type { Clients } from '../lib/ecs.js';
import { ExitCode, ScriptFailure } from '../lib/errors.js';
import { Runner } from '../lib/run.js';
import {
  deploymentInProgress,
  followDeployment,
  followServiceDeployment,
  strategyChange,
  strategyOf,
  switchBackProblem,
  switchBackRefusal,
} from '../lib/strategy.js';
import type { Outputs } from '../lib/terraform.js';
import { fakeBins } from './helpers/fake-bin.js';

const config = (env: Record<string, string> = {}) =>
  loadConfig({ env: Object.fromEntries(Object.entries(env).map(([k, v]) => [`LLMOPS_${k}`, v])), envFile: '' });
const TG = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/llmops-targets/1';
const ALT = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/llmops-targets-alt/2';
const RULE = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/llmops-alb/1/2/3';
const ROLE = 'arn:aws:iam::123456789012:role/llmops/llmops-ecs-infrastructure';
const SD = 'arn:aws:ecs:us-east-1:123456789012:service-deployment/llmops-cluster/llmops-service/abc';
const outputs = (kind: string): Outputs =>
  ({
    deployment_strategy: kind,
    alternate_target_group_arn: kind === 'rolling' ? '' : ALT,
    production_listener_rule_arn: kind === 'rolling' ? '' : RULE,
    ecs_infrastructure_role_arn: kind === 'rolling' ? '' : ROLE,
    get: (n: string) => n,
  }) as unknown as Outputs;
const TERRAFORMS = {
  maximumPercent: 200,
  minimumHealthyPercent: 100,
  deploymentCircuitBreaker: { enable: true, rollback: true },
  alarms: { alarmNames: ['llmops-deploy-5xx'], enable: true, rollback: true },
};
const LB = { targetGroupArn: TG, containerName: 'llmops-app', containerPort: 3000 };

test('rolling on a rolling service changes nothing; the outputs of a stack applied before strategies read as rolling', () => {
  assert.is(strategyChange(config(), outputs('rolling'), { deploymentConfiguration: TERRAFORMS, loadBalancers: [LB] }), undefined);
  const old = { get: (n: string) => n } as unknown as Outputs;
  assert.is(strategyChange(config(), old, { deploymentConfiguration: TERRAFORMS, loadBalancers: [LB] }), undefined);
});

test("a change in any of the strategy's numbers, its kind or the load balancer's configuration is sent; the same one in another key order is not", () => {
  const c = config({ DEPLOY_STRATEGY: 'canary', CANARY_PERCENT: '20', TRAFFIC_STEP_MINUTES: '3', BAKE_SECONDS: '61' });
  const applied = strategyChange(c, outputs('canary'), { deploymentConfiguration: TERRAFORMS, loadBalancers: [LB] })!;
  const current = { deploymentConfiguration: applied.deploymentConfiguration as any, loadBalancers: applied.loadBalancers as any };
  const differs = (env: Record<string, string>, o = outputs('canary'), svc = current) => strategyChange(config(env), o, svc);
  const same = { DEPLOY_STRATEGY: 'canary', CANARY_PERCENT: '20', TRAFFIC_STEP_MINUTES: '3', BAKE_SECONDS: '61' };
  assert.is(differs(same), undefined);
  assert.ok(differs({ ...same, BAKE_SECONDS: '181' }), "ECS's bake");
  assert.ok(differs({ ...same, CANARY_PERCENT: '30' }), "the canary's share");
  assert.ok(differs({ ...same, TRAFFIC_STEP_MINUTES: '4' }), "the canary's hold");
  assert.ok(differs({ ...same, DEPLOY_STRATEGY: 'blue-green' }), 'the kind');
  assert.ok(differs(same, { ...outputs('canary'), ecs_infrastructure_role_arn: `${ROLE}-2` } as unknown as Outputs), 'the role');
  const linear = { DEPLOY_STRATEGY: 'linear', LINEAR_STEP_PERCENT: '25', BAKE_SECONDS: '60' };
  const onLinear = strategyChange(config(linear), outputs('canary'), current)!;
  const linearNow = { deploymentConfiguration: onLinear.deploymentConfiguration as any, loadBalancers: onLinear.loadBalancers as any };
  assert.is(differs(linear, outputs('canary'), linearNow), undefined);
  assert.ok(differs({ ...linear, LINEAR_STEP_PERCENT: '50' }, outputs('canary'), linearNow), "the linear step's share");
  // ECS answers the same configuration with its keys in its own order: not a change
  const reordered = {
    deploymentConfiguration: {
      ...linearNow.deploymentConfiguration,
      linearConfiguration: { stepBakeTimeInMinutes: 1, stepPercent: 25 },
    },
    loadBalancers: [{ ...LB, advancedConfiguration: { roleArn: ROLE, productionListenerRule: RULE, alternateTargetGroupArn: ALT } }],
  };
  assert.is(differs(linear, outputs('canary'), reordered as any), undefined);
  // a rolling service that still carries a native strategy's load balancer configuration gets it taken off
  const stale = { deploymentConfiguration: { ...TERRAFORMS, strategy: 'ROLLING' }, loadBalancers: current.loadBalancers };
  assert.equal(strategyChange(config(), outputs('rolling'), stale as any)?.loadBalancers, [LB]);
  // a service with no strategy named is a rolling one
  assert.is(strategyChange(config(), outputs('rolling'), { deploymentConfiguration: undefined, loadBalancers: undefined }), undefined);
});

test("canary: the strategy, ECS's bake in whole minutes and the canary's share go with the whole configuration Terraform set; the load balancer gains the second target group, the rule and the role; the same again changes nothing", () => {
  const c = config({ DEPLOY_STRATEGY: 'canary', CANARY_PERCENT: '20', TRAFFIC_STEP_MINUTES: '3', BAKE_SECONDS: '61' });
  const change = strategyChange(c, outputs('canary'), { deploymentConfiguration: TERRAFORMS, loadBalancers: [LB] });
  assert.equal(change, {
    strategy: 'CANARY',
    deploymentConfiguration: {
      ...TERRAFORMS,
      strategy: 'CANARY',
      bakeTimeInMinutes: 2,
      canaryConfiguration: { canaryPercent: 20, canaryBakeTimeInMinutes: 3 },
    },
    loadBalancers: [{ ...LB, advancedConfiguration: { alternateTargetGroupArn: ALT, productionListenerRule: RULE, roleArn: ROLE } }],
  });
  assert.is(strategyChange(c, outputs('canary'), change!), undefined, 'already so: nothing to send');
  const linear = strategyChange(config({ DEPLOY_STRATEGY: 'linear', LINEAR_STEP_PERCENT: '50' }), outputs('canary'), change!);
  assert.equal(linear?.deploymentConfiguration, {
    ...TERRAFORMS,
    strategy: 'LINEAR',
    bakeTimeInMinutes: 1,
    linearConfiguration: { stepPercent: 50, stepBakeTimeInMinutes: 1 },
  });
  assert.is(strategyOf({ deploymentConfiguration: linear!.deploymentConfiguration as any }), 'LINEAR');
  // back to rolling: the strategy's fields and the advanced configuration go, the rest stays
  const back = strategyChange(config(), outputs('rolling'), change!);
  assert.equal(back, { strategy: 'ROLLING', deploymentConfiguration: { ...TERRAFORMS, strategy: 'ROLLING' }, loadBalancers: [LB] });
});

test('a strategy the stack was not applied for is refused before anything changes (exit 3, the fix named)', () => {
  for (const [kind, applied] of [
    ['canary', 'rolling'],
    ['rolling', 'blue-green'],
  ]) {
    try {
      strategyChange(config({ DEPLOY_STRATEGY: kind! }), outputs(applied!), { deploymentConfiguration: TERRAFORMS, loadBalancers: [LB] });
      assert.unreachable(`${kind} on a stack applied for ${applied}`);
    } catch (e: any) {
      assert.instance(e, ScriptFailure);
      assert.is(e.exitCode, ExitCode.PREFLIGHT);
      assert.match(e.message, `DEPLOY_STRATEGY=${kind}, but the stack was applied with deployment_strategy=${applied}`);
      assert.match(e.message, 'npm run step:3 && npm run step:4');
      const why = ': a native strategy needs the second target group and the production listener rule Terraform makes for it.';
      if (kind === 'rolling') assert.not.match(e.message, why);
      else assert.match(e.message, why);
    }
  }
});

/** A native deployment's world, poll by poll: the service deployment, the rule's weights, the tasks. */
interface World {
  sd: ServiceDeployment;
  weights?: [number, number];
  running?: Task[];
  stopped?: Task[];
  alarms?: any[];
}
const service = (): Service =>
  ({
    status: 'ACTIVE',
    taskDefinition: 'arn:aws:ecs:us-east-1:123456789012:task-definition/llmops-task:2',
    deploymentConfiguration: { ...TERRAFORMS, strategy: 'CANARY' },
    loadBalancers: [{ ...LB, advancedConfiguration: { alternateTargetGroupArn: ALT, productionListenerRule: RULE, roleArn: ROLE } }],
    deployments: [{ id: 'ecs-svc/2', status: 'PRIMARY' }],
  }) as any;
const sd = (status: string, lifecycleStage: string, extra: Partial<ServiceDeployment> = {}): ServiceDeployment =>
  ({
    serviceDeploymentArn: SD,
    status,
    lifecycleStage,
    targetServiceRevision: { runningTaskCount: 2, requestedTaskCount: 2 },
    ...extra,
  }) as any;
const newTask = (id: string, ip: string, extra: Partial<Task> = {}): Task =>
  ({
    taskArn: `arn:aws:ecs:us-east-1:123456789012:task/llmops-cluster/${id}`,
    startedBy: 'ecs-svc/2',
    lastStatus: 'RUNNING',
    desiredStatus: 'RUNNING',
    attachments: [{ details: [{ name: 'privateIPv4Address', value: ip }] }],
    ...extra,
  }) as any;

function canned(
  timeline: (poll: number) => World,
  the: { service?: () => Service | undefined; listed?: { serviceDeploymentArn: string; createdAt: Date }[] } = {},
): { clients: Clients; sent: string[]; inputs: [string, any][] } {
  let poll = -1;
  const sent: string[] = [];
  const inputs: [string, any][] = [];
  const world = () => timeline(Math.max(poll, 0));
  const answer = async (command: any): Promise<any> => {
    const input = command.input;
    sent.push(command.constructor.name);
    inputs.push([command.constructor.name, input]);
    switch (command.constructor.name) {
      case 'DescribeServicesCommand': {
        const svc = the.service ? the.service() : service();
        return { services: svc ? [svc] : [] };
      }
      case 'ListServiceDeploymentsCommand':
        assert.is(input.cluster, 'llmops-cluster');
        assert.is(input.service, 'llmops-service');
        return { serviceDeployments: the.listed ?? [{ serviceDeploymentArn: SD, createdAt: new Date() }] };
      case 'DescribeServiceDeploymentsCommand':
        poll++;
        return { serviceDeployments: input.serviceDeploymentArns.includes(world().sd?.serviceDeploymentArn) ? [world().sd] : [] };
      case 'DescribeRulesCommand': {
        assert.equal(input.RuleArns, [RULE]);
        const [old, fresh] = world().weights ?? [100, 0];
        return {
          Rules: [
            {
              Actions: [
                {
                  ForwardConfig: {
                    TargetGroups: [
                      { TargetGroupArn: TG, Weight: old },
                      { TargetGroupArn: ALT, Weight: fresh },
                    ],
                  },
                },
              ],
            },
          ],
        };
      }
      case 'ListTasksCommand': {
        const tasks = input.desiredStatus === 'STOPPED' ? (world().stopped ?? []) : (world().running ?? []);
        return { taskArns: tasks.map((t) => t.taskArn) };
      }
      case 'DescribeTasksCommand':
        return { tasks: [...(world().running ?? []), ...(world().stopped ?? [])].filter((t) => input.tasks.includes(t.taskArn)) };
      case 'DescribeTargetHealthCommand':
        // the new release's tasks are registered in the alternate target group
        return {
          TargetHealthDescriptions:
            input.TargetGroupArn === ALT
              ? (world().running ?? []).map((t) => ({ Target: { Id: t.attachments![0]!.details![0]!.value } }))
              : [],
        };
      case 'DescribeTargetGroupsCommand': // no load balancer to probe through: the health URL is not asked
        return { TargetGroups: [{ TargetGroupArn: input.TargetGroupArns[0] }] };
      case 'DescribeAlarmsCommand':
        return { MetricAlarms: world().alarms ?? [] };
      case 'DescribeTaskDefinitionCommand':
        return { taskDefinition: { containerDefinitions: [{ name: 'llmops-app', logConfiguration: { logDriver: 'none' } }] } };
      default:
        throw new Error(`unexpected ${command.constructor.name}`);
    }
  };
  const client = { send: answer, destroy() {} } as any;
  return { clients: { ecs: client, elb: client, logs: client, cloudwatch: client }, sent, inputs };
}

function quietRunner(): { runner: Runner; lines: string[] } {
  const lines: string[] = [];
  return { runner: new Runner({ echo: (l) => lines.push(l) }), lines };
}

test("a canary that completes: each stage said once with the share on each release (the new one found by its tasks' target group), done when ECS says SUCCESSFUL", async () => {
  const running = [newTask('t1', '10.0.1.5'), newTask('t2', '10.0.1.6')];
  const { runner, lines } = quietRunner();
  const steps: World[] = [
    { sd: sd('IN_PROGRESS', 'SCALE_UP'), weights: [100, 0] },
    { sd: sd('IN_PROGRESS', 'SCALE_UP'), weights: [100, 0], running },
    { sd: sd('IN_PROGRESS', 'PRODUCTION_TRAFFIC_SHIFT'), weights: [80, 20], running },
    { sd: sd('IN_PROGRESS', 'PRODUCTION_TRAFFIC_SHIFT'), weights: [80, 20], running },
    { sd: sd('IN_PROGRESS', 'BAKE_TIME'), weights: [0, 100], running },
    { sd: sd('SUCCESSFUL', 'CLEAN_UP'), weights: [0, 100], running },
  ];
  const { clients } = canned((poll) => steps[Math.min(poll, steps.length - 1)]!);
  const r = await followServiceDeployment(runner, config(), { clients, deploymentId: 'ecs-svc/2', pollDelay: () => 1, timeoutSeconds: 10 });
  assert.is(r.outcome, 'ok', r.message);
  const said = lines.filter((l) => l.startsWith('  '));
  assert.equal(
    said.map((l) => l.replace(/\s+\[\d+ s\]$/, '')),
    [
      '  IN_PROGRESS SCALE_UP: 0 % of the traffic on the new release, 100 % on the old; tasks 2/2 running',
      '  IN_PROGRESS PRODUCTION_TRAFFIC_SHIFT: 20 % of the traffic on the new release, 80 % on the old; tasks 2/2 running',
      '  IN_PROGRESS BAKE_TIME: 100 % of the traffic on the new release, 0 % on the old; tasks 2/2 running',
      '  SUCCESSFUL CLEAN_UP: 100 % of the traffic on the new release, 0 % on the old; tasks 2/2 running',
    ],
  );
  assert.match(r.message, /completed: all traffic on the new release/);
});

test("ECS rolls a canary back on its deployment alarm: rolled-back (exit 4) naming the alarm, its metric, threshold and CloudWatch's numbers", async () => {
  const { runner } = quietRunner();
  const alarm = {
    AlarmName: 'llmops-deploy-5xx-alt',
    MetricName: 'HTTPCode_Target_5XX_Count',
    Statistic: 'Sum',
    ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    Threshold: 5,
    Period: 60,
    StateValue: 'OK',
    StateReason: 'Threshold Crossed: 1 datapoint [7.0 (04/12/26 20:27:37)] was greater than or equal to the threshold (5.0).',
  };
  const reason = 'Service deployment rolled back because the CloudWatch alarm(s) llmops-deploy-5xx-alt went into ALARM';
  const steps: World[] = [
    { sd: sd('IN_PROGRESS', 'PRODUCTION_TRAFFIC_SHIFT'), weights: [80, 20] },
    {
      sd: sd('ROLLBACK_SUCCESSFUL', 'PRODUCTION_TRAFFIC_SHIFT', {
        rollback: { reason },
        alarms: { status: 'TRIGGERED', triggeredAlarmNames: ['llmops-deploy-5xx-alt'] },
      } as any),
      weights: [100, 0],
      alarms: [alarm],
    },
  ];
  const { clients } = canned((poll) => steps[Math.min(poll, steps.length - 1)]!);
  const r = await followServiceDeployment(runner, config(), { clients, deploymentId: 'ecs-svc/2', pollDelay: () => 1, timeoutSeconds: 10 });
  assert.is(r.outcome, 'rolled-back');
  assert.match(r.message, `was rolled back: ${reason}`);
  assert.match(
    r.diagnosis[0]!,
    'alarm llmops-deploy-5xx-alt (HTTPCode_Target_5XX_Count Sum >= 5 over 60 s) tripped (OK now): Threshold Crossed: 1 datapoint [7.0',
  );
});

test('a crash loop in a native deployment is stopped with ROLLBACK after CRASH_LOOP_TASKS stopped tasks, once, and said why; a task lost while it serves is stopped too', async () => {
  for (const [serving, expected] of [
    [false, '3 tasks of the new release stopped before any served (CRASH_LOOP_TASKS=3)'],
    [true, 'a task of the new release stopped while it served (BAKE_TIME)'],
  ] as const) {
    const fb = fakeBins({ aws: 'echo "{}"' });
    const lines: string[] = [];
    const runner = new Runner({ echo: (l) => lines.push(l), env: { PATH: `${fb.dir}:${process.env.PATH}` } });
    const dead = (n: number) =>
      Array.from({ length: n }, (_, i) =>
        newTask(`d${i}`, `10.0.2.${i}`, {
          lastStatus: 'STOPPED',
          desiredStatus: 'STOPPED',
          stopCode: 'EssentialContainerExited',
          containers: [{ exitCode: 3 }],
        } as any),
      );
    let stops = 0;
    const world = (poll: number): World => {
      stops = fb.calls().filter((c) => c[2] === 'stop-service-deployment').length;
      if (stops)
        return { sd: sd('ROLLBACK_SUCCESSFUL', serving ? 'BAKE_TIME' : 'SCALE_UP', { rollback: { reason: 'stop request' } } as any) };
      return serving
        ? { sd: sd('IN_PROGRESS', 'BAKE_TIME'), weights: [0, 100], running: [newTask('t1', '10.0.1.5')], stopped: poll >= 2 ? dead(1) : [] }
        : { sd: sd('IN_PROGRESS', 'SCALE_UP'), weights: [100, 0], stopped: dead(Math.min(poll, 3)) };
    };
    const { clients } = canned(world);
    const r = await followServiceDeployment(runner, config(), {
      clients,
      deploymentId: 'ecs-svc/2',
      pollDelay: () => 1,
      timeoutSeconds: 10,
    });
    assert.is(r.outcome, 'rolled-back', r.message);
    assert.match(r.message, expected);
    const calls = fb.calls().filter((c) => c[2] === 'stop-service-deployment');
    assert.is(calls.length, 1, 'stopped once');
    assert.equal(calls[0]!.slice(1, 7), ['ecs', 'stop-service-deployment', '--service-deployment-arn', SD, '--stop-type', 'ROLLBACK']);
    assert.ok(lines.some((l) => l === `# ${expected}: stopping the deployment with ROLLBACK`));
  }
});

test('rollback of a deployment in progress: ROLLBACK_SUCCESSFUL is its success; a deployment that completed first is not', async () => {
  const { runner } = quietRunner();
  const rolled = canned(() => ({ sd: sd('ROLLBACK_SUCCESSFUL', 'BAKE_TIME'), weights: [100, 0] }));
  const ok = await followServiceDeployment(runner, config(), {
    clients: rolled.clients,
    serviceDeploymentArn: SD,
    expectRollback: true,
    pollDelay: () => 1,
  });
  assert.is(ok.outcome, 'ok');
  assert.match(ok.message, 'rolled back: the release before serves');
  assert.not.ok(rolled.sent.includes('ListServiceDeploymentsCommand'), 'the deployment it stopped, not the newest');
  const done = canned(() => ({ sd: sd('SUCCESSFUL', 'CLEAN_UP'), weights: [0, 100] }));
  const late = await followServiceDeployment(runner, config(), {
    clients: done.clients,
    serviceDeploymentArn: SD,
    expectRollback: true,
    pollDelay: () => 1,
  });
  assert.is(late.outcome, 'failed');
  assert.is(late.message, 'deployment abc completed before the rollback took effect');
  assert.is(ok.message, 'deployment abc rolled back: the release before serves');
});

test('followDeployment: a native strategy through its stages, ROLLING with the waiter (as step 6 says; never the other)', async () => {
  const { runner } = quietRunner();
  const native = canned(() => ({ sd: sd('SUCCESSFUL', 'CLEAN_UP'), weights: [0, 100] }));
  const n = await followDeployment(runner, config(), {
    strategy: 'BLUE_GREEN',
    clients: native.clients,
    pollDelay: () => 1,
    timeoutSeconds: 10,
  });
  assert.is(n.native, true);
  assert.ok(native.sent.includes('DescribeServiceDeploymentsCommand'));
  const rolling = canned(() => ({ sd: sd('SUCCESSFUL', 'CLEAN_UP') }));
  const w = await followDeployment(runner, config(), {
    strategy: 'ROLLING',
    clients: rolling.clients,
    pollDelay: () => 1,
    timeoutSeconds: 1,
  }).catch((e) => ({ native: false, error: e }));
  assert.is(w.native, false);
  assert.not.ok(rolling.sent.includes('DescribeServiceDeploymentsCommand'));
});

test('following: the newest service deployment, the primary ECS deployment when none is given, the health URL asked when it completes', async () => {
  const { runner, lines } = quietRunner();
  const older = 'arn:aws:ecs:us-east-1:123456789012:service-deployment/llmops-cluster/llmops-service/old';
  const svc = () =>
    ({
      ...service(),
      deployments: [
        { id: 'ecs-svc/1', status: 'ACTIVE' },
        { id: 'ecs-svc/2', status: 'PRIMARY' },
      ],
    }) as any;
  const world = canned(() => ({ sd: sd('IN_PROGRESS', 'SCALE_UP', { status: 'STOPPED', statusReason: 'stopped by a user' } as any) }), {
    service: svc,
    listed: [
      { serviceDeploymentArn: older, createdAt: new Date(Date.now() - 60_000) },
      { serviceDeploymentArn: SD, createdAt: new Date() },
    ],
  });
  const since = Date.now() - 1000;
  const r = await followServiceDeployment(runner, config(), { clients: world.clients, pollDelay: () => 1, timeoutSeconds: 10, since });
  assert.is(r.outcome, 'rolled-back', r.message);
  assert.is(r.deploymentId, 'ecs-svc/2', 'the primary ECS deployment');
  assert.is(r.message, 'deployment abc ended STOPPED: stopped by a user');
  const list = world.inputs.find(([n]) => n === 'ListServiceDeploymentsCommand')![1];
  assert.equal(list.createdAt.after, new Date(since - 5000), 'created since the update (5 s of clock skew allowed)');
  assert.equal(world.inputs.find(([n]) => n === 'DescribeServiceDeploymentsCommand')![1].serviceDeploymentArns, [SD], 'the newest one');
  assert.ok(
    world.inputs.filter(([n]) => n === 'ListTasksCommand').every(([, i]) => i.startedBy === 'ecs-svc/2'),
    "the new release's tasks: those of the primary deployment",
  );
  assert.ok(
    lines.includes(
      '# following CANARY deployment abc of llmops-service (SDK polling: ecs describe-service-deployments, elbv2 describe-rules)',
    ),
    lines.join('\n'),
  );

  const failed = sd('ROLLBACK_FAILED', 'PRODUCTION_TRAFFIC_SHIFT', { statusReason: 'the old tasks could not start' } as any);
  const f = await followServiceDeployment(runner, config(), { clients: canned(() => ({ sd: failed })).clients, pollDelay: () => 1 });
  assert.is(f.outcome, 'rolled-back');
  assert.is(f.message, 'deployment abc ended ROLLBACK_FAILED: the old tasks could not start');
});

test('following: no service or no deployment is preflight; a deployment that vanishes fails; a dry run only shows the polls', async () => {
  const { runner } = quietRunner();
  const none = canned(() => ({ sd: sd('IN_PROGRESS', 'SCALE_UP') }), { service: () => undefined });
  assert.is((await followServiceDeployment(runner, config(), { clients: none.clients })).outcome, 'preflight');
  const empty = canned(() => ({ sd: sd('IN_PROGRESS', 'SCALE_UP') }), { listed: [] });
  const e = await followServiceDeployment(runner, config(), { clients: empty.clients });
  assert.is(e.outcome, 'preflight');
  assert.is(e.message, 'service llmops-service has no deployment to follow');
  const gone = canned(() => ({ sd: sd('IN_PROGRESS', 'SCALE_UP', { serviceDeploymentArn: 'elsewhere' } as any) }));
  const g = await followServiceDeployment(runner, config(), { clients: gone.clients, serviceDeploymentArn: SD });
  assert.is(g.outcome, 'failed');
  assert.is(g.message, `service deployment ${SD} is not there`);
  const lines: string[] = [];
  const dry = new Runner({ echo: (l) => lines.push(l), dryRun: true });
  const asked = canned(() => ({ sd: sd('IN_PROGRESS', 'SCALE_UP') }));
  const d = await followServiceDeployment(dry, config(), { clients: asked.clients });
  assert.is(d.outcome, 'ok');
  assert.equal(asked.sent, [], 'a dry run asks nothing');
  assert.equal(lines, [
    '[dry-run] $ aws ecs list-service-deployments --cluster llmops-cluster --service llmops-service   # via the SDK',
    "[dry-run] $ aws ecs describe-service-deployments --service-deployment-arns '<ARN>'   # polled via the SDK",
    "[dry-run] $ aws elbv2 describe-rules --rule-arns '<PRODUCTION_LISTENER_RULE_ARN>'   # polled via the SDK",
  ]);
  assert.is(d.message, 'dry run');
});

test('following gives up after DEPLOY_TIMEOUT_SECONDS with the last state said, ECS carrying on', async () => {
  const { runner } = quietRunner();
  const world = canned(() => ({ sd: sd('IN_PROGRESS', 'BAKE_TIME'), weights: [0, 100], running: [newTask('t1', '10.0.1.5')] }));
  const r = await followServiceDeployment(runner, config(), {
    clients: world.clients,
    deploymentId: 'ecs-svc/2',
    pollDelay: () => 5,
    timeoutSeconds: 0.2,
  });
  assert.is(r.outcome, 'timeout');
  assert.is(
    r.message,
    'gave up after 0 s (DEPLOY_TIMEOUT_SECONDS); last: IN_PROGRESS BAKE_TIME: 100 % of the traffic on the new release, 0 % on the old; tasks 2/2 running. ECS carries on: npm run step:7',
  );
  assert.ok(world.sent.filter((n) => n === 'DescribeServiceDeploymentsCommand').length > 1, 'polled until the limit');
});

test('following: done only when the health URL answers 200; without a rule no share is claimed; tied weights name no release', async () => {
  const { createServer } = await import('node:http');
  let status = 200;
  const server = createServer((_, res) => res.writeHead(status).end()).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const url = `http://127.0.0.1:${(server.address() as any).port}/health`;
  try {
    const noRule = () => ({ ...service(), loadBalancers: [LB] }) as any;
    for (const [code, outcome] of [
      [200, 'ok'],
      [500, 'failed'],
    ] as const) {
      status = code;
      const { runner, lines } = quietRunner();
      const world = canned(() => ({ sd: sd('SUCCESSFUL', 'CLEAN_UP') }), { service: noRule });
      const r = await followServiceDeployment(runner, config(), { clients: world.clients, url, deploymentId: 'ecs-svc/2' });
      assert.is(r.outcome, outcome, r.message);
      assert.is(r.url, url);
      assert.is(
        r.message,
        `deployment abc completed: all traffic on the new release, ${url} ${code === 200 ? 'answers' : 'does not answer'}`,
      );
      assert.ok(lines.includes(code === 200 ? `  ✓ ${url} answered 200` : `  ✗ ${url} did not answer 200`), lines.join('\n'));
      assert.ok(
        lines.some((l) => l.startsWith('  SUCCESSFUL CLEAN_UP; tasks 2/2 running')),
        'no rule: no share claimed',
      );
      assert.not.ok(world.sent.includes('DescribeRulesCommand'));
    }
  } finally {
    server.close();
  }
  // no task registered yet: the release with less traffic is the new one; tied, neither is named
  for (const [weights, said] of [
    [[100, 0], '0 % of the traffic on the new release'],
    [[50, 50], undefined],
  ] as const) {
    const { runner, lines } = quietRunner();
    const world = canned(() => ({ sd: sd('ROLLBACK_SUCCESSFUL', 'SCALE_UP'), weights: [...weights] as [number, number] }));
    await followServiceDeployment(runner, config(), { clients: world.clients, deploymentId: 'ecs-svc/2', pollDelay: () => 1 });
    const line = lines.find((l) => l.startsWith('  ROLLBACK_SUCCESSFUL'))!;
    if (said) assert.match(line, said);
    else assert.not.match(line, '%');
  }
});

test('CRASH_LOOP_TASKS=0 leaves a crash loop to ECS: nothing stopped here', async () => {
  const fb = fakeBins({ aws: 'echo "{}"' });
  const runner = new Runner({ echo: () => {}, env: { PATH: `${fb.dir}:${process.env.PATH}` } });
  const dead = Array.from({ length: 4 }, (_, i) =>
    newTask(`d${i}`, `10.0.2.${i}`, { lastStatus: 'STOPPED', desiredStatus: 'STOPPED', containers: [{ exitCode: 3 }] } as any),
  );
  const steps: World[] = [
    { sd: sd('IN_PROGRESS', 'SCALE_UP'), weights: [100, 0], stopped: dead },
    { sd: sd('IN_PROGRESS', 'SCALE_UP'), weights: [100, 0], stopped: dead },
    { sd: sd('ROLLBACK_SUCCESSFUL', 'SCALE_UP', { rollback: { reason: 'circuit breaker' } } as any), weights: [100, 0], stopped: dead },
  ];
  const world = canned((poll) => steps[Math.min(poll, steps.length - 1)]!);
  const r = await followServiceDeployment(runner, config({ CRASH_LOOP_TASKS: '0' }), {
    clients: world.clients,
    deploymentId: 'ecs-svc/2',
    pollDelay: () => 1,
  });
  assert.is(r.outcome, 'rolled-back');
  assert.is(r.message, 'deployment abc was rolled back: circuit breaker');
  assert.equal(fb.calls(), [], 'no stop-service-deployment');
  assert.ok(r.diagnosis.length >= 1, 'the stopped tasks are explained: their exit codes');
});

test('back to rolling is refused while the alternate target group carries traffic, with its share and the fix; never otherwise', () => {
  const applied = { deployment_strategy: 'canary', alternate_target_group_arn: ALT, production_listener_rule_arn: RULE };
  const refusal = switchBackRefusal(
    applied,
    new Map([
      [TG, 0],
      [ALT, 100],
    ]),
  );
  assert.is(
    refusal,
    `DEPLOY_STRATEGY=rolling removes the alternate target group (targetgroup/llmops-targets-alt/2), which serves 100 % of the traffic now: the app would answer 503 until the next deploy.
  fix: deploy once more with DEPLOY_STRATEGY=canary (the release moves to the service's own target group), then plan with DEPLOY_STRATEGY=rolling`,
  );
  assert.match(
    switchBackRefusal(
      applied,
      new Map([
        [TG, 75],
        [ALT, 25],
      ]),
    )!,
    'which serves 25 % of the traffic now',
  );
  assert.is(
    switchBackRefusal(
      applied,
      new Map([
        [TG, 100],
        [ALT, 0],
      ]),
    ),
    undefined,
    'the service target group serves: Terraform may remove the other',
  );
  assert.is(switchBackRefusal(applied, new Map([[TG, 100]])), undefined, 'the rule does not name it');
  assert.is(switchBackRefusal(applied, undefined), undefined, 'no rule read');
  assert.is(switchBackRefusal({ deployment_strategy: 'canary' }, new Map([[ALT, 100]])), undefined, 'no alternate target group');
});

test("switchBackProblem reads the stack's published outputs and the production rule: refused while the alternate target group serves; a rolling stack or none published, no rule read", async () => {
  const { createServer } = await import('node:http');
  let published: Record<string, string | undefined> | undefined;
  const server = createServer((req, res) => {
    const ok = published && req.method === 'GET' && req.url?.split('?')[0]!.endsWith('/llmops/outputs.json');
    res.writeHead(ok ? 200 : 404, { 'content-type': ok ? 'application/json' : 'application/xml' });
    res.end(ok ? JSON.stringify(published) : '<Error><Code>NoSuchKey</Code><Message>none</Message></Error>');
  }).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const keys = ['AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION'] as const;
  const saved = keys.map((k) => [k, process.env[k]] as const);
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: `http://127.0.0.1:${(server.address() as any).port}`,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: 'us-east-1',
  });
  try {
    const serving = (alt: number) => canned(() => ({ sd: sd('SUCCESSFUL', 'CLEAN_UP'), weights: [100 - alt, alt] }));
    published = { deployment_strategy: 'blue-green', alternate_target_group_arn: ALT, production_listener_rule_arn: RULE };
    const { runner, lines } = quietRunner();
    const world = serving(100);
    const refusal = await switchBackProblem(runner, config(), '123456789012', world.clients);
    assert.match(refusal ?? '', 'which serves 100 % of the traffic now');
    assert.match(refusal ?? '', 'deploy once more with DEPLOY_STRATEGY=blue-green');
    assert.ok(
      lines.some((l) => /aws s3 cp s3:\/\/\S+\/llmops\/outputs\.json -/.test(l)),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((l) => l.includes(`aws elbv2 describe-rules --rule-arns ${RULE}`)),
      lines.join('\n'),
    );
    assert.equal(world.inputs.find(([n]) => n === 'DescribeRulesCommand')?.[1], { RuleArns: [RULE] });
    assert.is(await switchBackProblem(runner, config(), '123456789012', serving(0).clients), undefined, 'the service target group serves');
    for (const outputs of [
      undefined,
      { deployment_strategy: 'rolling' },
      { alternate_target_group_arn: ALT, production_listener_rule_arn: RULE },
    ]) {
      published = outputs;
      const none = serving(100);
      assert.is(await switchBackProblem(runner, config(), '123456789012', none.clients), undefined, JSON.stringify(outputs));
      assert.not.ok(none.sent.includes('DescribeRulesCommand'), `no rule read: ${JSON.stringify(outputs)}`);
    }
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    server.close();
  }
});

test('switchBackProblem asks nothing unless DEPLOY_STRATEGY=rolling, and nothing in a dry run', async () => {
  const fb = fakeBins({ aws: 'echo "unexpected" >&2; exit 9' });
  const env = { PATH: `${fb.dir}:${process.env.PATH}`, AWS_ENDPOINT_URL: 'http://127.0.0.1:9' };
  const lines: string[] = [];
  const canary = new Runner({ echo: (l) => lines.push(l), env });
  assert.is(await switchBackProblem(canary, config({ DEPLOY_STRATEGY: 'canary' }), '123456789012'), undefined);
  const dry = new Runner({ echo: (l) => lines.push(l), env, dryRun: true });
  assert.is(await switchBackProblem(dry, config(), '123456789012'), undefined);
  assert.equal(lines, [], 'no read shown or made');
  assert.equal(fb.calls(), []);
});

test('the deployment in progress: the newest pending or in-progress service deployment and the primary ECS deployment; none, nothing; a dry run only shows the line', async () => {
  const asked: any[] = [];
  const world = (listed: { serviceDeploymentArn: string }[]) => {
    const client = {
      send: async (command: any) => {
        asked.push([command.constructor.name, command.input]);
        if (command.constructor.name === 'ListServiceDeploymentsCommand') return { serviceDeployments: listed };
        if (command.constructor.name === 'DescribeServicesCommand')
          return {
            services: [
              {
                ...service(),
                deployments: [
                  { id: 'ecs-svc/1', status: 'ACTIVE' },
                  { id: 'ecs-svc/2', status: 'PRIMARY' },
                ],
              },
            ],
          };
        throw new Error(`unexpected ${command.constructor.name}`);
      },
      destroy() {},
    } as any;
    return { ecs: client, elb: client, logs: client } as Clients;
  };
  const { runner, lines } = quietRunner();
  assert.equal(await deploymentInProgress(runner, config(), world([{ serviceDeploymentArn: SD }])), { arn: SD, deploymentId: 'ecs-svc/2' });
  const list = asked.find(([name]) => name === 'ListServiceDeploymentsCommand')[1];
  assert.equal(list, { cluster: 'llmops-cluster', service: 'llmops-service', status: ['PENDING', 'IN_PROGRESS'] });
  assert.ok(
    lines.some((l) =>
      l.includes('aws ecs list-service-deployments --cluster llmops-cluster --service llmops-service --status IN_PROGRESS'),
    ),
    lines.join('\n'),
  );
  assert.is(await deploymentInProgress(runner, config(), world([])), undefined, 'nothing in progress');
  asked.length = 0;
  const dry = new Runner({ echo: () => {}, dryRun: true });
  assert.is(await deploymentInProgress(dry, config(), world([{ serviceDeploymentArn: SD }])), undefined);
  assert.equal(asked, [], 'a dry run asks nothing');
});

test.run();
