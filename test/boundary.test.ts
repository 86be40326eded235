// One strict boundary (issue 12): every input — env files, the environment, flags — is checked before the
// first command or AWS call, in every script, --dry-run included; all problems at once, exit 2, nothing run.
// Each case here failed on the main before this change (named in the case). "Nothing ran" is proven twice:
// fake CLIs on a private PATH record every call, and AWS_ENDPOINT_URL points at a local server that records
// every request the SDK or a CLI would make.
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { editDistance, misspelling } from '../lib/variables.js';
import { loadConfig } from '../lib/config.js';
import { startBoundary, type Boundary } from './helpers/boundary.js';
import { emptyEnvFile, keptEnv, ROOT, runScriptFile } from './helpers/script.js';
import { ConfigError } from '../lib/errors.js';
import { integer, matching, readableFile } from '../lib/flags.js';

let b: Boundary;
test.before(async () => {
  b = await startBoundary();
});
test.after(() => b.close());

const refused = (script: string, args: string[], env: Record<string, string> = {}) => b.refused(script, args, env);

function envFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'bnd-')), '.env');
  writeFileSync(file, text);
  return file;
}

const load = (env: Record<string, string>, file = '') => loadConfig({ env, envFile: file });
function problems(env: Record<string, string>, file = ''): ConfigError {
  try {
    load(env, file);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

// --- env files -------------------------------------------------------------------------------------------

test("a named env file that is missing (a typo) is exit 2 naming it — it fell through to the machine's credentials", async () => {
  const r = await refused('01-prereqs.ts', [], { LLMOPS_ENV_FILE: join(ROOT, '.sandbox/evn') });
  assert.match(r.stderr, /LLMOPS_ENV_FILE=".*\.sandbox\/evn": no such file/);
});

test('a missing file inside a list is exit 2 too; an existing one beside it is not enough', async () => {
  const r = await refused('05-push.ts', ['--dry-run'], { LLMOPS_ENV_FILE: `${emptyEnvFile()},/nonexistent/prod.env` });
  assert.match(r.stderr, '/nonexistent/prod.env');
});

test('an env file that is a directory is exit 2 naming it (was a bare EISDIR, exit 1)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'envdir-'));
  const r = await refused('07-verify.ts', ['--dry-run'], { LLMOPS_ENV_FILE: dir });
  assert.match(r.stderr, `${dir}": is not a regular file`);
  assert.not.match(r.stderr, 'EISDIR');
});

test('an unreadable env file is exit 2 naming it (was a bare EACCES, exit 1); run as an unprivileged user, since root reads anything', async () => {
  // a directory name a shell would split and expand: the fix printed quotes it
  const file = join(mkdtempSync(join(tmpdir(), 'bnd x$(id)-')), '.env');
  writeFileSync(file, 'PROJECT_NAME=x\n');
  chmodSync(file, 0o000);
  chmodSync(dirname(file), 0o755);
  const asNobody = process.getuid?.() === 0 ? ['/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
  // the unprivileged user must reach the checkout: a mkdtemp'd copy of it (Stryker's sandbox) is 0700
  if (asNobody.length && (statSync(ROOT).mode & 0o005) !== 0o005) chmodSync(ROOT, statSync(ROOT).mode | 0o005);
  const r = await execa(
    asNobody[0] ?? process.execPath,
    [
      ...asNobody.slice(1),
      ...(asNobody.length ? [process.execPath] : []),
      '--import',
      'tsx',
      join(ROOT, 'scripts/iam-policy.ts'),
      '--account-id',
      '123456789012',
    ],
    {
      cwd: ROOT,
      env: { ...keptEnv(), PATH: b.fakes.dir, HOME: tmpdir(), LLMOPS_ENV_FILE: file },
      extendEnv: false,
      reject: false,
      all: true,
    },
  );
  assert.is(r.exitCode, 2, r.all);
  assert.match(r.stderr, `${file}": cannot be read by this user: fix its permissions (chmod u+r '${file}')`);
  assert.not.match(r.stderr, 'EACCES');
});

test('flag parsers: a whole number within both bounds (each included), nothing else; a pattern matched whole; a readable regular file', async () => {
  const count = integer(1, 10);
  assert.equal([count('1'), count('10'), count('07')], [1, 10, 7]);
  for (const bad of ['0', '11', 'x1', '1x', '-1', '1.5', '1e1', '', ' 1', '0x1'])
    assert.throws(() => count(bad), /^expects a whole number from 1 to 10$/, `"${bad}" is refused`);
  const role = matching(/^[\w+=,.@-]{1,64}$/, 'an IAM role name');
  assert.is(role('deploy-role'), 'deploy-role');
  assert.throws(() => role('x$(id)'), /^expects an IAM role name$/);
  const dir = mkdtempSync(join(tmpdir(), 'flags-'));
  const file = join(dir, 'app.json');
  writeFileSync(file, '{}');
  assert.is(readableFile(file), file);
  assert.throws(() => readableFile(join(dir, 'missing.json')), /^expects an existing file: no such file$/);
  assert.throws(() => readableFile(dir), /^expects a file, not a directory$/);
  // root reads anything: the unreadable case runs as an unprivileged user
  if (process.getuid?.() !== 0) return;
  chmodSync(file, 0o600);
  chmodSync(dir, 0o755);
  if ((statSync(ROOT).mode & 0o005) !== 0o005) chmodSync(ROOT, statSync(ROOT).mode | 0o005);
  const probe = `import(${JSON.stringify(join(ROOT, 'lib/flags.ts'))}).then((m) => { try { m.readableFile(${JSON.stringify(file)}); console.log('accepted'); } catch (e) { console.log(e.message); } })`;
  const r = await execa(
    '/usr/bin/setpriv',
    ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--import', 'tsx', '-e', probe],
    {
      cwd: ROOT,
      // this process's environment: a mutation tester's switch for the active mutant included
      env: { ...process.env, HOME: tmpdir() },
      reject: false,
      all: true,
    },
  );
  assert.is(r.stdout.trim(), 'expects a file this user can read', r.all);
});

test('an unquoted "#" inside a value is an error, not a silent cut (DB_PASSWORD=abc#def loaded as abc); the value is never quoted', () => {
  const e = problems({}, envFile('DB_PASSWORD=Secr3tCanary#tail-of-it\nALARM_EMAIL=ops@example.com   # a comment after spaces is fine\n'));
  assert.equal(
    e.problems.map((p) => p.variable),
    ['DB_PASSWORD'],
  );
  assert.match(e.message, 'unquoted "#"');
  assert.not.match(e.message, 'Secr3tCanary');
  assert.not.match(e.message, 'tail-of-it');
  const quoted = load({}, envFile("DB_PASSWORD='Secr3tCanary#tail'\n"));
  assert.is(quoted.secrets.dbPassword, 'Secr3tCanary#tail', 'quoted, the # is part of the value');
});

test('a line that is not NAME=value is an error naming file and line, without its text', () => {
  const file = envFile('PROJECT_NAME=shop\nDESIRED_COUNT 3\n');
  const e = problems({}, file);
  assert.is(e.problems[0]!.variable, `${file}:2`);
  assert.not.match(e.message, 'DESIRED_COUNT 3');
});

// --- the namespace ---------------------------------------------------------------------------------------

test("ambient variables cannot change the toolkit's settings: CONTAINER_NAME from a container image is not read", () => {
  const c = load({
    CONTAINER_NAME: 'someone-elses',
    DESIRED_COUNT: '9',
    LLMOPS_ECS_CLUSTER: 'mine',
    AWS_REGION: 'eu-west-1',
    TF_DIR: 'terraform',
  });
  assert.is(c.names.container, 'llmops-app');
  assert.is(c.app.desiredCount, 2);
  assert.is(c.names.cluster, 'mine', 'LLMOPS_<NAME> is read');
  assert.is(c.region, 'eu-west-1', 'the standard AWS_* names are read bare');
});

test('.env may use the plain names or the LLMOPS_ form', () => {
  const c = load({}, envFile('CONTAINER_NAME=web\nLLMOPS_DESIRED_COUNT=3\n'));
  assert.equal([c.names.container, c.app.desiredCount], ['web', 3]);
});

test('misspelt LLMOPS_*, AWS_* and TF_* names get a suggestion (they were accepted silently)', () => {
  assert.is(misspelling('AWS_REGOIN'), 'AWS_REGION');
  assert.is(misspelling('TF_STATE_BUKET'), 'TF_STATE_BUCKET');
  assert.is(misspelling('LLMOPS_DESIRED_CONT'), 'LLMOPS_DESIRED_COUNT');
  assert.is(misspelling('AWS_PROFILE'), undefined);
  assert.is(misspelling('AWS_ENDPOINT_URL_ECS'), undefined, 'open families are known');
  assert.is(misspelling('TF_VAR_db_password'), undefined);
  assert.is(misspelling('AWS_SOMETHING_NEW_AND_DIFFERENT'), undefined, 'far from any known name: not a typo');
  const e = problems({ AWS_REGOIN: 'eu-west-1', TF_STATE_BUKET: 'b', LLMOPS_DESIRED_CONT: '3' });
  assert.equal(e.problems.map((p) => p.variable).sort(), ['AWS_REGOIN', 'LLMOPS_DESIRED_CONT', 'TF_STATE_BUKET']);
  assert.match(e.message, 'did you mean AWS_REGION?');
});

test('the suggestion is the closest candidate, and a swap of two letters is one edit', () => {
  assert.is(editDistance('REGOIN', 'REGION'), 1);
  assert.is(editDistance('abc', 'abc'), 0);
  assert.is(editDistance('', 'abc'), 3);
  const e = problems({}, envFile('CONTAINER_NAM=web\nTASK_MEMROY=1024\nECS_SERVCE=s\n'));
  assert.equal(
    e.problems.map((p) => p.message.match(/did you mean (\w+)\?/)?.[1]),
    ['CONTAINER_NAME', 'TASK_MEMORY', 'ECS_SERVICE'],
  );
});

// --- values ------------------------------------------------------------------------------------------------

const VALUE_CASES: [string, Record<string, string>, string][] = [
  ['DESIRED_COUNT= (was 0)', { LLMOPS_DESIRED_COUNT: '' }, 'LLMOPS_DESIRED_COUNT'],
  ['CONTAINER_PORT=0x50 (was 80)', { LLMOPS_CONTAINER_PORT: '0x50' }, 'CONTAINER_PORT'],
  ['CONTAINER_PORT=1e3 (was 1000)', { LLMOPS_CONTAINER_PORT: '1e3' }, 'CONTAINER_PORT'],
  ['TASK_CPU= 512 (was 512)', { LLMOPS_TASK_CPU: ' 512' }, 'TASK_CPU'],
  ['BUILD_CONTEXT with a newline', { LLMOPS_BUILD_CONTEXT: 'app\nrm -rf /' }, 'BUILD_CONTEXT'],
  ['DOCKERFILE with a tab', { LLMOPS_DOCKERFILE: 'Docker\tfile' }, 'DOCKERFILE'],
  ['TF_DIR with a carriage return', { TF_DIR: 'terraform\r' }, 'TF_DIR'],
  ['a 10,000-character repository name', { LLMOPS_ECR_REPOSITORY: 'a'.repeat(10_000) }, 'ECR_REPOSITORY'],
  ['a 2,000-character health path', { LLMOPS_HEALTH_PATH: `/${'h'.repeat(2000)}` }, 'HEALTH_PATH'],
];
for (const [name, env, variable] of VALUE_CASES) {
  test(`bad value: ${name} names ${variable}`, () => {
    const e = problems(env);
    assert.ok(
      e.problems.some((p) => p.variable === variable || p.variable === variable.replace(/^LLMOPS_/, '')),
      JSON.stringify(e.problems),
    );
    assert.ok(e.message.length < 2000, 'a long value is shortened in the message');
  });
}

test('paths are checked before anything runs: TF_DIR always, BUILD_CONTEXT and DOCKERFILE where the script builds', async () => {
  const r = await refused('deploy.ts', ['--dry-run'], { LLMOPS_BUILD_CONTEXT: '/nonexistent/$(id)', TF_DIR: '/nonexistent/tf' });
  assert.match(r.stderr, 'BUILD_CONTEXT="/nonexistent/$(id)": no such directory');
  assert.match(r.stderr, 'TF_DIR="/nonexistent/tf": no such directory');
  const noDockerfile = await refused('02-build.ts', [], { LLMOPS_BUILD_CONTEXT: mkdtempSync(join(tmpdir(), 'nodf-')) });
  assert.match(noDockerfile.stderr, 'DOCKERFILE');
  const empty = mkdtempSync(join(tmpdir(), 'notf-'));
  assert.match((await refused('03-plan.ts', ['--dry-run'], { TF_DIR: empty })).stderr, 'holds no *.tf file');
});

// --- flags -------------------------------------------------------------------------------------------------

const FLAG_CASES: [string, string, string[], RegExp][] = [
  [
    '--lock-wait abc after --only 3,4,5 (ran terraform apply, then exit 2)',
    'bootstrap.ts',
    ['--only', '3,4,5', '--lock-wait', 'abc'],
    /--lock-wait expects a whole number/,
  ],
  [
    'rollback 3 (the positional was ignored: it rolled back to another revision)',
    'rollback.ts',
    ['3'],
    /unexpected argument "3" \(did you mean --to 3\?\)/,
  ],
  ["scale --count '' (scaled to 0)", 'scale.ts', ['--count', ''], /--count expects a whole number from 0 to 100, got ""/],
  ["bootstrap --from '' (ran all steps)", 'bootstrap.ts', ['--from', ''], /--from expects/],
  [
    'bootstrap --from 3 --only 5 (one was dropped silently)',
    'bootstrap.ts',
    ['--from', '3', '--only', '5'],
    /--from and --only cannot be given together/,
  ],
  ['a repeated flag with different values', 'rollback.ts', ['--to', '3', '--to', '4'], /--to is given twice/],
  ['bad --since under --dry-run (exit 0 before)', 'logs.ts', ['--since', 'yesterday', '--dry-run'], /--since expects/],
  ['bad --prune under --dry-run', 'backup.ts', ['--prune', '0', '--dry-run'], /--prune expects a whole number from 1/],
  ['--no-snapshot without --prune', 'backup.ts', ['--no-snapshot', '--dry-run'], /--no-snapshot only applies with --prune/],
  ['--min without --policy', 'scale.ts', ['--count', '2', '--min', '1'], /--min only applies with --policy/],
  ['--min above --max', 'scale.ts', ['--policy', '--min', '5', '--max', '2', '--dry-run'], /--min \(5\) must not exceed --max \(2\)/],
  [
    '--cpu-target out of range',
    'scale.ts',
    ['--policy', '--cpu-target', '95', '--dry-run'],
    /--cpu-target expects a whole number from 10 to 90/,
  ],
  ['--timeout not a number', '07-verify.ts', ['--timeout', '10m', '--dry-run'], /--timeout expects/],
  ['--url not a URL', '07-verify.ts', ['--url', 'file:///etc/passwd', '--dry-run'], /--url expects an http/],
  ['--repo not OWNER/REPO', 'github-secrets.ts', ['--repo', 'a/b;id', '--dry-run'], /--repo expects OWNER\/REPO/],
  ['--role with a shell word', 'iam-policy.ts', ['--account-id', '123456789012', '--role', 'x$(id)'], /--role expects an IAM role name/],
  ['--app-env-file missing', 'secrets.ts', ['--app-env-file', '/nonexistent.json', '--dry-run'], /--app-env-file expects an existing file/],
  [
    'a value with a newline',
    'logs.ts',
    ['--filter', 'ERROR\nx', '--dry-run'],
    /--filter: the value must be at most 4096 characters without control characters/,
  ],
  ['monitoring without its positional', 'monitoring.ts', ['--dry-run'], /expected one of dashboard, alarms/],
  ['sandbox with an unknown action', 'sandbox.ts', ['upp'], /expected one of up, down, status, got "upp"/],
  ['an unknown flag', 'deploy.ts', ['--dryrun'], /Unknown option '--dryrun'/],
];
/**
 * A script's own spec run through the boundary in this process, with its main replaced by a spy: the
 * boundary must refuse (exit 2) without ever calling main — so nothing ran, by construction. (The
 * subprocess cases above and below prove the same through fake CLIs and the request counter.)
 */
const boundary = (script: string, args: string[], env: Record<string, string> = {}) => b.inProcess(script, args, env);

for (const [name, script, args, message] of FLAG_CASES) {
  test(`bad flags: ${name}`, async () => {
    const r = await boundary(script, args);
    assert.is(r.code, 2, `${script} ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    assert.not.ok(r.mainCalled, 'the script body ran');
    assert.match(r.stderr, message);
    assert.match(r.stderr, 'Nothing was run.');
  });
}

test('the flag boundary end to end in a process of its own: fake CLIs and AWS see nothing', async () => {
  const r = await refused('bootstrap.ts', ['--only', '3,4,5', '--lock-wait', 'abc']);
  assert.match(r.stderr, /--lock-wait expects a whole number/);
});

test('every script refuses a stray positional and runs nothing', async () => {
  const scripts = readdirSync(join(ROOT, 'scripts')).filter((f) => f.endsWith('.ts'));
  assert.ok(scripts.length >= 24);
  for (const f of scripts) {
    const r = await boundary(
      f,
      f === 'sandbox.ts' ? ['status', 'stray'] : f === 'monitoring.ts' ? ['alarms', 'stray'] : ['stray', '--dry-run'],
    );
    assert.is(r.code, 2, `${f}: exit ${r.code}\n${r.stderr}`);
    assert.not.ok(r.mainCalled, f);
    assert.match(r.stderr, 'unexpected argument "stray"', f);
  }
  assert.is(b.requests(), 0);
});

test('configuration and flag problems are reported together, once', async () => {
  const r = await refused('scale.ts', ['--count', 'x'], { LLMOPS_DESIRED_COUNT: 'many', LLMOPS_ENV_FILE: envFile('ALARM_EMIAL=a@b.c\n') });
  for (const s of ['DESIRED_COUNT', 'ALARM_EMIAL', '--count expects']) assert.match(r.stderr, s);
});

test('a bare toolkit name in the environment is named as not read (an old `export DESIRED_COUNT=3` is not lost silently)', async () => {
  const r = await runScriptFile('scripts/iam-policy.ts', ['--account-id', '123456789012', '--dry-run'], {
    PATH: b.fakes.dir,
    DESIRED_COUNT: '3',
  });
  assert.is(r.exitCode, 0, r.all);
  assert.match(r.stderr, 'note: DESIRED_COUNT in the environment is not read (the toolkit reads LLMOPS_DESIRED_COUNT');
});

test.run();
