// terraform/: fmt, validate, `terraform test` with a mocked provider, then the domain + certificate +
// CloudFront variant applied to the AWS emulator: re-plan empty, outputs resolve, our security rules hold
// on the plan JSON, destroy succeeds.
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { domainVariant, errors, terraform, tfEnv } from './helpers/domain-variant.js';
import { copyTerraform } from './helpers/sandbox.js';
import { ROOT } from './helpers/script.js';
import { deployPolicyViolations, runRules, trustPolicyViolations } from './terraform-rules.js';

const work = mkdtempSync(join(tmpdir(), 'llmops-tf-'));

test('terraform fmt -check', async () => {
  const r = await terraform(join(ROOT, 'terraform'), ['fmt', '-check', '-recursive'], tfEnv());
  assert.is(r.exitCode, 0, `unformatted: ${r.all}`);
});

/** validate + `terraform test` (mocked provider) in a copy; started at once so it overlaps the slow apply. */
async function mockedTests() {
  const env = tfEnv();
  const dir = copyTerraform(join(work, 'mocked', 'terraform'));
  cpSync(join(ROOT, 'terraform', 'tests'), join(dir, 'tests'), { recursive: true });
  const init = await terraform(dir, ['init', '-backend=false', '-input=false', '-no-color'], env);
  if (init.exitCode !== 0) return { init, validate: undefined, test: undefined };
  const validate = await terraform(dir, ['validate', '-no-color'], env);
  return { init, validate, test: await terraform(dir, ['test', '-no-color'], env) };
}
const mocked = mockedTests();

// Started at load (uvu imports every file before running any), so its minutes of Terraform provider
// waits overlap the other files of this process, which runs beside the end-to-end one (test/all.ts).
const domain = domainVariant();
let planJson: any;

test('domain + certificate + CloudFront variant: apply to the emulator', async () => {
  const d = await domain;
  assert.is(d.apply.exitCode, 0, errors(d.apply.all));
  assert.match(d.apply.all, /Apply complete! Resources: \d+ added/);
});

test('domain variant: a second plan is empty and the outputs resolve', async () => {
  const d = await domain;
  assert.is(d.plan.exitCode, 0, `expected no changes:\n${d.plan.all.split('\n').filter((l) => /^\s+[#~+-] /.test(l) || /Error/.test(l)).join('\n').slice(0, 4000)}`);
  planJson = d.planJson;
  const outputs = d.outputs;
  assert.is(outputs.app_url.value, 'https://app.example.com');
  assert.match(outputs.certificate_arn.value, /^arn:aws:acm:/);
  assert.ok(outputs.cloudfront_domain_name.value.length > 0, 'CloudFront domain');
  for (const k of ['alb_dns_name', 'ecr_repository_url', 'rds_endpoint', 'ecs_cluster_name', 'ecs_service_name', 'task_family', 'log_group_name', 'target_group_arn', 'sns_topic_arn', 'tasks_security_group_id', 'db_security_group_id', 'alb_security_group_id', 'execution_role_arn', 'task_role_arn', 'app_secret_arn', 'db_password_secret_arn', 'github_deploy_role_arn']) {
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
});

test('terraform validate and terraform test (mocked provider: validations and key settings)', async () => {
  const r = await mocked;
  assert.is(r.init.exitCode, 0, r.init.all);
  assert.is(r.validate?.exitCode, 0, r.validate?.all);
  assert.is(r.test?.exitCode, 0, r.test?.all);
  assert.match(r.test!.all, /Success! \d+ passed, 0 failed/);
});

test('domain variant: destroy succeeds', async () => {
  const d = await domain;
  assert.is(d.destroy.exitCode, 0, errors(d.destroy.all));
  assert.match(d.destroy.all, /Destroy complete! Resources: \d+ destroyed/);
});

test.run();
