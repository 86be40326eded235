// The app's own database user (lib/dbuser.ts): when step 6 sets it, the CA bundle its task checks the server with,
// and the task definition it runs. Step 6's use of it (order, failure, the master) is in taskdef.test.ts; the
// SQL against a real PostgreSQL, through the sandbox's ECS, in e2e-sandbox.test.ts.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../lib/config.js';
import {
  caBundlePem,
  DB_USER_SCRIPT,
  DB_USER_TAG,
  dbUserMarker,
  dbUserNeeded,
  dbUserTaskDefinition,
  rollbackUserConflict,
} from '../lib/dbuser.js';
import { ExitCode, ScriptFailure } from '../lib/errors.js';
import { Runner } from '../lib/run.js';
import { psqlPath } from '../sandbox/sample-app.js';

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

test('a https bundle is fetched; an answer that is not 200 names its status', async () => {
  const server = createServer((req, res) => {
    if (req.url === '/us-east-1-bundle.pem') res.end(`${PEM}\n`);
    else res.writeHead(404).end('not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  // the schema takes https:// only; the fetch itself is the same for a local address
  const at = (path: string) => ({ ...config(), dbUser: { ...config().dbUser, caBundleUrl: `http://127.0.0.1:${port}${path}` } });
  try {
    assert.is(await caBundlePem(quiet(), at('/us-east-1-bundle.pem')), PEM);
    const e = await caBundlePem(quiet(), at('/nope.pem')).catch((x) => x);
    assert.instance(e, ScriptFailure);
    assert.match(e.message, `could not read the RDS CA bundle http://127.0.0.1:${port}/nope.pem (DB_CA_BUNDLE_URL): HTTP 404`);
  } finally {
    server.close();
  }
});

test('the bundle is PEM from its first line to its last; one of exactly the most a task definition carries is taken', async () => {
  const refusedAs = async (text: string) =>
    ((await caBundlePem(quiet(), config({ LLMOPS_DB_CA_BUNDLE_URL: file(text) })).catch((x) => x)) as Error).message;
  assert.match(await refusedAs(`<p>moved</p>\n${PEM}`), 'is not a PEM bundle');
  assert.match(await refusedAs(`${PEM}\n<p>footer</p>`), 'is not a PEM bundle');
  const edge = `-----BEGIN CERTIFICATE-----\n${'A'.repeat(32 * 1024 - 54)}\n-----END CERTIFICATE-----`;
  assert.is(edge.length, 32 * 1024);
  assert.is(await caBundlePem(quiet(), config({ LLMOPS_DB_CA_BUNDLE_URL: file(edge) })), edge);
  assert.match(await refusedAs(`${edge}\n`.replace('AAAA', 'AAAAA')), 'more than a task definition can carry');
  assert.ok(dbUserNeeded(config(), {}, 'v1 ddl'), 'a release described without tags');
});

test('a rollback to a release that connects as the master is a conflict while the service connects as its own user; none otherwise', () => {
  const release = (revision: number, user: string, container = 'llmops-app') => ({
    revision,
    containerDefinitions: [
      {
        name: container,
        environment: [
          { name: 'PORT', value: '3000' },
          { name: 'DATABASE_USER', value: user },
        ],
      },
    ],
  });
  assert.is(
    rollbackUserConflict(config(), release(7, 'llmops'), 'llmops'),
    "revision 7 connects as the master user (DATABASE_USER=llmops), whose secret the service's execution role no longer reads (DB_CONNECT_AS=app): its tasks could not start",
  );
  assert.is(rollbackUserConflict(config(), release(8, 'llmops_app'), 'llmops'), undefined, 'a release made since the switch');
  assert.is(rollbackUserConflict(config({ LLMOPS_DB_CONNECT_AS: 'master' }), release(7, 'llmops'), 'llmops'), undefined, 'as the master');
  assert.is(rollbackUserConflict(config(), release(7, 'llmops', 'sidecar'), 'llmops'), undefined, "another container's environment");
  assert.is(rollbackUserConflict(config(), undefined, 'llmops'), undefined);
});

/**
 * A PostgreSQL of our own on a Unix socket (initdb as the postgres user when run as root): a superuser makes the
 * master as RDS does (not a superuser: CREATEROLE and the database's owner), and the master a table.
 */
function postgres(): {
  env: Record<string, string>;
  sql: (user: string, password: string, query: string) => ReturnType<typeof spawnSync>;
  stop: () => void;
} {
  const bin = dirname(psqlPath());
  const dir = mkdtempSync(join(tmpdir(), 'dbuser-pg-'));
  chmodSync(dir, 0o755);
  const asPostgres = (cmd: string, args: string[]) =>
    process.getuid?.() === 0
      ? execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { stdio: 'pipe' })
      : execFileSync(cmd, args, { stdio: 'pipe' });
  if (process.getuid?.() === 0) {
    const ids = execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim();
    const gid = execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim();
    chownSync(dir, Number(ids), Number(gid));
  }
  writeFileSync(join(dir, 'pw'), 'admin-pw\n');
  chmodSync(join(dir, 'pw'), 0o644);
  asPostgres(join(bin, 'initdb'), ['-D', join(dir, 'data'), '-U', 'admin', `--pwfile=${join(dir, 'pw')}`, '--auth=scram-sha-256']);
  asPostgres(join(bin, 'pg_ctl'), [
    '-D',
    join(dir, 'data'),
    '-o',
    `-k ${dir} -c listen_addresses='' -p 5499`,
    '-w',
    'start',
    '-l',
    join(dir, 'log'),
  ]);
  const env = { PATH: `${bin}:${process.env.PATH}`, PGHOST: dir, PGPORT: '5499', PGGSSENCMODE: 'disable', PGSSLMODE: 'disable' };
  const sql = (user: string, password: string, query: string) =>
    spawnSync(join(bin, 'psql'), ['-X', '-q', '-tA', '-v', 'ON_ERROR_STOP=1', '-d', 'app', '-U', user, '-c', query], {
      encoding: 'utf8',
      env: { ...env, PGPASSWORD: password },
    });
  const admin = spawnSync(
    join(bin, 'psql'),
    [
      '-X',
      '-q',
      '-v',
      'ON_ERROR_STOP=1',
      '-d',
      'postgres',
      '-U',
      'admin',
      '-c',
      "create role master login createrole createdb password 'master-pw'",
      '-c',
      'create database app owner master',
    ],
    { encoding: 'utf8', env: { ...env, PGPASSWORD: 'admin-pw' } },
  );
  if (admin.status !== 0) throw new Error(admin.stderr);
  return { env, sql, stop: () => asPostgres(join(bin, 'pg_ctl'), ['-D', join(dir, 'data'), '-m', 'immediate', 'stop']) };
}

test('the script against a real PostgreSQL, as an RDS master (no superuser): the role with its password, DML now and later, CREATE by the mode; twice, a new password, the mode changed', () => {
  const pg = postgres();
  try {
    const ok = (r: ReturnType<typeof spawnSync>, what: string) => {
      assert.is(r.status, 0, `${what}: ${String(r.stderr)}`);
      return String(r.stdout).trim();
    };
    ok(pg.sql('master', 'master-pw', 'create table items (id serial primary key, name text)'), 'the master makes a table');
    const run = (password: string, creates: 'on' | 'off') =>
      spawnSync('sh', ['-c', DB_USER_SCRIPT], {
        encoding: 'utf8',
        env: {
          ...pg.env,
          PGDATABASE: 'app',
          PGUSER: 'master',
          PGPASSWORD: 'master-pw',
          APP_DATABASE_USER: 'llmops_app',
          APP_DATABASE_PASSWORD: password,
          APP_CREATES_TABLES: creates,
          RDS_CA_PEM: '',
        },
      });
    const first = run('first-app-pw-0123456789', 'on');
    assert.is(ok(first, 'the script'), 'db-user: llmops_app has its password and its grants (it creates its own tables)');
    assert.not.match(String(first.stdout) + String(first.stderr), 'first-app-pw', 'the password is in no output');
    const app = (query: string, password = 'first-app-pw-0123456789') => pg.sql('llmops_app', password, query);
    assert.is(ok(app("insert into items (name) values ('a') returning id"), 'DML on a table made before'), '1');
    assert.is(ok(app('create table mine (id int); select 1'), 'without a migration the app makes its own tables'), '1');
    ok(pg.sql('master', 'master-pw', 'create table later (id serial primary key)'), 'a table the master makes later');
    assert.is(ok(app('insert into later default values returning id'), 'DML on it and its sequence'), '1');
    assert.is(
      ok(
        pg.sql('master', 'master-pw', "select rolsuper::text || ' ' || rolcreaterole::text from pg_roles where rolname = 'llmops_app'"),
        'attributes',
      ),
      'false false',
    );
    // twice: the same; a new password: the old one refused, the new one taken; a migration's mode: no CREATE
    ok(run('first-app-pw-0123456789', 'on'), 'a second run');
    const second = run('second-app-pw-9876543210', 'off');
    assert.is(
      ok(second, 'the new password, with a migration'),
      'db-user: llmops_app has its password and its grants (DML on the tables; the migration changes the schema)',
    );
    assert.match(String(app('select 1').stderr), 'password authentication failed for user "llmops_app"');
    assert.is(ok(app('select count(*) from items', 'second-app-pw-9876543210'), 'the new password'), '1');
    assert.match(String(app('create table again (id int)', 'second-app-pw-9876543210').stderr), 'permission denied for schema public');
    // a failing statement stops the script with psql's exit code (ON_ERROR_STOP, set -e)
    const broken = spawnSync('sh', ['-c', DB_USER_SCRIPT], {
      encoding: 'utf8',
      env: {
        ...pg.env,
        PGDATABASE: 'app',
        PGUSER: 'master',
        PGPASSWORD: 'wrong',
        APP_DATABASE_USER: 'x',
        APP_DATABASE_PASSWORD: 'y',
        APP_CREATES_TABLES: 'on',
      },
    });
    assert.is(broken.status, 2, String(broken.stderr));
    assert.not.match(String(broken.stdout), 'db-user:', 'no success line after a failure');
  } finally {
    pg.stop();
  }
});

test.run();
