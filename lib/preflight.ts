// The preflight: every call a deploy will make, asked of IAM before the first one (iam simulate-principal-policy
// with the real resource ARNs and the context keys the policy's conditions read), for the credentials in use and
// for the execution role the task definition names (the secrets it reads, the key that encrypts them when the
// stack has its own, the repository it pulls from). Each denial is one line with the statement that grants it;
// the deploy stops with exit 3 before anything changes.
//   aws iam get-role --role-name <the role behind the credentials> --query Role.Arn --output text
//   aws iam simulate-principal-policy --policy-source-arn <ARN> --action-names … --resource-arns … [--context-entries …]
import type { Config } from './config.js';
import type { Identity } from './aws.js';
import { ExitCode, ScriptFailure } from './errors.js';
import { lockKey } from './lock.js';
import { sh, type Runner } from './run.js';
import { templateValues } from './taskdef.js';
import { outputsKey, type Outputs, releaseKey } from './terraform.js';

/** A group of calls on the same resources, under the same context, by one principal. */
export interface Probe {
  who: 'you' | 'the execution role' | "the migration's execution role";
  principal: string;
  actions: string[];
  resources: string[];
  /** Condition keys the request carries (iam:PassedToService, ecs:cluster …). */
  context?: Record<string, string>;
}

export interface Denial {
  who: Probe['who'];
  principal: string;
  action: string;
  resource: string;
  decision: string;
  context?: Record<string, string>;
}

/** The calls of a deploy (steps 5-7 and the lock) as IAM sees them, and the execution role's reads. */
export function deployProbes(config: Config, account: string, outputs: Outputs, caller: string | undefined): Probe[] {
  const { region } = config;
  const n = config.names;
  const repo = `arn:aws:ecr:${region}:${account}:repository/${n.repository}`;
  const cluster = `arn:aws:ecs:${region}:${account}:cluster/${n.cluster}`;
  const bucket = config.terraform.stateBucket ?? `${config.project}-tfstate-${account}`;
  const values = templateValues(config, outputs, `${repo}@<digest>`, '<tag>');
  const roles = [String(values.EXECUTION_ROLE_ARN), String(values.TASK_ROLE_ARN)];
  // the migration's role runs the migration and the database user's task (step 6)
  const migrationRole = config.migrate || config.dbUser.connectAs === 'app';
  if (migrationRole) roles.push(String(values.MIGRATION_EXECUTION_ROLE_ARN));
  const you = (actions: string[], resources: string[], context?: Record<string, string>): Probe => ({
    who: 'you',
    principal: caller!,
    actions,
    resources,
    context,
  });
  const callerProbes: Probe[] = caller
    ? [
        you(
          [
            'ecr:GetAuthorizationToken',
            'ecs:RegisterTaskDefinition',
            'ecs:DescribeTaskDefinition',
            'elasticloadbalancing:DescribeTargetHealth',
            'cloudwatch:DescribeAlarms',
          ],
          ['*'],
        ),
        you(
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
        ),
        you(['ecs:TagResource'], [`arn:aws:ecs:${region}:${account}:task-definition/${n.family}:*`], {
          'ecs:CreateAction': 'RegisterTaskDefinition',
        }),
        you(['ecs:DescribeServices', 'ecs:UpdateService'], [`arn:aws:ecs:${region}:${account}:service/${n.cluster}/${n.service}`]),
        you(['ecs:ListTasks', 'ecs:DescribeTasks'], ['*'], { 'ecs:cluster': cluster }),
        ...(config.migrate
          ? [you(['ecs:RunTask'], [`arn:aws:ecs:${region}:${account}:task-definition/${n.family}-migrate:*`], { 'ecs:cluster': cluster })]
          : []),
        ...(config.dbUser.connectAs === 'app'
          ? [you(['ecs:RunTask'], [`arn:aws:ecs:${region}:${account}:task-definition/${n.family}-db-user:*`], { 'ecs:cluster': cluster })]
          : []),
        you(['iam:PassRole'], roles, { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' }),
        you(['s3:GetObject'], [`arn:aws:s3:::${bucket}/${outputsKey(config)}`]),
        you(['s3:GetObject', 's3:PutObject', 's3:DeleteObject'], [`arn:aws:s3:::${bucket}/${lockKey(config)}`]),
        you(['s3:GetObject', 's3:PutObject'], [`arn:aws:s3:::${bucket}/${releaseKey(config, 1)}`]),
        you(['logs:GetLogEvents'], [`arn:aws:logs:${region}:${account}:log-group:${n.logGroup}:*`]),
        ...(config.strategy.kind === 'rolling' ? [] : strategyProbes(config, account, outputs, you)),
      ]
    : [];
  const secrets = [values.APP_SECRET_ARN, values.DB_PASSWORD_SECRET_ARN].map(String);
  const execution = String(values.EXECUTION_ROLE_ARN);
  return [
    ...callerProbes,
    { who: 'the execution role', principal: execution, actions: ['secretsmanager:GetSecretValue'], resources: secrets },
    { who: 'the execution role', principal: execution, actions: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'], resources: [repo] },
    ...decryptProbes(config, outputs, execution, migrationRole ? String(values.MIGRATION_EXECUTION_ROLE_ARN) : undefined),
  ];
}

/**
 * A native strategy (DEPLOY_STRATEGY): step 6 passes ECS the role it shifts traffic with; step 7 follows the service
 * deployment and reads the production rule's weights; a crash loop is stopped with StopServiceDeployment.
 */
function strategyProbes(
  config: Config,
  account: string,
  outputs: Outputs,
  you: (a: string[], r: string[], c?: Record<string, string>) => Probe,
): Probe[] {
  const { region } = config;
  const service = `arn:aws:ecs:${region}:${account}:service/${config.names.cluster}/${config.names.service}`;
  const role = typeof outputs.ecs_infrastructure_role_arn === 'string' ? outputs.ecs_infrastructure_role_arn : '';
  return [
    you(['ecs:ListServiceDeployments'], [service]),
    you(['ecs:DescribeServiceDeployments', 'ecs:StopServiceDeployment'], [`${service.replace(':service/', ':service-deployment/')}/*`]),
    you(['elasticloadbalancing:DescribeRules'], ['*']),
    ...(role ? [you(['iam:PassRole'], [role], { 'iam:PassedToService': 'ecs.amazonaws.com' })] : []),
  ];
}

/**
 * Under a customer managed key (SECRETS_KMS_KEY_ARN, the stack's secrets_kms_key_arn output), each execution role
 * that reads a secret decrypts it with that key, through Secrets Manager (the condition its policy carries). IAM
 * answers for the roles' policies only: the key's own policy must also allow this account's IAM to grant it.
 * A stack without the output (applied by an older version) or with it empty uses the AWS managed key: no probe.
 */
export function decryptProbes(config: Config, outputs: Outputs, execution: string, migration: string | undefined): Probe[] {
  const key = typeof outputs.secrets_kms_key_arn === 'string' ? outputs.secrets_kms_key_arn : '';
  if (!key) return [];
  const context = { 'kms:ViaService': `secretsmanager.${config.region}.amazonaws.com` };
  const probe = (who: Probe['who'], principal: string): Probe => ({ who, principal, actions: ['kms:Decrypt'], resources: [key], context });
  return [probe('the execution role', execution), ...(migration ? [probe("the migration's execution role", migration)] : [])];
}

/** The IAM role or user behind the credentials, as simulate-principal-policy names it; undefined for anything else. */
export async function callerPrincipal(runner: Runner, identity: Identity): Promise<string | undefined> {
  if (runner.dryRun) {
    await runner.run(sh`aws iam get-role --role-name ${'<ROLE_NAME>'} --query Role.Arn --output text`);
    return '<CALLER_ROLE_ARN>';
  }
  if (/^arn:aws[a-z-]*:iam::\d{12}:user\//.test(identity.arn)) return identity.arn;
  const role = /^arn:aws[a-z-]*:sts::\d{12}:assumed-role\/([^/]+)\//.exec(identity.arn)?.[1];
  if (!role) return undefined;
  // the role's ARN with its path (the session's ARN has none)
  const r = await runner.run(sh`aws iam get-role --role-name ${role} --query Role.Arn --output text`, { nothrow: true });
  if (!r.ok)
    throw new ScriptFailure(
      `preflight: cannot read the role behind these credentials (${role}): ${r.stderr.trim().split('\n').pop()}\n` +
        `  fix: allow it iam:GetRole and iam:SimulatePrincipalPolicy on itself (config/iam-deploy-policy.json, statement PreflightSimulatesTheDeploy; npm run iam-policy), or skip the preflight: --skip-preflight`,
      ExitCode.PREFLIGHT,
    );
  return r.stdout.trim();
}

/** One probe, answered by IAM: the calls it would not allow. */
export async function simulate(runner: Runner, probe: Probe): Promise<Denial[]> {
  const context = Object.entries(probe.context ?? {}).map(([k, v]) => `ContextKeyName=${k},ContextKeyValues=${v},ContextKeyType=string`);
  const out = await runner.json(
    sh`aws iam simulate-principal-policy --policy-source-arn ${probe.principal} --action-names ${probe.actions} --resource-arns ${probe.resources} ${context.length ? ['--context-entries', ...context] : []} --output json`,
  );
  if (runner.dryRun) return [];
  return ((out?.EvaluationResults ?? []) as any[])
    .filter((r) => r.EvalDecision !== 'allowed')
    .map((r) => ({
      who: probe.who,
      principal: probe.principal,
      action: r.EvalActionName,
      resource: r.EvalResourceName,
      decision: r.EvalDecision,
      context: probe.context,
    }));
}

/** The statement that would grant a denied call: what the line says to add. */
export function statementFor(d: Pick<Denial, 'action' | 'resource' | 'context'>): string {
  const condition = d.context && Object.keys(d.context).length ? { Condition: { StringEquals: d.context } } : {};
  return JSON.stringify({ Effect: 'Allow', Action: d.action, Resource: d.resource, ...condition });
}

/**
 * Every probe at once (each one CLI call, side by side); throws exit 3 listing each denial with its statement.
 * Returns how many calls were simulated.
 */
export async function preflight(runner: Runner, config: Config, identity: Identity, outputs: Outputs): Promise<number> {
  const caller = await callerPrincipal(runner, identity);
  if (!caller)
    runner.echo(`# preflight: ${identity.arn} is no IAM role or user: what it may do is not simulated, only the execution role's reads`);
  const probes = deployProbes(config, identity.account, outputs, caller);
  const denials = (await Promise.all(probes.map((p) => simulate(runner, p)))).flat();
  const calls = probes.reduce((n, p) => n + p.actions.length * p.resources.length, 0);
  if (denials.length)
    throw new ScriptFailure(
      `preflight: ${denials.length} of the ${calls} calls this deploy makes would be denied; nothing was changed:\n` +
        denials
          .map(
            (d) =>
              `  ✗ ${d.who === 'you' ? '' : `${d.who} `}${d.action} on ${d.resource} (${d.decision}, ${d.principal}): add ${statementFor(d)}`,
          )
          .join('\n') +
        `\n  fix: add those statements to the policy of the principal named (config/iam-deploy-policy.json renders the deploy role's: npm run iam-policy; the execution role's are in terraform/iam.tf), or --skip-preflight`,
      ExitCode.PREFLIGHT,
    );
  return calls;
}
