// The deployment alarms (terraform/monitoring.tf, <name>-deploy-*): what ECS watches during a deployment and rolls
// back on, and what step 7's bake reads, named with their metric, threshold and the numbers that tripped them.
//   aws cloudwatch describe-alarms --alarm-names <name>-deploy-5xx … --state-value ALARM
// read through the SDK on every poll of the bake (an aws CLI process each second would cost a second of CPU each).
import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { Service } from '@aws-sdk/client-ecs';
import { sdkOptions } from './aws.js';
import type { Runner } from './run.js';

/** What the alarms are read through: the SDK's client, or anything with its `send`. */
export type AlarmReader = Pick<CloudWatchClient, 'send' | 'destroy'>;

// the module is loaded by the first bake that has alarms to read, not when a script starts
let cloudwatch: typeof import('@aws-sdk/client-cloudwatch') | undefined;
const sdk = async () => (cloudwatch ??= await import('@aws-sdk/client-cloudwatch'));

/** A CloudWatch client for the region (made like every other SDK client, with sdkOptions). */
export async function alarmReader(region: string): Promise<AlarmReader> {
  const { CloudWatchClient } = await sdk();
  return new CloudWatchClient(sdkOptions(region, 3));
}

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

/** When the alarm entered its state, in epoch ms (a Date from the SDK; the CLI prints ISO 8601, or epoch seconds). */
const stateSince = (t: unknown): number =>
  t instanceof Date ? t.getTime() : typeof t === 'number' ? t * 1000 : typeof t === 'string' ? Date.parse(t) : Number.NaN;

/**
 * Those of `names` in ALARM (checked here too: an emulator may ignore StateValue beside AlarmNames); undefined: not
 * readable. `whatever`: those of `names` in any state, with the reason of their last change (ECS said they tripped;
 * they may be OK again by the time we read them).
 */
export async function alarmsTripped(reader: AlarmReader, names: string[], since: number, whatever = false): Promise<Tripped[] | undefined> {
  const { DescribeAlarmsCommand } = await sdk();
  const out = await reader
    .send(new DescribeAlarmsCommand({ AlarmNames: names, ...(whatever ? {} : { StateValue: 'ALARM' }) }))
    .catch(() => undefined);
  if (!out) return undefined; // denied, or CloudWatch away: the caller says so
  return ((out.MetricAlarms ?? []) as any[])
    .filter((a) => whatever || a.StateValue === 'ALARM')
    .map((a) => ({
      name: a.AlarmName,
      text: `alarm ${a.AlarmName} (${a.MetricName} ${a.Statistic ?? a.ExtendedStatistic} ${OPERATORS[a.ComparisonOperator] ?? a.ComparisonOperator} ${a.Threshold} over ${a.Period} s) ${a.StateValue === 'ALARM' ? 'is in ALARM' : `tripped (${a.StateValue} now)`}: ${a.StateReason}`,
      earlier: stateSince(a.StateUpdatedTimestamp) < since - 1000,
    }));
}

/**
 * The bake's watch over the service's deployment alarms: said once; each call then returns those that tripped after
 * `since` (an alarm already in ALARM before is said once and not held against this deployment; alarms that cannot
 * be read are said once too).
 */
export function watchAlarms(
  runner: Runner,
  reader: () => Promise<AlarmReader>,
  service: Service | undefined,
  since: number,
): () => Promise<string[]> {
  const names = deploymentAlarms(service);
  if (!names.length) return async () => [];
  runner.echo(
    `# bake: and its deployment alarms, every poll: aws cloudwatch describe-alarms --alarm-names ${names.join(' ')} --state-value ALARM   # via the SDK`,
  );
  const said = new Set<string>();
  const once = (key: string, line: string) => {
    if (!said.has(key)) runner.echo(line);
    said.add(key);
  };
  return async () => {
    const tripped = await alarmsTripped(await reader(), names, since);
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
