// End to end against a sandbox of its own: real terraform, aws CLI, docker engine and registry, and the
// ECS emulator running real containers. Order matters: each test builds on the previous one.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readEnvFile } from '../lib/config.js';
import { commitSampleApp } from './sandbox/sample-app.js';
import { testSandbox, type TestSandbox } from './helpers/sandbox.js';
import { ROOT } from './helpers/script.js';

let sb: TestSandbox;
let awsEnv: Record<string, string>;
const times: Record<string, number> = {};

async function aws(...args: string[]): Promise<any> {
  const r = await execa('aws', [...args, '--output', 'json'], { env: awsEnv, reject: false });
  if (r.exitCode !== 0) throw new Error(`aws ${args.join(' ')}: ${r.stderr}`);
  return r.stdout ? JSON.parse(r.stdout) : {};
}

async function service(): Promise<any> {
  return (await aws('ecs', 'describe-services', '--cluster', 'llmops-cluster', '--services', 'llmops-service')).services[0];
}

async function albGet(path: string): Promise<{ status: number; body: string }> {
  const lbs = await aws('elbv2', 'describe-load-balancers');
  const dns = lbs.LoadBalancers[0].DNSName;
  const res = await fetch(`http://${dns}${path}`, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: (await res.text()).trim() };
}

async function timed<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await fn();
  } finally {
    times[name] = (Date.now() - started) / 1000;
  }
}

test('sandbox:up brings everything up; a second up is the same as once', async () => {
  sb = await testSandbox();
  const first = await timed('sandbox:up', () => execa(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/sandbox.ts'), 'up'], { cwd: ROOT, env: sb.env, extendEnv: false, reject: false, all: true }));
  assert.is(first.exitCode, 0, first.all);
  const state1 = JSON.parse(readFileSync(join(sb.env.LLMOPS_SANDBOX_DIR, 'state.json'), 'utf8'));
  const second = await execa(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/sandbox.ts'), 'up'], { cwd: ROOT, env: sb.env, extendEnv: false, reject: false, all: true });
  assert.is(second.exitCode, 0, second.all);
  const state2 = JSON.parse(readFileSync(join(sb.env.LLMOPS_SANDBOX_DIR, 'state.json'), 'utf8'));
  assert.equal([state2.emulator, state2.registry], [state1.emulator, state1.registry], 'the second up starts nothing new');
  assert.match(second.all, 'already running');
  awsEnv = { ...process.env, ...readEnvFile(join(sb.env.LLMOPS_SANDBOX_DIR, 'env')) } as Record<string, string>;
  assert.match(readFileSync('/etc/hosts', 'utf8'), `127.0.0.12 123456789012.dkr.ecr.${sb.region}.amazonaws.com`);
  const status = await execa(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/sandbox.ts'), 'status'], { cwd: ROOT, env: sb.env, extendEnv: false, reject: false });
  assert.is(status.exitCode, 0, status.stdout);
});

test('bootstrap --dry-run prints every step\'s commands in order, with placeholders, and creates nothing', async () => {
  const r = await sb.run('scripts/bootstrap.ts', ['--dry-run']);
  assert.is(r.exitCode, 0, r.all);
  const order = ['[dry-run] $ aws --version', '[dry-run] $ docker build', '[dry-run] $ aws s3api create-bucket', '[dry-run] $ terraform', 'plan -input=false', 'apply -input=false', '[dry-run] $ aws ecr get-login-password', "| docker login --username AWS --password-stdin '<ACCOUNT_ID>.dkr.ecr.us-west-2.amazonaws.com'", '[dry-run] $ docker push', 'aws ecs register-task-definition', 'aws ecs update-service', 'describe-target-health --target-group-arn <TARGET_GROUP_ARN>'];
  let at = 0;
  for (const needle of order) {
    const i = r.all.indexOf(needle, at);
    assert.ok(i >= 0, `"${needle}" missing or out of order`);
    at = i;
  }
  assert.equal((await aws('ecr', 'describe-repositories')).repositories, []);
  assert.equal((await aws('s3api', 'list-buckets')).Buckets, []);
  assert.not.ok(existsSync(join(sb.env.TF_DIR, 'terraform.tfvars.json')), 'dry-run writes no tfvars');
});

test('bootstrap killed in the middle resumes and completes; the app answers through the ALB host name', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/bootstrap.ts'), '--yes'], { cwd: ROOT, env: sb.scriptEnv, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const killed = new Promise<void>((resolve) => {
    const watch = (chunk: Buffer) => {
      out += chunk.toString();
      if (/5\. Push the image to ECR/.test(out) && child.exitCode === null) {
        process.kill(-child.pid!, 'SIGKILL');
        resolve();
      }
    };
    child.stdout!.on('data', watch);
    child.stderr!.on('data', watch);
    child.on('exit', () => resolve());
  });
  await timed('bootstrap (first, until killed)', () => killed);
  assert.match(out, '4. Terraform apply');
  assert.not.match(out, '6. Task definition', 'killed before step 6');
  const r = await timed('bootstrap (resumed)', () => sb.run('scripts/bootstrap.ts', ['--yes']));
  assert.is(r.exitCode, 0, r.all.slice(-3000));
  assert.match(r.stdout, /3\. Terraform plan — skipped: no changes/);
  assert.match(r.all, /✓ ok: deployment ecs-svc\/\d+ is healthy: 2\/2 tasks running, 2 healthy targets/);
  const res = await albGet('/version');
  assert.equal(res, { status: 200, body: 'v1' });
  assert.match(r.stdout, 'URL:');
  assert.match(r.stdout, 'roll back:');
});

test('a second bootstrap changes nothing and is much faster', async () => {
  const before = (await service()).taskDefinition;
  const r = await timed('bootstrap (second, no-op)', () => sb.run('scripts/bootstrap.ts', ['--yes']));
  assert.is(r.exitCode, 0, r.all.slice(-3000));
  assert.match(r.stdout, /2\. Build and test the image — skipped: \w+ is already in ECR/);
  assert.match(r.stdout, /3\. Terraform plan — skipped: no changes/);
  assert.match(r.stdout, /5\. Push the image to ECR — skipped/);
  assert.match(r.stdout, /6\. Task definition and service — skipped: llmops-task:\d+ already runs this image: no new revision/);
  assert.is((await service()).taskDefinition, before);
  const revisions = (await aws('ecs', 'list-task-definitions', '--family-prefix', 'llmops-task')).taskDefinitionArns;
  assert.is(revisions.length, 2, 'Terraform\'s revision 1 and the deployed revision 2 only');
  console.log(`  times: ${JSON.stringify(times)}`);
});

test('the task writes its logs to the awslogs stream (filter-log-events and CLI v2 logs tail)', async () => {
  await albGet('/health');
  await new Promise((r) => setTimeout(r, 1500));
  const events = (await aws('logs', 'filter-log-events', '--log-group-name', '/ecs/llmops-task')).events;
  assert.ok(events.some((e: any) => /response:200/.test(e.message) && e.logStreamName.startsWith('ecs/llmops-app/')), JSON.stringify(events.slice(0, 3)));
  if (existsSync('/usr/bin/aws')) {
    const tail = await execa('/usr/bin/aws', ['logs', 'tail', '/ecs/llmops-task', '--since', '1h', '--endpoint-url', awsEnv.AWS_ENDPOINT_URL!], { env: awsEnv, reject: false });
    assert.is(tail.exitCode, 0, tail.stderr);
    assert.match(tail.stdout, 'response:200');
  }
});

test('deploy of a new commit rolls forward', async () => {
  commitSampleApp(join(sb.env.LLMOPS_SANDBOX_DIR, 'app'), 'v2');
  const before = (await service()).taskDefinition;
  const r = await timed('deploy v2', () => sb.run('scripts/deploy.ts', ['--yes']));
  assert.is(r.exitCode, 0, r.all.slice(-3000));
  const after = (await service()).taskDefinition;
  assert.is.not(after, before);
  assert.equal(await albGet('/version'), { status: 200, body: 'v2' });
  const td = await aws('ecs', 'describe-task-definition', '--task-definition', after, '--include', 'TAGS');
  const tags = Object.fromEntries(td.tags.map((t: any) => [t.key, t.value]));
  assert.match(td.taskDefinition.containerDefinitions[0].image, /@sha256:[0-9a-f]{64}$/, 'deployed by digest');
  assert.is(tags['llmops:image-digest'], td.taskDefinition.containerDefinitions[0].image.split('@')[1]);
  assert.match(tags['llmops:git-sha'], /^[0-9a-f]{40}$/);
});

test('deploy of an image that exits at start: exit 4, diagnosis with the exit code and log lines, back on the previous revision', async () => {
  commitSampleApp(join(sb.env.LLMOPS_SANDBOX_DIR, 'app'), 'v3-exits', 'exit');
  const before = (await service()).taskDefinition;
  const r = await timed('deploy broken (exit)', () => sb.run('scripts/deploy.ts', ['--yes']));
  assert.is(r.exitCode, 4, r.all.slice(-3000));
  assert.match(r.all, 'Essential container in task exited (exit code 3)');
  assert.match(r.all, 'fatal: cannot connect to the database');
  assert.match(r.all, 'ECS deployment circuit breaker');
  const s = await service();
  assert.ok(s.taskDefinition.endsWith(before.split('/').pop()), `${s.taskDefinition} should be ${before}`);
  assert.equal(await albGet('/version'), { status: 200, body: 'v2' });
});

test('deploy of an image that fails its health check: exit 4, Target.ResponseCodeMismatch with the fix', async () => {
  commitSampleApp(join(sb.env.LLMOPS_SANDBOX_DIR, 'app'), 'v4-unhealthy', 'health');
  const r = await timed('deploy broken (health)', () => sb.run('scripts/deploy.ts', ['--yes']));
  assert.is(r.exitCode, 4, r.all.slice(-3000));
  assert.match(r.all, 'Task failed ELB health checks');
  assert.match(r.all, 'Target.ResponseCodeMismatch');
  assert.match(r.all, 'make HEALTH_PATH return 200');
  assert.equal(await albGet('/version'), { status: 200, body: 'v2' });
});

test('ECS emulator with the real aws CLI: a missing image gives CannotPullContainerError, FAILED and a rollback', async () => {
  const s = await service();
  const current = await aws('ecs', 'describe-task-definition', '--task-definition', s.taskDefinition);
  const td = current.taskDefinition;
  const input = {
    family: td.family, networkMode: td.networkMode, requiresCompatibilities: td.requiresCompatibilities, cpu: td.cpu, memory: td.memory,
    executionRoleArn: td.executionRoleArn, taskRoleArn: td.taskRoleArn, volumes: td.volumes,
    containerDefinitions: [{ ...td.containerDefinitions[0], image: `123456789012.dkr.ecr.${sb.region}.amazonaws.com/llmops-system:does-not-exist` }],
  };
  const reg = await aws('ecs', 'register-task-definition', '--cli-input-json', JSON.stringify(input));
  const arn = reg.taskDefinition.taskDefinitionArn;
  const upd = await aws('ecs', 'update-service', '--cluster', 'llmops-cluster', '--service', 'llmops-service', '--task-definition', arn);
  const dep = upd.service.deployments[0];
  assert.is(dep.status, 'PRIMARY');
  assert.is(dep.taskDefinition, arn);
  assert.is(dep.rolloutState, 'IN_PROGRESS');
  assert.is(upd.service.deployments[1].status, 'ACTIVE');
  let failed: any;
  for (let i = 0; i < 60 && !failed; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    failed = (await service()).deployments.find((d: any) => d.id === dep.id && d.rolloutState === 'FAILED');
  }
  assert.ok(failed, 'the deployment goes FAILED');
  const after = await service();
  assert.ok(after.deployments[0].taskDefinition.endsWith(s.taskDefinition.split('/').pop()), 'rolled back to the previous revision');
  const stopped = await aws('ecs', 'list-tasks', '--cluster', 'llmops-cluster', '--started-by', dep.id, '--desired-status', 'STOPPED');
  const tasks = await aws('ecs', 'describe-tasks', '--cluster', 'llmops-cluster', '--tasks', ...stopped.taskArns.slice(0, 3));
  assert.match(tasks.tasks[0].stoppedReason, /^CannotPullContainerError/);
  assert.is(tasks.tasks[0].stopCode, 'TaskFailedToStart');
});

test('step 7 on a steady service is fast and says ok', async () => {
  for (let i = 0; i < 30; i++) {
    const s = await service();
    if (s.deployments.length === 1 && s.deployments[0].rolloutState === 'COMPLETED') break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const r = await sb.run('scripts/07-verify.ts', []);
  assert.is(r.exitCode, 0, r.all);
  assert.match(r.stdout, '✓ ok');
});

test('sandbox:down stops what up started and leaves no hosts entry, file or container behind', async () => {
  const state = JSON.parse(readFileSync(join(sb.env.LLMOPS_SANDBOX_DIR, 'state.json'), 'utf8'));
  const r = await execa(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/sandbox.ts'), 'down'], { cwd: ROOT, env: sb.env, extendEnv: false, reject: false, all: true });
  assert.is(r.exitCode, 0, r.all);
  for (const pid of [state.emulator, state.registry]) assert.not.ok(existsSync(`/proc/${pid}`) && !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8')), `pid ${pid} still running`);
  assert.not.match(readFileSync('/etc/hosts', 'utf8'), `sandbox-${sb.env.SANDBOX_PORT}`);
  assert.not.ok(existsSync(sb.env.LLMOPS_SANDBOX_DIR));
  assert.not.ok(readdirSync(sb.env.TF_DIR).includes('sandbox_override.tf'));
  const containers = await execa('docker', ['ps', '-aq', '--filter', `label=llmops-sandbox=sandbox-${sb.env.SANDBOX_PORT}`]);
  assert.is(containers.stdout.trim(), '');
  console.log(`  times (s): ${JSON.stringify(times)}`);
});

test.run();
