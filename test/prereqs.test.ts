import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fakeBins, HEALTHY_TOOLS } from './helpers/fake-bin.js';
import { startMoto, type Moto } from './helpers/moto.js';
import { emptyEnvFile, keptEnv, ROOT, runScriptFile } from './helpers/script.js';
import { MIN_NODE, MIN_TERRAFORM, versionAtLeast } from '../scripts/01-prereqs.js';

function appCheckout(): string {
  const dir = mkdtempSync(join(tmpdir(), 'app-'));
  writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\n');
  return dir;
}

let moto: Moto;
const step1 = (tools: Record<string, string>, env: Record<string, string> = {}, args: string[] = []) => {
  const fakes = fakeBins(tools);
  return runScriptFile('scripts/01-prereqs.ts', args, { ...moto.env, PATH: fakes.dir, LLMOPS_BUILD_CONTEXT: appCheckout(), ...env }).then(
    (r) => ({ ...r, fakes }),
  );
};

// the emulator is a hook, not a test: the tests pass in any order, alone or together
test.before(async () => {
  moto = await startMoto();
});

test('versionAtLeast', () => {
  assert.is(MIN_TERRAFORM, '1.11.0', 'write-only arguments need 1.11');
  assert.is(MIN_NODE, '20.11.0', 'import.meta.dirname needs 20.11');
  assert.match(readFileSync(join(ROOT, 'terraform/terraform.tf'), 'utf8'), /required_version = ">= 1\.11\.0"/);
  assert.match(readFileSync(join(ROOT, 'terraform/terraform.tf'), 'utf8'), /use_lockfile/);
  assert.is(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).engines.node, '>=20.11');
  assert.not.ok(versionAtLeast('1.9.8', MIN_TERRAFORM), 'step 1 passed 1.9 and step 3 failed on use_lockfile');
  assert.not.ok(versionAtLeast('20.10.0', MIN_NODE));
  assert.ok(versionAtLeast('1.6.0', '1.6.0'));
  assert.ok(versionAtLeast('1.11.4', '1.6.0'));
  assert.not.ok(versionAtLeast('1.5.7', '1.6.0'));
  assert.not.ok(versionAtLeast('0.15.0', '1.6.0'));
});

test('all tools present and credentials valid against the emulator: exit 0, account and ARN shown', async () => {
  const r = await step1(HEALTHY_TOOLS);
  assert.is(r.exitCode, 0, r.all);
  assert.match(r.stdout, '✓ AWS credentials: account 123456789012');
  assert.match(r.stdout, 'arn:aws:sts::123456789012');
  assert.match(r.stdout, 'region us-east-1');
  assert.match(r.stdout, '✓ terraform: terraform 1.11.4');
  assert.match(r.stdout, '✓ docker engine: engine 20.10.24');
  assert.match(r.stdout, 'all required checks passed');
  assert.match(r.stderr + r.stdout, '$ terraform version -json', 'each command is printed');
  assert.is(
    (r.all.match(/\$ aws sts get-caller-identity/g) ?? []).length,
    1,
    'who we are is asked once: the later steps take what the check found',
  );
});

test("missing terraform: fails with the guide's install command, exit 3", async () => {
  const { terraform: _, ...tools } = HEALTHY_TOOLS;
  const r = await step1(tools);
  assert.is(r.exitCode, 3, r.all);
  assert.match(r.stdout, '✗ terraform: terraform not found');
  assert.match(r.stdout, 'wget https://releases.hashicorp.com/terraform/1.11.4/terraform_1.11.4_linux_amd64.zip');
});

test('terraform too old: fails naming the version', async () => {
  const r = await step1({ ...HEALTHY_TOOLS, terraform: 'echo \'{"terraform_version":"1.5.7"}\'' });
  assert.is(r.exitCode, 3);
  assert.match(r.stdout, '✗ terraform: terraform 1.5.7 is older than 1.11.0');
});

test('aws CLI v1: a warning that says what is lost, still exit 0', async () => {
  const r = await step1({ ...HEALTHY_TOOLS, aws: 'echo "aws-cli/1.45.11 Python/3.11.7 Linux/6.1 botocore/1.43.11"' });
  assert.is(r.exitCode, 0, r.all);
  assert.match(r.stdout, '! aws CLI: aws-cli 1.45.11 (v1)');
  assert.match(r.stdout, 'logs tail');
});

test("missing aws CLI: fails with the guide's install command", async () => {
  const { aws: _, ...tools } = HEALTHY_TOOLS;
  const r = await step1(tools);
  assert.is(r.exitCode, 3);
  assert.match(r.stdout, 'awscli-exe-linux-x86_64.zip');
});

test('docker client without an engine: fails with how to start it', async () => {
  const r = await step1({
    ...HEALTHY_TOOLS,
    docker:
      'case "$1" in --version) echo "Docker version 28.2.2";; info) echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock" >&2; exit 1;; esac',
  });
  assert.is(r.exitCode, 3);
  assert.match(r.stdout, '✗ docker engine: no Docker engine answers');
  assert.match(r.stdout, 'dockerd');
});

test('no credentials: fails with the fix', async () => {
  const r = await step1(HEALTHY_TOOLS, { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' });
  assert.is(r.exitCode, 3, r.all);
  assert.match(r.stdout, '✗ AWS credentials');
  assert.match(r.stdout, 'aws configure');
});

test('account guard: another account is refused', async () => {
  const r = await step1(HEALTHY_TOOLS, { LLMOPS_EXPECTED_ACCOUNT_ID: '111111111111' });
  assert.is(r.exitCode, 3);
  assert.match(r.stdout, 'Refusing to touch AWS account 123456789012');
  assert.match(r.stdout, 'EXPECTED_ACCOUNT_ID');
});

test('app source: a dirty tree warns, a missing Dockerfile fails naming DOCKERFILE', async () => {
  const dirty = await step1({
    ...HEALTHY_TOOLS,
    git: 'case "$*" in *--version*) echo "git version 2.39.5";; *rev-parse*) echo main;; *status*) echo " M app.js";; esac',
  });
  assert.is(dirty.exitCode, 0, dirty.all);
  assert.match(dirty.stdout, '! app source: branch main');
  assert.match(dirty.stdout, '-dirty-');
  const missing = await step1(HEALTHY_TOOLS, { LLMOPS_DOCKERFILE: 'nope/Dockerfile' });
  assert.is(missing.exitCode, 3);
  assert.match(missing.stdout, '✗ app source: DOCKERFILE');
});

test('--dry-run prints the commands and runs none', async () => {
  const r = await step1(HEALTHY_TOOLS, {}, ['--dry-run']);
  assert.is(r.exitCode, 0, r.all);
  assert.equal(r.fakes.calls(), []);
  for (const cmd of ['aws --version', 'terraform version -json', 'docker info', 'git --version', 'aws sts get-caller-identity'])
    assert.match(r.all, `[dry-run] $ ${cmd}`);
});

test('--help says what it does, needs, produces and what comes next', async () => {
  const r = await runScriptFile('scripts/01-prereqs.ts', ['--help']);
  assert.is(r.exitCode, 0);
  for (const s of ['Needs:', 'Produces:', 'Next:', '--dry-run', '--yes']) assert.match(r.stdout, s);
});

test('an unknown flag is a usage error (exit 2)', async () => {
  const r = await runScriptFile('scripts/01-prereqs.ts', ['--frobnicate']);
  assert.is(r.exitCode, 2);
  assert.match(r.stderr, '--frobnicate');
});

/** Step 1 with `docker info` hanging until a signal; the fake writes what happens to $MARK (its output is captured). */
function hangingStep1(dockerInfo: string, tools: Record<string, string> = {}) {
  const fakes = fakeBins();
  const mark = join(fakes.dir, 'mark.log');
  for (const [name, body] of Object.entries({ ...HEALTHY_TOOLS, ...tools })) fakes.add(name, body);
  fakes.add('docker', `MARK='${mark}'\ncase "$1" in --version) echo "Docker version 28.2.2";; info) ${dockerInfo};; esac`);
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/01-prereqs.ts')], {
    cwd: ROOT,
    env: {
      ...keptEnv(),
      HOME: process.env.HOME,
      ...moto.env,
      PATH: fakes.dir,
      LLMOPS_BUILD_CONTEXT: appCheckout(),
      LLMOPS_ENV_FILE: emptyEnvFile(),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const marks = () => (existsSync(mark) ? readFileSync(mark, 'utf8') : '');
  const hanging = (async () => {
    for (let i = 0; i < 300 && !marks().includes('docker: hanging'); i++) await new Promise((r) => setTimeout(r, 50));
  })();
  return { child, exited, hanging, output: () => out, marks };
}

test('Ctrl-C: the running command gets one SIGINT (not two), stops cleanly, exit 130 with what to rerun', async () => {
  const run = hangingStep1(
    `trap 'echo "docker: got SIGINT, stopping cleanly" >> $MARK; /bin/sleep 0.3; echo "docker: stopped" >> $MARK; kill $!; exit 1' INT; echo "docker: hanging" >> $MARK; /bin/sleep 30 & wait; wait`,
  );
  await run.hanging;
  run.child.kill('SIGINT');
  const code = await run.exited;
  assert.is(code, 130, run.output());
  assert.is(run.marks().split('got SIGINT').length - 1, 1, 'exactly one SIGINT reached the command');
  assert.match(run.marks(), 'docker: stopped', 'the command was allowed to finish stopping');
  assert.match(run.output(), /interrupted \(SIGINT\) while running: docker info/);
  assert.match(run.output(), 'rerun: npm run step:1');
});

test('a second Ctrl-C (or SIGTERM then SIGINT) stops at once, killing a command that ignores the first', async () => {
  const run = hangingStep1(`trap '' INT; echo "docker: hanging" >> $MARK; /bin/sleep 30`);
  await run.hanging;
  run.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  run.child.kill('SIGINT');
  const started = Date.now();
  const code = await run.exited;
  assert.is(code, 130, run.output());
  assert.ok(Date.now() - started < 5000, 'did not wait for the command');
  assert.match(run.output(), 'SIGINT again: stopping at once');
});

test('interrupted while another check still runs: step 1 waits for every check before it reports, so a second signal still stops it at once', async () => {
  // the app checkout's git finishes after the first signal, so its next command is refused (interrupted) while
  // docker, which ignores the signal, still runs: step 1 must not return (and drop its signal handling) before
  // docker ends (CI once saw the process die of the second signal, exit code null)
  const run = hangingStep1(`trap '' INT; echo "docker: hanging" >> $MARK; /bin/sleep 30`, {
    git: `case "$*" in *--version*) echo "git version 2.39.5";; *rev-parse*) trap '' INT; /bin/sleep 1; echo main;; *status*) ;; esac`,
  });
  await run.hanging;
  run.child.kill('SIGTERM'); // git's rev-parse is running too: it ends a second after it started
  await new Promise((r) => setTimeout(r, 1500));
  run.child.kill('SIGINT');
  const code = await run.exited;
  assert.is(code, 130, run.output());
  assert.match(run.output(), 'SIGINT again: stopping at once');
});

test('SIGTERM (CI cancelling a job) stops the same way with exit 143', async () => {
  const run = hangingStep1(
    `trap 'echo "docker: got SIGINT" >> $MARK; kill $!; exit 1' INT; echo "docker: hanging" >> $MARK; /bin/sleep 30 & wait; wait`,
  );
  await run.hanging;
  run.child.kill('SIGTERM');
  assert.is(await run.exited, 143, run.output());
  assert.match(run.marks(), 'docker: got SIGINT', 'SIGTERM is passed on as a clean-stop SIGINT');
});

test.after(async () => {
  await moto.stop();
});

test.run();
