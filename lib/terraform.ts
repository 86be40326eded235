// Terraform helpers: the state backend (S3 with native locking), init, and typed outputs.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { Config } from './config.js';
import { awsErrorText, s3Send, sdkRead } from './aws.js';
import { CommandError } from './errors.js';
import { sh, type Runner } from './run.js';

export function tfDir(config: Config): string {
  return resolve(config.terraform.dir);
}

/** `terraform ${chdir(config)} plan`: `-chdir=terraform`, pasteable from the repository root. */
export function chdir(config: Config): string {
  const rel = relative(process.cwd(), tfDir(config));
  return `-chdir=${rel.startsWith('..') ? tfDir(config) : rel || '.'}`;
}

/** One state bucket per project and account, shared by the project's environments (each has its own key). */
export function stateBucket(config: Config, account: string): string {
  return config.terraform.stateBucket ?? `${config.projectName}-tfstate-${account}`;
}

/** The state object's key: `<project>/terraform.tfstate`, `<project>-<environment>/terraform.tfstate` for an environment. */
export const stateKey = (config: Config) => `${config.project}/terraform.tfstate`;

/**
 * Terraform's working state (providers, the backend it was initialised for): `.terraform`, or
 * `.terraform-<environment>` (TF_DATA_DIR), so environments never re-initialise each other's.
 */
export function dataDir(config: Config): string {
  return join(tfDir(config), config.environment ? `.terraform-${config.environment}` : '.terraform');
}

/** The saved plan, relative to the Terraform directory: `tfplan`, or `tfplan-<environment>`. */
export const planFile = (config: Config) => (config.environment ? `tfplan-${config.environment}` : 'tfplan');

/**
 * The variables file the toolkit writes from the configuration, named with -var-file: `<project>.tfvars.json`
 * (`hanbit-staging.tfvars.json`), never a name Terraform reads by itself, so one stack's values cannot reach
 * another's. Beside your own terraform.tfvars (which Terraform reads by itself) it holds the resource names only.
 */
export const varFile = (config: Config): string => `${config.project}.tfvars.json`;

export const varFileArgs = (config: Config): string[] => [`-var-file=${varFile(config)}`];

export function backendConfig(config: Config, account: string): string[] {
  return [
    `-backend-config=bucket=${stateBucket(config, account)}`,
    `-backend-config=key=${stateKey(config)}`,
    `-backend-config=region=${config.region}`,
    '-backend-config=use_lockfile=true',
    '-backend-config=encrypt=true',
  ];
}

/**
 * Environment for terraform: the DB password (if configured) as TF_VAR_, never in argv or a file; Terraform
 * takes it as an ephemeral variable into write-only arguments, so it is in no state and no plan file either.
 */
export function terraformEnv(config: Config): Record<string, string> {
  return {
    TF_IN_AUTOMATION: '1',
    TF_INPUT: '0',
    ...(config.environment ? { TF_DATA_DIR: dataDir(config) } : {}),
    ...(config.secrets.dbPassword
      ? { TF_VAR_db_password: config.secrets.dbPassword, TF_VAR_db_password_version: String(config.dbPasswordVersion) }
      : {}),
  };
}

/** Where a configuration's state lives: the S3 object, and the endpoint that serves it (the sandbox's or AWS's). */
export interface Backend {
  bucket: string;
  key: string;
  region: string;
  endpoint: string;
}

export function backendFor(config: Config, account: string): Backend {
  return {
    bucket: stateBucket(config, account),
    key: stateKey(config),
    region: config.region,
    endpoint: process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL ?? 'aws',
  };
}

const MARKER = 'llmops-backend.json';

/**
 * The backend the working directory was last initialised for: the toolkit's record of it, else what
 * terraform recorded (no endpoint: an init from before the record, or by hand), else undefined.
 */
export function initializedBackend(config: Config): Backend | undefined {
  const dir = dataDir(config);
  try {
    return JSON.parse(readFileSync(join(dir, MARKER), 'utf8')) as Backend;
  } catch {
    /* no record */
  }
  try {
    const recorded = JSON.parse(readFileSync(join(dir, 'terraform.tfstate'), 'utf8'))?.backend?.config ?? {};
    return { bucket: recorded.bucket ?? '', key: recorded.key ?? '', region: recorded.region ?? '', endpoint: 'unknown' };
  } catch {
    return undefined;
  }
}

const sameBackend = (a: Backend, b: Backend) =>
  a.bucket === b.bucket && a.key === b.key && a.region === b.region && a.endpoint === b.endpoint;

export const describeBackend = (b: Backend) =>
  `s3://${b.bucket}/${b.key} (${b.region}${b.endpoint === 'aws' ? '' : `, endpoint ${b.endpoint}`})`;

/** True when terraform/ must be (re-)initialised before it reads this configuration's state. */
export function needsInit(config: Config, account: string): boolean {
  const have = initializedBackend(config);
  return !have || !sameBackend(have, backendFor(config, account));
}

/**
 * `terraform init` for this configuration's backend. When the working directory was initialised for
 * another one (the sandbox, another region, project or account), it says so and re-initialises with
 * -reconfigure: the other state stays where it is, nothing is copied or migrated, and no plan reads it.
 */
export async function terraformInit(runner: Runner, config: Config, account: string): Promise<void> {
  const want = backendFor(config, account);
  const have = initializedBackend(config);
  const moved = !!have && !sameBackend(have, want);
  if (moved) {
    runner.echo(
      `# ${relative(process.cwd(), tfDir(config)) || '.'} was initialised for ${describeBackend(have!)}; this run uses ${describeBackend(want)}: re-initialising with -reconfigure (the other state stays where it is; nothing is migrated)`,
    );
  }
  const init = (reconfigure: boolean) =>
    runner.run(
      sh`terraform ${chdir(config)} init -input=false -no-color ${reconfigure ? ['-reconfigure'] : []} ${backendConfig(config, account)}`,
      {
        env: terraformEnv(config),
        timeoutMs: 10 * 60_000,
        retries: 1,
      },
    );
  try {
    await init(moved);
  } catch (error) {
    // same state location, other backend settings (e.g. the sandbox's path-style flags): nothing to migrate
    if (moved || !(error instanceof CommandError) || !/Backend configuration changed/.test(error.result?.stderr ?? error.message))
      throw error;
    runner.echo('# the backend settings changed but the state location did not: re-initialising with -reconfigure');
    await init(true);
  }
  if (!runner.dryRun) writeFileSync(join(dataDir(config), MARKER), `${JSON.stringify(want, null, 2)}\n`);
}

export type Outputs = Record<string, any> & { get(name: string): string };

/**
 * Where the stack publishes its outputs beside its state: `<project>/outputs.json`, written by Terraform itself on
 * every apply (terraform/outputs.tf, aws_s3_object.outputs). Deploys read this object, never the state, which
 * holds every attribute of every resource (the deploy role may read this key only: ReadTheDeployOutputs).
 */
export const outputsKey = (config: Config) => `${config.project}/outputs.json`;

/** A release's record beside the state: its outcome and timeline (the deploy role may write under releases/ only). */
export const releaseKey = (config: Config, revision: number) => `${config.project}/releases/${config.names.family}-${revision}.json`;

const missing = (error: any) => error?.name === 'NoSuchKey' || error?.name === 'NotFound' || error?.$metadata?.httpStatusCode === 404;

/**
 * A JSON object the stack keeps beside its state (`aws s3 cp s3://… -`, through the SDK): undefined when it is not
 * there, {} in a dry run; any other failure names the object and `fix`.
 */
export async function readStateObject<T = Record<string, unknown>>(
  runner: Runner,
  config: Config,
  account: string,
  key: string,
  what: string,
  fix: string,
): Promise<T | undefined> {
  const bucket = stateBucket(config, account);
  const url = `s3://${bucket}/${key}`;
  try {
    const text = await sdkRead(runner, ['s3', 'cp', url, '-', '--region', config.region], async () => {
      const get = (s3: typeof import('@aws-sdk/client-s3')) => new s3.GetObjectCommand({ Bucket: bucket, Key: key });
      return (await s3Send(config, get, async (o: any) => (await o.Body?.transformToString()) ?? '')).out;
    });
    return text === undefined ? ({} as T) : (JSON.parse(text) as T);
  } catch (error: any) {
    if (missing(error)) return undefined;
    throw new Error(
      `cannot read ${what} ${url}: ${error instanceof SyntaxError ? `not JSON: ${error.message}` : awsErrorText(error)}\n  fix: ${fix}`,
    );
  }
}

/** The published outputs, or undefined when the stack has not published them (applied by an older version). */
function publishedOutputs(runner: Runner, config: Config, account: string): Promise<Record<string, unknown> | undefined> {
  return readStateObject(
    runner,
    config,
    account,
    outputsKey(config),
    "the stack's outputs",
    'the deploy role reads this object only (statement ReadTheDeployOutputs of config/iam-deploy-policy.json); apply terraform/ once more if the role predates it',
  );
}

/**
 * The stack's outputs: the object its last apply published (`aws s3 cp`), else, for a stack applied before
 * Terraform published them, `terraform output -json` (which reads the state); in dry-run every output is its
 * guide-style placeholder.
 */
export async function terraformOutputs(runner: Runner, config: Config, account: string): Promise<Outputs> {
  let values: Record<string, any> = (await publishedOutputs(runner, config, account)) ?? {};
  if (!runner.dryRun && !Object.keys(values).length) {
    runner.echo(`# ${outputsKey(config)} is not there yet (the stack was applied before Terraform published it): terraform output`);
    if (needsInit(config, account)) await terraformInit(runner, config, account);
    const raw = await runner.json<Record<string, { value: unknown }>>(sh`terraform ${chdir(config)} output -json -no-color`, {
      env: terraformEnv(config),
    });
    values = Object.fromEntries(Object.entries(raw ?? {}).map(([k, v]) => [k, v.value]));
  }
  return Object.assign(values, {
    get(name: string): string {
      if (runner.dryRun) return `<${name.toUpperCase()}>`;
      const v = values[name];
      if (v === undefined || v === null) {
        throw new Error(`terraform output ${name} is missing: run \`npm run step:3\` and \`npm run step:4\` (terraform apply) first`);
      }
      return typeof v === 'string' ? v : JSON.stringify(v);
    },
  });
}
