// The app's own database user (lib/dbuser.ts): when step 6 sets it, the CA bundle its task checks the server with,
// and the task definition it runs. Step 6's use of it (order, failure, the master) is in taskdef.test.ts; the
// SQL against a real PostgreSQL, through the sandbox's ECS, in e2e-sandbox.test.ts.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../lib/config.js';
import { caBundlePem, DB_USER_SCRIPT, DB_USER_TAG, dbUserMarker, dbUserNeeded, dbUserTaskDefinition } from '../lib/dbuser.js';
import { ExitCode, ScriptFailure } from '../lib/errors.js';
import { Runner } from '../lib/run.js';

const config = (env: Record<string, string> = {}) => loadConfig({ env, envFile: '' });
const PEM = '-----BEGIN CERTIFICATE-----\nMIIBroot\n-----END CERTIFICATE-----';
const file = (text: string) => {
  const path = join(mkdtempSync(join(tmpdir(), 'dbuser-')), 'bundle.pem');
  writeFileSync(path, text);
  return `file://${path}`;
};
const quiet = (lines: string[] = [], dryRun = false) => new Runner({ echo: (l) => lines.push(l), dryRun });

test('the marker: the password version, and whether the app makes its own tables (dml with a migration, ddl without)', () => {
  assert.is(dbUserMarker(config(), { DB_CREDENTIAL_VERSION: 'v1' }), 'v1 ddl');
  assert.is(dbUserMarker(config({ LLMOPS_MIGRATE_COMMAND: '/bin/migrate' }), { DB_CREDENTIAL_VERSION: 'v1' }), 'v1 dml');
});

test('needed: no running release, one without the tag or with another version or grants; not when they match; never as the master', () => {
  const tagged = (value: string) => ({
    tags: [
      { key: 'llmops:git-sha', value: 'x' },
      { key: DB_USER_TAG, value },
    ],
  });
  assert.ok(dbUserNeeded(config(), undefined, 'v2 ddl'));
  assert.ok(dbUserNeeded(config(), { tags: [] }, 'v2 ddl'));
  assert.ok(dbUserNeeded(config(), tagged('v1 ddl'), 'v2 ddl'), 'a new password version');
  assert.ok(dbUserNeeded(config(), tagged('v2 ddl'), 'v2 dml'), 'MIGRATE_COMMAND set: the grants change');
  assert.not.ok(dbUserNeeded(config(), tagged('v2 ddl'), 'v2 ddl'));
  assert.not.ok(dbUserNeeded(config({ LLMOPS_DB_CONNECT_AS: 'master' }), undefined, 'v2 ddl'));
});

test("the CA bundle: AWS's of the region by default; a file of your own; none with DB_SSL_MODE=require; a dry run reads nothing", async () => {
  assert.is(config().dbUser.caBundleUrl, 'https://truststore.pki.rds.amazonaws.com/us-east-1/us-east-1-bundle.pem');
  assert.is(
    config({ LLMOPS_AWS_REGION: 'ap-northeast-2' }).dbUser.caBundleUrl,
    'https://truststore.pki.rds.amazonaws.com/ap-northeast-2/ap-northeast-2-bundle.pem',
  );
  const lines: string[] = [];
  const url = file(`${PEM}\n${PEM}\n`);
  assert.is(await caBundlePem(quiet(lines), config({ LLMOPS_DB_CA_BUNDLE_URL: url })), `${PEM}\n${PEM}`);
  assert.equal(lines, [`# the RDS CA bundle the database user's task checks the server with: ${url} (DB_CA_BUNDLE_URL)`]);
  assert.is(await caBundlePem(quiet(), config({ LLMOPS_DB_SSL_MODE: 'require', LLMOPS_DB_CA_BUNDLE_URL: 'file:///nonexistent.pem' })), '');
  assert.is(await caBundlePem(quiet([], true), config({ LLMOPS_DB_CA_BUNDLE_URL: 'file:///nonexistent.pem' })), '<RDS_CA_PEM>');
});

test("a CA bundle that cannot be read, is no PEM, or is every region's is refused naming DB_CA_BUNDLE_URL and the fix", async () => {
  const refused = async (url: string) => {
    const e = await caBundlePem(quiet(), config({ LLMOPS_DB_CA_BUNDLE_URL: url })).catch((x) => x);
    assert.instance(e, ScriptFailure);
    return e as ScriptFailure;
  };
  const missing = await refused('file:///nonexistent/bundle.pem');
  assert.is(missing.exitCode, ExitCode.PREFLIGHT);
  assert.match(missing.message, 'could not read the RDS CA bundle file:///nonexistent/bundle.pem (DB_CA_BUNDLE_URL): ENOENT');
  assert.match(missing.message, 'fix: check the address');
  const html = await refused(file('<html>not found</html>'));
  assert.is(html.exitCode, ExitCode.USAGE);
  assert.match(html.message, 'is not a PEM bundle of certificates');
  const global = await refused(file(Array.from({ length: 1000 }, () => PEM).join('\n')));
  assert.match(global.message, /holds \d+ bytes: more than a task definition can carry \(32768\)/);
  assert.match(global.message, 'https://truststore.pki.rds.amazonaws.com/us-east-1/us-east-1-bundle.pem');
  // a setting that is neither https nor a file is refused when .env is read
  assert.throws(
    () => config({ LLMOPS_DB_CA_BUNDLE_URL: 'http://example.com/b.pem' }),
    /DB_CA_BUNDLE_URL=.*expected the https:\/\/ address/,
  );
});

test("the task definition: psql as the master with both secrets by reference, the migration's role, read-only, the CA in its environment", () => {
  const values = {
    TASK_FAMILY: 'llmops-task',
    CPU_ARCHITECTURE: 'X86_64',
    MIGRATION_EXECUTION_ROLE_ARN: 'arn:aws:iam::123456789012:role/llmops/llmops-ecs-migrate-execution',
    DB_HOST: 'db.example',
    DB_PORT: 5432,
    DB_NAME: 'llmops',
    DB_MASTER_USER: 'llmops',
    DB_MASTER_SECRET_ARN: 'arn:master',
    DB_APP_USER: 'llmops_app',
    DB_APP_SECRET_ARN: 'arn:app',
    DB_SSL_MODE: 'verify-full',
    LOG_GROUP: '/ecs/llmops-task',
    AWS_REGION: 'us-east-1',
  };
  const td = dbUserTaskDefinition(config({ LLMOPS_DB_CLIENT_IMAGE: 'registry.example/psql:15' }), values, PEM);
  assert.is(td.family, 'llmops-task-db-user');
  assert.is(td.executionRoleArn, values.MIGRATION_EXECUTION_ROLE_ARN);
  assert.is(td.taskRoleArn, undefined, 'the task itself may call nothing in AWS');
  const c = td.containerDefinitions[0];
  assert.is(c.image, 'registry.example/psql:15');
  const env = Object.fromEntries(c.environment.map((e: any) => [e.name, e.value]));
  assert.equal(env, {
    PGHOST: 'db.example',
    PGPORT: '5432',
    PGDATABASE: 'llmops',
    PGUSER: 'llmops',
    PGSSLMODE: 'verify-full',
    PGCONNECT_TIMEOUT: '15',
    APP_DATABASE_USER: 'llmops_app',
    APP_CREATES_TABLES: 'on',
    RDS_CA_PEM: PEM,
  });
  assert.equal(c.secrets, [
    { name: 'PGPASSWORD', valueFrom: 'arn:master:password::' },
    { name: 'APP_DATABASE_PASSWORD', valueFrom: 'arn:app:password::' },
  ]);
  assert.equal(c.command, [DB_USER_SCRIPT]);
  assert.is(c.logConfiguration.options['awslogs-stream-prefix'], 'ecs');
  // the script: the CA written before psql runs; passwords only from the environment; stops on the first error
  assert.ok(DB_USER_SCRIPT.indexOf('/tmp/rds-ca.pem') < DB_USER_SCRIPT.indexOf('psql '));
  assert.match(DB_USER_SCRIPT, '\\getenv app_password APP_DATABASE_PASSWORD');
  assert.match(DB_USER_SCRIPT, 'ON_ERROR_STOP=1');
  assert.match(DB_USER_SCRIPT, /^set -eu/);
  assert.not.match(DB_USER_SCRIPT, /superuser|createrole|createdb/i, 'no attribute only a superuser may change (RDS has none)');
});

test.run();
