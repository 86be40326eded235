// The preflight (issue 31): what a deploy will call, asked of IAM first. The aws CLI is a fake here; the
// sandbox's end-to-end file proves it against the evaluator that enforces IAM there (a role without
// iam:PassRole is stopped with exit 3 before anything changes; the rendered deploy policy passes and deploys).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../lib/config.js';
import { ExitCode, ScriptFailure } from '../lib/errors.js';
import { callerPrincipal, decryptProbes, deployProbes, preflight, simulate, statementFor } from '../lib/preflight.js';
import { Runner } from '../lib/run.js';
import { fakeBins } from './helpers/fake-bin.js';
import { startMoto } from './helpers/moto.js';

const ACCOUNT = '123456789012';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/llmops/llmops-github-deploy`;
const OUTPUTS: Record<string, string> = {
  execution_role_arn: `arn:aws:iam::${ACCOUNT}:role/llmops/llmops-ecs-execution`,
  task_role_arn: `arn:aws:iam::${ACCOUNT}:role/llmops/llmops-ecs-task`,
  migration_execution_role_arn: `arn:aws:iam::${ACCOUNT}:role/llmops/llmops-ecs-migrate-execution`,
  app_secret_arn: `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:llmops/app/env-abc123`,
  db_password_secret_arn: `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:rds!db-1-xyz789`,
  db_app_secret_arn: `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:llmops/db/app-def456`,
  db_app_username: 'llmops_app',
  db_app_secret_version: 'v-1111',
  db_username: 'llmops',
  rds_address: 'db.example',
  rds_port: '5432',
  db_name: 'llmops',
};
const outputs = { ...OUTPUTS, get: (k: string) => OUTPUTS[k]! } as any;
const config = (env: Record<string, string> = {}) => loadConfig({ env, envFile: '' });

test('the probes: every call of the deploy on its real ARN with the condition keys its policy reads, and the execution role reads its secrets and image', () => {
  const probes = deployProbes(config(), ACCOUNT, outputs, ROLE);
  const find = (action: string) => probes.find((p) => p.actions.includes(action))!;
  // the app's own database user (the default): step 6 runs its task with the migration's role
  assert.equal(find('iam:PassRole'), {
    who: 'you',
    principal: ROLE,
    actions: ['iam:PassRole'],
    resources: [OUTPUTS.execution_role_arn, OUTPUTS.task_role_arn, OUTPUTS.migration_execution_role_arn],
    context: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' },
  });
  assert.equal(find('ecs:UpdateService').resources, [`arn:aws:ecs:us-east-1:${ACCOUNT}:service/llmops-cluster/llmops-service`]);
  assert.equal(find('ecs:ListTasks').context, { 'ecs:cluster': `arn:aws:ecs:us-east-1:${ACCOUNT}:cluster/llmops-cluster` });
  assert.equal(find('s3:PutObject').resources, [`arn:aws:s3:::llmops-tfstate-${ACCOUNT}/llmops/locks/llmops-service.json`]);
  assert.equal(find('ecr:PutImage').resources, [`arn:aws:ecr:us-east-1:${ACCOUNT}:repository/llmops-system`]);
  const readsOf = (ps: typeof probes) =>
    ps.find((p) => p.who === 'the execution role' && p.actions.includes('secretsmanager:GetSecretValue'))!;
  assert.equal(readsOf(probes).principal, OUTPUTS.execution_role_arn);
  assert.equal(readsOf(probes).resources, [OUTPUTS.app_secret_arn, OUTPUTS.db_app_secret_arn], "the app user's secret, never the master's");
  const runs = (ps: typeof probes) => ps.filter((p) => p.actions.includes('ecs:RunTask')).flatMap((p) => p.resources);
  assert.equal(runs(probes), [`arn:aws:ecs:us-east-1:${ACCOUNT}:task-definition/llmops-task-db-user:*`], "the database user's task");

  // as the master (DB_CONNECT_AS=master, the guide's way): its secret, no one-off task, no migration role
  const master = deployProbes(config({ LLMOPS_DB_CONNECT_AS: 'master' }), ACCOUNT, outputs, ROLE);
  assert.equal(readsOf(master).resources, [OUTPUTS.app_secret_arn, OUTPUTS.db_password_secret_arn]);
  assert.equal(runs(master), [], 'no one-off task');
  assert.equal(master.find((p) => p.actions.includes('iam:PassRole'))!.resources, [OUTPUTS.execution_role_arn, OUTPUTS.task_role_arn]);

  // with a migration: its task run in the cluster too
  const migrating = deployProbes(config({ LLMOPS_MIGRATE_COMMAND: '/bin/migrate' }), ACCOUNT, outputs, ROLE);
  assert.equal(migrating.find((p) => p.actions.includes('iam:PassRole'))!.resources.at(-1), OUTPUTS.migration_execution_role_arn);
  assert.equal(readsOf(migrating).resources, [OUTPUTS.app_secret_arn, OUTPUTS.db_app_secret_arn]);
  assert.equal(runs(migrating), [
    `arn:aws:ecs:us-east-1:${ACCOUNT}:task-definition/llmops-task-migrate:*`,
    `arn:aws:ecs:us-east-1:${ACCOUNT}:task-definition/llmops-task-db-user:*`,
  ]);
  // no IAM role or user behind the credentials: only the execution role is asked about
  assert.ok(deployProbes(config(), ACCOUNT, outputs, undefined).every((p) => p.who === 'the execution role'));
});

test('the whole list a deploy is asked for (a migration, a canary): each action on its ARN with its condition keys, in the order of the deploy', () => {
  const all = { ...OUTPUTS, ecs_infrastructure_role_arn: `arn:aws:iam::${ACCOUNT}:role/llmops/llmops-ecs-infrastructure` };
  const probes = deployProbes(
    config({ LLMOPS_MIGRATE_COMMAND: '/bin/migrate', LLMOPS_DEPLOY_STRATEGY: 'canary' }),
    ACCOUNT,
    { ...all, get: (k: string) => (all as any)[k] } as any,
    ROLE,
  );
  const arn = (service: string, rest: string) => `arn:aws:${service}:us-east-1:${ACCOUNT}:${rest}`;
  const repo = arn('ecr', 'repository/llmops-system');
  const service = arn('ecs', 'service/llmops-cluster/llmops-service');
  const cluster = { 'ecs:cluster': arn('ecs', 'cluster/llmops-cluster') };
  const state = `arn:aws:s3:::llmops-tfstate-${ACCOUNT}/llmops`;
  assert.equal(
    probes.map((p) => [p.who === 'you' ? p.principal === ROLE && 'you' : p.principal, p.actions, p.resources, p.context ?? null]),
    [
      [
        'you',
        [
          'ecr:GetAuthorizationToken',
          'ecs:RegisterTaskDefinition',
          'ecs:DescribeTaskDefinition',
          'elasticloadbalancing:DescribeTargetHealth',
          'cloudwatch:DescribeAlarms',
        ],
        ['*'],
        null,
      ],
      [
        'you',
        [
          'ecr:BatchCheckLayerAvailability',
          'ecr:InitiateLayerUpload',
          'ecr:UploadLayerPart',
          'ecr:CompleteLayerUpload',
          'ecr:PutImage',
          'ecr:DescribeImages',
          'ecr:DescribeImageScanFindings',
        ],
        [repo],
        null,
      ],
      ['you', ['ecs:TagResource'], [arn('ecs', 'task-definition/llmops-task:*')], { 'ecs:CreateAction': 'RegisterTaskDefinition' }],
      ['you', ['ecs:DescribeServices', 'ecs:UpdateService'], [service], null],
      ['you', ['ecs:ListTasks', 'ecs:DescribeTasks'], ['*'], cluster],
      ['you', ['ecs:RunTask'], [arn('ecs', 'task-definition/llmops-task-migrate:*')], cluster],
      ['you', ['ecs:RunTask'], [arn('ecs', 'task-definition/llmops-task-db-user:*')], cluster],
      [
        'you',
        ['iam:PassRole'],
        [OUTPUTS.execution_role_arn, OUTPUTS.task_role_arn, OUTPUTS.migration_execution_role_arn],
        { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' },
      ],
      ['you', ['s3:GetObject'], [`${state}/outputs.json`], null],
      ['you', ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'], [`${state}/locks/llmops-service.json`], null],
      ['you', ['s3:GetObject', 's3:PutObject'], [`${state}/releases/llmops-task-1.json`], null],
      ['you', ['logs:GetLogEvents'], [arn('logs', 'log-group:/ecs/llmops-task:*')], null],
      ['you', ['ecs:ListServiceDeployments'], [service], null],
      [
        'you',
        ['ecs:DescribeServiceDeployments', 'ecs:StopServiceDeployment'],
        [arn('ecs', 'service-deployment/llmops-cluster/llmops-service/*')],
        null,
      ],
      ['you', ['elasticloadbalancing:DescribeRules'], ['*'], null],
      ['you', ['iam:PassRole'], [all.ecs_infrastructure_role_arn], { 'iam:PassedToService': 'ecs.amazonaws.com' }],
      [OUTPUTS.execution_role_arn, ['secretsmanager:GetSecretValue'], [OUTPUTS.app_secret_arn, OUTPUTS.db_app_secret_arn], null],
      [OUTPUTS.execution_role_arn, ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'], [repo], null],
    ],
  );
  // a canary on a stack whose outputs name no traffic role: nothing to pass
  const noRole = deployProbes(config({ LLMOPS_DEPLOY_STRATEGY: 'canary' }), ACCOUNT, outputs, ROLE);
  assert.is(noRole.filter((p) => p.actions.includes('iam:PassRole')).length, 1);
  const ownBucket = deployProbes(config({ TF_STATE_BUCKET: 'acme-state' }), ACCOUNT, outputs, ROLE);
  assert.ok(
    ownBucket.some((p) => p.resources.includes('arn:aws:s3:::acme-state/llmops/outputs.json')),
    'TF_STATE_BUCKET names the bucket',
  );
});

test('a native strategy: the role ECS shifts traffic with is passed to ECS only, and the service deployments are followed and stopped on this service only', () => {
  const INFRA = `arn:aws:iam::${ACCOUNT}:role/llmops/llmops-ecs-infrastructure`;
  const native = { ...OUTPUTS, deployment_strategy: 'canary', ecs_infrastructure_role_arn: INFRA, get: (k: string) => OUTPUTS[k]! } as any;
  const probes = deployProbes(config({ LLMOPS_DEPLOY_STRATEGY: 'canary' }), ACCOUNT, native, ROLE);
  const pass = probes.find((p) => p.actions.includes('iam:PassRole') && p.resources.includes(INFRA));
  assert.equal(pass?.context, { 'iam:PassedToService': 'ecs.amazonaws.com' });
  assert.equal(probes.find((p) => p.actions.includes('ecs:StopServiceDeployment'))?.resources, [
    `arn:aws:ecs:us-east-1:${ACCOUNT}:service-deployment/llmops-cluster/llmops-service/*`,
  ]);
  assert.ok(probes.some((p) => p.actions.includes('elasticloadbalancing:DescribeRules')));
  const rolling = deployProbes(config(), ACCOUNT, native, ROLE);
  assert.not.ok(
    rolling.some((p) => p.resources.includes(INFRA) || p.actions.includes('ecs:StopServiceDeployment')),
    'rolling: none of it',
  );
});

const KEY = `arn:aws:kms:us-east-1:${ACCOUNT}:key/0123abcd-4567-89ef-0123-456789abcdef`;
const withKey = { ...OUTPUTS, secrets_kms_key_arn: KEY, get: (k: string) => ({ ...OUTPUTS, secrets_kms_key_arn: KEY })[k]! } as any;

test('a customer managed key: each execution role that reads a secret is asked kms:Decrypt on it through Secrets Manager; none without', () => {
  const via = { 'kms:ViaService': 'secretsmanager.us-east-1.amazonaws.com' };
  const decrypts = (probes: ReturnType<typeof deployProbes>) => probes.filter((p) => p.actions.includes('kms:Decrypt'));
  assert.equal(decrypts(deployProbes(config({ LLMOPS_DB_CONNECT_AS: 'master' }), ACCOUNT, withKey, ROLE)), [
    { who: 'the execution role', principal: OUTPUTS.execution_role_arn, actions: ['kms:Decrypt'], resources: [KEY], context: via },
  ]);
  // the app's own user (the default, with a migration or without): the migration's role runs its task
  for (const env of [{}, { LLMOPS_MIGRATE_COMMAND: '/bin/migrate' }] as Record<string, string>[])
    assert.equal(
      decrypts(deployProbes(config(env), ACCOUNT, withKey, ROLE)).map((p) => [p.who, p.principal]),
      [
        ['the execution role', OUTPUTS.execution_role_arn],
        ["the migration's execution role", OUTPUTS.migration_execution_role_arn],
      ],
    );
  // the AWS managed key (empty), and a stack applied before the output existed: nothing to ask
  assert.equal(decrypts(deployProbes(config(), ACCOUNT, outputs, ROLE)), []);
  assert.equal(decryptProbes(config(), { ...withKey, secrets_kms_key_arn: '' }, 'x', 'y'), []);
});

test("the sandbox's IAM evaluator: an execution role without the key is denied with a statement that, added, allows it", async () => {
  const moto = await startMoto({}, { iam: true });
  try {
    const env = { ...moto.env, PATH: process.env.PATH! };
    const runner = new Runner({ echo: () => {}, env });
    const aws = (...args: string[]) => runner.run({ bin: 'aws', args: [...args, '--output', 'json'] });
    const trust = {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { Service: 'ecs-tasks.amazonaws.com' }, Action: 'sts:AssumeRole' }],
    };
    const role = JSON.parse(
      (await aws('iam', 'create-role', '--role-name', 'exec', '--assume-role-policy-document', JSON.stringify(trust))).stdout,
    ).Role.Arn;
    const read = { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: OUTPUTS.app_secret_arn };
    const put = (statements: unknown[]) =>
      aws(
        'iam',
        'put-role-policy',
        '--role-name',
        'exec',
        '--policy-name',
        'secrets',
        '--policy-document',
        JSON.stringify({ Version: '2012-10-17', Statement: statements }),
      );
    await put([read]);
    const [probe] = decryptProbes(config(), withKey, role, undefined);
    const denied = await simulate(runner, probe!);
    assert.equal(
      denied.map((d) => [d.action, d.resource, d.decision]),
      [['kms:Decrypt', KEY, 'implicitDeny']],
    );
    const fix = JSON.parse(statementFor(denied[0]!));
    assert.equal(fix.Condition, { StringEquals: { 'kms:ViaService': 'secretsmanager.us-east-1.amazonaws.com' } });
    await put([read, fix]);
    assert.equal(await simulate(runner, probe!), [], 'the printed statement is the fix');
    // the condition holds: the key used directly (not through Secrets Manager) stays denied
    assert.equal((await simulate(runner, { ...probe!, context: { 'kms:ViaService': 'ssm.us-east-1.amazonaws.com' } })).length, 1);
  } finally {
    await moto.stop();
  }
});

test('the role behind assumed-role credentials is read with its path; a user is itself; anything else is not simulated', async () => {
  const fb = fakeBins({ aws: `echo '${ROLE}'` });
  const runner = new Runner({ echo: () => {}, env: { PATH: `${fb.dir}:${process.env.PATH}`, AWS_ENDPOINT_URL: '' } });
  const identity = (arn: string) => ({ account: ACCOUNT, region: 'us-east-1', arn });
  assert.is(await callerPrincipal(runner, identity(`arn:aws:sts::${ACCOUNT}:assumed-role/llmops-github-deploy/ci`)), ROLE);
  assert.equal(fb.calls(), [['aws', 'iam', 'get-role', '--role-name', 'llmops-github-deploy', '--query', 'Role.Arn', '--output', 'text']]);
  assert.is(await callerPrincipal(runner, identity(`arn:aws:iam::${ACCOUNT}:user/ci`)), `arn:aws:iam::${ACCOUNT}:user/ci`);
  assert.is(await callerPrincipal(runner, identity(`arn:aws:iam::${ACCOUNT}:root`)), undefined);
  const denied = fakeBins({
    aws: 'echo "An error occurred (AccessDenied) when calling the GetRole operation: not authorized" >&2; exit 254',
  });
  const e = await callerPrincipal(
    new Runner({ echo: () => {}, env: { PATH: `${denied.dir}:${process.env.PATH}`, AWS_ENDPOINT_URL: '' }, retryBaseMs: 1 }),
    identity(`arn:aws:sts::${ACCOUNT}:assumed-role/old-role/ci`),
  ).catch((x) => x);
  assert.instance(e, ScriptFailure);
  assert.is(e.exitCode, ExitCode.PREFLIGHT);
  assert.match(e.message, 'allow it iam:GetRole and iam:SimulatePrincipalPolicy on itself');
  assert.match(e.message, '--skip-preflight');
  assert.match(
    e.message,
    'preflight: cannot read the role behind these credentials (old-role): An error occurred (AccessDenied) when calling the GetRole operation',
  );
  // other partitions' ARNs; nothing that only contains one
  const china = fakeBins({ aws: `echo 'arn:aws-cn:iam::${ACCOUNT}:role/r'` });
  const cn = new Runner({ echo: () => {}, env: { PATH: `${china.dir}:${process.env.PATH}`, AWS_ENDPOINT_URL: '' } });
  assert.is(await callerPrincipal(cn, identity(`arn:aws-cn:sts::${ACCOUNT}:assumed-role/r/s`)), `arn:aws-cn:iam::${ACCOUNT}:role/r`);
  assert.is(await callerPrincipal(cn, identity(`arn:aws-us-gov:iam::${ACCOUNT}:user/u`)), `arn:aws-us-gov:iam::${ACCOUNT}:user/u`);
  assert.is(await callerPrincipal(cn, identity(`x:arn:aws:iam::${ACCOUNT}:user/u`)), undefined);
  assert.is(await callerPrincipal(cn, identity(`x:arn:aws:sts::${ACCOUNT}:assumed-role/r/s`)), undefined);
  assert.is(await callerPrincipal(cn, identity(`arn:aws:iam::${ACCOUNT}:user`)), undefined, 'no user name');
  assert.is(china.calls().length, 1, 'the role read once, for the assumed role only');
  // a dry run shows the read and names a placeholder
  const lines: string[] = [];
  const dry = new Runner({ echo: (l) => lines.push(l), dryRun: true, env: { AWS_ENDPOINT_URL: '' } });
  assert.is(await callerPrincipal(dry, identity(`arn:aws:sts::${ACCOUNT}:assumed-role/r/s`)), '<CALLER_ROLE_ARN>');
  assert.equal(lines, ["[dry-run] $ aws iam get-role --role-name '<ROLE_NAME>' --query Role.Arn --output text"]);
});

test('each denial is one line with the statement that grants it; exit 3, nothing else called; all allowed returns the count', async () => {
  // IAM denies PassRole (implicitly) and DeleteObject (explicitly); everything else is allowed
  const answer = `case "$*" in *get-role*) echo '${ROLE}'; exit 0;; esac
actions=(); resources=(); into=
for a in "$@"; do
  case "$a" in --action-names) into=a;; --resource-arns) into=r;; --*) into=;; *) [ "$into" = a ] && actions+=("$a"); [ "$into" = r ] && resources+=("$a");; esac
done
out='{"EvaluationResults":['; sep=''
for a in "\${actions[@]}"; do for r in "\${resources[@]}"; do
  d=allowed; [ "$a" = iam:PassRole ] && [ -z "$ALLOW_ALL" ] && d=implicitDeny; [ "$a" = s3:DeleteObject ] && [ -z "$ALLOW_ALL" ] && d=explicitDeny
  [ "$a" = secretsmanager:GetSecretValue ] && [ -n "$DENY_SECRETS" ] && d=implicitDeny
  out="$out$sep{\\"EvalActionName\\":\\"$a\\",\\"EvalResourceName\\":\\"$r\\",\\"EvalDecision\\":\\"$d\\"}"; sep=','
done; done
echo "$out]}"`;
  const fb = fakeBins({ aws: answer });
  const identity = { account: ACCOUNT, region: 'us-east-1', arn: `arn:aws:sts::${ACCOUNT}:assumed-role/llmops-github-deploy/ci` };
  const runner = new Runner({ echo: () => {}, env: { PATH: `${fb.dir}:${process.env.PATH}`, AWS_ENDPOINT_URL: '' } });
  const e = await preflight(runner, config(), identity, outputs).catch((x) => x);
  assert.instance(e, ScriptFailure);
  assert.is(e.exitCode, ExitCode.PREFLIGHT);
  assert.match(e.message, /^preflight: 4 of the 32 calls this deploy makes would be denied; nothing was changed:\n  ✗ iam:PassRole/);
  assert.match(
    e.message,
    /\n  fix: add those statements to the policy of the principal named \(config\/iam-deploy-policy.json renders the deploy role's: npm run iam-policy; the execution role's are in terraform\/iam.tf\), or --skip-preflight$/,
  );
  assert.match(
    e.message,
    `  ✗ iam:PassRole on ${OUTPUTS.execution_role_arn} (implicitDeny, ${ROLE}): add {"Effect":"Allow","Action":"iam:PassRole","Resource":"${OUTPUTS.execution_role_arn}","Condition":{"StringEquals":{"iam:PassedToService":"ecs-tasks.amazonaws.com"}}}`,
  );
  assert.match(e.message, `✗ s3:DeleteObject on arn:aws:s3:::llmops-tfstate-${ACCOUNT}/llmops/locks/llmops-service.json (explicitDeny`);
  assert.ok(
    fb.calls().every((c) => c[1] === 'iam' && ['get-role', 'simulate-principal-policy'].includes(c[2]!)),
    'only questions to IAM: nothing is changed',
  );
  const all = fakeBins({ aws: answer });
  const ok = new Runner({ echo: () => {}, env: { PATH: `${all.dir}:${process.env.PATH}`, ALLOW_ALL: '1' } });
  const calls = await preflight(ok, config(), identity, outputs);
  assert.is(calls, 32, "each action on each resource (the database user's task and its role among them)");
  // the execution role's reads are said as its own; credentials of no role or user: only those are simulated
  const lines: string[] = [];
  const secrets = new Runner({
    echo: (l) => lines.push(l),
    env: { PATH: `${all.dir}:${process.env.PATH}`, ALLOW_ALL: '1', DENY_SECRETS: '1' },
  });
  const root = { ...identity, arn: `arn:aws:iam::${ACCOUNT}:root` };
  const denied = await preflight(secrets, config(), root, outputs).catch((x) => x);
  assert.match(denied.message, /^preflight: 2 of the 4 calls this deploy makes would be denied/);
  assert.match(
    denied.message,
    `\n  ✗ the execution role secretsmanager:GetSecretValue on ${OUTPUTS.app_secret_arn} (implicitDeny, ${OUTPUTS.execution_role_arn})`,
  );
  assert.equal(
    lines.filter((l) => l.startsWith('#')),
    [`# preflight: arn:aws:iam::${ACCOUNT}:root is no IAM role or user: what it may do is not simulated, only the execution role's reads`],
  );
  assert.is(statementFor({ action: 'ecr:PutImage', resource: 'arn:r' }), '{"Effect":"Allow","Action":"ecr:PutImage","Resource":"arn:r"}');
});

test.run();
