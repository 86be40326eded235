// The app's own database user (DB_CONNECT_AS=app, the default): step 6 creates it, or sets its password, before a
// release whose tasks connect as it, whenever the service's tasks hold another password version or other grants.
// It runs as a one-off task of DB_CLIENT_IMAGE (psql) with the migration's execution role, the only one that reads
// the master's secret; psql checks the server against AWS's RDS CA bundle of the region (DB_CA_BUNDLE_URL), given
// to the task in its definition (a few certificates), so the check needs nothing in the image.
//   aws ecs register-task-definition --cli-input-json file://ecs-db-user-task-definition.json
//   aws ecs run-task --cluster C --task-definition <family>-db-user:N --launch-type FARGATE ... --started-by llmops-db-user
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from './config.js';
import { ExitCode, ScriptFailure } from './errors.js';
import { oneOffFailure, runOneOff, type OneOffResult } from './oneoff.js';
import type { Runner } from './run.js';
import { describeTaskDefinition, type ServiceState } from './ecs.js';
import { terraformOutputs } from './terraform.js';
import { renderTaskDefinition } from './taskdef.js';

export const DB_USER_TEMPLATE = resolve(import.meta.dirname, '..', 'config', 'ecs-db-user-task-definition.json');
/** The container of config/ecs-db-user-task-definition.json (its log stream is ecs/db-user/<task id>). */
export const DB_USER_CONTAINER = 'db-user';
/** The release tag that says which password version and grants the release's tasks were given. */
export const DB_USER_TAG = 'llmops:db-user';
/** Task definitions hold at most 64 KiB: a region's bundle is a few KiB; every region's (global-bundle.pem) is not. */
const MAX_CA_BYTES = 32 * 1024;

/**
 * What the task runs (its command, in its task definition): the CA bundle written to /tmp, then psql as the master
 * user, reading both names and passwords from its environment (never an argument): the role created once, its
 * password set, DML on the master's tables now and later; and the right to create tables unless a migration owns
 * the schema (MIGRATE_COMMAND). Each statement is idempotent: running it twice changes nothing.
 */
export const DB_USER_SCRIPT = [
  'set -eu',
  'if [ -n "${RDS_CA_PEM:-}" ]; then printf \'%s\\n\' "$RDS_CA_PEM" > /tmp/rds-ca.pem; export PGSSLROOTCERT=/tmp/rds-ca.pem; fi',
  'psql -X -q -v ON_ERROR_STOP=1 -v app_creates="$APP_CREATES_TABLES" <<\'SQL\'',
  '\\getenv app_user APP_DATABASE_USER',
  '\\getenv app_password APP_DATABASE_PASSWORD',
  "select format('create role %I login', :'app_user') where not exists (select 1 from pg_roles where rolname = :'app_user') \\gexec",
  'alter role :"app_user" with login password :\'app_password\';',
  'grant connect on database :"DBNAME" to :"app_user";',
  'grant usage on schema public to :"app_user";',
  // the master's tables and sequences only: one the app made itself is its own, and granting on it is refused to
  // a master that is not a superuser (RDS's never is), which "on all tables in schema public" would try
  "select format('grant select, insert, update, delete on table public.%I to %I', c.relname, :'app_user') from pg_class c where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'f') and c.relowner = current_user::regrole \\gexec",
  "select format('grant usage, select on sequence public.%I to %I', c.relname, :'app_user') from pg_class c where c.relnamespace = 'public'::regnamespace and c.relkind = 'S' and c.relowner = current_user::regrole \\gexec",
  'alter default privileges in schema public grant select, insert, update, delete on tables to :"app_user";',
  'alter default privileges in schema public grant usage, select on sequences to :"app_user";',
  '\\if :app_creates',
  'grant create on schema public to :"app_user";',
  '\\else',
  'revoke create on schema public from :"app_user";',
  '\\endif',
  'SQL',
  'echo "db-user: $APP_DATABASE_USER has its password and its grants ($([ "$APP_CREATES_TABLES" = on ] && echo "it creates its own tables" || echo "DML on the tables; the migration changes the schema"))"',
].join('\n');

/** The tag value a release carries once its user is set: the password version, and whether the app makes its own tables. */
export function dbUserMarker(config: Config, values: Record<string, string | number>): string {
  return `${String(values.DB_CREDENTIAL_VERSION)} ${config.migrate ? 'dml' : 'ddl'}`;
}

/**
 * Whether step 6 must set the user before this release: never as the master; else when the running release was not
 * given this password version and these grants (its tag differs, or there is no running release).
 */
export function dbUserNeeded(config: Config, running: { tags?: { key?: string; value?: string }[] } | undefined, marker: string): boolean {
  if (config.dbUser.connectAs === 'master') return false;
  return running?.tags?.find((t) => t.key === DB_USER_TAG)?.value !== marker;
}

/** AWS's RDS CA bundle (DB_CA_BUNDLE_URL: https, or file:/// for a bundle of your own), for the task's psql. */
export async function caBundlePem(runner: Runner, config: Config): Promise<string> {
  if (config.dbTls.mode === 'require') return '';
  const url = config.dbUser.caBundleUrl;
  runner.echo(`# the RDS CA bundle the database user's task checks the server with: ${url} (DB_CA_BUNDLE_URL)`);
  if (runner.dryRun) return '<RDS_CA_PEM>';
  let text: string;
  try {
    if (url.startsWith('file://')) text = readFileSync(fileURLToPath(url), 'utf8');
    else {
      const res = await fetch(url, { signal: AbortSignal.timeout(20_000) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      text = await res.text();
    }
  } catch (error: any) {
    throw new ScriptFailure(
      `could not read the RDS CA bundle ${url} (DB_CA_BUNDLE_URL): ${error?.cause?.code ?? error?.message ?? error}\n` +
        `  fix: check the address and this machine's connection, or set DB_CA_BUNDLE_URL to a copy (file:///path/to/bundle.pem)`,
      ExitCode.PREFLIGHT,
    );
  }
  const pem = text.trim();
  if (!/^-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----$/.test(pem))
    throw new ScriptFailure(
      `${url} (DB_CA_BUNDLE_URL) is not a PEM bundle of certificates\n  fix: point it at AWS's bundle of the region, e.g. https://truststore.pki.rds.amazonaws.com/${config.region}/${config.region}-bundle.pem`,
      ExitCode.USAGE,
    );
  if (pem.length > MAX_CA_BYTES)
    throw new ScriptFailure(
      `${url} (DB_CA_BUNDLE_URL) holds ${pem.length} bytes: more than a task definition can carry (${MAX_CA_BYTES})\n` +
        `  fix: use the bundle of the database's region, https://truststore.pki.rds.amazonaws.com/${config.region}/${config.region}-bundle.pem, not every region's`,
      ExitCode.USAGE,
    );
  return pem;
}

/** The database user's task definition: the release's values, the client image, the script and the CA bundle. */
export function dbUserTaskDefinition(config: Config, values: Record<string, string | number>, pem: string): any {
  return renderTaskDefinition(
    {
      ...values,
      DB_CLIENT_IMAGE: config.dbUser.clientImage,
      DB_USER_SCRIPT: DB_USER_SCRIPT,
      APP_CREATES_TABLES: config.migrate ? 'off' : 'on',
      RDS_CA_PEM: pem,
    },
    DB_USER_TEMPLATE,
  );
}

/** Run the registered task once; its log lines printed; a failure stops the release before the service is touched. */
export async function setDbUser(
  runner: Runner,
  config: Config,
  taskDefinitionArn: string,
  network?: ServiceState['network'],
): Promise<OneOffResult> {
  runner.echo(
    `# the app's database user: created, or its password set, with ${taskDefinitionArn.split('/').pop()}, before the service is updated`,
  );
  const result = await runOneOff(runner, config, {
    what: 'database user',
    taskDefinitionArn,
    container: DB_USER_CONTAINER,
    startedBy: 'llmops-db-user',
    timeoutSeconds: 300,
    network,
  });
  const why = runner.dryRun ? undefined : oneOffFailure(result);
  if (why)
    throw new ScriptFailure(
      `the database user's task failed: ${why} (its log lines are above; task ${result.taskArn}); the service is unchanged\n` +
        `  fix: a certificate error: DB_CA_BUNDLE_URL must be the CA bundle of the database's region; "could not connect": the tasks' security group must reach the database (npm run doctor)`,
    );
  return result;
}

/**
 * Why a rollback to `target` (a task definition as ECS describes it) could not start its tasks, or undefined: while
 * the service connects as its own user (DB_CONNECT_AS=app), its execution role does not read the master's secret,
 * so a release made before the switch, which connects as the master, fails at its first task.
 */
export function rollbackUserConflict(config: Config, target: any, masterUser: string): string | undefined {
  if (config.dbUser.connectAs !== 'app') return undefined;
  const container = (target?.containerDefinitions ?? []).find((c: any) => c.name === config.names.container);
  const user = (container?.environment ?? []).find((e: any) => e.name === 'DATABASE_USER')?.value;
  if (user !== masterUser) return undefined;
  return `revision ${target.revision} connects as the master user (DATABASE_USER=${user}), whose secret the service's execution role no longer reads (DB_CONNECT_AS=app): its tasks could not start`;
}

/** Before a rollback: refused (exit 2) when the target release connects as the master while the service may not. */
export async function checkRollbackUser(runner: Runner, config: Config, account: string, targetArn: string): Promise<void> {
  if (config.dbUser.connectAs !== 'app' || runner.dryRun) return;
  const [target, outputs] = await Promise.all([
    describeTaskDefinition(runner, config, targetArn),
    terraformOutputs(runner, config, account),
  ]);
  const conflict = rollbackUserConflict(config, target, outputs.get('db_username'));
  if (conflict)
    throw new ScriptFailure(
      `rollback refused: ${conflict}.\n  fix: roll back to a release made since (npm run rollback -- --list, then --to N), deploy a fix forward (npm run deploy), or go back to the master for good (DB_CONNECT_AS=master, then npm run step:3 && npm run step:4)`,
      ExitCode.USAGE,
    );
}
