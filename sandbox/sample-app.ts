// The sandbox's sample app: a FROM scratch image (no base image can be pulled here) running the static
// busybox httpd on port 3000 as a non-root user, with Debian's psql (and the libraries it links) beside it.
// - /health answers 200 while the app can reach its database (DATABASE_* and the injected
//   DATABASE_PASSWORD, TLS as PGSSLMODE asks), its body "ok db=ok schema=<newest migration>"; without
//   DATABASE_HOST (the local smoke test) "ok db=none". A background loop re-checks every 2 s.
// - /bin/migrate applies /migrations/*.sql not yet in schema_migrations, each in one transaction, and
//   exits non-zero on the first error: the migration command of the task definition (MIGRATE_COMMAND). It runs
//   as the master; the app's own database role, which the service connects as, is step 6's (lib/dbuser.ts).
//   It reports the schema it leaves in a line `schema: <newest migration>`, which rollback's check keeps.
// - /bin/dbcheck connects once as the app does and says how (DB_CHECK_COMMAND, which doctor runs).
// Broken variants pass the local smoke test (step 2) and fail only in ECS, as real apps do when their
// cloud environment differs: `exit` exits 3 at start when DATABASE_HOST is set (the task definition sets
// it); `health` answers 404 on /health there; `migration` ships a migration that fails; `ca` carries another
// CA's bundle at DB_CA_BUNDLE, so verify-full refuses the database's certificate; `no-ca` carries no bundle;
// `vulnerable` declares a critical and a high finding, which the sandbox's ECR scan on push reports; `late-exit`
// serves healthy, then exits 3 after 30 s of answering /health (a release that fails its bake); `errors` is
// healthy but answers its real work, /cgi-bin/work, with 500 (what a deployment alarm on the targets' 5xx catches).
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { RDS_CA_BUNDLE } from '../lib/schema.js';
import { sandboxCa } from './rds-ca.js';

/** What the sandbox's ECR scan finds in an image (sandbox/emulator.py FINDINGS_LABEL): severity:id:package, comma-separated. */
export const SANDBOX_FINDINGS_LABEL = 'org.llmops.sandbox.findings';
export const SANDBOX_FINDINGS = 'CRITICAL:CVE-2026-0001:libexample,HIGH:CVE-2026-0002:zlib,LOW:CVE-2026-0003:busybox';

export type Broken = 'exit' | 'health' | 'migration' | 'ca' | 'no-ca' | 'vulnerable' | 'late-exit' | 'errors' | undefined;

const BUSYBOX_CANDIDATES = ['/bin/busybox', '/usr/bin/busybox'];

export function busyboxPath(): string {
  const found = BUSYBOX_CANDIDATES.find((p) => existsSync(p));
  if (!found) throw new Error('busybox not found: install the static build with `apt-get install -y busybox-static`');
  return found;
}

/** Debian's psql (not the pg_wrapper script in /usr/bin): the newest installed major version. */
export function psqlPath(): string {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base)
    ? readdirSync(base)
        .filter((v) => /^\d+$/.test(v) && existsSync(join(base, v, 'bin', 'psql')))
        .sort((a, b) => Number(a) - Number(b))
    : [];
  if (!versions.length) throw new Error('psql not found: install PostgreSQL with `apt-get install -y postgresql-15`');
  return join(base, versions.at(-1)!, 'bin', 'psql');
}

/** psql and every library it links (ldd), under opt/psql of the image, run through its own loader. */
function copyPsql(dir: string): void {
  const target = join(dir, 'rootfs', 'opt', 'psql');
  if (existsSync(join(target, 'bin', 'psql'))) return;
  const psql = psqlPath();
  mkdirSync(join(target, 'bin'), { recursive: true });
  mkdirSync(join(target, 'lib'), { recursive: true });
  copyFileSync(psql, join(target, 'bin', 'psql'));
  const ldd = execFileSync('ldd', [psql], { encoding: 'utf8' });
  for (const line of ldd.split('\n')) {
    const path = /=>\s*(\/\S+)/.exec(line)?.[1] ?? /^\s*(\/\S+)/.exec(line)?.[1];
    if (path) copyFileSync(path, join(target, 'lib', basename(path))); // copyFileSync follows the symlink
  }
  const loader = readdirSync(join(target, 'lib')).find((f) => f.startsWith('ld-linux'));
  if (!loader) throw new Error(`ldd ${psql} names no dynamic loader`);
  mkdirSync(join(dir, 'rootfs', 'bin'), { recursive: true });
  writeFileSync(
    join(dir, 'rootfs', 'bin', 'psql'),
    `#!/bin/busybox sh\nexec /opt/psql/lib/${loader} --library-path /opt/psql/lib /opt/psql/bin/psql "$@"\n`,
  );
  chmodSync(join(dir, 'rootfs', 'bin', 'psql'), 0o755);
  mkdirSync(join(dir, 'rootfs', 'etc'), { recursive: true });
  writeFileSync(join(dir, 'rootfs', 'etc', 'passwd'), 'app:x:1000:1000:app:/tmp:/bin/sh\n');
  writeFileSync(join(dir, 'rootfs', 'etc', 'group'), 'app:x:1000:\n');
}

const PSQL =
  'PGPASSWORD="$DATABASE_PASSWORD" PGGSSENCMODE=disable PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -h "$DATABASE_HOST" -p "${DATABASE_PORT:-5432}" -U "$DATABASE_USER" -d "$DATABASE_NAME"';

/** The entrypoint: the health loop in the background, httpd in the foreground. */
function startScript(broken: Broken): string {
  const docroot = broken === 'health' ? '$( [ -n "$DATABASE_HOST" ] && echo /tmp/www-degraded || echo /tmp/www )' : '/tmp/www';
  return [
    '#!/bin/busybox sh',
    "# a command given to the container (a one-off task's override: /bin/migrate) runs instead of the app",
    'if [ $# -gt 0 ]; then exec "$@"; fi',
    'echo "starting llmops sample app ${APP_VERSION:-}"',
    ...(broken === 'exit'
      ? ['if [ -n "$DATABASE_HOST" ]; then echo "fatal: cannot connect to the database at $DATABASE_HOST" >&2; exit 3; fi']
      : []),
    'mkdir -p /tmp/www /tmp/www-degraded && cp -r /www/. /tmp/www/ && cp -r /www-degraded/. /tmp/www-degraded/ && rm -f /tmp/www/health',
    '# the CGI scripts run from the image (a tmpfs /tmp is mounted noexec)',
    'rm -rf /tmp/www/cgi-bin && ln -s /www/cgi-bin /tmp/www/cgi-bin',
    '/bin/healthloop &',
    ...(broken === 'late-exit'
      ? [
          `if [ -n "$DATABASE_HOST" ]; then /bin/busybox httpd -f -v -p "\${PORT:-3000}" -h ${docroot} &`,
          '  n=0; while sleep 2; do [ -f /tmp/www/health ] && n=$((n + 1)); [ $n -ge 15 ] && { echo "fatal: the worker pool died after 30 s of service" >&2; exit 3; }; done',
          'fi',
        ]
      : []),
    `exec /bin/busybox httpd -f -v -p "\${PORT:-3000}" -h ${docroot}`,
    '',
  ].join('\n');
}

/**
 * Every 2 s: can the app reach its database, and which migration is it at? /health exists only while it can.
 * One connection per check (/etc/health.sql asks both questions): each costs a psql start, TLS and a server
 * process, and every task of every sandbox checks all the time.
 */
const HEALTH_LOOP = [
  '#!/bin/busybox sh',
  'last=""',
  'while true; do',
  '  if [ -z "$DATABASE_HOST" ]; then state="ok db=none"',
  `  elif v=$(${PSQL} -tA -f /etc/health.sql 2>/tmp/db.err); then state="ok db=ok schema=$v"`,
  '  else state="down: $(tail -n 1 /tmp/db.err)"; fi',
  '  case "$state" in ok*) echo "$state" > /tmp/www/health.new && mv /tmp/www/health.new /tmp/www/health;; *) rm -f /tmp/www/health;; esac',
  '  [ "$state" != "$last" ] && echo "health: $state" && last="$state"',
  '  sleep 2',
  'done',
  '',
].join('\n');

/** The newest migration applied, or none (before the first migration there is no table to ask). */
const HEALTH_SQL = [
  "select to_regclass('public.schema_migrations') is not null as migrated \\gset",
  '\\if :migrated',
  "  select coalesce(max(version), 'none') from schema_migrations;",
  '\\else',
  "  select 'none';",
  '\\endif',
  '',
].join('\n');

/** Apply what /migrations holds that the database has not seen, in name order, each in one transaction. */
const MIGRATE = [
  '#!/bin/busybox sh',
  'set -e',
  '[ -n "$DATABASE_HOST" ] || { echo "migrate: DATABASE_HOST is not set" >&2; exit 2; }',
  `${PSQL} -c "create table if not exists schema_migrations (version text primary key, applied_at timestamptz not null default now())"`,
  'for f in /migrations/*.sql; do',
  '  v=$(basename "$f" .sql)',
  `  if [ "$(${PSQL} -tAc "select 1 from schema_migrations where version = '$v'")" = 1 ]; then echo "migrate: $v already applied"; continue; fi`,
  '  echo "migrate: applying $v"',
  `  ${PSQL} -1 -f "$f" -c "insert into schema_migrations (version) values ('$v')"`,
  '  echo "migrate: $v applied"',
  'done',
  "# the schema it leaves, the line the toolkit keeps for rollback's check (lib/releases.ts)",
  `echo "schema: $(${PSQL} -tAc "select coalesce(max(version), 'none') from schema_migrations")"`,
  'echo "migrate: done"',
  '',
].join('\n');

/** DB_CHECK_COMMAND of the sample app: one connection as the app makes it (TLS, the injected password). */
const DBCHECK = [
  '#!/bin/busybox sh',
  '[ -n "$DATABASE_HOST" ] || { echo "dbcheck: DATABASE_HOST is not set" >&2; exit 2; }',
  `if out=$(${PSQL} -tAc "select 'connected to ' || current_database() || ' as ' || current_user || ', TLS ' || coalesce((select version from pg_stat_ssl where pid = pg_backend_pid()), 'off')" 2>&1); then`,
  '  echo "dbcheck: $out, sslmode ${PGSSLMODE:-prefer}${PGSSLROOTCERT:+ with $PGSSLROOTCERT}"',
  'else',
  '  echo "dbcheck: $out" >&2; exit 1',
  'fi',
  '',
].join('\n');

/** Each version's migrations: the first creates the app's table; later versions add a column named after them. */
function migrations(version: string, broken: Broken): Record<string, string> {
  const column = version.replace(/[^a-z0-9]/gi, '_').toLowerCase();
  return {
    '001_create_items': 'create table items (id serial primary key, name text not null);\n',
    ...(broken === 'migration'
      ? { [`002_${column}`]: `alter table items add column ${column} text;\nalter table no_such_table add column broken int;\n` }
      : {}),
  };
}

function writeExecutable(path: string, text: string): void {
  writeFileSync(path, text);
  chmodSync(path, 0o755);
}

/**
 * The sandbox's DB_CLIENT_IMAGE (public.ecr.aws/docker/library/postgres:15-alpine cannot be pulled here): FROM
 * scratch, busybox's sh at /bin/sh and Debian's psql, run as the task definition's user 70 (postgres in the alpine
 * image). Step 6's database user task runs its script in it.
 */
export function writeDbClientImage(dir: string): void {
  mkdirSync(dir, { recursive: true });
  if (!existsSync(join(dir, 'busybox'))) {
    copyFileSync(busyboxPath(), join(dir, 'busybox'));
    chmodSync(join(dir, 'busybox'), 0o755);
  }
  copyPsql(dir);
  rmSync(join(dir, 'rootfs', 'bin', 'sh'), { force: true });
  symlinkSync('busybox', join(dir, 'rootfs', 'bin', 'sh'));
  writeFileSync(join(dir, 'rootfs', 'etc', 'passwd'), 'postgres:x:70:70:postgres:/tmp:/bin/sh\n');
  writeFileSync(join(dir, 'rootfs', 'etc', 'group'), 'postgres:x:70:\n');
  writeFileSync(
    join(dir, 'Dockerfile'),
    [
      '# DB_CLIENT_IMAGE of the llmops-deploy sandbox: sh and psql, nothing else',
      'FROM scratch',
      'COPY busybox /bin/busybox',
      'COPY rootfs/ /',
      'USER 70:70',
      '',
    ].join('\n'),
  );
}

/** Write (or rewrite) the app's files; does not commit. */
export function writeSampleApp(dir: string, version: string, broken?: Broken): void {
  mkdirSync(join(dir, 'www'), { recursive: true });
  if (!existsSync(join(dir, 'busybox'))) {
    copyFileSync(busyboxPath(), join(dir, 'busybox'));
    chmodSync(join(dir, 'busybox'), 0o755);
  }
  copyPsql(dir);
  writeExecutable(join(dir, 'rootfs', 'bin', 'start'), startScript(broken));
  writeExecutable(join(dir, 'rootfs', 'bin', 'healthloop'), HEALTH_LOOP);
  writeExecutable(join(dir, 'rootfs', 'bin', 'migrate'), MIGRATE);
  writeExecutable(join(dir, 'rootfs', 'bin', 'dbcheck'), DBCHECK);
  mkdirSync(join(dir, 'rootfs', 'etc'), { recursive: true });
  writeFileSync(join(dir, 'rootfs', 'etc', 'health.sql'), HEALTH_SQL);
  // the CA bundle the database's certificate is checked against (verify-full): the sandbox's "RDS CA", or for
  // the broken variant `ca` a bundle of another CA, as an image that ships the wrong region's bundle
  mkdirSync(join(dir, 'rootfs', dirname(RDS_CA_BUNDLE)), { recursive: true });
  if (broken === 'no-ca') rmSync(join(dir, 'rootfs', RDS_CA_BUNDLE), { force: true });
  else copyFileSync(sandboxCa(broken === 'ca' ? 'foreign-ca' : 'rds-ca').cert, join(dir, 'rootfs', RDS_CA_BUNDLE));
  rmSync(join(dir, 'migrations'), { recursive: true, force: true });
  mkdirSync(join(dir, 'migrations'), { recursive: true });
  for (const [name, sql] of Object.entries(migrations(version, broken))) writeFileSync(join(dir, 'migrations', `${name}.sql`), sql);
  writeFileSync(
    join(dir, 'Dockerfile'),
    [
      '# Sample app for the llmops-deploy sandbox: static busybox httpd on :3000, non-root, read-only friendly;',
      '# psql for the database health check and the migrations (bin/migrate).',
      'FROM scratch',
      'COPY busybox /bin/busybox',
      'COPY rootfs/ /',
      'COPY migrations /migrations',
      'COPY www /www',
      'COPY www-degraded /www-degraded',
      'USER 1000:1000',
      'EXPOSE 3000',
      ...(broken === 'vulnerable' ? [`LABEL ${SANDBOX_FINDINGS_LABEL}="${SANDBOX_FINDINGS}"`] : []),
      'ENTRYPOINT ["/bin/start"]',
      '',
    ].join('\n'),
  );
  rmSync(join(dir, 'www', 'health'), { force: true }); // the health loop writes it
  mkdirSync(join(dir, 'www-degraded'), { recursive: true });
  writeFileSync(join(dir, 'www-degraded', 'index.html'), 'degraded: no /health\n');
  rmSync(join(dir, 'www-degraded', 'health'), { force: true });
  writeFileSync(join(dir, 'www', 'index.html'), `<h1>llmops sample app</h1><p>version ${version}</p>\n`);
  writeFileSync(join(dir, 'www', 'version'), `${version}\n`);
  // the app's real work (a CGI script of busybox httpd): 200, or 500 in the `errors` variant
  mkdirSync(join(dir, 'www', 'cgi-bin'), { recursive: true });
  const [status, body] = broken === 'errors' ? ['500 Internal Server Error', 'error'] : ['200 OK', `done by ${version}`];
  writeExecutable(
    join(dir, 'www', 'cgi-bin', 'work'),
    `#!/bin/busybox sh\nprintf 'Status: ${status}\\r\\nContent-Type: text/plain\\r\\n\\r\\n${body}\\n'\n`,
  );
  writeFileSync(join(dir, '.dockerignore'), '.git\n');
}

function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-C', dir, '-c', 'user.name=llmops sandbox', '-c', 'user.email=sandbox@example.com', ...args], {
    encoding: 'utf8',
  }).trim();
}

/** A git checkout of the sample app at `version`, committed: what the guide's step 1 clones. */
export function commitSampleApp(dir: string, version: string, broken?: Broken): string {
  if (!existsSync(join(dir, '.git'))) {
    mkdirSync(dir, { recursive: true });
    git(dir, 'init', '-q', '-b', 'main');
  }
  writeSampleApp(dir, version, broken);
  git(dir, 'add', '-A');
  if (git(dir, 'status', '--porcelain')) git(dir, 'commit', '-q', '-m', `sample app ${version}${broken ? ` (broken: ${broken})` : ''}`);
  return git(dir, 'rev-parse', 'HEAD');
}
