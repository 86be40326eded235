// Security 2 — the ECS task execution role. With this toolkit's Terraform the role is Terraform's
// (<project>-ecs-execution, on the path /<project>/, with exactly the secrets and logs it needs) and the task
// definition names it: this script shows it and creates nothing. Before the stack exists it refuses (a role made
// here would be used by nothing). `--standalone` does what the guide does, for a task definition of your own:
// create EXECUTION_ROLE_NAME (default ecsTaskExecutionRole) from config/trust-policy.json, trusted by
// ecs-tasks.amazonaws.com for this account only, with AmazonECSTaskExecutionRolePolicy. Idempotent.
// Needs:    the stack (step 4); or --standalone and permission to create IAM roles
// Produces: nothing (Terraform's role shown); --standalone: the role with its managed policy
// Next:     npm run secrets
import { resolve } from 'node:path';
import { resolveIdentity } from '../lib/aws.js';
import { isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import type { Config } from '../lib/config.js';
import { sh, type Runner } from '../lib/run.js';
import { renderTemplateFile, writeRendered } from '../lib/template.js';
import { UsageError } from '../lib/errors.js';
import { terraformOutputs } from '../lib/terraform.js';

export const TRUST_TEMPLATE = resolve(import.meta.dirname, '..', 'config', 'trust-policy.json');
export const MANAGED_POLICY = 'arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy';

export async function ensureExecutionRole(runner: Runner, config: Config, account: string): Promise<string[]> {
  const done: string[] = [];
  const name = config.names.executionRole;
  const role = await runner.run(sh`aws iam get-role --role-name ${name} --output json`, { nothrow: true });
  if (role.ok && !role.dryRun) {
    const tags = (JSON.parse(role.stdout).Role?.Tags ?? []) as { Key: string; Value: string }[];
    if (tags.some((t) => t.Key === 'ManagedBy' && t.Value === 'terraform'))
      runner.echo(`# ${name} is managed by Terraform: change it there, not here`);
    done.push(`role ${name} exists`);
  } else {
    if (!role.dryRun && !/NoSuchEntity/.test(role.stderr)) throw new Error(`cannot read role ${name}: ${role.stderr.trim()}`);
    const trust = renderTemplateFile(TRUST_TEMPLATE, { ACCOUNT_ID: account });
    const file = writeRendered(runner, 'trust-policy.json', trust);
    await runner.run(
      sh`aws iam create-role --role-name ${name} --assume-role-policy-document file://${file} --description ${`ECS task execution role (${config.project}, llmops-deploy)`} --output json --query Role.Arn`,
    );
    done.push(`role ${name} created`);
  }
  const attached = await runner.json(sh`aws iam list-attached-role-policies --role-name ${name} --output json`);
  if (attached?.AttachedPolicies?.some((p: any) => p.PolicyArn === MANAGED_POLICY)) done.push('policy already attached');
  else {
    await runner.run(sh`aws iam attach-role-policy --role-name ${name} --policy-arn ${MANAGED_POLICY}`);
    done.push('AmazonECSTaskExecutionRolePolicy attached');
  }
  return done;
}

/** The execution role Terraform made and the task definition names: read, never written here. */
export async function terraformsExecutionRole(runner: Runner, config: Config, account: string): Promise<string> {
  const outputs = await terraformOutputs(runner, config, account).catch(() => undefined);
  const arn = runner.dryRun ? outputs?.get('execution_role_arn') : (outputs?.execution_role_arn as string | undefined);
  if (!arn)
    throw new UsageError(
      `no stack yet: Terraform creates the execution role (${config.project}-ecs-execution, with exactly the secrets and logs the tasks need) at step 4, and the task definition names it; a role made here would be used by nothing.\n` +
        `  fix: npm run step:3 && npm run step:4; or npm run iam-role -- --standalone to create ${config.names.executionRole} as the guide does, for a task definition of your own`,
    );
  const name = arn.split('/').pop()!;
  await runner.run(sh`aws iam get-role --role-name ${name} --query Role.Arn --output text`);
  return `${name} is Terraform's (${arn}), named by the task definition: nothing to create; change it in terraform/iam.tf`;
}

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'iam-role',
  options: {
    standalone: {
      type: 'boolean',
      description:
        "create EXECUTION_ROLE_NAME as the guide does, for a task definition of your own (this toolkit's Terraform makes its own)",
    },
  },
  async main({ runner, config, options }: ScriptContext) {
    const identity = await resolveIdentity(runner, config);
    const lines = options.standalone
      ? await ensureExecutionRole(runner, config, identity.account)
      : [await terraformsExecutionRole(runner, config, identity.account)];
    for (const line of lines) process.stdout.write(`✓ ${line}\n`);
  },
};

if (isMain(import.meta.url)) await main(spec);
