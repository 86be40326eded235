// Security 1 — create or update the secrets llmops/app/env and llmops/db/password (names from APP_SECRET_NAME /
// DB_SECRET_NAME). A second run updates (or leaves unchanged values alone) instead of failing with
// ResourceExistsException. Values go through a 0600 file, never argv, and are masked everywhere. A DB password
// is written as Terraform keeps it: on the database and in its secret as JSON (the task definition reads
// `:password::`); refused where RDS manages it or before the stack exists (Terraform's input then).
// Needs:    DB_PASSWORD, --db-password-file or the prompt; --app-env-file (JSON object); the stack (step 4) for a DB password
// Produces: the secrets in Secrets Manager; a new master password on the database
// Next:     npm run deploy
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { resolveIdentity } from '../lib/aws.js';
import { isMain, main, readableFile, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import { parseJson } from '../lib/template.js';
import type { Config } from '../lib/config.js';
import { sh, type Runner } from '../lib/run.js';
import { ExitCode, ScriptFailure, UsageError } from '../lib/errors.js';
import { hintFor } from '../lib/hints.js';
import { terraformOutputs } from '../lib/terraform.js';

export type SecretResult = 'created' | 'updated' | 'unchanged';

/**
 * create-secret the first time, put-secret-value afterwards; the value goes through a 0600 file. `beforeWrite`
 * runs only when the value changes, before it is stored (the database's password is set before its secret).
 */
export async function upsertSecret(
  runner: Runner,
  config: Config,
  name: string,
  value: string,
  beforeWrite?: () => Promise<unknown>,
): Promise<SecretResult> {
  runner.addSecret(value);
  const region = ['--region', config.region];
  // The new value is registered as a secret, so an equal current value comes back masked as ***;
  // a different one comes back as it is (never printed) and is registered for masking right after.
  const current = await runner.run(
    sh`aws secretsmanager get-secret-value --secret-id ${name} --query SecretString --output text ${region}`,
    { nothrow: true },
  );
  if (current.ok) runner.addSecret(current.stdout.replace(/\n$/, ''));
  const update = async (): Promise<SecretResult> => {
    await beforeWrite?.();
    await runner.withSecretFile(value, (file) =>
      runner.run(
        sh`aws secretsmanager put-secret-value --secret-id ${name} --secret-string file://${file} ${region} --query VersionId --output text`,
      ),
    );
    return 'updated';
  };
  if (current.dryRun) {
    // a secret with something to do first is one Terraform made (the database's): it exists, it is updated
    if (beforeWrite) return update();
    await runner.withSecretFile(value, (file) =>
      runner.run(sh`aws secretsmanager create-secret --name ${name} --secret-string file://${file} ${region}`),
    );
    return 'created';
  }
  if (current.ok) {
    if (current.stdout.replace(/\n$/, '') === '***' || current.stdout.replace(/\n$/, '') === value) {
      runner.echo(`# ${name} already holds this value: unchanged`);
      return 'unchanged';
    }
    return update();
  }
  if (!/ResourceNotFoundException/.test(current.stderr)) {
    // AccessDenied, throttling, an unreachable endpoint: a failure of the call (exit 1), not of the input (exit 2)
    const hint = hintFor(current.stderr);
    throw new ScriptFailure(
      `cannot read ${name}: ${current.stderr.trim().split('\n').pop()}${hint ? `\n  fix: ${hint}` : ''}`,
      ExitCode.FAILED,
    );
  }
  await runner.withSecretFile(value, (file) =>
    runner.run(sh`aws secretsmanager create-secret --name ${name} --secret-string file://${file} ${region} --query ARN --output text`),
  );
  return 'created';
}

/**
 * A new master password, as Terraform keeps it: set on the database first (`modify-db-instance`, the password in
 * a 0600 file, never an argument), then stored in the secret the task definition reads as `:password::`, the JSON
 * Terraform writes (`{"password", "username"}`). Refused where Terraform or RDS own it: before the stack exists
 * (DB_PASSWORD is Terraform's input at step 3) and where RDS manages the password (its `rds!` secret).
 */
export async function setDatabasePassword(runner: Runner, config: Config, account: string, password: string): Promise<SecretResult> {
  const outputs = await terraformOutputs(runner, config, account).catch(() => undefined);
  const secretArn = outputs?.db_password_secret_arn as string | undefined;
  if (!runner.dryRun && !secretArn)
    throw new UsageError(
      `no database of ${config.names.dbInstance} yet (the stack's outputs name no DB secret): DB_PASSWORD is Terraform's input: npm run step:3 && npm run step:4 sets it on the database and stores it in ${config.names.dbSecret}`,
    );
  if (secretArn?.includes(':secret:rds!'))
    throw new UsageError(
      `RDS manages the master password of ${config.names.dbInstance} (in ${secretArn}): it sets the database and that secret together, so none is given here.\n` +
        `  rotate it: aws secretsmanager rotate-secret --secret-id ${secretArn} --region ${config.region}, then restart the tasks: aws ecs update-service --cluster ${config.names.cluster} --service ${config.names.service} --force-new-deployment\n` +
        `  or choose it yourself: DB_PASSWORD and DB_PASSWORD_VERSION=1 in .env, then npm run step:3 && npm run step:4 (Terraform switches the database to it)`,
    );
  const target = runner.dryRun ? config.names.dbSecret : secretArn!;
  const username = runner.dryRun ? '<DB_USERNAME>' : outputs!.get('db_username');
  const setOnTheDatabase = () =>
    runner.withSecretFile(
      JSON.stringify({ DBInstanceIdentifier: config.names.dbInstance, MasterUserPassword: password, ApplyImmediately: true }),
      (file) =>
        runner.run(
          sh`aws rds modify-db-instance --cli-input-json file://${file} --region ${config.region} --query DBInstance.DBInstanceStatus --output text`,
        ),
    );
  return upsertSecret(runner, config, target, JSON.stringify({ password, username }), setOnTheDatabase);
}

export function readAppEnv(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error: any) {
    throw new UsageError(`--app-env-file ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`);
  }
  const parsed = parseJson(text, `--app-env-file ${file}`, 'write a JSON object such as {"OPENAI_API_KEY": "…"}');
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new UsageError(`--app-env-file ${file} must hold a JSON object of NAME: "value" pairs`);
  const bad = Object.entries(parsed as Record<string, unknown>)
    .filter(([k, v]) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) || typeof v !== 'string')
    .map(([k]) => k);
  if (bad.length)
    throw new UsageError(
      `--app-env-file ${file}: every key must be an environment variable name with a string value (check: ${bad.join(', ')})`,
    );
  return JSON.stringify(parsed);
}

async function promptHidden(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  const output = (rl as any).output;
  (rl as any)._writeToOutput = (s: string) => output.write(s.includes(question) ? s : '');
  return new Promise((resolve) =>
    rl.question(question, (a) => {
      rl.close();
      process.stderr.write('\n');
      resolve(a);
    }),
  );
}

export async function dbPassword(config: Config, options: Record<string, any>, yes: boolean): Promise<string | undefined> {
  if (options['db-password-file']) {
    try {
      return readFileSync(options['db-password-file'], 'utf8').replace(/\r?\n$/, '');
    } catch (error: any) {
      throw new UsageError(
        `--db-password-file ${options['db-password-file']}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`,
      );
    }
  }
  if (config.secrets.dbPassword) return config.secrets.dbPassword;
  if (!yes) return (await promptHidden(`Password for ${config.names.dbSecret} (empty: skip): `)) || undefined;
  return undefined;
}

export function checkPassword(value: string): void {
  if (!/^[\x21-\x7e]{8,128}$/.test(value) || /[/@"]/.test(value)) {
    throw new UsageError('the DB password must be 8-128 printable characters without / @ " (RDS rejects them)');
  }
}

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'secrets',
  options: {
    'db-password-file': {
      type: 'string',
      placeholder: 'file',
      description: 'file holding the DB password (else DB_PASSWORD, else a hidden prompt on a TTY)',
      parse: readableFile,
    },
    'app-env-file': {
      type: 'string',
      placeholder: 'file',
      description: "JSON object of the app's secret environment (the guide's env-secrets.json)",
      parse: readableFile,
    },
  },
  async main({ runner, config, options, yes }: ScriptContext) {
    const appEnv = options['app-env-file'] ? readAppEnv(options['app-env-file']) : undefined;
    const password = await dbPassword(config, options, yes);
    if (password) checkPassword(password);
    if (!appEnv && !password) throw new UsageError('nothing to store: give DB_PASSWORD / --db-password-file and/or --app-env-file');
    const identity = await resolveIdentity(runner, config);
    const results: SecretResult[] = [];
    if (password) {
      results.push(await setDatabasePassword(runner, config, identity.account, password));
      process.stdout.write(`${config.names.dbSecret}: ${results.at(-1)}${results.at(-1) === 'updated' ? ' (and the database)' : ''}\n`);
    }
    if (appEnv) {
      results.push(await upsertSecret(runner, config, config.names.appSecret, appEnv));
      process.stdout.write(`${config.names.appSecret}: ${results.at(-1)}\n`);
    }
    // tasks read their secrets when they start: a running service keeps the old values until it restarts
    if (results.includes('updated'))
      process.stdout.write(
        `note: running tasks keep the values they started with: restart them with \`aws ecs update-service --cluster ${config.names.cluster} --service ${config.names.service} --force-new-deployment\` (npm run doctor reports it until then)\n`,
      );
  },
};

if (isMain(import.meta.url)) await main(spec);
