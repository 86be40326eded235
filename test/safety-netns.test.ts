// Safety: with the sandbox environment, no request leaves 127.0.0.1. Proven in a loopback-only network
// namespace: the emulator and every client run inside it; a call that tried to reach real AWS would fail.
import { mkdtempSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyTerraform, tfNameVars } from './helpers/sandbox.js';
import { isolatedAwsEnv } from './helpers/moto.js';
import { ROOT } from './helpers/script.js';

const ns = `llmops-safety-${process.pid}`;
const port = 45000 + (process.pid % 1000);
const url = `http://127.0.0.1:${port}`;
const inNs = (cmd: string, args: string[], env: Record<string, string>, timeout = 300_000) =>
  execa('ip', ['netns', 'exec', ns, cmd, ...args], { env, reject: false, all: true, timeout });
let env: Record<string, string>;

test('a loopback-only network namespace with the emulator inside', async () => {
  await execa('ip', ['netns', 'add', ns]);
  await execa('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
  const links = await execa('ip', ['netns', 'exec', ns, 'ip', '-o', 'link']);
  assert.equal(links.stdout.trim().split('\n').length, 1, `only lo: ${links.stdout}`);
  execa(
    'ip',
    [
      'netns',
      'exec',
      ns,
      'python3',
      join(ROOT, 'sandbox/emulator.py'),
      '--port',
      String(port),
      '--events-port',
      String(port + 1),
      '--alb-port',
      String(port + 2),
      '--instance',
      ns,
      '--admin-keys',
      'testing',
    ],
    { reject: false, stdio: 'ignore' },
  );
  env = { ...process.env, ...isolatedAwsEnv(url), TF_IN_AUTOMATION: '1' } as Record<string, string>;
  for (let i = 0; i < 100; i++) {
    const r = await inNs('curl', ['-fsS', '-o', '/dev/null', `${url}/moto-api/`], env, 5000);
    if (r.exitCode === 0) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.unreachable('emulator did not start inside the namespace');
});

test('control: without the sandbox endpoint, the same call cannot leave the namespace', async () => {
  const { AWS_ENDPOINT_URL: _, ...real } = env;
  const r = await inNs('aws', ['sts', 'get-caller-identity', '--cli-connect-timeout', '3', '--cli-read-timeout', '3'], real, 60_000);
  assert.is.not(r.exitCode, 0);
  assert.match(
    r.all,
    /Could not connect|EndpointConnectionError|Name or service not known|Temporary failure|Connection refused|Network is unreachable/i,
  );
});

test('aws CLI v1 and v2 reach only the emulator', async () => {
  const v1 = await inNs('aws', ['sts', 'get-caller-identity', '--output', 'text', '--query', 'Account'], env);
  assert.is(v1.exitCode, 0, v1.all);
  assert.is(v1.stdout.trim(), '123456789012');
  const v2 = await inNs('/usr/bin/aws', ['ecs', 'list-clusters', '--endpoint-url', url, '--output', 'json'], env);
  assert.is(v2.exitCode, 0, v2.all);
});

test('step 1 (SDK identity, CLI) passes inside the namespace', async () => {
  const app = mkdtempSync(join(tmpdir(), 'app-'));
  writeFileSync(join(app, 'Dockerfile'), 'FROM scratch\n');
  await execa('git', ['-C', app, 'init', '-q']);
  await execa('git', ['-C', app, '-c', 'user.email=t@example.com', '-c', 'user.name=t', 'commit', '-q', '--allow-empty', '-m', 'x']);
  const r = await inNs(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/01-prereqs.ts')], {
    ...env,
    LLMOPS_BUILD_CONTEXT: app,
    LLMOPS_RENDERER: 'simple',
    LLMOPS_ENV_FILE: '',
  });
  assert.match(r.all, '✓ AWS credentials: account 123456789012');
});

test('terraform plans the whole stack against the emulator inside the namespace', async () => {
  const dir = copyTerraform(join(mkdtempSync(join(tmpdir(), 'llmops-ns-')), 'terraform'));
  cpSync(join(ROOT, 'sandbox/sandbox_override.tf'), join(dir, 'sandbox_override.tf'));
  writeFileSync(join(dir, 'zz_local_backend_override.tf'), 'terraform {\n  backend "local" {}\n}\n');
  const rc = join(dir, '..', 'terraformrc');
  writeFileSync(
    rc,
    'provider_installation {\n  filesystem_mirror {\n    path    = "/opt/tf-plugins"\n    include = ["registry.terraform.io/hashicorp/*"]\n  }\n}\n',
  );
  const tfEnv = { ...env, ...tfNameVars(), TF_CLI_CONFIG_FILE: rc, TF_VAR_enable_autoscaling: 'false', TF_VAR_allow_plain_http: 'true' };
  const init = await inNs('terraform', [`-chdir=${dir}`, 'init', '-input=false', '-no-color'], tfEnv);
  assert.is(init.exitCode, 0, init.all);
  const plan = await inNs('terraform', [`-chdir=${dir}`, 'plan', '-input=false', '-no-color', '-detailed-exitcode'], tfEnv);
  assert.is(plan.exitCode, 2, plan.all.slice(-3000));
  assert.match(plan.all, /Plan: \d+ to add/);
});

test('clean up the namespace', async () => {
  await execa('ip', ['netns', 'pids', ns]).then((r) =>
    Promise.all(
      r.stdout
        .split('\n')
        .filter(Boolean)
        .map((pid) => execa('kill', [pid], { reject: false })),
    ),
  );
  await new Promise((r) => setTimeout(r, 500));
  const del = await execa('ip', ['netns', 'delete', ns], { reject: false });
  assert.is(del.exitCode, 0, del.stderr);
});

test.run();
