// Step 3 — Terraform plan.
// Needs:    AWS credentials; terraform; the terraform/ root module.
// Produces: the state bucket (versioned, encrypted, private) if missing; terraform.tfvars.json from the
//           validated config (unless you keep your own terraform.tfvars); terraform/tfplan; a summary.
// Next:     npm run step:4 (apply exactly this plan)
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveIdentity } from '../lib/aws.js';
import { ExitCode, isMain, main, ScriptFailure, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import type { Config } from '../lib/config.js';
import type { Runner } from '../lib/run.js';
import { stateBucket, terraformEnv, terraformInit, tf, tfDir } from '../lib/terraform.js';

/** The Terraform variables the config decides (the rest keep their defaults or come from TF_VAR_*). */
export function tfvarsFromConfig(config: Config): Record<string, string | number> {
  const n = config.names;
  const vars: Record<string, string | number | undefined> = {
    aws_region: config.region,
    project_name: config.project,
    ecr_repository_name: n.repository,
    ecs_cluster_name: n.cluster,
    ecs_service_name: n.service,
    task_family: n.family,
    container_name: n.container,
    log_group_name: n.logGroup,
    db_identifier: n.dbInstance,
    target_group_name: n.targetGroup,
    sns_topic_name: n.topic,
    dashboard_name: n.dashboard,
    cpu_alarm_name: n.cpuAlarm,
    scaling_policy_name: n.scalingPolicy,
    app_secret_name: n.appSecret,
    db_secret_name: n.dbSecret,
    container_port: config.app.port,
    task_cpu: config.app.cpu,
    task_memory: config.app.memory,
    health_check_path: config.app.healthPath,
    alarm_email: config.alarmEmail,
    domain_name: config.domain?.name,
    hosted_zone_id: config.domain?.hostedZoneId,
    acm_certificate_arn: config.domain?.certificateArn,
  };
  return Object.fromEntries(Object.entries(vars).filter(([, v]) => v !== undefined)) as Record<string, string | number>;
}

const PLACEHOLDERS = /<[A-Z_]+>|your-secure-password|change-me|YOUR_|example-password/;

/** Your own terraform.tfvars wins; else write terraform.tfvars.json from the config. */
export function prepareTfvars(runner: Runner, config: Config): string {
  const dir = tfDir(config);
  const own = join(dir, 'terraform.tfvars');
  if (existsSync(own)) {
    const text = readFileSync(own, 'utf8');
    const bad = text.split('\n').map((l, i) => [i + 1, l] as const).filter(([, l]) => !l.trim().startsWith('#') && PLACEHOLDERS.test(l));
    if (bad.length) {
      throw new ScriptFailure(`${own} still holds placeholder values:\n${bad.map(([i, l]) => `  line ${i}: ${l.replace(/=.*/, '= …')}`).join('\n')}\n  fix: edit them (guide step 3), or delete the file to use the values from .env`, ExitCode.USAGE);
    }
    if (/^\s*db_password\s*=/m.test(text)) runner.echo(`# note: ${own} holds db_password in clear text; DB_PASSWORD in .env (passed as TF_VAR_db_password) or no password at all (RDS-managed) is safer`);
    runner.echo(`# using your ${own}`);
    return own;
  }
  const file = join(dir, 'terraform.tfvars.json');
  const content = `${JSON.stringify(tfvarsFromConfig(config), null, 2)}\n`;
  if (runner.dryRun) runner.echo(`[dry-run] # write ${file} from the configuration`);
  else if (!existsSync(file) || readFileSync(file, 'utf8') !== content) {
    writeFileSync(file, content);
    runner.echo(`# wrote ${file} from the configuration`);
  }
  return file;
}

/** The state bucket: created once, versioned, encrypted, private. */
export async function ensureStateBucket(runner: Runner, config: Config, account: string): Promise<'exists' | 'created'> {
  const bucket = stateBucket(config, account);
  const head = await runner.run('aws', ['s3api', 'head-bucket', '--bucket', bucket, '--region', config.region], { nothrow: true });
  if (head.ok && !head.dryRun) return 'exists';
  if (!head.dryRun && !/404|Not Found|NoSuchBucket/i.test(head.stderr)) {
    throw new ScriptFailure(`cannot check the state bucket ${bucket}: ${head.stderr.trim().split('\n').pop()}\n  fix: if another account owns this name, set TF_STATE_BUCKET in .env`);
  }
  const location = config.region === 'us-east-1' ? [] : ['--create-bucket-configuration', `LocationConstraint=${config.region}`];
  await runner.run('aws', ['s3api', 'create-bucket', '--bucket', bucket, '--region', config.region, ...location]);
  await runner.run('aws', ['s3api', 'put-bucket-versioning', '--bucket', bucket, '--versioning-configuration', 'Status=Enabled']);
  await runner.run('aws', ['s3api', 'put-bucket-encryption', '--bucket', bucket, '--server-side-encryption-configuration', '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}']);
  await runner.run('aws', ['s3api', 'put-public-access-block', '--bucket', bucket, '--public-access-block-configuration', 'BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true']);
  return 'created';
}

export interface PlanSummary { add: number; change: number; destroy: number; replace: string[]; destroyed: string[]; noChanges: boolean }

export function summarizePlan(planJson: any): PlanSummary {
  const s: PlanSummary = { add: 0, change: 0, destroy: 0, replace: [], destroyed: [], noChanges: true };
  for (const rc of planJson?.resource_changes ?? []) {
    const actions: string[] = rc.change?.actions ?? [];
    if (actions.includes('create') && actions.includes('delete')) {
      s.add++;
      s.destroy++;
      s.replace.push(rc.address);
    } else if (actions.includes('create')) s.add++;
    else if (actions.includes('update')) s.change++;
    else if (actions.includes('delete')) {
      s.destroy++;
      s.destroyed.push(rc.address);
    }
  }
  s.noChanges = s.add + s.change + s.destroy === 0;
  return s;
}

export function formatSummary(s: PlanSummary): string {
  if (s.noChanges) return 'No changes: the infrastructure matches the configuration.';
  const lines = [`Plan: ${s.add} to add, ${s.change} to change, ${s.destroy} to destroy.`];
  for (const a of s.replace) lines.push(`  ! REPLACE ${a} (destroyed, then created)`);
  for (const a of s.destroyed) lines.push(`  ! DESTROY ${a}`);
  return lines.join('\n');
}

export async function showPlan(runner: Runner, config: Config): Promise<PlanSummary> {
  const json = await runner.json('terraform', tf(config, 'show', '-json', '-no-color', 'tfplan'), { env: terraformEnv(config) });
  return summarizePlan(json);
}

export async function step3(runner: Runner, config: Config): Promise<PlanSummary | undefined> {
  const identity = await resolveIdentity(runner, config);
  const bucket = await ensureStateBucket(runner, config, identity.account);
  runner.echo(`# state bucket ${stateBucket(config, identity.account)}: ${bucket === 'created' ? 'created (versioned, encrypted, private)' : 'exists'}`);
  prepareTfvars(runner, config);
  await terraformInit(runner, config, identity.account);
  await runner.run('terraform', tf(config, 'plan', '-input=false', '-no-color', '-out=tfplan'), { env: terraformEnv(config), stream: true, timeoutMs: 30 * 60_000 });
  if (runner.dryRun) return undefined;
  return showPlan(runner, config);
}

export const spec: ScriptSpec = {
  command: 'step:3',
  summary: 'Step 3 — terraform plan: create the S3 state bucket if missing (versioned, encrypted, private; native S3 locking), write terraform.tfvars.json from .env (or check your own terraform.tfvars), init, plan -out=tfplan, and summarize adds / changes / destroys with every destructive change highlighted.',
  needs: 'AWS credentials, terraform >= 1.6, terraform/',
  produces: 'terraform/tfplan and its summary',
  next: 'npm run step:4 (apply exactly this plan)',
  async main({ runner, config }: ScriptContext) {
    const summary = await step3(runner, config);
    if (summary) process.stdout.write(`${formatSummary(summary)}\nSaved to ${join(tfDir(config), 'tfplan')}. Next: npm run step:4\n`);
  },
};

if (isMain(import.meta.url)) await main(spec);
