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
  assert.equal(find('iam:PassRole'), {
    who: 'you',
    principal: ROLE,
    actions: ['iam:PassRole'],
    resources: [OUTPUTS.execution_role_arn, OUTPUTS.task_role_arn],
    context: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' },
  });
  assert.equal(find('ecs:UpdateService').resources, [`arn:aws:ecs:us-east-1:${ACCOUNT}:service/llmops-cluster/llmops-service`]);
  assert.equal(find('ecs:ListTasks').context, { 'ecs:cluster': `arn:aws:ecs:us-east-1:${ACCOUNT}:cluster/llmops-cluster` });
  assert.equal(find('s3:PutObject').resources, [`arn:aws:s3:::llmops-tfstate-${ACCOUNT}/llmops/locks/llmops-service.json`]);
  assert.equal(find('ecr:PutImage').resources, [`arn:aws:ecr:us-east-1:${ACCOUNT}:repository/llmops-system`]);
  const secrets = probes.find((p) => p.who === 'the execution role' && p.actions.includes('secretsmanager:GetSecretValue'))!;
  assert.equal(secrets.principal, OUTPUTS.execution_role_arn);
  assert.equal(secrets.resources, [OUTPUTS.app_secret_arn, OUTPUTS.db_password_secret_arn], 'the master secret: no migration');
  assert.not.ok(
    probes.some((p) => p.actions.includes('ecs:RunTask')),
    'no migration, no one-off task',
  );

  // with a migration: the app user's secret, the migration's role passed, its task run in the cluster
  const migrating = deployProbes(config({ LLMOPS_MIGRATE_COMMAND: '/bin/migrate' }), ACCOUNT, outputs, ROLE);
  assert.equal(migrating.find((p) => p.actions.includes('iam:PassRole'))!.resources.at(-1), OUTPUTS.migration_execution_role_arn);
  assert.equal(migrating.find((p) => p.actions.includes('secretsmanager:GetSecretValue'))!.resources, [
    OUTPUTS.app_secret_arn,
    OUTPUTS.db_app_secret_arn,
  ]);
  assert.ok(migrating.some((p) => p.actions.includes('ecs:RunTask')));
  // no IAM role or user behind the credentials: only the execution role is asked about
  assert.ok(deployProbes(config(), ACCOUNT, outputs, undefined).every((p) => p.who === 'the execution role'));
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
  assert.equal(decrypts(deployProbes(config(), ACCOUNT, withKey, ROLE)), [
    { who: 'the execution role', principal: OUTPUTS.execution_role_arn, actions: ['kms:Decrypt'], resources: [KEY], context: via },
  ]);
  assert.equal(
    decrypts(deployProbes(config({ LLMOPS_MIGRATE_COMMAND: '/bin/migrate' }), ACCOUNT, withKey, ROLE)).map((p) => [p.who, p.principal]),
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
  out="$out$sep{\\"EvalActionName\\":\\"$a\\",\\"EvalResourceName\\":\\"$r\\",\\"EvalDecision\\":\\"$d\\"}"; sep=','
done; done
echo "$out]}"`;
  const fb = fakeBins({ aws: answer });
  const identity = { account: ACCOUNT, region: 'us-east-1', arn: `arn:aws:sts::${ACCOUNT}:assumed-role/llmops-github-deploy/ci` };
  const runner = new Runner({ echo: () => {}, env: { PATH: `${fb.dir}:${process.env.PATH}`, AWS_ENDPOINT_URL: '' } });
  const e = await preflight(runner, config(), identity, outputs).catch((x) => x);
  assert.instance(e, ScriptFailure);
  assert.is(e.exitCode, ExitCode.PREFLIGHT);
  assert.match(e.message, /^preflight: 3 of the \d+ calls this deploy makes would be denied; nothing was changed:/);
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
  assert.ok(calls > 20, String(calls));
  assert.is(statementFor({ action: 'ecr:PutImage', resource: 'arn:r' }), '{"Effect":"Allow","Action":"ecr:PutImage","Resource":"arn:r"}');
});

test.run();
