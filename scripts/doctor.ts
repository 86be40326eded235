// Troubleshooting, automated: the task definition and its image, recent stopped tasks and their reasons, the
// security-group paths ALB -> tasks:PORT and tasks -> RDS:5432, RDS status, target health and target-group settings,
// a database connection from where the tasks run (DB_CHECK_COMMAND as a one-off task), secrets changed after the
// running tasks read them (a rotated password), certificate and DNS — each finding with its fix.
// Needs:    a deployed stack
// Produces: a checklist; exit 1 when something is broken
// Next:     apply the fixes, then npm run step:7
import { resolveIdentity } from '../lib/aws.js';
import { isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import type { Config } from '../lib/config.js';
import { sh, type Runner } from '../lib/run.js';
import { ExitCode } from '../lib/errors.js';
import { databaseHint } from '../lib/hints.js';
import { oneOffFailure, runOneOff } from '../lib/oneoff.js';
import { stoppedTaskFinding } from '../lib/diagnosis.js';
import { serviceOf } from '../lib/ecs.js';

export interface Finding {
  check: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

const json = (runner: Runner, config: Config, args: string[]) =>
  runner.json(sh`aws ${args} --region ${config.region} --output json`, { nothrow: true });

/** Does a set of SG rules let `from` (a security group) reach `to` on `port`? Ingress on `to`, egress on `from`. */
export function allows(rules: any[], fromSg: string, toSg: string, port: number): { ingress: boolean; egress: boolean } {
  const covers = (r: any) => r.IpProtocol === '-1' || (r.IpProtocol === 'tcp' && r.FromPort <= port && r.ToPort >= port);
  const ingress = rules.some((r) => r.GroupId === toSg && !r.IsEgress && covers(r) && r.ReferencedGroupInfo?.GroupId === fromSg);
  const egress = rules.some(
    (r) => r.GroupId === fromSg && r.IsEgress && covers(r) && (r.ReferencedGroupInfo?.GroupId === toSg || r.CidrIpv4 === '0.0.0.0/0'),
  );
  return { ingress, egress };
}

/** What every section of the diagnosis reads: the service, its task definition and its tasks, read once. */
interface Look {
  runner: Runner;
  config: Config;
  svc: any;
  taskDefinition: Promise<any>;
  serviceTasks(status: 'RUNNING' | 'STOPPED'): Promise<string[]>;
}

export async function diagnose(runner: Runner, config: Config): Promise<Finding[]> {
  const f: Finding[] = [];
  const { cluster, service: serviceName } = config.names;
  const svc = await serviceOf(runner, config);
  if (!svc || svc.status !== 'ACTIVE') {
    f.push({
      check: 'ECS service',
      ok: false,
      detail: `${serviceName} is not ACTIVE in ${cluster}`,
      fix: 'run npm run step:3 and npm run step:4 (terraform)',
    });
    return f;
  }
  f.push({
    check: 'ECS service',
    ok: svc.runningCount >= svc.desiredCount,
    detail: `${svc.runningCount}/${svc.desiredCount} tasks running, ${svc.deployments?.length ?? 0} deployment(s), primary ${svc.deployments?.[0]?.rolloutState ?? '?'}`,
    fix: svc.runningCount < svc.desiredCount ? 'see the stopped tasks below; npm run logs -- --failed' : undefined,
  });

  // Independent sections run concurrently (each is a few aws CLI calls); findings keep this order.
  // read once, used by the image and database sections
  const taskDefinition = json(runner, config, ['ecs', 'describe-task-definition', '--task-definition', svc.taskDefinition]).then(
    (r) => r?.taskDefinition,
  );
  const serviceTasks = async (status: 'RUNNING' | 'STOPPED'): Promise<string[]> =>
    (await json(runner, config, ['ecs', 'list-tasks', '--cluster', cluster, '--service-name', serviceName, '--desired-status', status]))
      ?.taskArns ?? [];
  const look: Look = { runner, config, svc, taskDefinition, serviceTasks };
  const sections = await Promise.all([imageSection, stoppedSection, networkSection, databaseSection, domainSection].map((s) => s(look)));
  for (const section of sections) f.push(...section);
  return f;
}

// task definition and its image (guide: aws ecs describe-task-definition --task-definition llmops-task)
async function imageSection(look: Look): Promise<Finding[]> {
  const { runner, config, taskDefinition } = look;
  const { family } = config.names;
  const f: Finding[] = [];
  const td = await taskDefinition;
  const image: string = td?.containerDefinitions?.[0]?.image ?? '';
  const [, digest] = image.split('@');
  if (digest) {
    const found = await json(runner, config, [
      'ecr',
      'describe-images',
      '--repository-name',
      config.names.repository,
      '--image-ids',
      `imageDigest=${digest}`,
    ]);
    f.push({
      check: 'image in ECR',
      ok: !!found?.imageDetails?.length,
      detail: image,
      fix: found?.imageDetails?.length
        ? undefined
        : 'the image the service runs is gone from ECR (lifecycle policy?): npm run deploy, or raise ecr_keep_images',
    });
  } else {
    f.push({
      check: 'image by digest',
      ok: false,
      detail: `${family} runs ${image || 'no image'} by tag`,
      fix: 'deploy with npm run deploy: it pins the image by digest, so a moved tag cannot change what runs',
    });
  }
  return f;
}

// recent stopped tasks (guide: describe the task, read its logs)
async function stoppedSection(look: Look): Promise<Finding[]> {
  const { runner, config, svc, serviceTasks } = look;
  const { cluster } = config.names;
  const f: Finding[] = [];
  const stopped = await serviceTasks('STOPPED');
  if (stopped.length) {
    const tasks =
      (await json(runner, config, ['ecs', 'describe-tasks', '--cluster', cluster, '--tasks', ...stopped.slice(0, 5)]))?.tasks ?? [];
    const failures = tasks.filter((t: any) => !/Scaling activity|deployment/.test(t.stoppedReason ?? ''));
    // failures of the running deployment are problems; those of earlier (rolled back) ones are history
    const primary = svc.deployments?.find((d: any) => d.status === 'PRIMARY');
    const recovered = svc.runningCount >= svc.desiredCount && primary?.rolloutState === 'COMPLETED';
    for (const t of failures.slice(0, 3)) {
      // a failure of the running deployment is a problem until the service has recovered from it
      const current = t.startedBy === primary?.id && !recovered;
      f.push({
        check: current ? 'stopped task' : 'earlier failed task',
        ok: !current,
        detail: `${t.taskArn.split('/').pop()}: ${stoppedTaskFinding(t).finding}${current ? '' : t.startedBy === primary?.id ? ' (the service has recovered)' : ' (a previous deployment)'}`,
        fix: stoppedTaskFinding(t).fix,
      });
    }
    if (!failures.length)
      f.push({ check: 'stopped tasks', ok: true, detail: `${tasks.length} recent, all stopped by deployments or scaling` });
  } else f.push({ check: 'stopped tasks', ok: true, detail: 'none recently' });
  return f;
}

// security-group paths (guide: aws ec2 describe-security-groups --filters Name=group-name,Values=llmops-*)
async function networkSection(look: Look): Promise<Finding[]> {
  const { runner, config, svc } = look;
  const { dbInstance, targetGroup } = config.names;
  const f: Finding[] = [];
  const taskSg: string | undefined = svc.networkConfiguration?.awsvpcConfiguration?.securityGroups?.[0];
  const tgArn: string | undefined = svc.loadBalancers?.[0]?.targetGroupArn;
  const loadBalancer = async () => {
    const tg = tgArn
      ? (await json(runner, config, ['elbv2', 'describe-target-groups', '--target-group-arns', tgArn]))?.TargetGroups?.[0]
      : undefined;
    const lb = tg?.LoadBalancerArns?.[0]
      ? (await json(runner, config, ['elbv2', 'describe-load-balancers', '--load-balancer-arns', tg.LoadBalancerArns[0]]))
          ?.LoadBalancers?.[0]
      : undefined;
    return { tg, lb };
  };
  const [{ tg, lb }, dbi, health] = await Promise.all([
    loadBalancer(),
    json(runner, config, ['rds', 'describe-db-instances', '--db-instance-identifier', dbInstance]).then((r) => r?.DBInstances?.[0]),
    // a native strategy's release serves from either target group: the targets of both
    Promise.all(
      [tgArn, svc.loadBalancers?.[0]?.advancedConfiguration?.alternateTargetGroupArn]
        .filter((arn): arn is string => !!arn)
        .map((arn) =>
          json(runner, config, ['elbv2', 'describe-target-health', '--target-group-arn', arn]).then(
            (r) => r?.TargetHealthDescriptions ?? [],
          ),
        ),
    ).then((all) => all.flat()),
  ]);
  const albSg: string | undefined = lb?.SecurityGroups?.[0];
  const dbSg: string | undefined = dbi?.VpcSecurityGroups?.[0]?.VpcSecurityGroupId;
  const groups = [albSg, taskSg, dbSg].filter(Boolean) as string[];
  const rules = groups.length
    ? ((await json(runner, config, ['ec2', 'describe-security-group-rules', '--filters', `Name=group-id,Values=${groups.join(',')}`]))
        ?.SecurityGroupRules ?? [])
    : [];
  const port = config.app.port;
  if (albSg && taskSg) {
    const p = allows(rules, albSg, taskSg, port);
    f.push({
      check: `ALB -> tasks :${port}`,
      ok: p.ingress && p.egress,
      detail: `${albSg} -> ${taskSg}: ingress ${p.ingress ? 'yes' : 'NO'}, egress ${p.egress ? 'yes' : 'NO'}`,
      fix:
        p.ingress && p.egress
          ? undefined
          : `allow tcp ${port} from ${albSg} into ${taskSg} (and out of ${albSg}): terraform apply restores aws_vpc_security_group_ingress_rule.tasks_from_alb`,
    });
  }
  if (taskSg && dbSg) {
    const p = allows(rules, taskSg, dbSg, 5432);
    f.push({
      check: 'tasks -> RDS :5432',
      ok: p.ingress && p.egress,
      detail: `${taskSg} -> ${dbSg}: ingress ${p.ingress ? 'yes' : 'NO'}, egress ${p.egress ? 'yes' : 'NO'}`,
      fix:
        p.ingress && p.egress
          ? undefined
          : `allow tcp 5432 from ${taskSg} into ${dbSg}: npm run step:3 && npm run step:4 restores aws_vpc_security_group_ingress_rule.db_from_tasks`,
    });
  }
  const open = rules.filter((r: any) => r.GroupId === dbSg && !r.IsEgress && (r.CidrIpv4 === '0.0.0.0/0' || r.CidrIpv6 === '::/0'));
  if (open.length)
    f.push({
      check: 'RDS exposure',
      ok: false,
      detail: `${dbSg} accepts ${open.map((r: any) => `${r.FromPort}-${r.ToPort} from ${r.CidrIpv4 ?? r.CidrIpv6}`).join(', ')}`,
      fix: 'remove the CIDR rule: the database must only be reachable from the tasks security group',
    });

  // RDS (guide: aws rds describe-db-instances --db-instance-identifier llmops-db)
  f.push(
    dbi
      ? {
          check: 'RDS',
          ok: dbi.DBInstanceStatus === 'available' && !dbi.PubliclyAccessible,
          detail: `${dbInstance} ${dbi.DBInstanceStatus}${dbi.PubliclyAccessible ? ', PUBLIC' : ''}`,
          fix:
            dbi.DBInstanceStatus !== 'available'
              ? 'wait for maintenance/backup to finish, or check the RDS events'
              : dbi.PubliclyAccessible
                ? 'set publicly_accessible = false'
                : undefined,
        }
      : { check: 'RDS', ok: false, detail: `${dbInstance} not found`, fix: 'run npm run step:3 and npm run step:4' },
  );

  // target health and settings (guide: describe-target-health, describe-target-groups --names llmops-targets)
  if (tg) {
    const settingsOk = tg.HealthCheckPath === config.app.healthPath && Number(tg.Port) === port;
    f.push({
      check: `target group ${targetGroup}`,
      ok: settingsOk,
      detail: `port ${tg.Port}, health ${tg.HealthCheckPath} every ${tg.HealthCheckIntervalSeconds} s, threshold ${tg.HealthyThresholdCount}`,
      fix: settingsOk
        ? undefined
        : `the target group checks ${tg.HealthCheckPath} on ${tg.Port}, the app serves HEALTH_PATH=${config.app.healthPath} on ${port}: align them (terraform variables health_check_path / container_port)`,
    });
    const bad = health.filter((h: any) => !['healthy', 'initial', 'draining'].includes(h.TargetHealth?.State));
    for (const h of bad)
      f.push({
        check: 'target health',
        ok: false,
        detail: `${h.Target.Id}: ${h.TargetHealth.State} ${h.TargetHealth.Reason ?? ''} ${h.TargetHealth.Description ?? ''}`.trim(),
        fix:
          h.TargetHealth.Reason === 'Target.ResponseCodeMismatch'
            ? `the app answers ${tg.HealthCheckPath} with a non-200 code: fix the endpoint or HEALTH_PATH`
            : 'the ALB cannot reach the app: check the port it listens on (0.0.0.0) and the ALB -> tasks rule above',
      });
    if (!bad.length)
      f.push({
        check: 'target health',
        ok: health.length > 0 || svc.desiredCount === 0,
        detail: `${health.filter((h: any) => h.TargetHealth?.State === 'healthy').length} healthy of ${health.length}`,
        fix: health.length ? undefined : 'no targets registered: the tasks are not running (see above)',
      });
  }
  return f;
}

// the database as the tasks see it: a connection from a one-off task, and secrets changed since the tasks read them
async function databaseSection(look: Look): Promise<Finding[]> {
  const { runner, config, svc, taskDefinition, serviceTasks } = look;
  const { cluster, service: serviceName } = config.names;
  const f: Finding[] = [];
  const td = await taskDefinition;
  const secretArns = [
    ...new Set<string>(
      (td?.containerDefinitions ?? [])
        .flatMap((c: any) => c.secrets ?? [])
        .map((x: any) => String(x.valueFrom).split(':').slice(0, 7).join(':')),
    ),
  ];
  const running = await serviceTasks('RUNNING');
  const tasks: any[] = running.length
    ? ((await json(runner, config, ['ecs', 'describe-tasks', '--cluster', cluster, '--tasks', ...running.slice(0, 100)]))?.tasks ?? [])
    : [];
  const oldest = tasks
    .map((t) => epochMs(t.startedAt ?? t.createdAt))
    .filter((t): t is number => t !== undefined)
    .sort((a, b) => a - b)[0];
  for (const arn of secretArns) {
    const d = await json(runner, config, ['secretsmanager', 'describe-secret', '--secret-id', arn]);
    if (!d) continue;
    const changed = Math.max(...[d.LastChangedDate, d.LastRotatedDate].map((v) => epochMs(v) ?? 0));
    const name = d.Name ?? arn.split(':').pop();
    if (oldest !== undefined && changed > oldest)
      f.push({
        check: 'secret changed after the tasks started',
        ok: false,
        detail: `${name} changed ${new Date(changed).toISOString()}, after the oldest running task started (${new Date(oldest).toISOString()}): tasks read secrets only when they start, so they hold the old value (a rotated DB password is refused)`,
        fix:
          name === config.names.dbAppSecret
            ? "npm run deploy: step 6 sets the app user's new password in the database, then starts tasks that hold it (a restart alone would give them a password the database does not know yet)"
            : `restart the tasks: aws ecs update-service --cluster ${cluster} --service ${serviceName} --force-new-deployment (or npm run deploy)`,
      });
    else f.push({ check: 'secret', ok: true, detail: `${name}: unchanged since the running tasks started` });
  }
  if (!config.dbCheckCommand) {
    f.push({
      check: 'tasks -> database',
      ok: true,
      detail:
        'no connection tried: set DB_CHECK_COMMAND to a command of the image that connects and exits 0 (the sandbox app: /bin/dbcheck)',
    });
    return f;
  }
  try {
    const r = await runOneOff(runner, config, {
      what: 'database check',
      taskDefinitionArn: svc.taskDefinition,
      command: config.dbCheckCommand,
      startedBy: 'llmops-doctor',
      timeoutSeconds: 300,
      network: svc.networkConfiguration?.awsvpcConfiguration,
    });
    const why = oneOffFailure(r);
    const text = r.logLines.join('\n');
    f.push({
      check: 'tasks -> database',
      ok: !why,
      detail: why
        ? `${config.dbCheckCommand.join(' ')} in a task of ${svc.taskDefinition.split('/').pop()}: ${why}${r.logLines.length ? `: ${r.logLines.at(-1)}` : ''}`
        : `a task of ${svc.taskDefinition.split('/').pop()} connected (${config.dbCheckCommand.join(' ')} exited 0)`,
      fix: why ? (databaseHint(text) ?? "see the check's log lines above") : undefined,
    });
  } catch (error: any) {
    f.push({ check: 'tasks -> database', ok: false, detail: `the check task did not run: ${error?.message ?? error}`, fix: 'see above' });
  }
  return f;
}

// certificate and DNS
async function domainSection(look: Look): Promise<Finding[]> {
  const { runner, config } = look;
  const f: Finding[] = [];
  if (config.domain) {
    const certs = (await json(runner, config, ['acm', 'list-certificates']))?.CertificateSummaryList ?? [];
    const cert = certs.find((c: any) => c.DomainName === config.domain!.name);
    f.push({
      check: 'certificate',
      ok: cert?.Status === 'ISSUED',
      detail: cert ? `${cert.CertificateArn} ${cert.Status}` : `none for ${config.domain.name}`,
      fix: cert?.Status === 'ISSUED' ? undefined : 'npm run certificate (requests, validates through Route53, waits until ISSUED)',
    });
    const zone = ['route53', 'list-resource-record-sets', '--hosted-zone-id', config.domain.hostedZoneId];
    const record = ['--start-record-name', config.domain.name, '--start-record-type', 'A', '--max-items', '1'];
    const rec = (await json(runner, config, [...zone, ...record]))?.ResourceRecordSets?.[0];
    const pointsAtApp = rec && rec.Name.replace(/\.$/, '') === config.domain.name && rec.AliasTarget;
    f.push({
      check: 'DNS',
      ok: !!pointsAtApp,
      detail: pointsAtApp ? `${config.domain.name} -> ${rec.AliasTarget.DNSName}` : `${config.domain.name} has no alias A record`,
      fix: pointsAtApp ? undefined : 'npm run step:8',
    });
  }
  return f;
}

/** A timestamp as the CLI prints it (v1: epoch seconds, v2: ISO 8601) in milliseconds. */
export function epochMs(value: unknown): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'number' || /^\d+(\.\d+)?$/.test(String(value))) return Number(value) * 1000;
  const ms = Date.parse(String(value));
  return Number.isNaN(ms) ? undefined : ms;
}

export function formatFindings(findings: Finding[]): string {
  const lines = findings.map((x) => `${x.ok ? '✓' : '✗'} ${x.check}: ${x.detail}${!x.ok && x.fix ? `\n    fix: ${x.fix}` : ''}`);
  const broken = findings.filter((x) => !x.ok).length;
  lines.push(broken ? `✗ ${broken} problem(s) found.` : '✓ no problems found.');
  return lines.join('\n');
}

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'doctor',
  async main({ runner, config }: ScriptContext) {
    await resolveIdentity(runner, config);
    const findings = await diagnose(runner, config);
    if (runner.dryRun) {
      // no answers, no diagnosis: the calls above are what a real run makes
      process.stdout.write('dry run: the read-only calls above are what doctor makes; no diagnosis without their answers\n');
      return ExitCode.OK;
    }
    process.stdout.write(`${runner.mask(formatFindings(findings))}\n`);
    return findings.every((x) => x.ok) ? ExitCode.OK : ExitCode.FAILED;
  },
};

if (isMain(import.meta.url)) await main(spec);
