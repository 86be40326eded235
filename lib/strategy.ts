// ECS's deployment strategies (DEPLOY_STRATEGY): rolling, or the native blue-green, canary and linear. What step 6
// adds to its update-service for the service to deploy that way (the Terraform provider here predates them), and
// how step 7 follows a native deployment: its service deployment's stages and the share of the production traffic
// on the new release, until ECS says it succeeded or rolled back. Every poll is a CLI line, made through the SDK:
//   aws ecs list-service-deployments --cluster <cluster> --service <service>
//   aws ecs describe-service-deployments --service-deployment-arns <arn>
//   aws elbv2 describe-rules --rule-arns <production listener rule>
//   aws ecs stop-service-deployment --service-deployment-arn <arn> --stop-type ROLLBACK    (a crash loop, a task lost)
import type { Service, ServiceDeployment, Task } from '@aws-sdk/client-ecs';
import { type AlarmReader, alarmReader, alarmsTripped } from './alarms.js';
import type { Config } from './config.js';
import { diagnose, explainStoppedTask } from './diagnosis.js';
import {
  type Clients,
  clients,
  describeService,
  destroyClients,
  healthUrl,
  loadSdk,
  privateIp,
  readService,
  runningTasksOf,
  stoppedTasksOf,
  targetHealth,
} from './ecs.js';
import { ExitCode, ScriptFailure } from './errors.js';
import { probe } from './http.js';
import { sh, type Runner } from './run.js';
import { type Outputs, outputsKey, readStateObject } from './terraform.js';
import { sdkRead } from './aws.js';
import { pollDelayMs, type VerifyOptions, type VerifyResult, waitForDeployment } from './waiter.js';

export type StrategyKind = Config['strategy']['kind'];
const ECS_STRATEGY: Record<StrategyKind, string> = { rolling: 'ROLLING', 'blue-green': 'BLUE_GREEN', canary: 'CANARY', linear: 'LINEAR' };
export const isNative = (ecsStrategy?: string) => !!ecsStrategy && ecsStrategy !== 'ROLLING';

/** What update-service sends for the service to deploy as DEPLOY_STRATEGY says. */
export interface StrategyChange {
  strategy: string;
  deploymentConfiguration: Record<string, unknown>;
  loadBalancers: Record<string, unknown>[];
}

/**
 * The deployment configuration and load balancers the service needs for DEPLOY_STRATEGY, or undefined when it has
 * them already. The rest of its deployment configuration (the circuit breaker, the alarms Terraform set) is sent back
 * as it is: update-service replaces the whole of it. A native strategy needs the stack's second target group: a
 * stack applied with deployment_strategy=rolling is refused with the fix.
 */
export function strategyChange(
  config: Config,
  outputs: Outputs,
  service: Pick<Service, 'deploymentConfiguration' | 'loadBalancers'>,
): StrategyChange | undefined {
  const { kind, canaryPercent, linearStepPercent, stepMinutes } = config.strategy;
  const applied = (outputs.deployment_strategy as StrategyKind | undefined) ?? 'rolling';
  if ((kind === 'rolling') !== (applied === 'rolling'))
    throw new ScriptFailure(
      `DEPLOY_STRATEGY=${kind}, but the stack was applied with deployment_strategy=${applied}${kind === 'rolling' ? '' : ': a native strategy needs the second target group and the production listener rule Terraform makes for it'}. Run \`npm run step:3 && npm run step:4\` first, then deploy`,
      ExitCode.PREFLIGHT,
    );
  const strategy = ECS_STRATEGY[kind];
  const {
    strategy: _s,
    bakeTimeInMinutes: _b,
    canaryConfiguration: _c,
    linearConfiguration: _l,
    ...rest
  } = (service.deploymentConfiguration ?? {}) as Record<string, any>;
  const native = kind !== 'rolling';
  const deploymentConfiguration: Record<string, unknown> = {
    ...rest,
    strategy,
    ...(native ? { bakeTimeInMinutes: Math.ceil(config.bakeSeconds / 60) } : {}),
    ...(kind === 'canary' ? { canaryConfiguration: { canaryPercent, canaryBakeTimeInMinutes: stepMinutes } } : {}),
    ...(kind === 'linear' ? { linearConfiguration: { stepPercent: linearStepPercent, stepBakeTimeInMinutes: stepMinutes } } : {}),
  };
  const advanced = native
    ? {
        alternateTargetGroupArn: outputs.alternate_target_group_arn,
        productionListenerRule: outputs.production_listener_rule_arn,
        roleArn: outputs.ecs_infrastructure_role_arn,
      }
    : undefined;
  const loadBalancers = (service.loadBalancers ?? []).map(({ advancedConfiguration: _a, ...lb }) => ({
    ...lb,
    ...(advanced ? { advancedConfiguration: advanced } : {}),
  }));
  const current = service.deploymentConfiguration as Record<string, any> | undefined;
  const same =
    (current?.strategy ?? 'ROLLING') === strategy &&
    (!native ||
      (current?.bakeTimeInMinutes === deploymentConfiguration.bakeTimeInMinutes &&
        json(current?.canaryConfiguration) === json(deploymentConfiguration.canaryConfiguration) &&
        json(current?.linearConfiguration) === json(deploymentConfiguration.linearConfiguration))) &&
    json(service.loadBalancers?.[0]?.advancedConfiguration) === json(advanced);
  return same ? undefined : { strategy, deploymentConfiguration, loadBalancers };
}

const json = (v: unknown) => JSON.stringify(v ?? null, v && typeof v === 'object' ? Object.keys(v).sort() : undefined);

/**
 * Going back to rolling removes the alternate target group: refused while it carries the production traffic (after
 * an odd number of native deployments), or the app would answer 503 from the apply until the next deploy. Read from
 * the stack's published outputs and the production rule (`aws elbv2 describe-rules`, through the SDK).
 */
export async function switchBackProblem(runner: Runner, config: Config, account: string, given?: Clients): Promise<string | undefined> {
  if (config.strategy.kind !== 'rolling' || runner.dryRun) return undefined;
  const outputs = await readStateObject<Record<string, string>>(
    runner,
    config,
    account,
    outputsKey(config),
    "the stack's outputs",
    'apply terraform/ once more',
  ).catch(() => undefined);
  const rule = outputs?.production_listener_rule_arn;
  if (!outputs || (outputs.deployment_strategy ?? 'rolling') === 'rolling' || !rule) return undefined;
  await loadSdk();
  const weights = await sdkRead(runner, ['elbv2', 'describe-rules', '--rule-arns', rule], async () => {
    const c = given ?? clients(config.region);
    try {
      return await ruleWeights(c, rule);
    } finally {
      if (!given) destroyClients(c);
    }
  });
  return switchBackRefusal(outputs, weights);
}

/** The refusal of a switch back to rolling, from the stack's outputs and the production rule's weights: none while
 *  the alternate target group carries no traffic. */
export function switchBackRefusal(outputs: Record<string, string>, weights: Map<string, number> | undefined): string | undefined {
  const alternate = outputs.alternate_target_group_arn;
  const share = alternate ? (weights?.get(alternate) ?? 0) : 0;
  if (!share) return undefined;
  return `DEPLOY_STRATEGY=rolling removes the alternate target group (${alternate!.split(':').pop()}), which serves ${share} % of the traffic now: the app would answer 503 until the next deploy.
  fix: deploy once more with DEPLOY_STRATEGY=${outputs.deployment_strategy} (the release moves to the service's own target group), then plan with DEPLOY_STRATEGY=rolling`;
}

/** The service's strategy as ECS has it (ROLLING when it names none). */
export const strategyOf = (service?: Pick<Service, 'deploymentConfiguration'>): string =>
  (service?.deploymentConfiguration as any)?.strategy ?? 'ROLLING';

/** The newest service deployment of the service (created after `since`, when given), through the SDK. */
async function newestServiceDeployment(c: Clients, config: Config, since?: number): Promise<string | undefined> {
  const { ecs } = await loadSdk();
  const r = await c.ecs.send(
    new ecs.ListServiceDeploymentsCommand({
      cluster: config.names.cluster,
      service: config.names.service,
      ...(since ? { createdAt: { after: new Date(since - 5000) } } : {}),
    }),
  );
  const newest = [...(r.serviceDeployments ?? [])].sort((a, b) => (b.createdAt?.getTime() ?? 0) - (a.createdAt?.getTime() ?? 0))[0];
  return newest?.serviceDeploymentArn;
}

async function describeServiceDeployment(c: Clients, arn: string): Promise<ServiceDeployment | undefined> {
  const { ecs } = await loadSdk();
  return (await c.ecs.send(new ecs.DescribeServiceDeploymentsCommand({ serviceDeploymentArns: [arn] }))).serviceDeployments?.[0];
}

/** The production listener rule's weights by target group (elbv2 describe-rules). */
async function ruleWeights(c: Clients, ruleArn: string): Promise<Map<string, number>> {
  const { elb } = await loadSdk();
  const r = await c.elb.send(new elb.DescribeRulesCommand({ RuleArns: [ruleArn] }));
  const groups = r.Rules?.[0]?.Actions?.flatMap((a) => a.ForwardConfig?.TargetGroups ?? []) ?? [];
  return new Map(groups.map((g) => [g.TargetGroupArn!, g.Weight ?? 0]));
}

/** Stop a service deployment with ROLLBACK: ECS puts the release before back (`aws ecs stop-service-deployment`). */
export async function stopWithRollback(runner: Runner, config: Config, arn: string, why: string): Promise<void> {
  runner.echo(`# ${why}: stopping the deployment with ROLLBACK`);
  await runner.run(
    sh`aws ecs stop-service-deployment --service-deployment-arn ${arn} --stop-type ROLLBACK --region ${config.region} --output json`,
  );
}

/**
 * The service deployment still in progress, if any (rollback stops it rather than start another one), and the id of
 * the ECS deployment it is (the service's primary one).
 */
export async function deploymentInProgress(
  runner: Runner,
  config: Config,
  given?: Clients,
): Promise<{ arn: string; deploymentId?: string } | undefined> {
  const { cluster, service } = config.names;
  runner.echoCommand(
    'aws',
    ['ecs', 'list-service-deployments', '--cluster', cluster, '--service', service, '--status', 'IN_PROGRESS'],
    'via the SDK',
  );
  if (runner.dryRun) return undefined;
  const { ecs } = await loadSdk();
  const c = given ?? clients(config.region);
  try {
    const [r, svc] = await Promise.all([
      c.ecs.send(new ecs.ListServiceDeploymentsCommand({ cluster, service, status: ['PENDING', 'IN_PROGRESS'] })),
      readService(c, config),
    ]);
    const arn = r.serviceDeployments?.[0]?.serviceDeploymentArn;
    return arn ? { arn, deploymentId: svc?.deployments?.find((d) => d.status === 'PRIMARY')?.id } : undefined;
  } finally {
    if (!given) destroyClients(c);
  }
}

const ROLLED_BACK = new Set(['ROLLBACK_SUCCESSFUL', 'ROLLBACK_FAILED', 'STOPPED']);

/**
 * Follow a native deployment (blue-green, canary, linear) to its end: each stage, the share of the production traffic
 * on the new release, its tasks. Done when ECS says SUCCESSFUL (then the health URL must answer). ECS's own rollback
 * (a deployment alarm, the circuit breaker) is exit 4 naming the alarm and its numbers; a crash loop
 * (CRASH_LOOP_TASKS tasks stopped before any served) or a task of the new release stopping later is stopped here with
 * ROLLBACK at once. `expectRollback`: the caller stopped it (rollback): ROLLBACK_SUCCESSFUL is then the success.
 */
export async function followServiceDeployment(
  runner: Runner,
  config: Config,
  options: VerifyOptions & { since?: number; serviceDeploymentArn?: string; expectRollback?: boolean } = {},
): Promise<VerifyResult> {
  const started = Date.now();
  const { cluster, service } = config.names;
  const result = (outcome: VerifyResult['outcome'], message: string, extra: Partial<VerifyResult> = {}): VerifyResult => ({
    outcome,
    message,
    diagnosis: [],
    elapsedMs: Date.now() - started,
    milestones: {},
    ...extra,
  });
  if (runner.dryRun) {
    runner.echoCommand('aws', ['ecs', 'list-service-deployments', '--cluster', cluster, '--service', service], 'via the SDK');
    runner.echoCommand('aws', ['ecs', 'describe-service-deployments', '--service-deployment-arns', '<ARN>'], 'polled via the SDK');
    runner.echoCommand('aws', ['elbv2', 'describe-rules', '--rule-arns', '<PRODUCTION_LISTENER_RULE_ARN>'], 'polled via the SDK');
    return result('ok', 'dry run');
  }
  await loadSdk();
  const c = options.clients ?? clients(config.region);
  let reader: Promise<AlarmReader> | undefined;
  try {
    const svc = await readService(c, config);
    const arn = options.serviceDeploymentArn ?? (await newestServiceDeployment(c, config, options.since));
    if (!svc || !arn) return result('preflight', `service ${service} has no deployment to follow`);
    const depId = options.deploymentId ?? svc.deployments?.find((d) => d.status === 'PRIMARY')?.id;
    const rule = svc.loadBalancers?.[0]?.advancedConfiguration?.productionListenerRule;
    runner.echo(
      `# following ${strategyOf(svc)} deployment ${arn.split('/').pop()} of ${service} (SDK polling: ecs describe-service-deployments${rule ? ', elbv2 describe-rules' : ''})`,
    );
    const timeoutMs = (options.timeoutSeconds ?? config.deployTimeoutSeconds) * 1000;
    const crashLoop = options.crashLoopTasks ?? config.crashLoopTasks;
    const seenStopped = new Set<string>();
    const stoppedTasks: Task[] = [];
    let newTg: string | undefined;
    let last = '';
    let served = false;
    let stopping = options.expectRollback ? 'rollback' : '';
    while (Date.now() - started < timeoutMs) {
      const [d, weights] = await Promise.all([describeServiceDeployment(c, arn), rule ? ruleWeights(c, rule) : undefined]);
      if (!d) return result('failed', `service deployment ${arn} is not there`);
      // the new release's target group: where its tasks are registered, else the one with the least traffic
      if (weights?.size && !newTg) newTg = await newTargetGroup(c, config, depId, weights);
      const share = weights && newTg ? (weights.get(newTg) ?? 0) : undefined;
      if (share) served = true;
      const rev = d.targetServiceRevision;
      const line = `  ${d.status} ${d.lifecycleStage ?? ''}${share !== undefined ? `: ${share} % of the traffic on the new release, ${100 - share} % on the old` : ''}; tasks ${rev?.runningTaskCount ?? 0}/${rev?.requestedTaskCount ?? 0} running`;
      if (line !== last) runner.echo(`${line}   [${((Date.now() - started) / 1000).toFixed(0)} s]`);
      last = line;
      if (d.status === 'SUCCESSFUL') {
        if (options.expectRollback) return result('failed', `deployment ${arn.split('/').pop()} completed before the rollback took effect`);
        const url = options.url ?? (await healthUrl(c, config, svc));
        const answered = !url || (await answers(url));
        if (url) runner.echo(answered ? `  ✓ ${url} answered 200` : `  ✗ ${url} did not answer 200`);
        return result(
          answered ? 'ok' : 'failed',
          `deployment ${arn.split('/').pop()} completed: all traffic on the new release${url ? `, ${url} ${answered ? 'answers' : 'does not answer'}` : ''}`,
          {
            deploymentId: depId,
            taskDefinition: svc.taskDefinition,
            url,
          },
        );
      }
      if (ROLLED_BACK.has(d.status ?? '')) {
        if (options.expectRollback && d.status === 'ROLLBACK_SUCCESSFUL')
          return result('ok', `deployment ${arn.split('/').pop()} rolled back: the release before serves`, { deploymentId: depId });
        const triggered = d.alarms?.triggeredAlarmNames ?? [];
        const alarms = triggered.length
          ? await alarmsTripped(
              await (reader ??= c.cloudwatch ? Promise.resolve(c.cloudwatch) : alarmReader(config.region)),
              triggered,
              0,
              true,
            )
          : undefined;
        const why = d.rollback?.reason ?? d.statusReason ?? d.status;
        return result(
          'rolled-back',
          `deployment ${arn.split('/').pop()} ${d.status === 'ROLLBACK_SUCCESSFUL' ? 'was rolled back' : `ended ${d.status}`}: ${why}${stopping ? ` (${stopping})` : ''}`,
          {
            deploymentId: depId,
            diagnosis: [
              ...(alarms ?? triggered.map((name) => ({ text: `alarm ${name} is in ALARM` }))).map(
                (a) =>
                  `${a.text}\n  fix: the release before serves again; look at the new release's logs (npm run logs) before deploying again`,
              ),
              ...(stoppedTasks.length ? await diagnose(c, config, stoppedTasks, new Map()) : []),
            ],
          },
        );
      }
      // a crash loop before any traffic, or a task of the new release lost later: stopped here, with ROLLBACK
      const stopped = depId && !stopping ? await stoppedTasksOf(c, config, depId, seenStopped) : [];
      for (const t of stopped) runner.echo(`  ✗ task ${t.taskArn?.split('/').pop()} stopped: ${explainStoppedTask(t)}`);
      stoppedTasks.push(...stopped);
      const lost = served ? stopped.length > 0 : crashLoop > 0 && seenStopped.size >= crashLoop;
      if (lost && d.status === 'IN_PROGRESS') {
        stopping = served
          ? `a task of the new release stopped while it served (${d.lifecycleStage})`
          : `${seenStopped.size} tasks of the new release stopped before any served (CRASH_LOOP_TASKS=${crashLoop})`;
        await stopWithRollback(runner, config, arn, stopping);
      }
      await new Promise((r) => setTimeout(r, Math.min(2000, (options.pollDelay ?? pollDelayMs)(Date.now() - started))));
    }
    return result(
      'timeout',
      `gave up after ${Math.round(timeoutMs / 1000)} s (DEPLOY_TIMEOUT_SECONDS); last: ${last.trim()}. ECS carries on: npm run step:7`,
    );
  } finally {
    destroyClients(c);
    (await reader?.catch(() => undefined))?.destroy();
  }
}

/** The target group the deployment's tasks are registered in; else, unless the weights tie, the one with less traffic. */
async function newTargetGroup(
  c: Clients,
  config: Config,
  depId: string | undefined,
  weights: Map<string, number>,
): Promise<string | undefined> {
  const ips = new Set(depId ? (await runningTasksOf(c, config, depId)).map(privateIp) : []);
  for (const tg of weights.keys()) if (ips.size && (await targetHealth(c, tg)).some((d) => ips.has(d.Target?.Id))) return tg;
  const [least, other] = [...weights.entries()].sort((a, b) => a[1] - b[1]);
  return least && (!other || least[1] < other[1]) ? least[0] : undefined;
}

/**
 * Follow the deployment an update-service just started: a native one (blue-green, canary, linear) through ECS's
 * stages to its end, a rolling one with the waiter until its tasks serve. `strategy`: as step 6 knows it (ROLLING,
 * CANARY, ...); unknown, the service is asked.
 */
export async function followDeployment(
  runner: Runner,
  config: Config,
  options: VerifyOptions & { strategy?: string } = {},
): Promise<{ native: boolean; result: VerifyResult }> {
  const { strategy, ...verify } = options;
  const native = isNative(strategy ?? (runner.dryRun ? undefined : strategyOf(await describeService(runner, config))));
  return {
    native,
    result: native ? await followServiceDeployment(runner, config, verify) : await waitForDeployment(runner, config, verify),
  };
}

async function answers(url: string): Promise<boolean> {
  const answer = await probe(url, 5000);
  return 'status' in answer && answer.status === 200;
}
