// Security 1 — create or update the secrets llmops/db/password and llmops/app/env (names from DB_SECRET_NAME /
// APP_SECRET_NAME). A second run updates (or leaves unchanged values alone) instead of failing with
// ResourceExistsException. Values go through a 0600 file, never argv, and are masked everywhere.
// Needs:    DB_PASSWORD, --db-password-file or the prompt; --app-env-file (JSON object)
// Produces: the two secrets in Secrets Manager
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

export type SecretResult = 'created' | 'updated' | 'unchanged';

/** create-secret the first time, put-secret-value afterwards; the value goes through a 0600 file. */
export async function upsertSecret(runner: Runner, config: Config, name: string, value: string): Promise<SecretResult> {
  runner.addSecret(value);
  const region = ['--region', config.region];
  // The new value is registered as a secret, so an equal current value comes back masked as ***;
  // a different one comes back as it is (never printed) and is registered for masking right after.
  const current = await runner.run(
    sh`aws secretsmanager get-secret-value --secret-id ${name} --query SecretString --output text ${region}`,
    { nothrow: true },
  );
  if (current.ok) runner.addSecret(current.stdout.replace(/\n$/, ''));
  if (current.dryRun) {
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
    await runner.withSecretFile(value, (file) =>
      runner.run(
        sh`aws secretsmanager put-secret-value --secret-id ${name} --secret-string file://${file} ${region} --query VersionId --output text`,
      ),
    );
    return 'updated';
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
    await resolveIdentity(runner, config);
    const results: SecretResult[] = [];
    if (password) {
      results.push(await upsertSecret(runner, config, config.names.dbSecret, password));
      process.stdout.write(`${config.names.dbSecret}: ${results.at(-1)}\n`);
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
