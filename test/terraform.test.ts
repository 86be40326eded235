// terraform/: fmt, validate, `terraform test` with a mocked provider, then the domain + certificate +
// CloudFront variant applied to the AWS emulator: re-plan empty, outputs resolve, our security rules hold
// on the plan JSON, destroy succeeds.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyTerraform } from './helpers/sandbox.js';
import { freePort, isolatedAwsEnv } from './helpers/moto.js';
import { ROOT } from './helpers/script.js';
import { deployPolicyViolations, RULES, runRules, trustPolicyViolations } from './terraform-rules.js';

const work = mkdtempSync(join(tmpdir(), 'llmops-tf-'));
const tfrc = join(work, 'terraformrc');
writeFileSync(tfrc, existsSync('/opt/tf-plugins') ? 'provider_installation {\n  filesystem_mirror {\n    path    = "/opt/tf-plugins"\n    include = ["registry.terraform.io/hashicorp/*"]\n  }\n}\n' : '');
const baseEnv = { ...process.env, TF_CLI_CONFIG_FILE: tfrc, TF_IN_AUTOMATION: '1', CHECKPOINT_DISABLE: '1' } as Record<string, string>;

/** The part of terraform's output worth reading on failure: from the first error on. */
function errors(all: string): string {
  const i = all.search(/Error: /);
  return i < 0 ? all.slice(-3000) : all.slice(Math.max(0, i - 200), i + 3000);
}

async function terraform(dir: string, args: string[], env: Record<string, string> = baseEnv, timeout = 600_000) {
  return execa('terraform', [`-chdir=${dir}`, ...args], { env, reject: false, all: true, timeout });
}

test('terraform fmt -check', async () => {
  const r = await terraform(join(ROOT, 'terraform'), ['fmt', '-check', '-recursive']);
  assert.is(r.exitCode, 0, `unformatted: ${r.all}`);
});

/** validate + `terraform test` (mocked provider) in a copy; started at once so it overlaps the slow apply. */
async function mockedTests() {
  const dir = copyTerraform(join(work, 'mocked', 'terraform'));
  cpSync(join(ROOT, 'terraform', 'tests'), join(dir, 'tests'), { recursive: true });
  const init = await terraform(dir, ['init', '-backend=false', '-input=false', '-no-color']);
  if (init.exitCode !== 0) return { init, validate: undefined, test: undefined };
  const validate = await terraform(dir, ['validate', '-no-color']);
  return { init, validate, test: await terraform(dir, ['test', '-no-color']) };
}
const mocked = mockedTests();

let emulator: ChildProcess | undefined;
let awsEnv: Record<string, string>;
let dir: string;
let zoneId: string;

async function startEmulator(): Promise<string> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  emulator = spawn('python3', [join(ROOT, 'test/sandbox/emulator.py'), '--port', String(port), '--events-port', String(await freePort()), '--alb-ip', '127.0.0.14', '--alb-port', String(await freePort()), '--registry-ip', '127.0.0.15', '--registry-url', 'http://127.0.0.15:1', '--regions', 'us-east-1', '--instance', `tftest-${port}`], { stdio: 'ignore' });
  for (let i = 0; i < 150; i++) {
    try {
      if ((await fetch(`${url}/moto-api/`)).status < 500) return url;
    } catch {
      /* starting */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('emulator did not start');
}

test('domain + certificate + CloudFront variant: apply to the emulator', async () => {
  const url = await startEmulator();
  awsEnv = { ...baseEnv, ...isolatedAwsEnv(url) };
  const zone = await execa('aws', ['route53', 'create-hosted-zone', '--name', 'example.com', '--caller-reference', `tf-${Date.now()}`, '--query', 'HostedZone.Id', '--output', 'text'], { env: awsEnv });
  zoneId = zone.stdout.trim().split('/').pop()!;
  dir = copyTerraform(join(work, 'domain', 'terraform'));
  cpSync(join(ROOT, 'test/sandbox/sandbox_override.tf'), join(dir, 'sandbox_override.tf'));
  writeFileSync(join(dir, 'zz_local_backend_override.tf'), 'terraform {\n  backend "local" {}\n}\n');
  Object.assign(awsEnv, {
    TF_VAR_domain_name: 'app.example.com',
    TF_VAR_hosted_zone_id: zoneId,
    TF_VAR_enable_cloudfront: 'true',
    TF_VAR_github_repository: 'acme/llmops-system',
    TF_VAR_github_environment: 'production',
    TF_VAR_alarm_email: 'ops@example.com',
    TF_VAR_alb_deletion_protection: 'false',
    TF_VAR_db_deletion_protection: 'false',
    TF_VAR_enable_autoscaling: 'false',
    TF_VAR_ecr_force_delete: 'true',
    TF_VAR_secret_recovery_window_days: '0',
  });
  const init = await terraform(dir, ['init', '-input=false', '-no-color'], awsEnv);
  assert.is(init.exitCode, 0, init.all);
  const apply = await terraform(dir, ['apply', '-auto-approve', '-input=false', '-no-color'], awsEnv);
  assert.is(apply.exitCode, 0, errors(apply.all));
  assert.match(apply.all, /Apply complete! Resources: \d+ added/);
});

let planJson: any;

test('domain variant: a second plan is empty and the outputs resolve', async () => {
  const plan = await terraform(dir, ['plan', '-detailed-exitcode', '-input=false', '-no-color', '-out=tfplan'], awsEnv);
  assert.is(plan.exitCode, 0, `expected no changes:\n${plan.all.split('\n').filter((l) => /^\s+[#~+-] /.test(l) || /Error/.test(l)).join('\n').slice(0, 4000)}`);
  planJson = JSON.parse((await terraform(dir, ['show', '-json', 'tfplan'], awsEnv)).stdout);
  const outputs = JSON.parse((await terraform(dir, ['output', '-json'], awsEnv)).stdout);
  assert.is(outputs.app_url.value, 'https://app.example.com');
  assert.match(outputs.certificate_arn.value, /^arn:aws:acm:/);
  assert.ok(outputs.cloudfront_domain_name.value.length > 0, 'CloudFront domain');
  for (const k of ['alb_dns_name', 'ecr_repository_url', 'rds_endpoint', 'ecs_cluster_name', 'ecs_service_name', 'task_family', 'log_group_name', 'target_group_arn', 'sns_topic_arn', 'tasks_security_group_id', 'db_security_group_id', 'alb_security_group_id', 'execution_role_arn', 'task_role_arn', 'app_secret_arn', 'db_password_secret_arn']) {
    assert.ok(outputs[k]?.value, `output ${k} resolves`);
  }
});

test('our security rules hold on the plan JSON, each by its check id', () => {
  const results = runRules(planJson);
  const failed = results.filter((r) => r.violations.length);
  assert.equal(failed.map((f) => `${f.id}: ${f.violations.join('; ')}`), []);
  assert.ok(results.length >= 35, `${results.length} rules`);
});

test('the GitHub deploy role: trust pinned to the repository, least privilege, PassRole scoped and conditioned', () => {
  const rs = planJson.planned_values.root_module.resources;
  const role = rs.find((r: any) => r.address === 'aws_iam_role.github_deploy[0]');
  const policy = rs.find((r: any) => r.address === 'aws_iam_role_policy.github_deploy[0]');
  assert.ok(role && policy, 'the deploy role and its policy are in the plan');
  assert.equal(trustPolicyViolations(JSON.parse(role.values.assume_role_policy), ['repo:acme/llmops-system:ref:refs/heads/main', 'repo:acme/llmops-system:environment:production']), []);
  assert.equal(deployPolicyViolations(JSON.parse(policy.values.policy)), []);
  assert.ok(rs.some((r: any) => r.type === 'aws_iam_openid_connect_provider'));
  assert.not.ok(rs.some((r: any) => r.address.startsWith('aws_iam_role.github_infra')), 'the infra role is opt-in');
});

test('the rules catch what they check (a broken copy of the plan fails them)', () => {
  const broken = JSON.parse(JSON.stringify(planJson));
  const rs = broken.planned_values.root_module.resources;
  const td = rs.find((r: any) => r.type === 'aws_ecs_task_definition');
  const defs = JSON.parse(td.values.container_definitions);
  defs[0].readonlyRootFilesystem = false;
  defs[0].environment.push({ name: 'DB_PASSWORD', value: 'hunter2' });
  td.values.container_definitions = JSON.stringify(defs);
  rs.find((r: any) => r.type === 'aws_db_instance').values.publicly_accessible = true;
  rs.find((r: any) => r.type === 'aws_iam_role_policy').values.policy = JSON.stringify({ Statement: [{ Effect: 'Allow', Action: 'iam:*', Resource: '*' }] });
  rs.find((r: any) => r.type === 'aws_ecs_service').values.network_configuration[0].assign_public_ip = true;
  const failed = runRules(broken).filter((r) => r.violations.length).map((r) => r.id);
  for (const id of ['CKV_AWS_336/ECS.5', 'ECS.8', 'CKV_AWS_17', 'IAM.21/CKV_AWS_286-290,355', 'CKV_AWS_333/ECS.2']) assert.ok(failed.includes(id), `${id} should fail, failed: ${failed}`);
  assert.is(RULES.length, runRules(broken).length);
});

test('terraform validate and terraform test (mocked provider: validations and key settings)', async () => {
  const r = await mocked;
  assert.is(r.init.exitCode, 0, r.init.all);
  assert.is(r.validate?.exitCode, 0, r.validate?.all);
  assert.is(r.test?.exitCode, 0, r.test?.all);
  assert.match(r.test!.all, /Success! \d+ passed, 0 failed/);
});

test('domain variant: destroy succeeds', async () => {
  const destroy = await terraform(dir, ['destroy', '-auto-approve', '-input=false', '-no-color'], awsEnv);
  assert.is(destroy.exitCode, 0, errors(destroy.all));
  assert.match(destroy.all, /Destroy complete! Resources: \d+ destroyed/);
  emulator?.kill('SIGTERM');
});

test.run();
