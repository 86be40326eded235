// The domain + certificate + CloudFront + GitHub OIDC variant of terraform/, applied to an emulator of its
// own, re-planned, read, and destroyed — in the background, once per test run (a memoized promise), so
// its Terraform waits overlap the other tests. terraform.test.ts asserts on the results.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { freePort, isolatedAwsEnv } from './moto.js';
import { copyTerraform, tfNameVars } from './sandbox.js';
import { ROOT, watchLimit } from './script.js';

type Run = { exitCode: number; all: string; stdout: string };

export function tfEnv(): Record<string, string> {
  const rc = join(mkdtempSync(join(tmpdir(), 'llmops-tfrc-')), 'terraformrc');
  writeFileSync(
    rc,
    existsSync('/opt/tf-plugins')
      ? 'provider_installation {\n  filesystem_mirror {\n    path    = "/opt/tf-plugins"\n    include = ["registry.terraform.io/hashicorp/*"]\n  }\n}\n'
      : '',
  );
  return { ...process.env, TF_CLI_CONFIG_FILE: rc, TF_IN_AUTOMATION: '1', CHECKPOINT_DISABLE: '1' } as Record<string, string>;
}

/**
 * One terraform command, under the suite's load-aware limit (test/helpers/script.ts): SIGTERM first, so it
 * releases its state lock; and a provider plugin that outlives it (terraform killed or failing while the
 * plugin started) is stopped before the next case.
 */
export async function terraform(dir: string, args: string[], env: Record<string, string>, timeout = 900_000): Promise<Run> {
  const sub = execa('terraform', [`-chdir=${dir}`, ...args], { env, reject: false, all: true });
  const [note, r] = await Promise.all([watchLimit(sub, timeout).done(), sub]);
  return { exitCode: note.includes('stopped after') ? -1 : (r.exitCode ?? -1), all: (r.all ?? '') + note, stdout: r.stdout };
}

/** The part of terraform's output worth reading on failure: from the first error on. */
export function errors(all: string): string {
  const i = all.search(/Error: /);
  return i < 0 ? all.slice(-3000) : all.slice(Math.max(0, i - 200), i + 3000);
}

/** The DB password the variant is applied with: it must reach Secrets Manager and nothing of Terraform's. */
export const DB_PASSWORD_CANARY = 'Wo-Canary-7c1e5f';

export interface DomainVariant {
  /** The administrator's first apply: the GitHub OIDC provider, the permissions boundary and the infra role. */
  bootstrap: Run;
  /** The whole stack, applied as the infra role (credentials from AssumeRoleWithWebIdentity, IAM enforced). */
  apply: Run;
  /** What the infra role tried beyond the stack, after the apply: name → the aws CLI's exit code and stderr. */
  probes: Record<string, { exitCode: number; stderr: string }>;
  /** The state file, the saved plan as JSON, and the DB secret's value as Secrets Manager holds it. */
  state: string;
  planText: string;
  dbSecret: string;
  plan: Run;
  planJson: any;
  outputs: any;
  /** What the apply published beside the state (terraform/outputs.tf): what deploys read. */
  published: any;
  destroy: Run;
}

async function startEmulator(): Promise<{ url: string; stop: () => void }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    'python3',
    [
      join(ROOT, 'sandbox/emulator.py'),
      '--port',
      String(port),
      '--events-port',
      String(await freePort()),
      '--alb-ip',
      '127.0.0.14',
      '--alb-port',
      String(await freePort()),
      '--registry-ip',
      '127.0.0.15',
      '--registry-url',
      'http://127.0.0.15:1',
      '--regions',
      'us-east-1',
      '--instance',
      `tftest-${port}`,
      '--admin-keys',
      'testing',
    ],
    { stdio: 'ignore' },
  );
  for (let i = 0; i < 150; i++) {
    try {
      if ((await fetch(`${url}/moto-api/`)).status < 500) return { url, stop: () => child.kill('SIGTERM') };
    } catch {
      /* starting */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill('SIGKILL');
  throw new Error('emulator did not start');
}

async function run(): Promise<DomainVariant> {
  const emulator = await startEmulator();
  try {
    const env = { ...tfEnv(), ...isolatedAwsEnv(emulator.url) };
    const zone = await execa(
      'aws',
      [
        'route53',
        'create-hosted-zone',
        '--name',
        'example.com',
        '--caller-reference',
        `tf-${Date.now()}`,
        '--query',
        'HostedZone.Id',
        '--output',
        'text',
      ],
      { env },
    );
    const dir = copyTerraform(join(mkdtempSync(join(tmpdir(), 'llmops-tf-domain-')), 'terraform'));
    // the sandbox's provider settings, but with the credentials of the environment: the admin's key, then the
    // infra role's session
    const override = readFileSync(join(ROOT, 'sandbox/sandbox_override.tf'), 'utf8').replace(/^\s*(access_key|secret_key)\s*=.*\n/gm, '');
    writeFileSync(join(dir, 'sandbox_override.tf'), override);
    writeFileSync(join(dir, 'zz_local_backend_override.tf'), 'terraform {\n  backend "local" {}\n}\n');
    Object.assign(env, {
      // the names step 3 passes (Terraform derives none of its own)
      ...tfNameVars(),
      TF_VAR_domain_name: 'app.example.com',
      TF_VAR_hosted_zone_id: zone.stdout.trim().split('/').pop()!,
      TF_VAR_enable_cloudfront: 'true',
      TF_VAR_github_repository: 'acme/llmops-system',
      TF_VAR_github_environment: 'production',
      TF_VAR_create_github_infra_role: 'true',
      // (db_connect_as by default: the service connects as the app's user; the migration and the user's task as the master)
      // a password of our own (the guide's way): write-only, so in no state and no plan file
      TF_VAR_db_password: DB_PASSWORD_CANARY,
      TF_VAR_db_password_version: '1',
      TF_VAR_alarm_email: 'ops@example.com',
      TF_VAR_alb_deletion_protection: 'false',
      TF_VAR_db_deletion_protection: 'false',
      TF_VAR_enable_autoscaling: 'false',
      TF_VAR_ecr_force_delete: 'true',
      TF_VAR_secret_recovery_window_days: '0',
    });
    // the state bucket step 3 creates (the stack publishes its outputs there, beside its state)
    await execa('aws', ['s3api', 'create-bucket', '--bucket', STATE_BUCKET], { env });
    const init = await terraform(dir, ['init', '-input=false', '-no-color'], env);
    const failed = (r: Run) => ({
      bootstrap: r,
      apply: r,
      probes: {},
      state: '',
      planText: '',
      dbSecret: '',
      plan: r,
      planJson: undefined,
      outputs: {},
      published: {},
      destroy: r,
    });
    if (init.exitCode !== 0) return failed(init);
    const apply1 = ['apply', '-auto-approve', '-input=false', '-no-color'];
    const bootstrap = await terraform(
      dir,
      [...apply1, '-target=aws_iam_role_policy.github_infra_iam', '-target=aws_iam_role_policy_attachment.github_infra'],
      env,
    );
    if (bootstrap.exitCode !== 0) return failed(bootstrap);
    const infra = { ...env, ...(await assumeWithWebIdentity(env, INFRA_ROLE, 'repo:acme/llmops-system:environment:infra')) };
    const apply = await terraform(dir, apply1, infra);
    const plan = await terraform(dir, ['plan', '-detailed-exitcode', '-input=false', '-no-color', '-out=tfplan'], infra);
    const planJson = JSON.parse((await terraform(dir, ['show', '-json', 'tfplan'], env)).stdout || 'null');
    const outputs = JSON.parse((await terraform(dir, ['output', '-json'], env)).stdout || '{}');
    const publishedObject = await execa('aws', ['s3', 'cp', `s3://${STATE_BUCKET}/llmops/outputs.json`, '-'], { env, reject: false });
    const published = JSON.parse(publishedObject.stdout || '{}');
    const staging = await anotherStack(env);
    const probes = { ...(await infraProbes(infra, staging)), ...(await trustProbes(env)), ...(await executionRoleProbes(env)) };
    const state = existsSync(join(dir, 'terraform.tfstate')) ? readFileSync(join(dir, 'terraform.tfstate'), 'utf8') : '';
    const planText = (await terraform(dir, ['show', '-json', 'tfplan'], env)).stdout;
    const secret = await execa(
      'aws',
      ['secretsmanager', 'get-secret-value', '--secret-id', 'llmops/db/password', '--query', 'SecretString', '--output', 'text'],
      {
        env,
        reject: false,
      },
    );
    const destroy = await terraform(dir, ['destroy', '-auto-approve', '-input=false', '-no-color'], env);
    return { bootstrap, apply, probes, state, planText, dbSecret: secret.stdout, plan, planJson, outputs, published, destroy };
  } finally {
    emulator.stop();
  }
}

const STATE_BUCKET = 'llmops-tfstate-123456789012';
const INFRA_ROLE = 'arn:aws:iam::123456789012:role/llmops-github-infra';
const DEPLOY_ROLE = 'arn:aws:iam::123456789012:role/llmops/llmops-github-deploy';

/** A token as GitHub Actions signs it (the emulator decodes it and checks the role's trust; it verifies no signature). */
export function githubToken(subject: string): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const claims = { iss: 'https://token.actions.githubusercontent.com', aud: 'sts.amazonaws.com', sub: subject };
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}.signature`;
}

const assumeArgs = (roleArn: string, subject: string) => [
  'sts',
  'assume-role-with-web-identity',
  '--role-arn',
  roleArn,
  '--role-session-name',
  'github-actions',
  '--web-identity-token',
  githubToken(subject),
  '--output',
  'json',
];

/** Credentials the way GitHub Actions gets them: AssumeRoleWithWebIdentity with the job's subject. */
async function assumeWithWebIdentity(env: Record<string, string>, roleArn: string, subject: string): Promise<Record<string, string>> {
  const r = await execa('aws', assumeArgs(roleArn, subject), { env });
  const c = JSON.parse(r.stdout).Credentials;
  return { AWS_ACCESS_KEY_ID: c.AccessKeyId, AWS_SECRET_ACCESS_KEY: c.SecretAccessKey, AWS_SESSION_TOKEN: c.SessionToken };
}

/** Which GitHub subjects may take the production deploy role (unsigned calls, as GitHub's runner makes them). */
async function trustProbes(env: Record<string, string>): Promise<DomainVariant['probes']> {
  const subjects: Record<string, string> = {
    "assume production's deploy role from the production environment": 'repo:acme/llmops-system:environment:production',
    "assume production's deploy role from a job on main that names no environment": 'repo:acme/llmops-system:ref:refs/heads/main',
    "assume production's deploy role from the staging environment": 'repo:acme/llmops-system:environment:staging',
    "assume production's deploy role from a fork's production environment": 'repo:mallory/llmops-system:environment:production',
  };
  const out: DomainVariant['probes'] = {};
  for (const [name, subject] of Object.entries(subjects)) {
    const r = await execa('aws', assumeArgs(DEPLOY_ROLE, subject), { env, reject: false });
    out[name] = { exitCode: r.exitCode ?? -1, stderr: r.stderr };
  }
  return out;
}

/** Which secrets each execution role reads, as ECS reads them for a task (a session of the role). */
async function executionRoleProbes(env: Record<string, string>): Promise<DomainVariant['probes']> {
  const roles = { service: 'llmops/llmops-ecs-execution', migration: 'llmops/llmops-ecs-migrate-execution' };
  const secrets = { "the master's secret": 'llmops/db/password', "the app user's secret": 'llmops/db/app' };
  const out: DomainVariant['probes'] = {};
  for (const [who, role] of Object.entries(roles)) {
    const r = await execa(
      'aws',
      [
        'sts',
        'assume-role',
        '--role-arn',
        `arn:aws:iam::123456789012:role/${role}`,
        '--role-session-name',
        'ecs-agent',
        '--output',
        'json',
      ],
      {
        env,
      },
    );
    const c = JSON.parse(r.stdout).Credentials;
    const session = {
      ...env,
      AWS_ACCESS_KEY_ID: c.AccessKeyId,
      AWS_SECRET_ACCESS_KEY: c.SecretAccessKey,
      AWS_SESSION_TOKEN: c.SessionToken,
    };
    for (const [what, id] of Object.entries(secrets)) {
      const read = await execa('aws', ['secretsmanager', 'get-secret-value', '--secret-id', id, '--query', 'ARN'], {
        env: session,
        reject: false,
      });
      out[`the ${who}'s execution role reads ${what}`] = { exitCode: read.exitCode ?? -1, stderr: read.stderr };
    }
  }
  return out;
}

/** What a second stack of the project (staging) keeps in the same account: an infra role, a secret, its state,
 *  and its EC2, RDS, ECS and ELB resources (tagged Project = llmops-staging, as its default_tags do). */
async function anotherStack(env: Record<string, string>): Promise<StagingResources> {
  const trust = JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::123456789012:root' }, Action: 'sts:AssumeRole' }],
  });
  const calls = [
    ['iam', 'create-role', '--role-name', 'llmops-staging-github-infra', '--assume-role-policy-document', trust],
    ['secretsmanager', 'create-secret', '--name', 'llmops-staging/db/password', '--secret-string', '{"password":"staging-secret"}'],
    ['s3api', 'put-object', '--bucket', STATE_BUCKET, '--key', 'llmops-staging/terraform.tfstate', '--content-type', 'application/json'],
  ];
  for (const args of calls) await execa('aws', args, { env });
  // the aws CLI v1 sends rds requests to AWS whatever AWS_ENDPOINT_URL says: every call names the endpoint
  const text = async (args: string[]) =>
    (await execa('aws', [...args, '--endpoint-url', env.AWS_ENDPOINT_URL!, '--output', 'text'], { env })).stdout.trim();
  const vpc = await text(['ec2', 'describe-vpcs', '--filters', 'Name=is-default,Values=true', '--query', 'Vpcs[0].VpcId']);
  const tag = 'Key=Project,Value=llmops-staging';
  await text([
    'rds',
    'create-db-instance',
    '--db-instance-identifier',
    'llmops-staging-db',
    '--db-instance-class',
    'db.t4g.micro',
    '--engine',
    'postgres',
    '--allocated-storage',
    '20',
    '--master-username',
    'llmops',
    '--master-user-password',
    'staging-password-1',
    '--tags',
    tag,
    '--query',
    'DBInstance.DBInstanceIdentifier',
  ]);
  await text(['ecs', 'create-cluster', '--cluster-name', 'llmops-staging-cluster', '--tags', 'key=Project,value=llmops-staging']);
  const sg = await text([
    'ec2',
    'create-security-group',
    '--group-name',
    'llmops-staging-tasks',
    '--description',
    'staging tasks',
    '--vpc-id',
    vpc,
    '--tag-specifications',
    `ResourceType=security-group,Tags=[{${tag}}]`,
    '--query',
    'GroupId',
  ]);
  const tg = await text([
    'elbv2',
    'create-target-group',
    '--name',
    'llmops-staging-targets',
    '--protocol',
    'HTTP',
    '--port',
    '3000',
    '--target-type',
    'ip',
    '--vpc-id',
    vpc,
    '--tags',
    tag,
    '--query',
    'TargetGroups[0].TargetGroupArn',
  ]);
  return { vpc, sg, tg };
}

interface StagingResources {
  vpc: string;
  sg: string;
  tg: string;
}

const BOUNDARY = 'arn:aws:iam::123456789012:policy/llmops-role-boundary';
const TRUST = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: 'ecs-tasks.amazonaws.com' }, Action: 'sts:AssumeRole' }],
});
const ADMIN = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] });

/** What the infra role must not do (and the one thing next to it that it may), as the infra role. */
async function infraProbes(env: Record<string, string>, staging: StagingResources): Promise<DomainVariant['probes']> {
  const sgTagged = (project: string, name: string) => [
    'ec2',
    'create-security-group',
    '--group-name',
    name,
    '--description',
    'probe',
    '--vpc-id',
    staging.vpc,
    '--tag-specifications',
    `ResourceType=security-group,Tags=[{Key=Project,Value=${project}}]`,
  ];
  const ownDb = `arn:aws:rds:us-east-1:123456789012:db:${tfNameVars().TF_VAR_db_identifier}`;
  const endpoint = ['--endpoint-url', env.AWS_ENDPOINT_URL!]; // the aws CLI v1's rds commands ignore AWS_ENDPOINT_URL
  const calls: Record<string, string[]> = {
    // EC2, RDS, ECS and ELB: by the stack's Project tag
    "delete another stack's database": [
      'rds',
      'delete-db-instance',
      '--db-instance-identifier',
      'llmops-staging-db',
      '--skip-final-snapshot',
      ...endpoint,
    ],
    "reset another stack's database's master password": [
      'rds',
      'modify-db-instance',
      '--db-instance-identifier',
      'llmops-staging-db',
      '--master-user-password',
      'taken-over-password-1',
      '--apply-immediately',
      ...endpoint,
    ],
    "delete another stack's cluster": ['ecs', 'delete-cluster', '--cluster', 'llmops-staging-cluster'],
    "open another stack's security group": [
      'ec2',
      'authorize-security-group-ingress',
      '--group-id',
      staging.sg,
      '--protocol',
      'tcp',
      '--port',
      '5432',
      '--cidr',
      '0.0.0.0/0',
    ],
    "delete another stack's target group": ['elbv2', 'delete-target-group', '--target-group-arn', staging.tg],
    "create a security group tagged as another stack's": sgTagged('llmops-staging', 'llmops-probe-staging'),
    "create a security group tagged as its own stack's": sgTagged('llmops', 'llmops-probe'),
    "tag its own stack's database": [
      'rds',
      'add-tags-to-resource',
      '--resource-name',
      ownDb,
      '--tags',
      'Key=note,Value=probe',
      ...endpoint,
    ],
    'create a role without the boundary': ['iam', 'create-role', '--role-name', 'llmops-escape', '--assume-role-policy-document', TRUST],
    "create a role on the stack's path, with the boundary, under a name the stack does not define": [
      'iam',
      'create-role',
      '--path',
      '/llmops/',
      '--role-name',
      'llmops-worker',
      '--assume-role-policy-document',
      TRUST,
      '--permissions-boundary',
      BOUNDARY,
    ],
    "put a policy on the stack's task role (it has the boundary)": [
      'iam',
      'put-role-policy',
      '--role-name',
      'llmops-ecs-task',
      '--policy-name',
      'app',
      '--policy-document',
      JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sqs:SendMessage', Resource: '*' }] }),
    ],
    'make the deploy role trust another account': [
      'iam',
      'update-assume-role-policy',
      '--role-name',
      'llmops-github-deploy',
      '--policy-document',
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::999999999999:root' }, Action: 'sts:AssumeRole' }],
      }),
    ],
    'delete the task role (to create it again with another trust)': ['iam', 'delete-role', '--role-name', 'llmops-ecs-task'],
    "tag another stack's infra role": ['iam', 'tag-role', '--role-name', 'llmops-staging-github-infra', '--tags', 'Key=owner,Value=me'],
    "change another stack's infra role's trust": [
      'iam',
      'update-assume-role-policy',
      '--role-name',
      'llmops-staging-github-infra',
      '--policy-document',
      TRUST,
    ],
    "read another stack's secret": ['secretsmanager', 'get-secret-value', '--secret-id', 'llmops-staging/db/password'],
    "read another stack's state": [
      's3api',
      'get-object',
      '--bucket',
      STATE_BUCKET,
      '--key',
      'llmops-staging/terraform.tfstate',
      '/dev/null',
    ],
    "read its own stack's published outputs": [
      's3api',
      'get-object',
      '--bucket',
      STATE_BUCKET,
      '--key',
      'llmops/outputs.json',
      '/dev/null',
    ],
    'create a role of another project, with the boundary': [
      'iam',
      'create-role',
      '--role-name',
      'other-worker',
      '--assume-role-policy-document',
      TRUST,
      '--permissions-boundary',
      BOUNDARY,
    ],
    'give itself an admin policy': [
      'iam',
      'put-role-policy',
      '--role-name',
      'llmops-github-infra',
      '--policy-name',
      'admin',
      '--policy-document',
      ADMIN,
    ],
    'attach AdministratorAccess to itself': [
      'iam',
      'attach-role-policy',
      '--role-name',
      'llmops-github-infra',
      '--policy-arn',
      'arn:aws:iam::aws:policy/AdministratorAccess',
    ],
    'change its own trust': ['iam', 'update-assume-role-policy', '--role-name', 'llmops-github-infra', '--policy-document', TRUST],
    'take the boundary off the deploy role': ['iam', 'delete-role-permissions-boundary', '--role-name', 'llmops-github-deploy'],
    'rewrite the boundary': ['iam', 'create-policy-version', '--policy-arn', BOUNDARY, '--policy-document', ADMIN, '--set-as-default'],
  };
  const out: DomainVariant['probes'] = {};
  for (const [name, args] of Object.entries(calls)) {
    const r = await execa('aws', args, { env, reject: false });
    out[name] = { exitCode: r.exitCode ?? -1, stderr: r.stderr };
  }
  return out;
}

let started: Promise<DomainVariant> | undefined;

/** Start the variant once; every caller gets the same promise. */
export function domainVariant(): Promise<DomainVariant> {
  if (!started) {
    started = run();
    // Started at module load and awaited later: a failure must fail the test that reads it, not end the
    // whole test process as an unhandled rejection.
    started.catch(() => undefined);
  }
  return started;
}
