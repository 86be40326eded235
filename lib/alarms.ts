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

/** An alarm in ALARM, said as its metric, threshold and CloudWatch's reason with the numbers that tripped it. */
export interface Tripped {
  name: string;
  text: string;
  /** It entered ALARM before `since` (an earlier release's): not held against this deployment. */
  earlier: boolean;
}

const OPERATORS: Record<string, string> = {
  GreaterThanOrEqualToThreshold: '>=',
  GreaterThanThreshold: '>',
  LessThanThreshold: '<',
  LessThanOrEqualToThreshold: '<=',
};

/** When the alarm entered its state, in epoch ms: the CLI prints ISO 8601 or epoch seconds (CLI v1 with CBOR). */
const stateSince = (t: unknown): number => (typeof t === 'number' ? t * 1000 : typeof t === 'string' ? Date.parse(t) : Number.NaN);

/** Those of `names` in ALARM (checked here too: an emulator may ignore --state-value beside --alarm-names); undefined: not readable. */
export async function alarmsTripped(runner: Runner, config: Config, names: string[], since: number): Promise<Tripped[] | undefined> {
  const out = await runner.json(
    sh`aws cloudwatch describe-alarms --alarm-names ${names} --state-value ALARM --region ${config.region} --output json`,
    { nothrow: true },
  );
  if (!out) return undefined; // denied, or CloudWatch away: the caller says so
  return ((out.MetricAlarms ?? []) as any[])
    .filter((a) => a.StateValue === 'ALARM')
    .map((a) => ({
      name: a.AlarmName,
      text: `alarm ${a.AlarmName} (${a.MetricName} ${a.Statistic ?? a.ExtendedStatistic} ${OPERATORS[a.ComparisonOperator] ?? a.ComparisonOperator} ${a.Threshold} over ${a.Period} s) is in ALARM: ${a.StateReason}`,
      earlier: stateSince(a.StateUpdatedTimestamp) < since - 1000,
    }));
}

/**
 * The bake's watch over the service's deployment alarms: said once; each call then returns those that tripped after
 * `since` (an alarm already in ALARM before is said once and not held against this deployment; alarms that cannot
 * be read are said once too).
 */
export function watchAlarms(runner: Runner, config: Config, service: Service | undefined, since: number): () => Promise<string[]> {
  const names = deploymentAlarms(service);
  if (!names.length) return async () => [];
  runner.echo(
    `# bake: and its deployment alarms, every poll: aws cloudwatch describe-alarms --alarm-names ${names.join(' ')} --state-value ALARM`,
  );
  const quiet = runner.withEcho(() => {});
  const said = new Set<string>();
  const once = (key: string, line: string) => {
    if (!said.has(key)) runner.echo(line);
    said.add(key);
  };
  return async () => {
    const tripped = await alarmsTripped(quiet, config, names, since);
    if (!tripped)
      once(
        '',
        '  (the deployment alarms could not be read: cloudwatch:DescribeAlarms, statement ReadTheDeploymentAlarms; only stopped tasks are watched)',
      );
    for (const t of tripped ?? [])
      if (t.earlier)
        once(t.name, `  (${t.name} was in ALARM before this deployment began: an earlier release's, not held against this one)`);
    return (tripped ?? []).filter((t) => !t.earlier).map((t) => t.text);
  };
}
