// The deployment alarms (terraform/monitoring.tf, <name>-deploy-*): what ECS watches during a deployment and rolls
// back on, and what step 7's bake reads, named with their metric, threshold and the numbers that tripped them.
//   aws cloudwatch describe-alarms --alarm-names <name>-deploy-5xx … --state-value ALARM
import type { Service } from '@aws-sdk/client-ecs';
import type { Config } from './config.js';
import { sh, type Runner } from './run.js';

/** The deployment alarms ECS watches for this service (its deploymentConfiguration), when they are on. */
export function deploymentAlarms(service: Service | undefined): string[] {
  const alarms = service?.deploymentConfiguration?.alarms;
  return alarms?.enable ? (alarms.alarmNames ?? []) : [];
}

/**
 * Those of `names` in ALARM since `since` (an alarm still in ALARM from before the deployment began is an earlier
 * release's), each said as its metric, threshold and CloudWatch's reason with the numbers that tripped it.
 */
export async function alarmsTripped(runner: Runner, config: Config, names: string[], since: number): Promise<string[] | undefined> {
  const out = await runner.json(
    sh`aws cloudwatch describe-alarms --alarm-names ${names} --state-value ALARM --region ${config.region} --output json`,
    { nothrow: true },
  );
  if (!out) return undefined; // not readable (denied, or CloudWatch away): the caller says so
  const operators: Record<string, string> = {
    GreaterThanOrEqualToThreshold: '>=',
    GreaterThanThreshold: '>',
    LessThanThreshold: '<',
    LessThanOrEqualToThreshold: '<=',
  };
  return ((out?.MetricAlarms ?? []) as any[])
    .filter((a) => !a.StateUpdatedTimestamp || Date.parse(a.StateUpdatedTimestamp) >= since - 1000)
    .map(
      (a) =>
        `alarm ${a.AlarmName} (${a.MetricName} ${a.Statistic ?? a.ExtendedStatistic} ${operators[a.ComparisonOperator] ?? a.ComparisonOperator} ${a.Threshold} over ${a.Period} s) is in ALARM: ${a.StateReason}`,
    );
}

/**
 * The bake's watch over the service's deployment alarms: said once; each call then returns those tripped since
 * `since` ([] when the service has none on, or when they cannot be read, which is said once too).
 */
export function watchAlarms(runner: Runner, config: Config, service: Service | undefined, since: number): () => Promise<string[]> {
  const names = deploymentAlarms(service);
  if (!names.length) return async () => [];
  runner.echo(
    `# bake: and its deployment alarms, every poll: aws cloudwatch describe-alarms --alarm-names ${names.join(' ')} --state-value ALARM`,
  );
  const quiet = runner.withEcho(() => {});
  let unreadable = false;
  return async () => {
    const tripped = await alarmsTripped(quiet, config, names, since);
    if (!tripped && !unreadable) {
      unreadable = true;
      runner.echo(
        '  (the deployment alarms could not be read: cloudwatch:DescribeAlarms, statement ReadTheDeploymentAlarms; only stopped tasks are watched)',
      );
    }
    return tripped ?? [];
  };
}
