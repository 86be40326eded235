// The deploy policy's S3 part with IAM enforced (issue 11, the part that broke real use): the rendered
// config/iam-deploy-policy.json — the same file terraform/github.tf gives the GitHub deploy role — lets a
// deploy take, renew and release its lock and read the Terraform outputs, and nothing more in the state
// bucket. moto evaluates S3 requests against the principal's policies with real resource ARNs
// (INITIAL_NO_AUTH_ACTION_COUNT: after the setup calls every request is authenticated and authorised).
// Without the lock statement — the policy as it was — the lock is AccessDenied, named clearly.
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { execa } from 'execa';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../lib/config.js';
import { withDeployLock } from '../lib/lock.js';
import { Runner } from '../lib/run.js';
import { stateBucket, terraformOutputs } from '../lib/terraform.js';
import { renderDeployPolicy } from '../scripts/iam-policy.js';
import { startMoto, type Moto } from './helpers/moto.js';
import { ROOT as ROOT_DIR } from './helpers/script.js';

const ACCOUNT = '123456789012';
const config = loadConfig({ env: { LLMOPS_PROJECT_NAME: 'iamtest' }, envFile: '' });
const bucket = stateBucket(config, ACCOUNT);
let moto: Moto;
let admin: Record<string, string>;

const aws = async (env: Record<string, string>, ...args: string[]) => {
  const r = await execa('aws', [...args, '--output', 'json'], { env: { ...process.env, ...moto.env, ...env }, reject: false });
  if (r.exitCode !== 0) throw new Error(`aws ${args.join(' ')}: ${r.stderr}`);
  return r.stdout ? JSON.parse(r.stdout) : {};
};
const keysOf = (k: any) => ({ AWS_ACCESS_KEY_ID: k.AccessKey.AccessKeyId, AWS_SECRET_ACCESS_KEY: k.AccessKey.SecretAccessKey });

/** An IAM user whose only permissions are `policy`, and its keys. */
async function principal(name: string, policy: unknown): Promise<Record<string, string>> {
  await aws(admin, 'iam', 'create-user', '--user-name', name);
  const file = join(mkdtempSync(join(tmpdir(), 'pol-')), 'policy.json');
  writeFileSync(file, JSON.stringify(policy));
  await aws(admin, 'iam', 'put-user-policy', '--user-name', name, '--policy-name', 'deploy', '--policy-document', `file://${file}`);
  return keysOf(await aws(admin, 'iam', 'create-access-key', '--user-name', name));
}

/** Run `fn` with the SDK and CLI signing as `keys`. */
async function as<T>(keys: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
  Object.assign(process.env, keys);
  try {
    return await fn();
  } finally {
    process.env.AWS_ACCESS_KEY_ID = saved.id;
    process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
  }
}

const lock = () =>
  withDeployLock(new Runner({ echo: () => {} }), config, ACCOUNT, { waitSeconds: 0, what: 'iam test' }, async () => 'inside');
const s3 = () => new S3Client({ region: 'us-east-1', forcePathStyle: true });

test.before(async () => {
  // the first 3 requests set up an admin; every later request is checked against its signer's policies
  moto = await startMoto({ INITIAL_NO_AUTH_ACTION_COUNT: '3' });
  Object.assign(process.env, moto.env);
  await aws({}, 'iam', 'create-user', '--user-name', 'admin');
  await aws({}, 'iam', 'attach-user-policy', '--user-name', 'admin', '--policy-arn', 'arn:aws:iam::aws:policy/AdministratorAccess');
  admin = keysOf(await aws({}, 'iam', 'create-access-key', '--user-name', 'admin'));
  await aws(admin, 's3api', 'create-bucket', '--bucket', bucket);
  const empty = join(mkdtempSync(join(tmpdir(), 'state-')), 'terraform.tfstate');
  writeFileSync(empty, '{}');
  await aws(admin, 's3api', 'put-object', '--bucket', bucket, '--key', `${config.project}/terraform.tfstate`, '--body', empty);
  // what Terraform publishes beside the state on every apply (terraform/outputs.tf)
  const published = join(mkdtempSync(join(tmpdir(), 'outputs-')), 'outputs.json');
  writeFileSync(published, JSON.stringify({ app_url: 'http://alb.example/health', rds_port: 5432 }));
  await aws(admin, 's3api', 'put-object', '--bucket', bucket, '--key', `${config.project}/outputs.json`, '--body', published);
});
test.after(async () => {
  await moto.stop();
});

test('enforcement is on: a principal with no policy is denied in the state bucket', async () => {
  const nobody = await principal('nobody', {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: 'sts:GetCallerIdentity', Resource: '*' }],
  });
  const error = await as(nobody, lock).catch((e) => e);
  assert.match(String(error?.message), 'AccessDenied');
});

const outputs = () => terraformOutputs(new Runner({ echo: () => {} }), config, ACCOUNT);

test('the rendered deploy policy takes, renews and releases the deploy lock and reads the published outputs — and can neither read nor write the state', async () => {
  const deployer = await principal('deployer', renderDeployPolicy(config, ACCOUNT));
  assert.is(await as(deployer, lock), 'inside');
  await as(deployer, async () => {
    const out = await outputs();
    assert.is(out.get('app_url'), 'http://alb.example/health', 'the outputs, as a deploy reads them');
    assert.is(out.get('rds_port'), '5432');
    const state = await s3()
      .send(new GetObjectCommand({ Bucket: bucket, Key: `${config.project}/terraform.tfstate` }))
      .catch((e) => e);
    assert.is(state?.name, 'AccessDenied', 'the state (every attribute of every resource) is out of reach');
    const write = await s3()
      .send(new PutObjectCommand({ Bucket: bucket, Key: `${config.project}/terraform.tfstate`, Body: '{}' }))
      .catch((e) => e);
    assert.is(write?.name, 'AccessDenied', 'writing the Terraform state is denied');
    const other = await s3()
      .send(new PutObjectCommand({ Bucket: bucket, Key: 'other-project/locks/x.json', Body: '{}' }))
      .catch((e) => e);
    assert.is(other?.name, 'AccessDenied', "another project's locks are out of reach");
  });
});

test('minimal: without the lock statement (the policy as it was) the deploy is denied at the lock, named in one line with the fix', async () => {
  const policy = renderDeployPolicy(config, ACCOUNT);
  policy.Statement = policy.Statement.filter((s: any) => s.Sid !== 'TheDeployLock');
  const before = await principal('deployer-before', policy);
  const error = await as(before, lock).catch((e) => e);
  assert.match(
    error.message,
    /AccessDenied: .* may not s3:PutObject on arn:aws:s3:::iamtest-tfstate-123456789012\/iamtest\/locks\/iamtest-service\.json \(the deploy lock\)/,
  );
  assert.match(error.message, 'statement TheDeployLock of config/iam-deploy-policy.json');
  const noOutputs = renderDeployPolicy(config, ACCOUNT);
  noOutputs.Statement = noOutputs.Statement.filter((s: any) => s.Sid !== 'ReadTheDeployOutputs');
  const blind = await principal('deployer-blind', noOutputs);
  const read = await as(blind, () => outputs().catch((e) => e));
  assert.match(read?.message, `cannot read the stack's outputs s3://${bucket}/${config.project}/outputs.json`);
  assert.match(read?.message, 'An error occurred (AccessDenied)', 'ReadTheDeployOutputs is what lets a deploy read the outputs');
  assert.match(read?.message, 'statement ReadTheDeployOutputs of config/iam-deploy-policy.json');
});

test('every statement of the deploy policy is needed, and the role can do nothing else (resource ARNs and conditions enforced)', async () => {
  // a second emulator evaluating ECS, ECR, Logs and iam:PassRole on their real resource ARNs and condition
  // keys (sandbox/iam_enforce.py); boto3 makes one representative call per statement
  const strict = await startMoto({ INITIAL_NO_AUTH_ACTION_COUNT: '3' }, { iam: true });
  try {
    const dir = mkdtempSync(join(tmpdir(), 'probe-'));
    const policy = renderDeployPolicy(config, ACCOUNT);
    writeFileSync(join(dir, 'policy.json'), JSON.stringify(policy));
    writeFileSync(
      join(dir, 'names.json'),
      JSON.stringify({
        region: 'us-east-1',
        cluster: config.names.cluster,
        service: config.names.service,
        family: config.names.family,
        logGroup: config.names.logGroup,
        repository: config.names.repository,
        executionRole: config.names.executionRole,
        taskRole: `${config.project}-ecs-task`,
        bucket,
        project: config.project,
      }),
    );
    const r = await execa(
      'python3',
      [join(ROOT_DIR, 'test/helpers/iam_probe.py'), strict.url, join(dir, 'policy.json'), join(dir, 'names.json')],
      { reject: false, env: { ...process.env, AWS_EC2_METADATA_DISABLED: 'true' } },
    );
    assert.is(r.exitCode, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { full: Record<string, string>; never: Record<string, string>; without: Record<string, string> };
    const sids = policy.Statement.map((st: any) => st.Sid as string);
    assert.equal(Object.keys(out.full).sort(), [...sids].sort(), 'one representative call for every statement');
    for (const [sid, result] of Object.entries(out.full)) assert.is(result, 'ok', `with the whole policy, ${sid}'s call: ${result}`);
    for (const st of policy.Statement) {
      const result = out.without[st.Sid]!;
      assert.match(result, /^AccessDenied/, `without ${st.Sid} its call still worked: no test needs it`);
      // S3 answers a bare "Access Denied"; every other service names the action that is missing
      if (!String(st.Action[0]).startsWith('s3:'))
        assert.ok(
          [].concat(st.Action).some((a: string) => result.includes(a)) ||
            result.includes('iam:PassRole') ||
            result.includes('ecs:TagResource'),
          `${st.Sid}: ${result}`,
        );
    }
    for (const [what, result] of Object.entries(out.never))
      assert.match(result, /^AccessDenied/, `the deploy role could ${what}: ${result}`);
    assert.match(out.never['pass another role to ECS']!, 'iam:PassRole on resource: arn:aws:iam::123456789012:role/someone-elses-role');
    // TagTheReleaseRecord's ecs:CreateAction condition: tags only with the registration, never on an existing revision
    assert.match(
      out.never['re-tag an existing task definition (rewrite the release record rollback reads)']!,
      `ecs:TagResource on resource: arn:aws:ecs:us-east-1:123456789012:task-definition/${config.names.family}:1`,
    );
  } finally {
    await strict.stop();
  }
});

test('one source: terraform/github.tf renders config/iam-deploy-policy.json (no second copy of the statements)', async () => {
  const { readFileSync } = await import('node:fs');
  const { ROOT } = await import('./helpers/script.js');
  const tf = readFileSync(join(ROOT, 'terraform/github.tf'), 'utf8');
  assert.match(tf, /templatefile\("\$\{path\.module\}\/\.\.\/config\/iam-deploy-policy\.json"/);
  assert.not.match(tf, /data "aws_iam_policy_document" "github_deploy"/);
  for (const sid of renderDeployPolicy(config, ACCOUNT).Statement.map((s: any) => s.Sid)) assert.not.match(tf, `sid = "${sid}"`);
});

test.run();
