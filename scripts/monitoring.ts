// Monitoring — `dashboard`: put DASHBOARD_NAME from config/dashboard-config.json with the real cluster, service, ALB,
// target group and DB names; `alarms`: the guide's CPU alarm plus memory, ALB 5xx, unhealthy targets, RDS CPU and
// free storage, WAF blocked requests, all notifying SNS_TOPIC_NAME. Unchanged ones are left alone.
// Needs:    the deployed stack (the target group finds the ALB)
// Produces: the dashboard and the alarms
// Next:     npm run logs, npm run doctor
import { resolve } from 'node:path';
import { resolveIdentity } from '../lib/aws.js';
import { isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import type { Config } from '../lib/config.js';
import { sh, type Runner } from '../lib/run.js';
import { renderTemplateFile, writeRendered } from '../lib/template.js';
import { ScriptFailure, UsageError } from '../lib/errors.js';

export const DASHBOARD_TEMPLATE = resolve(import.meta.dirname, '..', 'config', 'dashboard-config.json');

/** The ALB and target group metric dimensions (their ARN suffixes), found from the target group name. */
export async function elbDimensions(runner: Runner, config: Config): Promise<{ loadBalancer: string; targetGroup: string }> {
  if (runner.dryRun) return { loadBalancer: '<ALB_ARN_SUFFIX>', targetGroup: '<TARGET_GROUP_ARN_SUFFIX>' };
  const tg = (
    await runner.json(sh`aws elbv2 describe-target-groups --names ${config.names.targetGroup} --region ${config.region} --output json`, {
      nothrow: true,
    })
  )?.TargetGroups?.[0];
  if (!tg?.LoadBalancerArns?.[0])
    throw new ScriptFailure(`target group ${config.names.targetGroup} with a load balancer not found: run npm run step:4 first`);
  const suffix = (arn: string, marker: string) => arn.slice(arn.indexOf(marker));
  return { loadBalancer: suffix(tg.LoadBalancerArns[0], 'app/'), targetGroup: suffix(tg.TargetGroupArn, 'targetgroup/') };
}

export async function putDashboard(runner: Runner, config: Config): Promise<'created' | 'updated' | 'unchanged'> {
  const dims = await elbDimensions(runner, config);
  const body = renderTemplateFile(DASHBOARD_TEMPLATE, {
    region: config.region,
    cluster: config.names.cluster,
    service: config.names.service,
    load_balancer: dims.loadBalancer,
    target_group: dims.targetGroup,
    db_instance: config.names.dbInstance,
    waf_acl: `${config.project}-alb`,
  });
  const current = await runner.run(
    sh`aws cloudwatch get-dashboard --dashboard-name ${config.names.dashboard} --region ${config.region} --output json`,
    { nothrow: true },
  );
  if (current.ok && !current.dryRun && JSON.stringify(JSON.parse(JSON.parse(current.stdout).DashboardBody)) === JSON.stringify(body))
    return 'unchanged';
  const file = writeRendered(runner, 'dashboard-config.json', JSON.stringify(body));
  await runner.run(
    sh`aws cloudwatch put-dashboard --dashboard-name ${config.names.dashboard} --dashboard-body file://${file} --region ${config.region} --output json`,
  );
  return current.ok ? 'updated' : 'created';
}

export interface Alarm {
  name: string;
  description: string;
  namespace: string;
  metric: string;
  statistic: string;
  threshold: number;
  operator: string;
  dimensions: Record<string, string>;
}

export function alarms(config: Config, dims: { loadBalancer: string; targetGroup: string }): Alarm[] {
  const ecs = { ClusterName: config.names.cluster, ServiceName: config.names.service };
  const db = { DBInstanceIdentifier: config.names.dbInstance };
  const p = config.project;
  return [
    {
      name: config.names.cpuAlarm,
      description: 'Alert when CPU exceeds 80%',
      namespace: 'AWS/ECS',
      metric: 'CPUUtilization',
      statistic: 'Average',
      threshold: 80,
      operator: 'GreaterThanThreshold',
      dimensions: ecs,
    },
    {
      name: `${p}-high-memory`,
      description: 'ECS service memory above 80%',
      namespace: 'AWS/ECS',
      metric: 'MemoryUtilization',
      statistic: 'Average',
      threshold: 80,
      operator: 'GreaterThanThreshold',
      dimensions: ecs,
    },
    {
      name: `${p}-alb-5xx`,
      description: 'More than 10 HTTP 5xx answers from the targets in 5 minutes',
      namespace: 'AWS/ApplicationELB',
      metric: 'HTTPCode_Target_5XX_Count',
      statistic: 'Sum',
      threshold: 10,
      operator: 'GreaterThanThreshold',
      dimensions: { LoadBalancer: dims.loadBalancer },
    },
    {
      name: `${p}-unhealthy-targets`,
      description: 'At least one target failing its health check',
      namespace: 'AWS/ApplicationELB',
      metric: 'UnHealthyHostCount',
      statistic: 'Maximum',
      threshold: 0,
      operator: 'GreaterThanThreshold',
      dimensions: { LoadBalancer: dims.loadBalancer, TargetGroup: dims.targetGroup },
    },
    {
      name: `${p}-rds-high-cpu`,
      description: 'Database CPU above 80%',
      namespace: 'AWS/RDS',
      metric: 'CPUUtilization',
      statistic: 'Average',
      threshold: 80,
      operator: 'GreaterThanThreshold',
      dimensions: db,
    },
    {
      name: `${p}-rds-low-storage`,
      description: 'Database free storage below 2 GiB',
      namespace: 'AWS/RDS',
      metric: 'FreeStorageSpace',
      statistic: 'Minimum',
      threshold: 2147483648,
      operator: 'LessThanThreshold',
      dimensions: db,
    },
    {
      name: `${p}-waf-blocked`,
      description: "The ALB's WAF blocked more than 100 requests in 5 minutes",
      namespace: 'AWS/WAFV2',
      metric: 'BlockedRequests',
      statistic: 'Sum',
      threshold: 100,
      operator: 'GreaterThanThreshold',
      dimensions: { WebACL: `${p}-alb`, Region: config.region, Rule: 'ALL' },
    },
  ];
}

function sameAlarm(current: any, a: Alarm, topic: string): boolean {
  const dims = Object.fromEntries((current.Dimensions ?? []).map((d: any) => [d.Name, d.Value]));
  return (
    current.MetricName === a.metric &&
    current.Namespace === a.namespace &&
    current.Statistic === a.statistic &&
    Number(current.Threshold) === a.threshold &&
    current.ComparisonOperator === a.operator &&
    Number(current.Period) === 300 &&
    JSON.stringify(dims) === JSON.stringify(a.dimensions) &&
    (current.AlarmActions ?? []).includes(topic)
  );
}

export async function putAlarms(
  runner: Runner,
  config: Config,
  account: string,
): Promise<Record<string, 'created' | 'updated' | 'unchanged'>> {
  const topic = `arn:aws:sns:${config.region}:${account}:${config.names.topic}`;
  const list = alarms(config, await elbDimensions(runner, config));
  const current = await runner.json(
    sh`aws cloudwatch describe-alarms --alarm-names ${list.map((a) => a.name)} --region ${config.region} --output json`,
  );
  const byName = new Map(((current?.MetricAlarms ?? []) as any[]).map((a) => [a.AlarmName, a]));
  const result: Record<string, 'created' | 'updated' | 'unchanged'> = {};
  for (const a of list) {
    const have = byName.get(a.name);
    if (have && sameAlarm(have, a, topic)) {
      result[a.name] = 'unchanged';
      continue;
    }
    await runner.run(
      sh`aws cloudwatch put-metric-alarm --alarm-name ${a.name} --alarm-description ${a.description} --metric-name ${a.metric} --namespace ${a.namespace} --statistic ${a.statistic} --period 300 --evaluation-periods 1 --threshold ${String(a.threshold)} --comparison-operator ${a.operator} --dimensions ${Object.entries(a.dimensions).map(([k, v]) => `Name=${k},Value=${v}`)} --treat-missing-data notBreaching --alarm-actions ${topic} --ok-actions ${topic} --region ${config.region}`,
    );
    result[a.name] = have ? 'updated' : 'created';
  }
  return result;
}

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: '<dashboard|alarms>',
  usage: '<dashboard|alarms>',
  positional: ['dashboard', 'alarms'],
  async main({ runner, config, positionals }: ScriptContext) {
    const what = positionals[0];
    if (what !== 'dashboard' && what !== 'alarms') throw new UsageError(`expected dashboard or alarms, got ${what ?? 'nothing'}`);
    const identity = await resolveIdentity(runner, config);
    if (what === 'dashboard') process.stdout.write(`${config.names.dashboard}: ${await putDashboard(runner, config)}\n`);
    else for (const [name, r] of Object.entries(await putAlarms(runner, config, identity.account))) process.stdout.write(`${name}: ${r}\n`);
  },
};

if (isMain(import.meta.url)) await main(spec);
