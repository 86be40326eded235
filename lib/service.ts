// The ECS service as the CLI describes it: which task definition it runs, its desired count, and the
// deployment still rolling out, if any (rollback, scale and step 6 read it before they change it); and the
// newest revisions of its task definition family, for a listing of releases.
import type { Tag, TaskDefinition } from '@aws-sdk/client-ecs';
import type { Config } from './config.js';
import { sdkOptions } from './aws.js';
import { sh, type Runner } from './run.js';

export interface ServiceState {
  taskDefinition?: string;
  desiredCount: number;
  status?: string;
  inProgress?: string;
  /** Where its tasks run (the private subnets and the tasks' security group): a one-off task runs there too. */
  network?: { subnets: string[]; securityGroups: string[]; assignPublicIp: string };
  /** ECS Exec is on for tasks started from now on. */
  enableExecuteCommand: boolean;
}

export async function describeService(runner: Runner, config: Config): Promise<ServiceState | undefined> {
  const r = await runner.json(
    sh`aws ecs describe-services --cluster ${config.names.cluster} --services ${config.names.service} --region ${config.region} --output json`,
  );
  const s = r?.services?.[0];
  if (!s || s.status !== 'ACTIVE') return undefined;
  const primary = s.deployments?.find((d: any) => d.status === 'PRIMARY');
  const inProgress = primary?.rolloutState === 'IN_PROGRESS' && s.desiredCount > 0 ? primary.id : undefined;
  const vpc = s.networkConfiguration?.awsvpcConfiguration;
  const network = vpc
    ? { subnets: vpc.subnets ?? [], securityGroups: vpc.securityGroups ?? [], assignPublicIp: vpc.assignPublicIp ?? 'DISABLED' }
    : undefined;
  return {
    taskDefinition: s.taskDefinition,
    desiredCount: s.desiredCount,
    status: s.status,
    inProgress,
    network,
    enableExecuteCommand: s.enableExecuteCommand === true,
  };
}

export interface Revision {
  arn: string;
  taskDefinition?: TaskDefinition;
  tags: Tag[];
}

/**
 * The newest `limit` revisions of the task definition family, each described with its tags. A listing is
 * bookkeeping, not one of the guide's commands: it goes through the SDK, side by side (eleven aws CLI calls
 * cost about eleven seconds of CPU), echoing the CLI commands it stands for like every other call.
 */
export async function newestRevisions(runner: Runner, config: Config, limit: number): Promise<Revision[]> {
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
  const revisionOf = (arn: string) => Number(arn.split(':').pop());
  try {
    const list = await client.send(new ecs.ListTaskDefinitionsCommand({ familyPrefix: family, sort: 'DESC' }));
    const newest = (list.taskDefinitionArns ?? [])
      .filter((a) => a.split('/').pop()?.startsWith(`${family}:`))
      .sort((a, b) => revisionOf(b) - revisionOf(a))
      .slice(0, limit);
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
