// Environments side by side (issue 13): `--env staging` and `--env production` of one project, through our own
// steps against the AWS emulator with the production S3 backend. Each has its own names, state key, Terraform
// working state (TF_DATA_DIR), variables file, plan file and deploy lock, so the two are planned and applied at
// the same time in one checkout, and destroying one leaves the other as it was. The stack is a small one whose
// names derive from project_name and environment as terraform/locals.tf derives them.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { smallStackDir } from './helpers/small-stack.js';
import { startMoto, type Moto } from './helpers/moto.js';
import { runScriptFile } from './helpers/script.js';

const STACK = `
variable "project_name" {
  type = string
}

variable "environment" {
  type    = string
  default = null
}

variable "ecr_force_delete" {
  type    = bool
  default = false
}

resource "aws_ecr_repository" "app" {
  name         = "\${var.environment == null ? var.project_name : "\${var.project_name}-\${var.environment}"}-system"
  force_delete = var.ecr_force_delete
}
`;

const BUCKET = 'hanbit-tfstate-123456789012';
let moto: Moto;
let env: Record<string, string>;
let dir: string;
const run = (script: string, args: string[], extra: Record<string, string> = {}) =>
  runScriptFile(script, args, { ...env, ...extra }, 300_000);
const aws = async (...args: string[]) => {
  const r = await execa('aws', [...args, '--output', 'json'], { env: { ...process.env, ...moto.env }, reject: false });
  return { ...r, json: r.stdout ? JSON.parse(r.stdout) : {} };
};
const repositories = async () =>
  ((await aws('ecr', 'describe-repositories')).json.repositories ?? []).map((r: any) => r.repositoryName).sort();
const stateKeys = async () =>
  ((await aws('s3api', 'list-objects-v2', '--bucket', BUCKET)).json.Contents ?? []).map((o: any) => o.Key).sort();

test.before(async () => {
  moto = await startMoto();
  ({ dir, env } = smallStackDir('llmops-environments-', STACK, moto));
  // the user's .env and one file per environment beside it, as in a checkout
  const base = dirname(dir);
  writeFileSync(join(base, '.env'), 'PROJECT_NAME=hanbit\n');
  writeFileSync(join(base, '.env.staging'), '# what differs in staging\nTASK_CPU=256\nTASK_MEMORY=512\n');
  writeFileSync(join(base, '.env.production'), '');
  env = { ...env, LLMOPS_ENV_FILE: join(base, '.env') };
});
test.after(async () => moto?.stop());

test('staging and production are planned and applied at the same time in one checkout, each under its own names and state', async () => {
  const up = (name: string) =>
    run('scripts/03-plan.ts', ['--env', name]).then(async (plan) => ({
      plan,
      apply: await run('scripts/04-apply.ts', ['--env', name, '--yes']),
    }));
  const [staging, production] = await Promise.all([up('staging'), up('production')]);
  for (const [name, r] of [
    ['staging', staging],
    ['production', production],
  ] as const) {
    assert.is(r.plan.exitCode, 0, r.plan.all.slice(-2000));
    assert.match(r.plan.all, `-var-file=hanbit-${name}.tfvars.json -out=tfplan-${name}`);
    assert.match(r.plan.stdout, `Next: npm run step:4 -- --env ${name}`);
    assert.match(r.plan.all, `-backend-config=key=hanbit-${name}/terraform.tfstate`);
    assert.is(r.apply.exitCode, 0, r.apply.all.slice(-2000));
    assert.ok(existsSync(join(dir, `.terraform-${name}`)), `${name}'s working state is its own (TF_DATA_DIR)`);
  }
  assert.equal(await repositories(), ['hanbit-production-system', 'hanbit-staging-system']);
  assert.equal(await stateKeys(), ['hanbit-production/terraform.tfstate', 'hanbit-staging/terraform.tfstate']);
  assert.not.ok(existsSync(join(dir, '.terraform')), 'no run used the shared working state');
  assert.not.ok(existsSync(join(dir, 'terraform.tfvars.json')), 'no variables file that every run would read');
});

test(".env.<name> goes over .env: each environment's own settings reached only its variables file", () => {
  const vars = (name: string) => JSON.parse(readFileSync(join(dir, `hanbit-${name}.tfvars.json`), 'utf8'));
  assert.equal([vars('staging').task_cpu, vars('staging').task_memory], [256, 512]);
  assert.equal([vars('production').task_cpu, vars('production').task_memory], [512, 1024], "the defaults, not staging's");
  assert.equal(
    [vars('staging').project_name, vars('staging').environment, vars('staging').ecs_cluster_name],
    ['hanbit', 'staging', 'hanbit-staging-cluster'],
  );
  assert.equal([vars('production').environment, vars('production').ecs_cluster_name], ['production', 'hanbit-production-cluster']);
});

test('a misspelt or invalid environment is refused before anything runs (exit 2, naming LLMOPS_ENVIRONMENT)', async () => {
  const before = await repositories();
  const [missing, invalid, fromVariable] = await Promise.all([
    run('scripts/03-plan.ts', ['--env', 'prodution']),
    run('scripts/03-plan.ts', ['--env', 'Prod']),
    run('scripts/03-plan.ts', [], { LLMOPS_ENVIRONMENT: 'qa' }),
  ]);
  assert.is(missing.exitCode, 2, missing.all);
  assert.match(missing.stderr, /LLMOPS_ENVIRONMENT.*reads \S+\.env\.prodution, which does not exist beside \.env: create it/);
  assert.is(invalid.exitCode, 2, invalid.all);
  assert.match(invalid.stderr, /LLMOPS_ENVIRONMENT.*expected 1-12 lowercase letters or digits/);
  assert.is(fromVariable.exitCode, 2, fromVariable.all);
  assert.match(fromVariable.stderr, '.env.qa, which does not exist beside .env');
  assert.equal(await repositories(), before);
  assert.not.ok(existsSync(join(dir, '.terraform-prodution')));
});

test('a variables file Terraform reads in every run is refused for an environment: its values would reach all of them', async () => {
  writeFileSync(join(dir, 'terraform.tfvars'), 'task_cpu = 4096\n');
  try {
    const r = await run('scripts/03-plan.ts', ['--env', 'staging']);
    assert.is(r.exitCode, 2, r.all);
    assert.match(
      r.stderr,
      /terraform\.tfvars: Terraform reads it in every run of .*, so its values would reach the staging environment too/,
    );
    assert.match(r.stderr, 'put settings in .env (every environment) or .env.staging (this one)');
  } finally {
    rmSync(join(dir, 'terraform.tfvars'));
  }
});

test('a terraform.tfvars.json left by an earlier version is removed, not read into an environment', async () => {
  writeFileSync(join(dir, 'terraform.tfvars.json'), '{"task_cpu": 4096}\n');
  const r = await run('scripts/03-plan.ts', ['--env', 'production']);
  assert.is(r.exitCode, 0, r.all.slice(-2000));
  assert.match(r.all, /removed \S+terraform\.tfvars\.json: an earlier version of the toolkit wrote it/);
  assert.not.ok(existsSync(join(dir, 'terraform.tfvars.json')));
  assert.match(r.stdout, 'No changes: the infrastructure matches the configuration.');
});

test('destroying staging (--env staging --confirm hanbit-staging) leaves production as it was: its repository, its state, an empty plan', async () => {
  const wrong = await run('scripts/destroy.ts', ['--env', 'staging', '--confirm', 'hanbit-production']);
  assert.is(wrong.exitCode, 2, wrong.all);
  assert.match(wrong.stderr, '--confirm names hanbit-production, but this run would destroy hanbit-staging (environment staging');
  const keep = await run('scripts/destroy.ts', ['--env', 'staging', '--confirm', 'hanbit-staging', '--delete-state-bucket']);
  assert.is(keep.exitCode, 2, keep.all);
  assert.match(keep.stderr, `${BUCKET} also holds hanbit-production/terraform.tfstate: destroy those stacks first`);
  assert.equal(await repositories(), ['hanbit-production-system', 'hanbit-staging-system'], 'nothing was destroyed');
  const r = await run('scripts/destroy.ts', ['--env', 'staging', '--confirm', 'hanbit-staging']);
  assert.is(r.exitCode, 0, r.all.slice(-3000));
  assert.match(r.all, `deploy lock taken: s3://${BUCKET}/hanbit-staging/locks/hanbit-staging-service.json`);
  assert.match(r.stdout, `✓ destroyed hanbit-staging. Kept: the state bucket ${BUCKET}`);
  assert.equal(await repositories(), ['hanbit-production-system']);
  const plan = await run('scripts/03-plan.ts', ['--env', 'production']);
  assert.is(plan.exitCode, 0, plan.all.slice(-2000));
  assert.match(plan.stdout, 'No changes: the infrastructure matches the configuration.');
  assert.ok(readdirSync(dir).includes('.terraform-production'));
});

test.run();
