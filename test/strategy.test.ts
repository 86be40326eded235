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
import { followDeployment, followServiceDeployment, strategyChange, strategyOf } from '../lib/strategy.js';
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

function canned(timeline: (poll: number) => World): { clients: Clients; sent: string[] } {
  let poll = -1;
  const sent: string[] = [];
  const world = () => timeline(Math.max(poll, 0));
  const answer = async (command: any): Promise<any> => {
    const input = command.input;
    sent.push(command.constructor.name);
    switch (command.constructor.name) {
      case 'DescribeServicesCommand':
        return { services: [service()] };
      case 'ListServiceDeploymentsCommand':
        assert.is(input.cluster, 'llmops-cluster');
        assert.is(input.service, 'llmops-service');
        return { serviceDeployments: [{ serviceDeploymentArn: SD, createdAt: new Date() }] };
      case 'DescribeServiceDeploymentsCommand':
        assert.equal(input.serviceDeploymentArns, [SD]);
        poll++;
        return { serviceDeployments: [world().sd] };
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
  return { clients: { ecs: client, elb: client, logs: client, cloudwatch: client }, sent };
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

test.run();
