// The deployment waiter: follows one ECS deployment (rollout state, tasks, target health, the URL) to
// ok / rolled-back / failed / timeout, and diagnoses a failure with the fixes.
import type { ECSClient, Service, Task } from '@aws-sdk/client-ecs';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import type { Config } from './config.js';
import type { Runner } from './run.js';
import { sdkOptions } from './aws.js';
import { ExitCode } from './errors.js';
import { probe } from './http.js';

export type Outcome = 'ok' | 'rolled-back' | 'failed' | 'timeout' | 'preflight';
export const OUTCOME_EXIT: Record<Outcome, number> = {
  ok: ExitCode.OK,
  'rolled-back': ExitCode.ROLLED_BACK,
  failed: ExitCode.FAILED,
  timeout: ExitCode.TIMEOUT,
  preflight: ExitCode.PREFLIGHT,
};

export interface VerifyOptions {
  /** The task definition the deployment must run (default: the service's current one). */
  taskDefinitionArn?: string;
  timeoutSeconds?: number;
  /** URL to probe (default: http(s)://<ALB or domain><HEALTH_PATH>). */
  url?: string;
  /** The deployment to follow, as update-service returned it (step 6). */
  deploymentId?: string;
  /** Fail after this many stopped tasks when the circuit breaker is off (it never decides then). */
  maxFailedTasks?: number;
  /** The AWS clients to poll with (default: SDK clients for the region; a test passes canned ones). */
  clients?: Clients;
  /** Milliseconds between polls, by time elapsed (default: pollDelayMs). */
  pollDelay?: (elapsedMs: number) => number;
}

export interface VerifyResult {
  outcome: Outcome;
  message: string;
  deploymentId?: string;
  taskDefinition?: string;
  diagnosis: string[];
  elapsedMs: number;
  url?: string;
}

/** What the waiter sends requests through: the SDK clients, or anything with their `send`. */
export interface Clients {
  ecs: Pick<ECSClient, 'send' | 'destroy'>;
  elb: Pick<ElasticLoadBalancingV2Client, 'send' | 'destroy'>;
  logs: Pick<CloudWatchLogsClient, 'send' | 'destroy'>;
}

interface Sdk {
  ecs: typeof import('@aws-sdk/client-ecs');
  elb: typeof import('@aws-sdk/client-elastic-load-balancing-v2');
  logs: typeof import('@aws-sdk/client-cloudwatch-logs');
}

/**
 * The three SDK modules, loaded when a wait begins rather than when a script starts: most scripts import this
 * file and never wait, and the modules cost about 0.4 s of CPU to load (docs/benchmarks.md).
 */
let sdk: Sdk;
async function loadSdk(): Promise<Sdk> {
  const [ecs, elb, logs] = await Promise.all([
    import('@aws-sdk/client-ecs'),
    import('@aws-sdk/client-elastic-load-balancing-v2'),
    import('@aws-sdk/client-cloudwatch-logs'),
  ]);
  return (sdk = { ecs, elb, logs });
}

function clients(region: string): Clients {
  const common = sdkOptions(region, 4);
  return {
    ecs: new sdk.ecs.ECSClient(common),
    elb: new sdk.elb.ElasticLoadBalancingV2Client(common),
    logs: new sdk.logs.CloudWatchLogsClient(common),
  };
}

/** Fast at first (most deploys settle in seconds here, a minute or two on AWS), then back off. */
export function pollDelayMs(elapsedMs: number): number {
  if (elapsedMs < 15_000) return 1000;
  if (elapsedMs < 60_000) return 2000;
  return 5000;
}

const PLATFORM_FIX =
  'exec format error: the image was built for another CPU architecture than the task runs (runtimePlatform): build it with --platform linux/amd64 (PLATFORM, the default) or set PLATFORM=linux/arm64 for ARM64 Fargate, then deploy again';

const STOP_FIXES: [RegExp, string][] = [
  [
    /CannotPullContainerError/,
    'the image cannot be pulled: check that it exists in ECR (npm run step:5), that the execution role may pull it, and that the private subnets reach ECR (NAT gateway or VPC endpoints)',
  ],
  [
    /ResourceInitializationError/,
    'the task could not read its secrets or create its log stream: check that every secrets[].valueFrom ARN exists (npm run secrets), the execution role may read it, and the log group exists',
  ],
  [/OutOfMemoryError/, 'the container ran out of memory: raise TASK_MEMORY (a valid Fargate size for TASK_CPU) or fix the leak'],
  [/Task failed ELB health checks/, 'the load balancer marked the task unhealthy: see the target-health reason below'],
  [/exec format error/i, PLATFORM_FIX],
  [/CannotStartContainerError/, 'the container could not start: check the entry point / command and the user it runs as'],
];

const TARGET_FIXES: Record<string, string> = {
  'Target.ResponseCodeMismatch':
    'the app answers the health path with another status than 200: make HEALTH_PATH return 200, or set HEALTH_PATH to the path that does',
  'Target.Timeout':
    'the health check timed out: the app must listen on 0.0.0.0:CONTAINER_PORT and answer within 5 s; the tasks security group must allow the ALB',
  'Target.FailedHealthChecks':
    'the ALB could not connect: the app must listen on 0.0.0.0:CONTAINER_PORT; check the tasks security group allows the ALB on that port',
  'Elb.InternalError': 'an ELB internal error: retry the deployment',
};

export function explainStoppedTask(t: Pick<Task, 'stoppedReason' | 'containers' | 'stopCode'>): string {
  const reason = t.stoppedReason ?? 'unknown reason';
  const container = t.containers?.[0];
  const exit = container?.exitCode;
  const fix =
    STOP_FIXES.find(([re]) => re.test(reason) || re.test(container?.reason ?? ''))?.[1] ??
    (exit === 137
      ? 'exit 137: the container was killed (SIGKILL): out of memory (raise TASK_MEMORY) or it ignored SIGTERM for stopTimeout'
      : undefined) ??
    (exit !== undefined && exit !== null && /exited/.test(reason)
      ? `the app exited with code ${exit} at start: see its last log lines below`
      : 'see the service events and logs below');
  return `${reason}${exit !== undefined && exit !== null ? ` (exit code ${exit})` : ''}${container?.reason ? ` — ${container.reason}` : ''}\n    fix: ${fix}`;
}

export async function waitForDeployment(runner: Runner, config: Config, options: VerifyOptions = {}): Promise<VerifyResult> {
  const started = Date.now();
  const timeoutMs = (options.timeoutSeconds ?? config.deployTimeoutSeconds) * 1000;
  const maxFailed = options.maxFailedTasks ?? 3;
  const { cluster, service: serviceName } = config.names;
  const say = (line: string) => runner.echo(line);
  const result = (outcome: Outcome, message: string, extra: Partial<VerifyResult> = {}): VerifyResult => ({
    outcome,
    message,
    diagnosis: [],
    elapsedMs: Date.now() - started,
    ...extra,
  });

  if (runner.dryRun) {
    for (const [bin, ...args] of [
      ['aws', 'ecs', 'describe-services', '--cluster', cluster, '--services', serviceName],
      ['aws', 'ecs', 'list-tasks', '--cluster', cluster, '--service-name', serviceName],
      ['aws', 'elbv2', 'describe-target-health', '--target-group-arn', '<TARGET_GROUP_ARN>'],
      ['curl', '-fsS', `http://<ALB_DNS_NAME>${config.app.healthPath}`],
    ])
      runner.echoCommand(bin!, args, 'polled through the SDK until the deployment is healthy');
    return result('ok', 'dry run');
  }
  await loadSdk();
  const c = options.clients ?? clients(config.region);
  try {
    say(
      `# following the deployment of ${serviceName} (SDK polling: ecs describe-services / list-tasks / describe-tasks, elbv2 describe-target-health)`,
    );
    const svc = await readService(c, config);
    if (!svc || svc.status !== 'ACTIVE')
      return result('preflight', `service ${serviceName} is not ACTIVE in cluster ${cluster}: run npm run step:4`);
    const wanted = options.taskDefinitionArn ?? svc.taskDefinition;
    // the deployment to follow: the one step 6 started (by id), else the PRIMARY running `wanted`, else the
    // most recent one that ran it (it may already have failed: ECS can roll back within seconds)
    let dep = options.deploymentId
      ? svc.deployments?.find((d) => d.id === options.deploymentId)
      : (svc.deployments?.find((d) => d.status === 'PRIMARY' && sameTaskDefinition(d.taskDefinition, wanted)) ??
        svc.deployments?.find((d) => sameTaskDefinition(d.taskDefinition, wanted)));
    const depId = dep?.id ?? options.deploymentId;
    if (!depId)
      return result(
        'preflight',
        `service ${serviceName} is not deploying ${wanted} (its primary deployment runs ${svc.deployments?.[0]?.taskDefinition})`,
      );
    const primaryNow = svc.deployments?.find((d) => d.status === 'PRIMARY');
    if (!dep || dep.rolloutState === 'FAILED' || primaryNow?.id !== depId) {
      // already over before we looked: say how, from its stopped tasks
      const stopped = await stoppedTasksOf(c, config, depId, new Set());
      for (const t of stopped) say(`  ✗ task ${t.taskArn?.split('/').pop()} stopped: ${explainStoppedTask(t)}`);
      const diagnosis = await diagnose(c, config, stopped, new Map());
      if (dep?.rolloutState === 'FAILED' || stopped.length) {
        const back = primaryNow && primaryNow.id !== depId;
        return result(
          back ? 'rolled-back' : 'failed',
          `deployment ${depId} failed (${dep?.rolloutStateReason ?? 'its tasks stopped'})${back ? `; ECS rolled back to ${primaryNow!.taskDefinition}` : ''}`,
          { deploymentId: depId, taskDefinition: dep?.taskDefinition ?? wanted, diagnosis },
        );
      }
      return result(
        'preflight',
        `deployment ${depId} is no longer the service's primary deployment (${primaryNow ? `now ${primaryNow.id} running ${primaryNow.taskDefinition}` : 'it has none now'})`,
      );
    }
    const previousTd = svc.deployments?.find((d) => d.id !== depId)?.taskDefinition;
    say(`# deployment ${depId}: ${dep.taskDefinition}, desired ${dep.desiredCount}`);
    const url = options.url ?? (await healthUrl(c, config, svc));
    const targetGroup = svc.loadBalancers?.[0]?.targetGroupArn;
    const seenEvents = new Set((svc.events ?? []).map((e) => e.id));
    const seenStopped = new Set<string>();
    const stoppedTasks: Task[] = [];
    const targetReasons = new Map<string, string>();
    let lastStatus = '';
    let urlAnswered = false;

    while (Date.now() - started < timeoutMs) {
      const s = await readService(c, config);
      if (!s) return result('failed', `service ${serviceName} disappeared`);
      for (const e of [...(s.events ?? [])].reverse()) {
        if (e.id && !seenEvents.has(e.id)) {
          seenEvents.add(e.id);
          say(`  event: ${e.message}`);
        }
      }
      dep = s.deployments?.find((d) => d.id === depId);
      const primary = s.deployments?.find((d) => d.status === 'PRIMARY');
      const newStopped = await stoppedTasksOf(c, config, depId, seenStopped);
      for (const t of newStopped) {
        stoppedTasks.push(t);
        say(`  ✗ task ${t.taskArn?.split('/').pop()} stopped: ${explainStoppedTask(t)}`);
      }
      if (!dep || dep.rolloutState === 'FAILED' || (primary && primary.id !== depId)) {
        const rolledBack = !!primary && primary.id !== depId && sameTaskDefinition(primary.taskDefinition, previousTd);
        const why = dep?.rolloutStateReason ?? 'the deployment was replaced';
        const diagnosis = await diagnose(c, config, stoppedTasks, targetReasons);
        if (rolledBack)
          return result('rolled-back', `deployment ${depId} failed (${why}); ECS rolled back to ${primary!.taskDefinition}`, {
            deploymentId: depId,
            taskDefinition: dep?.taskDefinition,
            diagnosis,
            url,
          });
        return result('failed', `deployment ${depId} failed: ${why}`, {
          deploymentId: depId,
          taskDefinition: dep?.taskDefinition,
          diagnosis,
          url,
        });
      }
      const circuitBreaker = s.deploymentConfiguration?.deploymentCircuitBreaker?.enable;
      if (!circuitBreaker && stoppedTasks.length >= maxFailed) {
        const diagnosis = await diagnose(c, config, stoppedTasks, targetReasons);
        return result(
          'failed',
          `${stoppedTasks.length} tasks of deployment ${depId} failed (the circuit breaker is off: ECS would keep retrying)`,
          { deploymentId: depId, diagnosis, url },
        );
      }
      const unplaceable = (s.events ?? []).find(
        (e) => e.id && /unable to place a task/i.test(e.message ?? '') && (e.createdAt?.getTime() ?? 0) >= started - 1000,
      );
      if (unplaceable) {
        return result('failed', `ECS cannot place the tasks: ${unplaceable.message}`, {
          deploymentId: depId,
          diagnosis: ['fix: check the subnets, security groups and Fargate capacity for the requested TASK_CPU / TASK_MEMORY'],
          url,
        });
      }

      const desired = dep.desiredCount ?? 0;
      const running = await runningTasksOf(c, config, depId);
      const ips = new Map(running.map((t) => [privateIp(t), t.taskArn!] as const));
      const failedIps = new Set(stoppedTasks.map(privateIp));
      let healthy = 0;
      // healthy targets of other tasks (the old deployment's): the load balancer still sends them requests,
      // so until ECS deregisters them (draining takes no new requests) the URL may answer the old version
      let oldServing = 0;
      const states: Record<string, number> = {};
      if (targetGroup && (running.length || stoppedTasks.length)) {
        const th = await c.elb.send(new sdk.elb.DescribeTargetHealthCommand({ TargetGroupArn: targetGroup }));
        for (const d of th.TargetHealthDescriptions ?? []) {
          const state = d.TargetHealth?.State ?? 'unknown';
          // why a target of this deployment is unhealthy (draining and initial say nothing about the app)
          if (
            (ips.has(d.Target?.Id) || failedIps.has(d.Target?.Id)) &&
            d.TargetHealth?.Reason &&
            !['healthy', 'draining', 'initial'].includes(state)
          ) {
            targetReasons.set(d.Target!.Id!, `${d.TargetHealth.Reason}: ${d.TargetHealth.Description ?? ''}`);
          }
          if (!ips.has(d.Target?.Id)) {
            if (state === 'healthy' && !failedIps.has(d.Target?.Id)) oldServing++;
            continue;
          }
          states[state] = (states[state] ?? 0) + 1;
          if (state === 'healthy') healthy++;
        }
      }
      const needHealthy = targetGroup ? desired : 0;
      const runningCount = running.filter((t) => t.lastStatus === 'RUNNING').length;
      // the new tasks run, are healthy and alone in the load balancer: the URL's answer is then theirs
      const serving = runningCount >= desired && healthy >= needHealthy && oldServing === 0;
      if (serving && desired > 0 && url && !urlAnswered) {
        urlAnswered = await answers(url);
        if (urlAnswered) say(`  ✓ ${url} answered 200`);
      }
      const status = `  ${dep.rolloutState ?? ''} tasks ${runningCount}/${desired} running${dep.pendingCount ? `, ${dep.pendingCount} pending` : ''}${dep.failedTasks ? `, ${dep.failedTasks} failed` : ''}${
        targetGroup
          ? `; targets ${healthy}/${needHealthy} healthy${Object.entries(states)
              .filter(([k]) => k !== 'healthy')
              .map(([k, v]) => `, ${v} ${k}`)
              .join('')}${oldServing ? `; ${oldServing} old still serving` : ''}`
          : ''
      }${serving && url && !urlAnswered ? `; waiting for ${url}` : ''}`;
      if (status !== lastStatus) {
        say(`${status}   [${((Date.now() - started) / 1000).toFixed(0)} s]`);
        lastStatus = status;
      }
      if (desired === 0)
        return result('ok', 'desired count is 0: nothing to run', { deploymentId: depId, taskDefinition: dep.taskDefinition });
      if (serving && (urlAnswered || !url)) {
        return result(
          'ok',
          `deployment ${depId} is healthy: ${runningCount}/${desired} tasks running${targetGroup ? `, ${healthy} healthy targets` : ''}${url ? `, ${url} answers` : ''}`,
          { deploymentId: depId, taskDefinition: dep.taskDefinition, url },
        );
      }
      await new Promise((r) => setTimeout(r, (options.pollDelay ?? pollDelayMs)(Date.now() - started)));
    }
    const diagnosis = await diagnose(c, config, stoppedTasks, targetReasons);
    return result(
      'timeout',
      `gave up after ${Math.round(timeoutMs / 1000)} s (DEPLOY_TIMEOUT_SECONDS); last state: ${lastStatus.trim()}. The deployment may still finish: npm run step:7`,
      { deploymentId: depId, diagnosis, url },
    );
  } catch (error: any) {
    // the API went away or the credentials expired while waiting: ECS carries on without us
    if (error?.$metadata || /ECONN|ETIMEDOUT|EAI_AGAIN|socket hang up/.test(`${error?.code} ${error?.message}`)) {
      error.message = `lost contact with AWS while following the deployment of ${serviceName} (${error.name}: ${error.message}); the deployment carries on in ECS: \`npm run step:7\` follows it again`;
    }
    throw error;
  } finally {
    c.ecs.destroy();
    c.elb.destroy();
    c.logs.destroy();
  }
}

function sameTaskDefinition(a?: string, b?: string): boolean {
  if (!a || !b) return false;
  const short = (x: string) => x.split('/').pop();
  return a === b || short(a) === short(b);
}

async function readService(c: Clients, config: Config): Promise<Service | undefined> {
  const r = await c.ecs.send(new sdk.ecs.DescribeServicesCommand({ cluster: config.names.cluster, services: [config.names.service] }));
  return r.services?.[0];
}

async function tasksOf(c: Clients, config: Config, depId: string, desiredStatus: 'RUNNING' | 'STOPPED'): Promise<Task[]> {
  const list = await c.ecs.send(new sdk.ecs.ListTasksCommand({ cluster: config.names.cluster, startedBy: depId, desiredStatus }));
  if (!list.taskArns?.length) return [];
  const r = await c.ecs.send(new sdk.ecs.DescribeTasksCommand({ cluster: config.names.cluster, tasks: list.taskArns.slice(0, 100) }));
  return r.tasks ?? [];
}

async function runningTasksOf(c: Clients, config: Config, depId: string): Promise<Task[]> {
  return (await tasksOf(c, config, depId, 'RUNNING')).filter((t) => t.desiredStatus === 'RUNNING');
}

async function stoppedTasksOf(c: Clients, config: Config, depId: string, seen: Set<string>): Promise<Task[]> {
  const stopped = (await tasksOf(c, config, depId, 'STOPPED')).filter((t) => t.lastStatus === 'STOPPED' && !seen.has(t.taskArn!));
  for (const t of stopped) seen.add(t.taskArn!);
  return stopped;
}

function privateIp(t: Task): string | undefined {
  return (
    t.containers?.[0]?.networkInterfaces?.[0]?.privateIpv4Address ??
    t.attachments?.[0]?.details?.find((d) => d.name === 'privateIPv4Address')?.value
  );
}

async function healthUrl(c: Clients, config: Config, svc: Service): Promise<string | undefined> {
  if (config.domain) return `https://${config.domain.name}${config.app.healthPath}`;
  const tg = svc.loadBalancers?.[0]?.targetGroupArn;
  if (!tg) return undefined;
  const groups = await c.elb.send(new sdk.elb.DescribeTargetGroupsCommand({ TargetGroupArns: [tg] }));
  const lbArn = groups.TargetGroups?.[0]?.LoadBalancerArns?.[0];
  if (!lbArn) return undefined;
  const lbs = await c.elb.send(new sdk.elb.DescribeLoadBalancersCommand({ LoadBalancerArns: [lbArn] }));
  const dns = lbs.LoadBalancers?.[0]?.DNSName;
  return dns ? `http://${dns}${config.app.healthPath}` : undefined;
}

async function answers(url: string): Promise<boolean> {
  const answer = await probe(url, 5000);
  return 'status' in answer && answer.status === 200;
}

/** The last log lines of a task, from the awslogs stream its task definition names. */
async function lastLogLines(c: Clients, config: Config, task: Task, limit = 15): Promise<string[]> {
  try {
    const td = await c.ecs.send(new sdk.ecs.DescribeTaskDefinitionCommand({ taskDefinition: task.taskDefinitionArn }));
    const cd = td.taskDefinition?.containerDefinitions?.[0];
    const opts = cd?.logConfiguration?.options ?? {};
    if (cd?.logConfiguration?.logDriver !== 'awslogs') return [];
    const stream = `${opts['awslogs-stream-prefix'] ?? 'ecs'}/${cd.name}/${task.taskArn?.split('/').pop()}`;
    const r = await c.logs.send(
      new sdk.logs.GetLogEventsCommand({
        logGroupName: opts['awslogs-group'] ?? config.names.logGroup,
        logStreamName: stream,
        limit,
        startFromHead: false,
      }),
    );
    return (r.events ?? []).map((e) => e.message ?? '');
  } catch {
    return [];
  }
}

async function diagnose(c: Clients, config: Config, stopped: Task[], targetReasons: Map<string, string>): Promise<string[]> {
  const out: string[] = [];
  const byReason = new Map<string, Task>();
  for (const t of stopped) byReason.set(`${t.stoppedReason}|${t.containers?.[0]?.exitCode}`, t);
  for (const t of byReason.values()) {
    out.push(`stopped task ${t.taskArn?.split('/').pop()}: ${explainStoppedTask(t)}`);
    const lines = await lastLogLines(c, config, t);
    if (lines.length) out.push(`  last log lines:\n${lines.map((l) => `    | ${l}`).join('\n')}`);
    if (lines.some((l) => /exec format error/i.test(l)) && !/exec format error/i.test(explainStoppedTask(t)))
      out.push(`    fix: ${PLATFORM_FIX}`);
  }
  for (const [ip, reason] of new Map([...targetReasons].slice(-3))) {
    const code = reason.split(':')[0]!;
    out.push(`target ${ip}: ${reason}\n    fix: ${TARGET_FIXES[code] ?? 'see the target group health check settings (npm run doctor)'}`);
  }
  return out;
}

export function formatResult(r: VerifyResult): string {
  const mark = r.outcome === 'ok' ? '✓' : '✗';
  return [`${mark} ${r.outcome}: ${r.message} (${(r.elapsedMs / 1000).toFixed(1)} s)`, ...r.diagnosis.map((d) => `  ${d}`)].join('\n');
}
