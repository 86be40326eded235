// Step 1's checks one by one, in process, on fake tools (prereqs.test.ts runs the script itself): what each says
// for a tool that is there, too old, unreadable or missing, with its fix; the checklist and its last line.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../lib/config.js';
import { installHint } from '../lib/hints.js';
import { checks, formatChecklist, runChecks, versionAtLeast, type CheckResult } from '../scripts/01-prereqs.js';
import { Runner } from '../lib/run.js';
import { fakeBins } from './helpers/fake-bin.js';
import { withEnv } from './helpers/script.js';

const config = loadConfig({ env: {}, envFile: '' });
const check = (name: string) => checks.find((c) => c.name.startsWith(name))!;

/** One check against a PATH holding only `bins` (bash scripts). */
async function run(name: string, bins: Record<string, string>, cfg = config): Promise<CheckResult> {
  const fb = fakeBins(bins);
  const runner = new Runner({ echo: () => {}, env: { PATH: fb.dir } });
  return check(name).run(runner, cfg);
}

test('versions compared by number, missing parts as 0', () => {
  for (const [v, min, ok] of [
    ['1.10.0', '1.10.0', true],
    ['1.9.9', '1.10.0', false],
    ['1.11', '1.10.0', true],
    ['2.0.0', '1.10.0', true],
    ['1.10.0-beta', '1.10.0', true],
    ['0.15.5', '1.10.0', false],
    ['20.10.9', '20.11.0', false],
    ['20.11.1', '20.11.0', true],
  ] as const)
    assert.is(versionAtLeast(v, min), ok, `${v} >= ${min}`);
});

test('each tool: there, too old, unreadable or missing, each with its fix', async () => {
  assert.equal(await run('aws', { aws: 'echo "aws-cli/2.15.0 Python/3.11 Linux"' }), { status: 'ok', detail: 'aws-cli 2.15.0' });
  assert.equal(await run('aws', { aws: 'echo "aws-cli/1.32.0 Python/3.11"' }), {
    status: 'warn',
    detail: 'aws-cli 1.32.0 (v1): works, but has no `aws logs tail` (npm run logs falls back to polling filter-log-events)',
    fix: `v2 recommended: ${installHint('aws')}`,
  });
  assert.equal(await run('aws', { aws: 'echo "something else"; echo more' }), {
    status: 'fail',
    detail: 'cannot read the version from: something else',
    fix: installHint('aws'),
  });
  assert.equal(await run('aws', {}), { status: 'fail', detail: 'aws not found', fix: installHint('aws') });

  assert.equal(await run('terraform', { terraform: 'echo \'{"terraform_version": "1.11.4"}\'' }), {
    status: 'ok',
    detail: 'terraform 1.11.4',
  });
  assert.equal(await run('terraform', { terraform: 'echo "Terraform v1.12.0"' }), { status: 'ok', detail: 'terraform 1.12.0' });
  assert.equal(await run('terraform', { terraform: 'echo \'{"terraform_version":"1.9.8"}\'' }), {
    status: 'fail',
    detail: 'terraform 1.9.8 is older than 1.11.0',
    fix: installHint('terraform'),
  });
  assert.equal(await run('terraform', { terraform: 'echo "?"' }), {
    status: 'fail',
    detail: 'cannot read the version from: ?',
    fix: installHint('terraform'),
  });
  assert.equal(await run('terraform', {}), { status: 'fail', detail: 'terraform not found', fix: installHint('terraform') });

  assert.equal(await run('docker client', { docker: 'echo "Docker version 28.2.2, build 1"; echo second' }), {
    status: 'ok',
    detail: 'Docker version 28.2.2, build 1',
  });
  assert.equal(await run('docker client', { docker: 'exit 1' }), {
    status: 'fail',
    detail: 'docker not found',
    fix: installHint('docker'),
  });
  assert.equal(await run('docker client', {}), { status: 'fail', detail: 'docker not found', fix: installHint('docker') });
  const noEngine = {
    status: 'fail',
    detail: 'no Docker engine answers',
    fix: 'start it: `sudo systemctl start docker` (or `sudo dockerd &`); check DOCKER_HOST',
  };
  assert.equal(await run('docker engine', { docker: 'echo " 28.2.2 "' }), { status: 'ok', detail: 'engine 28.2.2' });
  assert.equal(await run('docker engine', { docker: 'echo "Cannot connect to the Docker daemon"; exit 1' }), noEngine);
  assert.equal(await run('docker engine', { docker: 'echo "Cannot connect"' }), noEngine, 'no version, even with exit 0');
  assert.equal(await run('docker engine', {}), { status: 'fail', detail: 'docker not found', fix: installHint('docker') });

  assert.equal(await run('git', { git: 'echo "git version 2.39.5"' }), { status: 'ok', detail: 'git version 2.39.5' });
  assert.equal(await run('git', { git: 'exit 2' }), { status: 'fail', detail: 'git not found', fix: installHint('git') });
  assert.equal(await run('gh', { gh: 'echo "gh version 2.45.0 (2024-03-04)"' }), {
    status: 'ok',
    detail: 'gh version 2.45.0 (2024-03-04)',
  });
  assert.equal(await run('gh', {}), { status: 'warn', detail: 'gh not found: set the GitHub secrets by hand', fix: installHint('gh') });
  assert.equal(check('gh').required, false);
  assert.ok(
    checks.filter((c) => c !== check('gh')).every((c) => c.required),
    'every other check is required',
  );

  const node = await check('node').run(new Runner({ echo: () => {} }), config);
  assert.equal(node, { status: 'ok', detail: `node ${process.versions.node}` });
  const dry = new Runner({ dryRun: true, echo: () => {} });
  for (const name of ['aws', 'terraform', 'docker client', 'docker engine', 'git', 'gh'])
    assert.equal(await check(name).run(dry, config), { status: 'skip', detail: 'not checked (dry run)' }, name);
  // the credentials in a dry run: not checked, who we are is the guide's placeholders (for the later steps)
  assert.equal(await check('AWS credentials').run(dry, config), {
    status: 'skip',
    detail: 'not checked (dry run)',
    identity: { account: '<ACCOUNT_ID>', arn: '<CALLER_ARN>', region: 'us-east-1' },
  });
});

test('the app source: missing checkout or Dockerfile, not a git checkout, uncommitted changes, clean', async () => {
  const root = mkdtempSync(join(tmpdir(), 'checks-app-'));
  const cfg = (dir: string) => loadConfig({ env: { LLMOPS_BUILD_CONTEXT: dir }, envFile: '' });
  const runner = new Runner({ echo: () => {} });
  const source = check('app source');
  assert.equal(await source.run(runner, cfg(join(root, 'none'))), {
    status: 'fail',
    detail: `BUILD_CONTEXT ${join(root, 'none')} does not exist`,
    fix: 'set BUILD_CONTEXT in .env to the app checkout (git clone https://github.com/your-username/llmops-system.git)',
  });
  const app = join(root, 'app');
  mkdirSync(app);
  assert.equal(await source.run(runner, cfg(app)), {
    status: 'fail',
    detail: `DOCKERFILE ${join(app, 'Dockerfile')} does not exist`,
    fix: 'set DOCKERFILE (relative to BUILD_CONTEXT) in .env',
  });
  writeFileSync(join(app, 'Dockerfile'), 'FROM scratch\n');
  assert.equal(await source.run(runner, cfg(app)), {
    status: 'fail',
    detail: `${app} is not a git checkout with a commit (images are tagged with the git SHA)`,
    fix: `git -C ${app} init && git -C ${app} add -A && git -C ${app} commit -m "Initial commit"`,
  });
  const git = (...args: string[]) =>
    execFileSync('git', ['-C', app, ...args], {
      env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' },
    });
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-qm', 'init');
  assert.equal(await source.run(runner, cfg(app)), { status: 'ok', detail: `branch main in ${app}, clean` });
  writeFileSync(join(app, 'a.txt'), 'x');
  writeFileSync(join(app, 'b.txt'), 'y');
  assert.equal(await source.run(runner, cfg(app)), {
    status: 'warn',
    detail: `branch main in ${app}: 2 uncommitted change(s); the image tag will end in -dirty-<hash> (refused in CI)`,
    fix: 'commit or stash your changes',
  });
});

test('the checklist: a mark per result, the fix unless ok, and a last line counting failures and warnings', async () => {
  const row = (name: string, required: boolean, result: CheckResult) => ({ name, required, result });
  assert.is(
    formatChecklist([
      row('a', true, { status: 'ok', detail: 'fine', fix: 'never shown' }),
      row('b', true, { status: 'warn', detail: 'old', fix: 'upgrade' }),
      row('c', false, { status: 'fail', detail: 'absent', fix: 'install' }),
      row('d', true, { status: 'skip', detail: 'not checked' }),
    ]),
    '✓ a: fine\n! b: old\n    fix: upgrade\n✗ c: absent\n    fix: install\n- d: not checked\n✓ all required checks passed (2 warning(s)).',
  );
  assert.is(formatChecklist([row('a', true, { status: 'ok', detail: 'fine' })]), '✓ a: fine\n✓ all required checks passed.');
  assert.is(
    formatChecklist([row('a', true, { status: 'fail', detail: 'x', fix: 'y' }), row('b', true, { status: 'fail', detail: 'z' })]),
    '✗ a: x\n    fix: y\n✗ b: z\n✗ 2 required check(s) failed.',
  );

  // the task list: every check runs, a required failure is reported without stopping the others
  const fb = fakeBins({ aws: 'echo "aws-cli/2.15.0 Python/3.11"', git: 'echo "git version 2.39.5"' });
  const runner = new Runner({ echo: () => {}, env: { PATH: fb.dir } });
  const rows = await withEnv(
    { LLMOPS_RENDERER: 'silent', AWS_ENDPOINT_URL: 'http://127.0.0.1:9', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y' },
    () => runChecks(runner, loadConfig({ env: { LLMOPS_BUILD_CONTEXT: '/nonexistent' }, envFile: '' })),
  );
  assert.equal(
    rows.map((r) => [r.name, r.result.status]),
    [
      ['node', 'ok'],
      ['aws CLI', 'ok'],
      ['terraform', 'fail'],
      ['docker client', 'fail'],
      ['docker engine', 'fail'],
      ['git', 'ok'],
      ['gh CLI (optional, CI/CD secrets)', 'warn'],
      ['AWS credentials', 'fail'],
      ['app source', 'fail'],
    ],
  );
});

test.run();
