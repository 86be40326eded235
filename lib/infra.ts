// The Terraform stack: tfvars from the config, a saved plan's summary (kept beside it), and the outputs step 4
// prints.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from './config.js';
import { cpuArchitecture } from './image.js';
import { sh, type Runner } from './run.js';
import { chdir, planFile, terraformEnv, tfDir, varFile } from './terraform.js';
import { ConfigError, type ConfigProblem, ExitCode, ScriptFailure } from './errors.js';

/**
 * The resource names, owned here (lib/config.ts derives them from PROJECT_NAME and ENVIRONMENT): Terraform takes
 * them as required variables and derives none of its own, so the scripts and the stack cannot disagree. Each with
 * the .env setting that changes it.
 */
export const NAME_VARIABLES: Record<string, [keyof Config['names'], string]> = {
  ecr_repository_name: ['repository', 'ECR_REPOSITORY'],
  ecs_cluster_name: ['cluster', 'ECS_CLUSTER'],
  ecs_service_name: ['service', 'ECS_SERVICE'],
  task_family: ['family', 'TASK_FAMILY'],
  container_name: ['container', 'CONTAINER_NAME'],
  log_group_name: ['logGroup', 'LOG_GROUP'],
  db_identifier: ['dbInstance', 'DB_INSTANCE_ID'],
  target_group_name: ['targetGroup', 'TARGET_GROUP_NAME'],
  sns_topic_name: ['topic', 'SNS_TOPIC_NAME'],
  dashboard_name: ['dashboard', 'DASHBOARD_NAME'],
  cpu_alarm_name: ['cpuAlarm', 'CPU_ALARM_NAME'],
  scaling_policy_name: ['scalingPolicy', 'SCALING_POLICY_NAME'],
  app_secret_name: ['appSecret', 'APP_SECRET_NAME'],
  db_secret_name: ['dbSecret', 'DB_SECRET_NAME'],
  db_app_secret_name: ['dbAppSecret', 'DB_APP_SECRET_NAME'],
};

/** The names as Terraform variables. */
export function tfNames(config: Config): Record<string, string> {
  return Object.fromEntries(Object.entries(NAME_VARIABLES).map(([variable, [key]]) => [variable, config.names[key]]));
}

/** The Terraform variables the config decides (the rest keep their defaults or come from TF_VAR_*). */
export function tfvarsFromConfig(config: Config): Record<string, string | number | boolean> {
  const vars: Record<string, string | number | boolean | undefined> = {
    aws_region: config.region,
    project_name: config.projectName,
    environment: config.environment,
    ...tfNames(config),
    container_port: config.app.port,
    task_cpu: config.app.cpu,
    task_memory: config.app.memory,
    cpu_architecture: cpuArchitecture(config.app.platform),
    health_check_path: config.app.healthPath,
    alarm_email: config.alarmEmail,
    secrets_kms_key_arn: config.secretsKmsKeyArn,
    domain_name: config.domain?.name,
    hosted_zone_id: config.domain?.hostedZoneId,
    acm_certificate_arn: config.domain?.certificateArn,
    allow_plain_http: config.allowPlainHttp || undefined,
    // the app connects as its own user, and only the migration's role reads the master's secret (unless master)
    db_connect_as: config.dbUser.connectAs,
    state_bucket_name: config.terraform.stateBucket,
    db_ssl_mode: config.dbTls.mode,
    db_ca_bundle: config.dbTls.caBundle,
    deployment_strategy: config.strategy.kind,
  };
  return Object.fromEntries(Object.entries(vars).filter(([, v]) => v !== undefined)) as Record<string, string | number | boolean>;
}

const PLACEHOLDERS = /<[A-Z_]+>|your-secure-password|change-me|YOUR_|example-password/;

/** Files Terraform reads by itself in every run of the directory, whatever the stack or environment. */
const AUTO_LOADED = (f: string) => f === 'terraform.tfvars' || /\.auto\.tfvars(\.json)?$/.test(f);

/**
 * What in Terraform's inputs would make step 3 refuse, found without writing or running anything, so a script
 * refuses before its first command (dry-run included): a file Terraform loads by itself in an environment's
 * run, your own terraform.tfvars with a placeholder left or a name the scripts derive, and no certificate
 * without the plain-HTTP opt-in. Each problem names the file or setting and the fix; a file's values are
 * never shown.
 */
export function tfvarsProblems(config: Config): ConfigProblem[] {
  const dir = tfDir(config);
  if (!existsSync(dir)) return []; // TF_DIR's own check names it
  if (config.environment) {
    const shared = readdirSync(dir).filter(AUTO_LOADED);
    if (shared.length)
      return [
        {
          variable: shared.map((f) => join(dir, f)).join(', '),
          message:
            `Terraform reads ${shared.length === 1 ? 'it' : 'them'} in every run of ${dir}, so ${shared.length === 1 ? 'its' : 'their'} values would reach the ${config.environment} environment too
` +
            `    fix: put settings in .env (every environment) or .env.${config.environment} (this one), and delete ${shared.join(', ')} (the toolkit writes ${config.project}.tfvars.json from them)`,
        },
      ];
  }
  const own = join(dir, 'terraform.tfvars');
  if (existsSync(own)) {
    const text = readFileSync(own, 'utf8');
    const bad = text
      .split('\n')
      .map((l, i) => [i + 1, l] as const)
      .filter(([, l]) => !l.trim().startsWith('#') && PLACEHOLDERS.test(l));
    const problems: ConfigProblem[] = bad.map(([i, l]) => ({
      variable: `${own} line ${i}`,
      message: `${l.replace(/=.*/, '').trim() || 'the line'} still holds a placeholder value\n    fix: edit it (guide step 3), or delete the file to use the values from .env`,
    }));
    const names = Object.keys(NAME_VARIABLES).filter((v) => new RegExp(`^\\s*${v}\\s*=`, 'm').test(text));
    if (names.length)
      problems.push({
        variable: own,
        message:
          `sets ${names.join(', ')}: the resource names come from .env, so the scripts and Terraform agree\n` +
          `    fix: move ${names.length === 1 ? 'it' : 'them'} to .env as ${names.map((v) => `${NAME_VARIABLES[v]![1]}=…`).join(', ')} and delete ${names.length === 1 ? 'the line' : 'the lines'} from ${own}`,
      });
    return problems;
  }
  if (!config.domain && !config.allowPlainHttp)
    return [
      {
        variable: 'DOMAIN_NAME',
        message:
          'not set, and no certificate: the app would be served over plain HTTP\n' +
          '    fix: set DOMAIN_NAME and HOSTED_ZONE_ID in .env (a certificate is requested and validated through Route 53; add ACM_CERTIFICATE_ARN to use one you have),\n' +
          '         or accept plain HTTP with ALLOW_PLAIN_HTTP=true (the sandbox does; anyone on the path can read and change the traffic)',
      },
    ];
  return [];
}

/**
 * Write `<project>.tfvars.json` (named with -var-file) from the config; beside your own terraform.tfvars it holds
 * the names only (your file decides the rest, and may not set a name: the scripts would not know it).
 * An environment's runs refuse a file Terraform would load by itself: its values would reach every
 * environment. A terraform.tfvars.json written by an earlier version of the toolkit is removed for the same
 * reason (Terraform reads it by itself too).
 */
export function prepareTfvars(runner: Runner, config: Config): string {
  const problems = tfvarsProblems(config);
  if (problems.length) throw new ConfigError(problems, 'the configuration');
  const dir = tfDir(config);
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
    if (/^\s*db_password\s*=/m.test(readFileSync(own, 'utf8')))
      runner.echo(
        `# note: ${own} holds db_password in clear text; DB_PASSWORD in .env (passed as TF_VAR_db_password) or no password at all (RDS-managed) is safer`,
      );
    runner.echo(`# using your ${own}, with the names from .env`);
    return writeVarFile(runner, config, tfNames(config));
  }
  return writeVarFile(runner, config, tfvarsFromConfig(config));
}

/** `<project>.tfvars.json`, written when its content changed. */
function writeVarFile(runner: Runner, config: Config, vars: Record<string, string | number | boolean>): string {
  const file = join(tfDir(config), varFile(config));
  const content = `${JSON.stringify(vars, null, 2)}\n`;
  if (runner.dryRun) runner.echo(`[dry-run] # write ${file} from the configuration`);
  else if (!existsSync(file) || readFileSync(file, 'utf8') !== content) {
    writeFileSync(file, content);
    runner.echo(`# wrote ${file} from the configuration`);
  }
  return file;
}

export interface PlanSummary {
  add: number;
  change: number;
  destroy: number;
  /** The resources by address: created, updated in place, replaced, destroyed. */
  added: string[];
  changed: string[];
  replace: string[];
  destroyed: string[];
  noChanges: boolean;
}

export function summarizePlan(planJson: any): PlanSummary {
  const s: PlanSummary = { add: 0, change: 0, destroy: 0, added: [], changed: [], replace: [], destroyed: [], noChanges: true };
  for (const rc of planJson?.resource_changes ?? []) {
    const actions: string[] = rc.change?.actions ?? [];
    if (actions.includes('create') && actions.includes('delete')) {
      s.add++;
      s.destroy++;
      s.replace.push(rc.address);
    } else if (actions.includes('create')) {
      s.add++;
      s.added.push(rc.address);
    } else if (actions.includes('update')) {
      s.change++;
      s.changed.push(rc.address);
    } else if (actions.includes('delete')) {
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
export function removePlan(config: Config): void {
  rmSync(join(tfDir(config), planFile(config)), { force: true });
  rmSync(summaryPath(config), { force: true });
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
