// Terraform helpers: the state backend (S3 with native locking), init, and typed outputs.
import { existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { Config } from './config.js';
import { sh, type Runner } from './run.js';

export function tfDir(config: Config): string {
  return resolve(config.terraform.dir);
}

/** `terraform ${chdir(config)} plan`: `-chdir=terraform`, pasteable from the repository root. */
export function chdir(config: Config): string {
  const rel = relative(process.cwd(), tfDir(config));
  return `-chdir=${rel.startsWith('..') ? tfDir(config) : rel || '.'}`;
}

export function stateBucket(config: Config, account: string): string {
  return config.terraform.stateBucket ?? `${config.project}-tfstate-${account}`;
}

export function backendConfig(config: Config, account: string): string[] {
  return [
    `-backend-config=bucket=${stateBucket(config, account)}`,
    `-backend-config=key=${config.project}/terraform.tfstate`,
    `-backend-config=region=${config.region}`,
    '-backend-config=use_lockfile=true',
    '-backend-config=encrypt=true',
  ];
}

/** Environment for terraform: the DB password (if configured) as TF_VAR_, never in argv or a file. */
export function terraformEnv(config: Config): Record<string, string> {
  return {
    TF_IN_AUTOMATION: '1',
    TF_INPUT: '0',
    ...(config.secrets.dbPassword ? { TF_VAR_db_password: config.secrets.dbPassword } : {}),
  };
}

export async function terraformInit(runner: Runner, config: Config, account: string): Promise<void> {
  await runner.run(sh`terraform ${chdir(config)} init -input=false -no-color ${backendConfig(config, account)}`, {
    env: terraformEnv(config),
    timeoutMs: 10 * 60_000,
    retries: 1,
  });
}

export function isInitialized(config: Config): boolean {
  return existsSync(join(tfDir(config), '.terraform'));
}

export type Outputs = Record<string, any> & { get(name: string): string };

/** `terraform output -json`, flattened; in dry-run every output is its guide-style placeholder. */
export async function terraformOutputs(runner: Runner, config: Config, account: string): Promise<Outputs> {
  let values: Record<string, any> = {};
  if (!runner.dryRun) {
    if (!isInitialized(config)) await terraformInit(runner, config, account);
    const raw = await runner.json<Record<string, { value: unknown }>>(sh`terraform ${chdir(config)} output -json -no-color`, { env: terraformEnv(config) });
    values = Object.fromEntries(Object.entries(raw ?? {}).map(([k, v]) => [k, v.value]));
  } else {
    runner.echoCommand('terraform', [chdir(config), 'output', '-json']);
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
