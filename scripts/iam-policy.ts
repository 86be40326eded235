// Render config/iam-deploy-policy.json — ECR push to the one repository, register/describe task definitions,
// update/describe the one service, iam:PassRole only on the two task roles and only to ecs-tasks.amazonaws.com, read
// its log group — for your account, region and names. It replaces the guide's wildcard policy. With --diff:
// config/iam-diff-policy.json, the read-only policy of a pull request's `npm run diff -- --skip-plan`.
// Needs:    credentials (for the account id) or --account-id
// Produces: .llmops/iam-deploy-policy.json and the command that attaches it
// Next:     npm run github-secrets
import { resolve } from 'node:path';
import { resolveIdentity } from '../lib/aws.js';
import { isMain, main, matching, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import { formatCommand } from '../lib/run.js';
import type { Config } from '../lib/config.js';
import { renderTemplateFile, writeRendered } from '../lib/template.js';
import { stateBucket } from '../lib/terraform.js';

export const POLICY_TEMPLATE = resolve(import.meta.dirname, '..', 'config', 'iam-deploy-policy.json');
export const DIFF_POLICY_TEMPLATE = resolve(import.meta.dirname, '..', 'config', 'iam-diff-policy.json');

/** The one source of the deploy policy (and the diff's): terraform/github.tf renders the same files with templatefile(). */
export function renderDeployPolicy(
  config: Config,
  account: string,
  taskRoleName = `${config.project}-ecs-task`,
  template = POLICY_TEMPLATE,
): any {
  return renderTemplateFile(template, {
    AWS_REGION: config.region,
    ACCOUNT_ID: account,
    ECR_REPOSITORY: config.names.repository,
    TASK_FAMILY: config.names.family,
    ECS_CLUSTER: config.names.cluster,
    ECS_SERVICE: config.names.service,
    LOG_GROUP: config.names.logGroup,
    EXECUTION_ROLE_NAME: config.names.executionRole,
    MIGRATION_ROLE_NAME: `${config.project}-ecs-migrate-execution`,
    TASK_ROLE_NAME: taskRoleName,
    STATE_BUCKET: stateBucket(config, account),
    PROJECT_NAME: config.project,
  });
}

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'iam-policy',
  options: {
    'account-id': {
      type: 'string',
      placeholder: '12 digits',
      description: 'render for this account without calling AWS',
      parse: matching(/^\d{12}$/, 'a 12-digit AWS account id'),
    },
    'task-role': {
      type: 'string',
      placeholder: 'role name',
      description: 'name of the task role the app runs as (default <project>-ecs-task)',
      parse: matching(/^[\w+=,.@-]{1,64}$/, 'an IAM role name'),
    },
    role: {
      type: 'string',
      placeholder: 'role name',
      description: 'the deploy role to print the attach command for (default: <DEPLOY_ROLE>)',
      parse: matching(/^[\w+=,.@-]{1,64}$/, 'an IAM role name'),
    },
    diff: { type: 'boolean', description: "the read-only policy of a pull request's npm run diff (config/iam-diff-policy.json)" },
  },
  async main({ runner, config, options }: ScriptContext) {
    let account: string = options['account-id'];
    account ??= (await resolveIdentity(runner, config)).account;
    const kind = options.diff ? 'diff' : 'deploy';
    const policy = renderDeployPolicy(config, account, options['task-role'], options.diff ? DIFF_POLICY_TEMPLATE : POLICY_TEMPLATE);
    const file = writeRendered(runner, `iam-${kind}-policy.json`, policy);
    process.stdout.write(
      `${JSON.stringify(policy, null, 2)}\n\nwritten to ${file}; attach it with:\n  ${formatCommand('aws', ['iam', 'put-role-policy', '--role-name', options.role ?? `<${kind.toUpperCase()}_ROLE>`, '--policy-name', `${kind}-${config.names.service}`, '--policy-document', `file://${file}`])}\n`,
    );
  },
};

if (isMain(import.meta.url)) await main(spec);
