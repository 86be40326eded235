// The Terraform stack: tfvars from the config, the state bucket, plan and its summary, apply and outputs.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveIdentity } from './aws.js';
import { confirm } from './cli.js';
import type { Config } from './config.js';
import { cpuArchitecture } from './image.js';
import { sh, type Runner } from './run.js';
import { chdir, planFile, stateBucket, terraformEnv, terraformInit, terraformOutputs, tfDir, varFile, varFileArgs } from './terraform.js';
import { ExitCode, InterruptedError, ScriptFailure } from './errors.js';

/** The Terraform variables the config decides (the rest keep their defaults or come from TF_VAR_*). */
export function tfvarsFromConfig(config: Config): Record<string, string | number | boolean> {
  const n = config.names;
  const vars: Record<string, string | number | boolean | undefined> = {
    aws_region: config.region,
    project_name: config.projectName,
    environment: config.environment,
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
    db_app_secret_name: n.dbAppSecret,
    container_port: config.app.port,
    task_cpu: config.app.cpu,
    task_memory: config.app.memory,
    cpu_architecture: cpuArchitecture(config.app.platform),
    health_check_path: config.app.healthPath,
    alarm_email: config.alarmEmail,
    domain_name: config.domain?.name,
    hosted_zone_id: config.domain?.hostedZoneId,
    acm_certificate_arn: config.domain?.certificateArn,
    allow_plain_http: config.allowPlainHttp || undefined,
  };
  return Object.fromEntries(Object.entries(vars).filter(([, v]) => v !== undefined)) as Record<string, string | number | boolean>;
}

const PLACEHOLDERS = /<[A-Z_]+>|your-secure-password|change-me|YOUR_|example-password/;

/** Files Terraform reads by itself in every run of the directory, whatever the stack or environment. */
const AUTO_LOADED = (f: string) => f === 'terraform.tfvars' || /\.auto\.tfvars(\.json)?$/.test(f);

/**
 * Your own terraform.tfvars wins; else write `<project>.tfvars.json` from the config (named with -var-file).
 * An environment's runs refuse a file Terraform would load by itself: its values would reach every
 * environment. A terraform.tfvars.json written by an earlier version of the toolkit is removed for the same
 * reason (Terraform reads it by itself too).
 */
export function prepareTfvars(runner: Runner, config: Config): string {
  const dir = tfDir(config);
  if (config.environment) {
    const shared = readdirSync(dir).filter(AUTO_LOADED);
    if (shared.length)
      throw new ScriptFailure(
        `${shared.map((f) => join(dir, f)).join(', ')}: Terraform reads ${shared.length === 1 ? 'it' : 'them'} in every run of ${dir}, so ${shared.length === 1 ? 'its' : 'their'} values would reach the ${config.environment} environment too\n` +
          `  fix: put settings in .env (every environment) or .env.${config.environment} (this one), and delete ${shared.join(', ')} (the toolkit writes ${config.project}.tfvars.json from them)`,
        ExitCode.USAGE,
      );
  }
  const stale = join(dir, 'terraform.tfvars.json');
  if (existsSync(stale)) {
    if (runner.dryRun)
      runner.echo(`[dry-run] # remove ${stale} (an earlier version of the toolkit wrote it; Terraform would read it in every run)`);
    else {
      rmSync(stale);
      runner.echo(
        `# removed ${stale}: an earlier version of the toolkit wrote it, and Terraform reads it in every run (now -var-file=${config.project}.tfvars.json)`,
      );
    }
  }
  const own = join(dir, 'terraform.tfvars');
  if (existsSync(own)) {
    const text = readFileSync(own, 'utf8');
    const bad = text
      .split('\n')
      .map((l, i) => [i + 1, l] as const)
      .filter(([, l]) => !l.trim().startsWith('#') && PLACEHOLDERS.test(l));
    if (bad.length) {
      throw new ScriptFailure(
        `${own} still holds placeholder values:\n${bad.map(([i, l]) => `  line ${i}: ${l.replace(/=.*/, '= …')}`).join('\n')}\n  fix: edit them (guide step 3), or delete the file to use the values from .env`,
        ExitCode.USAGE,
      );
    }
    if (/^\s*db_password\s*=/m.test(text))
      runner.echo(
        `# note: ${own} holds db_password in clear text; DB_PASSWORD in .env (passed as TF_VAR_db_password) or no password at all (RDS-managed) is safer`,
      );
    runner.echo(`# using your ${own}`);
    return own;
  }
  if (!config.domain && !config.allowPlainHttp)
    throw new ScriptFailure(
      'no certificate: the app would be served over plain HTTP\n' +
        '  fix: set DOMAIN_NAME and HOSTED_ZONE_ID in .env (a certificate is requested and validated through Route 53; add ACM_CERTIFICATE_ARN to use one you have),\n' +
        '       or accept plain HTTP with ALLOW_PLAIN_HTTP=true (the sandbox does; anyone on the path can read and change the traffic)',
      ExitCode.USAGE,
    );
  const file = join(dir, varFile(config)!);
  const content = `${JSON.stringify(tfvarsFromConfig(config), null, 2)}\n`;
  if (runner.dryRun) runner.echo(`[dry-run] # write ${file} from the configuration`);
  else if (!existsSync(file) || readFileSync(file, 'utf8') !== content) {
    writeFileSync(file, content);
    runner.echo(`# wrote ${file} from the configuration`);
  }
  return file;
}

/** The ARN partition of a region (aws, aws-cn, aws-us-gov). */
const partitionOf = (region: string) => (region.startsWith('cn-') ? 'aws-cn' : region.includes('-gov-') ? 'aws-us-gov' : 'aws');

/** The state bucket's policy: every request without TLS is denied, whoever makes it (S3.5). */
export function stateBucketPolicy(bucket: string, region: string): string {
  const arn = `arn:${partitionOf(region)}:s3:::${bucket}`;
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'DenyWithoutTls',
        Effect: 'Deny',
        Principal: '*',
        Action: 's3:*',
        Resource: [arn, `${arn}/*`],
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      },
    ],
  });
}

/**
 * The TLS-only policy on the state bucket, unless it is there already (a bucket made before it existed gets it).
 * Not on a plain-HTTP endpoint (the sandbox's): there the policy would deny every request, Terraform's included.
 */
async function ensureTlsOnly(runner: Runner, bucket: string, region: string, known: boolean): Promise<void> {
  const endpoint = process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
  if (endpoint?.startsWith('http://')) {
    runner.echo(`# the state bucket's TLS-only policy is left out: ${endpoint} is plain HTTP (the sandbox)`);
    return;
  }
  if (known) {
    const current = await runner.run(sh`aws s3api get-bucket-policy --bucket ${bucket} --region ${region} --output json`, {
      nothrow: true,
    });
    if (current.ok && !current.dryRun && current.stdout.includes('DenyWithoutTls')) return;
  }
  await runner.run(sh`aws s3api put-bucket-policy --bucket ${bucket} --region ${region} --policy ${stateBucketPolicy(bucket, region)}`);
}

/** The state bucket: created once, versioned, encrypted, private, TLS only. */
export async function ensureStateBucket(runner: Runner, config: Config, account: string): Promise<'exists' | 'created'> {
  const bucket = stateBucket(config, account);
  const head = await runner.run(sh`aws s3api head-bucket --bucket ${bucket} --region ${config.region}`, { nothrow: true });
  if (head.ok && !head.dryRun) {
    await ensureTlsOnly(runner, bucket, config.region, true);
    return 'exists';
  }
  if (!head.dryRun && !/404|Not Found|NoSuchBucket/i.test(head.stderr)) {
    throw new ScriptFailure(
      `cannot check the state bucket ${bucket}: ${head.stderr.trim().split('\n').pop()}\n  fix: if another account owns this name, set TF_STATE_BUCKET in .env`,
    );
  }
  const location = config.region === 'us-east-1' ? [] : ['--create-bucket-configuration', `LocationConstraint=${config.region}`];
  await runner.run(sh`aws s3api create-bucket --bucket ${bucket} --region ${config.region} ${location}`);
  await runner.run(sh`aws s3api put-bucket-versioning --bucket ${bucket} --versioning-configuration Status=Enabled`);
  await runner.run(
    sh`aws s3api put-bucket-encryption --bucket ${bucket} --server-side-encryption-configuration ${'{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'}`,
  );
  await runner.run(
    sh`aws s3api put-public-access-block --bucket ${bucket} --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true`,
  );
  await ensureTlsOnly(runner, bucket, config.region, false);
  return 'created';
}

/** The object versions (and delete markers) of the state bucket, as `delete-objects` takes them. */
async function stateBucketVersions(runner: Runner, config: Config, bucket: string): Promise<{ Key: string; VersionId: string }[]> {
  const listed = await runner.json<any>(sh`aws s3api list-object-versions --bucket ${bucket} --region ${config.region} --output json`);
  return [...(listed?.Versions ?? []), ...(listed?.DeleteMarkers ?? [])].map((v: any) => ({ Key: v.Key, VersionId: v.VersionId }));
}

/**
 * Other stacks whose state is in the bucket (another environment of the project): their state keys. The
 * bucket is one per project, so it may be deleted only with the last stack.
 */
export async function otherStacksInBucket(runner: Runner, config: Config, account: string): Promise<string[]> {
  if (runner.dryRun) return [];
  const bucket = stateBucket(config, account);
  const keys = (await stateBucketVersions(runner, config, bucket)).map((v) => v.Key);
  const own = `${config.project}/`;
  return [...new Set(keys.filter((k) => k.endsWith('/terraform.tfstate') && !k.startsWith(own)))].sort();
}

/** Empty the (versioned) state bucket, every version and delete marker, and delete it. */
export async function deleteStateBucket(runner: Runner, config: Config, account: string): Promise<void> {
  const bucket = stateBucket(config, account);
  const versions = await stateBucketVersions(runner, config, bucket); // none in a dry run: it only prints the list
  for (let i = 0; i < versions.length; i += 1000) {
    const batch = JSON.stringify({ Objects: versions.slice(i, i + 1000), Quiet: true });
    await runner.run(sh`aws s3api delete-objects --bucket ${bucket} --region ${config.region} --delete ${batch}`);
  }
  await runner.run(sh`aws s3api delete-bucket --bucket ${bucket} --region ${config.region}`);
}

export interface PlanSummary {
  add: number;
  change: number;
  destroy: number;
  replace: string[];
  destroyed: string[];
  noChanges: boolean;
}

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

/**
 * The summary of a saved plan is kept beside it (`tfplan.summary.json`) with the plan file's SHA-256, so step 4
 * confirms and applies exactly what step 3 showed without a second `terraform show` (the aws provider's start-up
 * and schema: about 5 s of CPU). A plan file that changed since, or a record that does not match it, is shown again.
 */
const summaryPath = (config: Config) => join(tfDir(config), `${planFile(config)}.summary.json`);
const planDigest = (config: Config) =>
  createHash('sha256')
    .update(readFileSync(join(tfDir(config), planFile(config))))
    .digest('hex');

function recordedSummary(config: Config): PlanSummary | undefined {
  try {
    const record = JSON.parse(readFileSync(summaryPath(config), 'utf8'));
    return record?.sha256 === planDigest(config) && record.summary ? (record.summary as PlanSummary) : undefined;
  } catch {
    return undefined; // no record, or no plan
  }
}

export async function showPlan(runner: Runner, config: Config): Promise<PlanSummary> {
  const recorded = recordedSummary(config);
  if (recorded) {
    runner.echo(`# ${planFile(config)}: summarized when it was saved (same SHA-256), not shown again`);
    return recorded;
  }
  const json = await runner.json(sh`terraform ${chdir(config)} show -json -no-color ${planFile(config)}`, { env: terraformEnv(config) });
  const summary = summarizePlan(json);
  writeFileSync(summaryPath(config), `${JSON.stringify({ sha256: planDigest(config), summary }, null, 2)}\n`);
  return summary;
}

/** A saved plan is used once: the plan file and its summary go together. */
function removePlan(config: Config): void {
  rmSync(join(tfDir(config), planFile(config)), { force: true });
  rmSync(summaryPath(config), { force: true });
}

export async function planInfrastructure(runner: Runner, config: Config): Promise<PlanSummary | undefined> {
  const identity = await resolveIdentity(runner, config);
  const bucket = await ensureStateBucket(runner, config, identity.account);
  runner.echo(
    `# state bucket ${stateBucket(config, identity.account)}: ${bucket === 'created' ? 'created (versioned, encrypted, private)' : 'exists'}`,
  );
  prepareTfvars(runner, config);
  await terraformInit(runner, config, identity.account);
  await runner.run(sh`terraform ${chdir(config)} plan -input=false -no-color ${varFileArgs(config)} -out=${planFile(config)}`, {
    env: terraformEnv(config),
    stream: true,
    timeoutMs: 30 * 60_000,
  });
  if (runner.dryRun) return undefined;
  return showPlan(runner, config);
}

export const KEY_OUTPUTS = [
  'alb_dns_name',
  'ecr_repository_url',
  'rds_endpoint',
  'ecs_cluster_name',
  'ecs_service_name',
  'target_group_arn',
  'app_url',
];

export async function applyPlan(runner: Runner, config: Config, yes: boolean): Promise<'applied' | 'no-changes' | 'declined'> {
  const identity = await resolveIdentity(runner, config);
  const plan = join(tfDir(config), planFile(config));
  if (!runner.dryRun && !existsSync(plan)) {
    throw new ScriptFailure(
      `no saved plan at ${plan}: run \`npm run step:3\` first (step 4 applies exactly what step 3 planned)`,
      ExitCode.PREFLIGHT,
    );
  }
  if (!runner.dryRun) {
    const summary = await showPlan(runner, config);
    runner.echo(formatSummary(summary));
    if (summary.noChanges) {
      removePlan(config);
      return 'no-changes';
    }
    const destructive = summary.destroy > 0 ? ` It DESTROYS ${summary.destroy} resource(s).` : '';
    if (!(await confirm(`Apply this plan to account ${identity.account}?${destructive}`, yes))) return 'declined';
  }
  try {
    await runner.run(sh`terraform ${chdir(config)} apply -input=false -no-color ${planFile(config)}`, {
      env: terraformEnv(config),
      stream: true,
      timeoutMs: 60 * 60_000,
    });
  } catch (error) {
    if (error instanceof InterruptedError) {
      removePlan(config); // stale once part of it is applied
      error.rerun = 'npm run step:3 && npm run step:4 (plan again from what was applied)';
    }
    throw error;
  }
  if (!runner.dryRun) removePlan(config);
  return 'applied';
}

export async function printOutputs(runner: Runner, config: Config, account: string): Promise<string> {
  const outputs = await terraformOutputs(runner, config, account);
  return KEY_OUTPUTS.map((k) => `  ${k} = ${outputs.get(k)}`).join('\n');
}

/**
 * What stops a plain `terraform destroy` of this stack, and the variables that lift it (TF_VAR_, so a module
 * without them ignores them): deletion protection (ALB, RDS), a repository with images, and the ALB's access-log
 * bucket once it holds logs (its force_destroy follows alb_deletion_protection, and must reach the state first).
 */
const PROTECTED = ['aws_lb.this', 'aws_db_instance.this', 'aws_ecr_repository.app', 'aws_s3_bucket.alb_logs'];
const UNPROTECT = { TF_VAR_alb_deletion_protection: 'false', TF_VAR_db_deletion_protection: 'false', TF_VAR_ecr_force_delete: 'true' };

/**
 * Tear the stack down: plan the destroy and show it, confirm, lift deletion protection (ALB, RDS) and let ECR
 * and S3 delete a repository with images and a log bucket with logs (a targeted apply of just those), then
 * destroy. The state bucket stays.
 */
export async function destroyStack(
  runner: Runner,
  config: Config,
  account: string,
  confirmed: (summary: PlanSummary) => Promise<boolean>,
): Promise<'destroyed' | 'nothing' | 'declined'> {
  prepareTfvars(runner, config);
  await terraformInit(runner, config, account);
  const env = { ...terraformEnv(config), ...UNPROTECT };
  await runner.run(sh`terraform ${chdir(config)} plan -destroy -input=false -no-color ${varFileArgs(config)} -out=${planFile(config)}`, {
    env,
    stream: true,
    timeoutMs: 30 * 60_000,
  });
  if (!runner.dryRun) {
    const summary = await showPlan(runner, config);
    removePlan(config); // a destroy plan is never left for step 4 to apply
    runner.echo(formatSummary(summary));
    if (summary.noChanges) return 'nothing';
    if (!(await confirmed(summary))) return 'declined';
  }
  const inState = runner.dryRun
    ? PROTECTED
    : (await runner.run(sh`terraform ${chdir(config)} state list`, { env })).stdout.split('\n').filter((a) => PROTECTED.includes(a));
  if (inState.length) {
    const targets = inState.map((a) => `-target=${a}`);
    await runner.run(sh`terraform ${chdir(config)} apply -input=false -no-color -auto-approve ${varFileArgs(config)} ${targets}`, {
      env,
      stream: true,
      timeoutMs: 30 * 60_000,
    });
  }
  await runner.run(sh`terraform ${chdir(config)} destroy -input=false -no-color -auto-approve ${varFileArgs(config)}`, {
    env,
    stream: true,
    timeoutMs: 60 * 60_000,
  });
  return 'destroyed';
}
