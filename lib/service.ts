// The ECS service as the CLI describes it: which task definition it runs, its desired count, and the
// deployment still rolling out, if any (rollback, scale and step 6 read it before they change it).
import type { Config } from './config.js';
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
