// The deployment waiter: follows one ECS deployment (rollout state, tasks, target health, the URL) to
// ok / rolled-back / failed / timeout, and diagnoses a failure with the fixes (lib/diagnosis.ts). What it reads,
// it reads through lib/ecs.ts.
import type { Task } from '@aws-sdk/client-ecs';
import type { Config } from './config.js';
import type { Runner } from './run.js';
import { diagnose, explainStoppedTask } from './diagnosis.js';
import { type Clients, clients, destroyClients, loadSdk, readService } from './ecs.js';
import { healthUrl, privateIp, runningTasksOf, stoppedTasksOf, targetHealth } from './ecs.js';
import { ExitCode } from './errors.js';
import { probe } from './http.js';
import { type AlarmReader, alarmReader, watchAlarms } from './alarms.js';
import type { Milestones } from './timeline.js';

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
  /** Stop a crash loop: this many tasks stopped before any was healthy (default CRASH_LOOP_TASKS; 0: off). */
  crashLoopTasks?: number;
  /** Watch a new deployment this long once healthy (default BAKE_SECONDS; 0: no bake). */
  bakeSeconds?: number;
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
  /** When the new tasks were created, pulled and started, and when their targets turned healthy (lib/timeline.ts). */
  milestones?: Milestones;
  /** A crash loop or a failed bake: the revision to point the service back at (step 7 does: rolled-back). */
  rollBackTo?: string;
  /** The revision the service ran before this deployment (a bake that fails goes back to it). */
  previousTaskDefinition?: string;
}

/** After how many failed tasks ECS's circuit breaker fails a deployment: half the desired count, from 3 to 200. */
export const circuitBreakerThreshold = (desired: number) => Math.min(200, Math.max(3, Math.ceil(desired / 2)));

/** Fast at first (most deploys settle in seconds here, a minute or two on AWS), then back off. */
export function pollDelayMs(elapsedMs: number): number {
  if (elapsedMs < 15_000) return 1000;
  if (elapsedMs < 60_000) return 2000;
  return 5000;
}

export async function waitForDeployment(runner: Runner, config: Config, options: VerifyOptions = {}): Promise<VerifyResult> {
  const started = Date.now();
  const timeoutMs = (options.timeoutSeconds ?? config.deployTimeoutSeconds) * 1000;
  const maxFailed = options.maxFailedTasks ?? 3;
  const { cluster, service: serviceName } = config.names;
  const say = (line: string) => runner.echo(line);
  const milestones: Milestones = {};
  const result = (outcome: Outcome, message: string, extra: Partial<VerifyResult> = {}): VerifyResult => ({
    outcome,
    message,
    diagnosis: [],
    elapsedMs: Date.now() - started,
    milestones,
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
    // a native strategy's release may serve from either target group: the targets of both
    const lb = svc.loadBalancers?.[0];
    const targetGroup = lb?.targetGroupArn;
    const targetGroups = [targetGroup, lb?.advancedConfiguration?.alternateTargetGroupArn].filter((x): x is string => !!x);
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
      // a crash loop: tasks stop before any turns healthy. Stopped at once, sooner than the circuit breaker would
      // (half the desired count), or at all when it is off; where the breaker trips as soon, it is left to ECS
      const crashLoop = options.crashLoopTasks ?? config.crashLoopTasks;
      const breakerAt = circuitBreaker ? circuitBreakerThreshold(dep.desiredCount ?? 0) : Infinity;
      if (
        crashLoop > 0 &&
        crashLoop < breakerAt &&
        stoppedTasks.length >= crashLoop &&
        milestones.firstHealthy === undefined &&
        previousTd
      ) {
        const diagnosis = await diagnose(c, config, stoppedTasks, targetReasons);
        return result(
          'failed',
          `${stoppedTasks.length} tasks of deployment ${depId} stopped before any was healthy (CRASH_LOOP_TASKS=${crashLoop}; ${circuitBreaker ? `the circuit breaker would wait for ${breakerAt}` : 'the circuit breaker is off'})`,
          { deploymentId: depId, taskDefinition: dep.taskDefinition, diagnosis, url, rollBackTo: previousTd },
        );
      }
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
        for (const d of (await Promise.all(targetGroups.map((tg) => targetHealth(c, tg)))).flat()) {
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
      noteMilestones(milestones, running, healthy, runningCount >= desired && healthy >= needHealthy, serving);
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
          { deploymentId: depId, taskDefinition: dep.taskDefinition, url, previousTaskDefinition: previousTd },
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
    destroyClients(c);
  }
}

/**
 * The bake: "healthy" is not "done". For `seconds` after a deployment turned healthy, a task of it that stops fails
 * the deploy, back to the revision before (step 7 points the service at it). Reads only the deployment's stopped tasks.
 */
export async function bakeDeployment(
  runner: Runner,
  config: Config,
  ok: VerifyResult,
  seconds: number,
  options: VerifyOptions = {},
): Promise<VerifyResult> {
  const depId = ok.deploymentId;
  if (!depId || seconds <= 0 || runner.dryRun) return ok;
  const started = Date.now();
  runner.echo(`# bake: watching deployment ${depId} for ${seconds} s (BAKE_SECONDS): a task of it that stops now fails the deploy`);
  await loadSdk();
  const c = options.clients ?? clients(config.region);
  let alarms: Promise<AlarmReader> | undefined;
  try {
    // and the service's deployment alarms (terraform/monitoring.tf): one that trips after the deployment began fails
    // it; one CloudWatch client for the bake, made when the first alarm is read
    const reader = () => (alarms ??= c.cloudwatch ? Promise.resolve(c.cloudwatch) : alarmReader(config.region));
    const alarmsTripped = watchAlarms(runner, reader, await readService(c, config), Math.min(ok.milestones?.created ?? started, started));
    while (Date.now() - started < seconds * 1000) {
      const tripped = await alarmsTripped();
      if (tripped.length) {
        for (const a of tripped) runner.echo(`  ✗ ${a}`);
        const after = ((Date.now() - started) / 1000).toFixed(0);
        return {
          ...ok,
          outcome: 'failed',
          message: `deployment ${depId} failed its bake: ${tripped.join('; ')} (${after} s into the ${seconds} s bake)`,
          diagnosis: tripped.map(
            (a) => `${a}\n  fix: the release before is back; look at its logs (npm run logs) and the alarm's metric before deploying again`,
          ),
          elapsedMs: ok.elapsedMs + Date.now() - started,
          rollBackTo: ok.previousTaskDefinition,
        };
      }
      const stopped = await stoppedTasksOf(c, config, depId, new Set());
      if (stopped.length) {
        for (const t of stopped) runner.echo(`  ✗ task ${t.taskArn?.split('/').pop()} stopped: ${explainStoppedTask(t)}`);
        const after = ((Date.now() - started) / 1000).toFixed(0);
        return {
          ...ok,
          outcome: 'failed',
          message: `deployment ${depId} failed its bake: ${stopped.length} task(s) stopped ${after} s into the ${seconds} s bake`,
          diagnosis: await diagnose(c, config, stopped, new Map()),
          elapsedMs: ok.elapsedMs + Date.now() - started,
          rollBackTo: ok.previousTaskDefinition,
        };
      }
      await new Promise((r) => setTimeout(r, Math.min(2000, (options.pollDelay ?? pollDelayMs)(Date.now() - started))));
    }
    return { ...ok, message: `${ok.message}; baked ${seconds} s`, elapsedMs: ok.elapsedMs + Date.now() - started };
  } finally {
    destroyClients(c);
    (await alarms?.catch(() => undefined))?.destroy();
  }
}

/** The times of the new tasks (earliest creation and pull, latest pull end and start) and of this poll's target health. */
function noteMilestones(m: Milestones, running: Task[], healthy: number, allHealthy: boolean, serving: boolean): void {
  const times = (key: 'createdAt' | 'pullStartedAt' | 'pullStoppedAt' | 'startedAt') =>
    running.map((t) => t[key]?.getTime()).filter((x): x is number => x !== undefined);
  const [created, pullStarted, pullStopped, started] = [
    times('createdAt'),
    times('pullStartedAt'),
    times('pullStoppedAt'),
    times('startedAt'),
  ];
  if (created.length) m.created = Math.min(m.created ?? Infinity, ...created);
  if (pullStarted.length) m.pullStarted = Math.min(m.pullStarted ?? Infinity, ...pullStarted);
  if (pullStopped.length) m.pullStopped = Math.max(m.pullStopped ?? 0, ...pullStopped);
  if (started.length) m.started = Math.max(m.started ?? 0, ...started);
  const now = Date.now();
  m.firstLook ??= now;
  if (healthy > 0) m.firstHealthy ??= now;
  if (allHealthy) m.allHealthy ??= now;
  if (serving) m.oldOut ??= now;
}

function sameTaskDefinition(a?: string, b?: string): boolean {
  if (!a || !b) return false;
  const short = (x: string) => x.split('/').pop();
  return a === b || short(a) === short(b);
}

async function answers(url: string): Promise<boolean> {
  const answer = await probe(url, 5000);
  return 'status' in answer && answer.status === 200;
}

export function formatResult(r: VerifyResult): string {
  const mark = r.outcome === 'ok' ? '✓' : '✗';
  return [`${mark} ${r.outcome}: ${r.message} (${(r.elapsedMs / 1000).toFixed(1)} s)`, ...r.diagnosis.map((d) => `  ${d}`)].join('\n');
}
