// Teardown (`npm run destroy`) through our own script, with the same S3 backend as production, against the AWS
// emulator. The stack is a small one of its own holding what stops a plain `terraform destroy`: an ECR repository
// with an image in it (`force_delete` off, as in terraform/ecr.tf by default). The ALB's and the database's
// deletion protection are lifted the same way (the same targeted apply, TF_VAR_*_deletion_protection=false).
import { execa } from 'execa';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { smallStackDir } from './helpers/small-stack.js';
import { startMoto, type Moto } from './helpers/moto.js';
import { runScriptFile } from './helpers/script.js';

const STACK = `
variable "ecr_force_delete" {
  type    = bool
  default = false
}

resource "aws_ecr_repository" "app" {
  name         = "llmops-system"
  force_delete = var.ecr_force_delete
}

variable "alb_deletion_protection" {
  type    = bool
  default = true
}

resource "aws_s3_bucket" "alb_logs" {
  bucket        = "llmops-alb-logs-123456789012"
  force_destroy = !var.alb_deletion_protection
}

resource "terraform_data" "marker" {
  input = "the rest of the stack"
}
`;

let moto: Moto;
let env: Record<string, string>;
let dir: string;
const run = (script: string, args: string[]) => runScriptFile(script, args, env, 300_000);
const aws = (...args: string[]) => execa('aws', [...args, '--output', 'json'], { env: { ...process.env, ...moto.env }, reject: false });
const stateList = async () =>
  (await execa('terraform', [`-chdir=${dir}`, 'state', 'list'], { env: { ...process.env, ...env }, reject: false })).stdout
    .split('\n')
    .filter(Boolean);

test.before(async () => {
  moto = await startMoto();
  ({ dir, env } = smallStackDir('llmops-destroy-', STACK, moto));
});
test.after(async () => moto?.stop());

test('the stack is up, its repository holds an image', async () => {
  const plan = await run('scripts/03-plan.ts', ['--yes']);
  assert.is(plan.exitCode, 0, plan.all.slice(-2000));
  const apply = await run('scripts/04-apply.ts', ['--yes']);
  assert.is(apply.exitCode, 0, apply.all.slice(-2000));
  const manifest = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json', layers: [] });
  const put = await aws('ecr', 'put-image', '--repository-name', 'llmops-system', '--image-tag', 'v1', '--image-manifest', manifest);
  assert.is(put.exitCode, 0, put.stderr);
  // and the log bucket holds a log, as the ALB's does once it has served
  const log = await aws(
    's3api',
    'put-object',
    '--bucket',
    'llmops-alb-logs-123456789012',
    '--key',
    'AWSLogs/elb.log.gz',
    '--body',
    '/etc/hostname',
  );
  assert.is(log.exitCode, 0, log.stderr);
  assert.equal((await stateList()).sort(), ['aws_ecr_repository.app', 'aws_s3_bucket.alb_logs', 'terraform_data.marker']);
});

test('without a terminal and without --confirm: exit 2 naming --confirm llmops, nothing destroyed (CI does not imply it)', async () => {
  const r = await runScriptFile('scripts/destroy.ts', [], { ...env, CI: 'true' }, 300_000);
  assert.is(r.exitCode, 2, r.all);
  assert.match(r.stderr, '--confirm llmops');
  assert.match(r.stderr, 'nothing was destroyed');
  assert.is((await stateList()).length, 3);
});

test('a bare --yes, or --confirm naming another stack, is refused before anything runs (exit 2)', async () => {
  const [bare, other] = await Promise.all([
    runScriptFile('scripts/destroy.ts', ['--yes'], { ...env, CI: 'true' }, 300_000),
    runScriptFile('scripts/destroy.ts', ['--confirm', 'llmops-staging'], { ...env, CI: 'true' }, 300_000),
  ]);
  assert.is(bare.exitCode, 2, bare.all);
  assert.match(bare.stderr, '--yes alone does not destroy: name the stack with --confirm llmops');
  assert.is(other.exitCode, 2, other.all);
  assert.match(other.stderr, '--confirm names llmops-staging, but this run would destroy llmops (no environment');
  assert.match(bare.stderr + other.stderr, 'Nothing was run.');
  assert.is((await stateList()).length, 3);
});

test('--dry-run prints the destroy plan, the targeted apply that lifts protection, and the destroy; nothing changes', async () => {
  const r = await run('scripts/destroy.ts', ['--dry-run']);
  assert.is(r.exitCode, 0, r.all);
  assert.match(r.all, /terraform -chdir=\S+ plan -destroy .*-out=tfplan/);
  assert.match(
    r.all,
    /apply -input=false -no-color -auto-approve -var-file=llmops\.tfvars\.json -target=aws_lb\.this -target=aws_db_instance\.this -target=aws_ecr_repository\.app -target=aws_s3_bucket\.alb_logs/,
    r.all,
  );
  assert.match(r.all, /terraform -chdir=\S+ destroy -input=false -no-color -auto-approve/);
  assert.is((await stateList()).length, 3);
});

test('--confirm llmops: a plain destroy would stop at the non-empty repository; ours lifts that and destroys everything, under the deploy lock; the state bucket stays', async () => {
  const plain = await execa('terraform', [`-chdir=${dir}`, 'destroy', '-auto-approve', '-input=false', '-no-color'], {
    env: { ...process.env, ...env },
    reject: false,
    all: true,
  });
  assert.is.not(plain.exitCode, 0, 'a plain terraform destroy fails');
  assert.match(plain.all, 'RepositoryNotEmptyException');
  const r = await run('scripts/destroy.ts', ['--confirm', 'llmops']);
  assert.is(r.exitCode, 0, r.all.slice(-3000));
  assert.match(r.all, /Plan: 0 to add, 0 to change, [1-3] to destroy\./);
  assert.match(r.all, /-target=aws_ecr_repository\.app -target=aws_s3_bucket\.alb_logs/, 'only what is in the state is targeted');
  assert.not.match(r.all, /-target=aws_lb\.this/);
  assert.match(r.all, /deploy lock taken/);
  assert.match(r.stdout, /✓ destroyed llmops\. Kept: the state bucket llmops-tfstate-123456789012/);
  assert.equal(await stateList(), []);
  const repo = await aws('ecr', 'describe-repositories', '--repository-names', 'llmops-system');
  assert.match(repo.stderr, 'RepositoryNotFoundException');
  assert.is((await aws('s3api', 'head-bucket', '--bucket', 'llmops-tfstate-123456789012')).exitCode, 0, 'the state bucket is kept');
  const lock = await aws('s3api', 'list-objects-v2', '--bucket', 'llmops-tfstate-123456789012', '--prefix', 'llmops/locks/');
  assert.not.ok(JSON.parse(lock.stdout || '{}').Contents?.length, 'the deploy lock was released');
});

test('a second destroy has nothing to do and says so', async () => {
  const r = await run('scripts/destroy.ts', ['--confirm', 'llmops']);
  assert.is(r.exitCode, 0, r.all);
  assert.match(r.stdout, 'Nothing to destroy.');
  assert.not.match(r.all, /apply -input|terraform -chdir=\S+ destroy -input/);
});

test('--delete-state-bucket (asked for, the last stack of the project): every version in the bucket and the bucket itself go', async () => {
  const r = await run('scripts/destroy.ts', ['--confirm', 'llmops', '--delete-state-bucket']);
  assert.is(r.exitCode, 0, r.all);
  assert.match(r.all, /aws s3api delete-objects --bucket llmops-tfstate-123456789012/);
  assert.match(r.stdout, 'Nothing to destroy. Deleted the state bucket llmops-tfstate-123456789012.');
  assert.is.not((await aws('s3api', 'head-bucket', '--bucket', 'llmops-tfstate-123456789012')).exitCode, 0, 'the bucket is gone');
});

test.run();
