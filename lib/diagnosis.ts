// Why a deployment failed, with the fix: a stopped task's reason and exit code, the target group's health reason,
// and a failed task's last log lines. Used by step 7's waiter and by doctor.
import type { Task } from '@aws-sdk/client-ecs';
import type { Config } from './config.js';
import { type Clients, lastLogLines } from './ecs.js';
import { databaseHint } from './hints.js';

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

/** Why a task stopped (its reason, exit code and the container's reason) and what fixes it. */
export function stoppedTaskFinding(t: Pick<Task, 'stoppedReason' | 'containers' | 'stopCode'>): { finding: string; fix: string } {
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
  const finding = `${reason}${exit !== undefined && exit !== null ? ` (exit code ${exit})` : ''}${container?.reason ? ` — ${container.reason}` : ''}`;
  return { finding, fix };
}

/** The same, as the waiter prints it: the finding, then its fix on the next line. */
export function explainStoppedTask(t: Pick<Task, 'stoppedReason' | 'containers' | 'stopCode'>): string {
  const { finding, fix } = stoppedTaskFinding(t);
  return `${finding}\n    fix: ${fix}`;
}

export async function diagnose(c: Clients, config: Config, stopped: Task[], targetReasons: Map<string, string>): Promise<string[]> {
  const out: string[] = [];
  const byReason = new Map<string, Task>();
  for (const t of stopped) byReason.set(`${t.stoppedReason}|${t.containers?.[0]?.exitCode}`, t);
  for (const t of byReason.values()) {
    out.push(`stopped task ${t.taskArn?.split('/').pop()}: ${explainStoppedTask(t)}`);
    // more lines than are shown: an app that logs every request has logged its database error further up
    const all = await lastLogLines(c, config, t, 100);
    const lines = all.slice(-15);
    if (lines.length) out.push(`  last log lines:\n${lines.map((l) => `    | ${l}`).join('\n')}`);
    if (lines.some((l) => /exec format error/i.test(l)) && !/exec format error/i.test(explainStoppedTask(t)))
      out.push(`    fix: ${PLATFORM_FIX}`);
    // the app could not reach its database: doctor's fix for what the client said (the last such line)
    const database = all
      .map((l) => databaseHint(l))
      .filter(Boolean)
      .at(-1);
    if (database) out.push(`    fix: ${database}`);
  }
  for (const [ip, reason] of new Map([...targetReasons].slice(-3))) {
    const code = reason.split(':')[0]!;
    out.push(`target ${ip}: ${reason}\n    fix: ${TARGET_FIXES[code] ?? 'see the target group health check settings (npm run doctor)'}`);
  }
  return out;
}
