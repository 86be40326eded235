// The ECS reader: the service (task definition, counts, deployments, network), its tasks, the target health of its
// load balancer, a stopped task's last log lines, and the newest revisions of its family. The reads on a deploy's
// path (the service, the task definition it runs), the waiter's polls and the listings go through the SDK, each
// echoing the CLI line it stands for: an aws CLI process costs about a second of CPU here. Doctor's look at the
// service stays the guide's `aws ecs describe-services`.
import type { ECSClient, Service, Tag, Task, TaskDefinition } from '@aws-sdk/client-ecs';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import type { AlarmReader } from './alarms.js';
import type { Config } from './config.js';
import { awsErrorText, sdkOptions, sdkRead } from './aws.js';
import { sh, type Runner } from './run.js';

/**
 * The service as describe-services returns it (undefined when there is none), for a reader that needs all of it.
 * `nothrow`: a failed call is no service (doctor reports it) rather than an error.
 */
export async function serviceOf(runner: Runner, config: Config, nothrow = true): Promise<any> {
  const r = await runner.json(
    sh`aws ecs describe-services --cluster ${config.names.cluster} --services ${config.names.service} --region ${config.region} --output json`,
    { nothrow },
  );
  return r?.services?.[0];
}

export interface ServiceState {
  taskDefinition?: string;
  desiredCount: number;
  status?: string;
  inProgress?: string;
  /** Where its tasks run (the private subnets and the tasks' security group): a one-off task runs there too. */
  network?: { subnets: string[]; securityGroups: string[]; assignPublicIp: string };
  /** ECS Exec is on for tasks started from now on. */
  enableExecuteCommand: boolean;
  /** How it deploys (strategy, circuit breaker, alarms) and its load balancers: step 6 sets a DEPLOY_STRATEGY on them. */
  deploymentConfiguration?: Service['deploymentConfiguration'];
  loadBalancers?: Service['loadBalancers'];
}

/**
 * The service's state, which rollback, scale, exec, migrate and step 6 read before they change it: through the SDK
 * (on every deploy's path), echoing `aws ecs describe-services`. A dry run asks nothing: no service.
 */
export async function describeService(runner: Runner, config: Config): Promise<ServiceState | undefined> {
  const { cluster, service } = config.names;
  const s = await sdkRead(runner, ['ecs', 'describe-services', '--cluster', cluster, '--services', service], () =>
    withEcs(
      config,
      'ecs describe-services',
      async (ecs, client) => (await client.send(new ecs.DescribeServicesCommand({ cluster, services: [service] }))).services?.[0],
    ),
  );
  if (!s || s.status !== 'ACTIVE') return undefined;
  const primary = s.deployments?.find((d: any) => d.status === 'PRIMARY');
  const inProgress = primary?.rolloutState === 'IN_PROGRESS' && (s.desiredCount ?? 0) > 0 ? primary.id : undefined;
  const vpc = s.networkConfiguration?.awsvpcConfiguration;
  const network = vpc
    ? { subnets: vpc.subnets ?? [], securityGroups: vpc.securityGroups ?? [], assignPublicIp: vpc.assignPublicIp ?? 'DISABLED' }
    : undefined;
  return {
    taskDefinition: s.taskDefinition,
    desiredCount: s.desiredCount ?? 0,
    status: s.status,
    inProgress,
    network,
    enableExecuteCommand: s.enableExecuteCommand === true,
    ...(s.deploymentConfiguration ? { deploymentConfiguration: s.deploymentConfiguration } : {}),
    ...(s.loadBalancers?.length ? { loadBalancers: s.loadBalancers } : {}),
  };
}

/** A task definition as it is registered, with its tags (`aws ecs describe-task-definition --include TAGS`, through the SDK). */
export async function describeTaskDefinition(
  runner: Runner,
  config: Config,
  taskDefinition: string,
): Promise<(TaskDefinition & { tags?: Tag[] }) | undefined> {
  return sdkRead(runner, ['ecs', 'describe-task-definition', '--task-definition', taskDefinition, '--include', 'TAGS'], () =>
    withEcs(config, 'ecs describe-task-definition', async (ecs, client) => {
      const r = await client.send(new ecs.DescribeTaskDefinitionCommand({ taskDefinition, include: ['TAGS'] }));
      return r.taskDefinition && { ...r.taskDefinition, tags: r.tags ?? [] };
    }),
  );
}

/** One call with an ECS client; a failure says which call failed, as the aws CLI words it. */
async function withEcs<T>(
  config: Config,
  what: string,
  call: (ecs: typeof import('@aws-sdk/client-ecs'), client: ECSClient) => Promise<T>,
): Promise<T> {
  const ecs = await import('@aws-sdk/client-ecs');
  const client = new ecs.ECSClient(sdkOptions(config.region, 4));
  try {
    return await call(ecs, client);
  } catch (error: any) {
    throw new Error(`aws ${what} failed: ${awsErrorText(error)}`);
  } finally {
    client.destroy();
  }
}

/** The revision number of a task definition ARN or family:revision (0 when it names none). */
export const revisionOf = (arn: string): number => Number(/:(\d+)$/.exec(arn)?.[1] ?? 0);

export interface Revision {
  arn: string;
  taskDefinition?: TaskDefinition;
  tags: Tag[];
}

/**
 * The newest `limit` revisions of the task definition family (and revision `also`, however old), each described with
 * its tags. A listing is
 * bookkeeping, not one of the guide's commands: it goes through the SDK, side by side (eleven aws CLI calls
 * cost about eleven seconds of CPU), echoing the CLI commands it stands for like every other call.
 */
export async function newestRevisions(runner: Runner, config: Config, limit: number, also?: number): Promise<Revision[]> {
  const family = config.names.family;
  runner.echoCommand('aws', ['ecs', 'list-task-definitions', '--family-prefix', family, '--sort', 'DESC'], 'via the SDK');
  runner.echoCommand(
    'aws',
    ['ecs', 'describe-task-definition', '--task-definition', `${family}:<N>`, '--include', 'TAGS'],
    `via the SDK, the newest ${limit}`,
  );
  if (runner.dryRun) return [];
  const ecs = await import('@aws-sdk/client-ecs');
  const client = new ecs.ECSClient(sdkOptions(config.region, 4));
  try {
    const list = await client.send(new ecs.ListTaskDefinitionsCommand({ familyPrefix: family, sort: 'DESC' }));
    const newest = (list.taskDefinitionArns ?? [])
      .filter((a) => a.split('/').pop()?.startsWith(`${family}:`))
      .sort((a, b) => revisionOf(b) - revisionOf(a))
      .filter((a, i) => i < limit || revisionOf(a) === also);
    return await Promise.all(
      newest.map(async (arn) => {
        const d = await client.send(new ecs.DescribeTaskDefinitionCommand({ taskDefinition: arn, include: ['TAGS'] }));
        return { arn, taskDefinition: d.taskDefinition, tags: d.tags ?? [] };
      }),
    );
  } catch (error: any) {
    error.message = `listing the revisions of ${family} (ecs list-task-definitions, describe-task-definition): ${error.name}: ${error.message}`;
    throw error;
  } finally {
    client.destroy();
  }
}

/** What the waiter sends requests through: the SDK clients, or anything with their `send`. */
export interface Clients {
  ecs: Pick<ECSClient, 'send' | 'destroy'>;
  elb: Pick<ElasticLoadBalancingV2Client, 'send' | 'destroy'>;
  logs: Pick<CloudWatchLogsClient, 'send' | 'destroy'>;
  /** The bake's alarm reader (lib/alarms.ts makes one when none is given). */
  cloudwatch?: AlarmReader;
}

interface Sdk {
  ecs: typeof import('@aws-sdk/client-ecs');
  elb: typeof import('@aws-sdk/client-elastic-load-balancing-v2');
  logs: typeof import('@aws-sdk/client-cloudwatch-logs');
}

/**
 * The three SDK modules, loaded when a wait begins rather than when a script starts: most scripts import this
 * file and never wait, and the modules cost about 0.4 s of CPU to load (measured with `node --cpu-prof`).
 */
let sdk: Sdk;
export async function loadSdk(): Promise<Sdk> {
  const [ecs, elb, logs] = await Promise.all([
    import('@aws-sdk/client-ecs'),
    import('@aws-sdk/client-elastic-load-balancing-v2'),
    import('@aws-sdk/client-cloudwatch-logs'),
  ]);
  return (sdk = { ecs, elb, logs });
}

export function clients(region: string): Clients {
  const common = sdkOptions(region, 4);
  return {
    ecs: new sdk.ecs.ECSClient(common),
    elb: new sdk.elb.ElasticLoadBalancingV2Client(common),
    logs: new sdk.logs.CloudWatchLogsClient(common),
  };
}

/** Close the clients `clients` made (their sockets would keep Node alive). */
export function destroyClients(c: Clients): void {
  c.ecs.destroy();
  c.elb.destroy();
  c.logs.destroy();
}

/** The service, as the waiter polls it (ecs describe-services). */
export async function readService(c: Clients, config: Config): Promise<Service | undefined> {
  const r = await c.ecs.send(new sdk.ecs.DescribeServicesCommand({ cluster: config.names.cluster, services: [config.names.service] }));
  return r.services?.[0];
}

async function tasksOf(c: Clients, config: Config, depId: string, desiredStatus: 'RUNNING' | 'STOPPED'): Promise<Task[]> {
  const list = await c.ecs.send(new sdk.ecs.ListTasksCommand({ cluster: config.names.cluster, startedBy: depId, desiredStatus }));
  if (!list.taskArns?.length) return [];
  const r = await c.ecs.send(new sdk.ecs.DescribeTasksCommand({ cluster: config.names.cluster, tasks: list.taskArns.slice(0, 100) }));
  return r.tasks ?? [];
}

export async function runningTasksOf(c: Clients, config: Config, depId: string): Promise<Task[]> {
  return (await tasksOf(c, config, depId, 'RUNNING')).filter((t) => t.desiredStatus === 'RUNNING');
}

export async function stoppedTasksOf(c: Clients, config: Config, depId: string, seen: Set<string>): Promise<Task[]> {
  const stopped = (await tasksOf(c, config, depId, 'STOPPED')).filter((t) => t.lastStatus === 'STOPPED' && !seen.has(t.taskArn!));
  for (const t of stopped) seen.add(t.taskArn!);
  return stopped;
}

export function privateIp(t: Task): string | undefined {
  return (
    t.containers?.[0]?.networkInterfaces?.[0]?.privateIpv4Address ??
    t.attachments?.[0]?.details?.find((d) => d.name === 'privateIPv4Address')?.value
  );
}

export async function healthUrl(c: Clients, config: Config, svc: Service): Promise<string | undefined> {
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

/** The last log lines of a task, from the awslogs stream its task definition names. */
export async function lastLogLines(c: Clients, config: Config, task: Task, limit = 15): Promise<string[]> {
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

/** The health of every target in a target group (elbv2 describe-target-health). */
export async function targetHealth(c: Clients, targetGroup: string) {
  return (await c.elb.send(new sdk.elb.DescribeTargetHealthCommand({ TargetGroupArn: targetGroup }))).TargetHealthDescriptions ?? [];
}
