// Security 2 — create ecsTaskExecutionRole (EXECUTION_ROLE_NAME) from config/trust-policy.json, trusted by
// ecs-tasks.amazonaws.com for this account only, and attach AmazonECSTaskExecutionRolePolicy. Idempotent. Not needed
// with this toolkit's Terraform, which creates <project>-ecs-execution; the script says so when Terraform manages the
// role.
// Needs:    permission to create IAM roles
// Produces: the execution role with its managed policy
// Next:     npm run secrets
import { resolve } from 'node:path';
import { resolveIdentity } from '../lib/aws.js';
import { isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import type { Config } from '../lib/config.js';
import { sh, type Runner } from '../lib/run.js';
import { renderTemplateFile, writeRendered } from '../lib/template.js';

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

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'iam-role',
  async main({ runner, config }: ScriptContext) {
    const identity = await resolveIdentity(runner, config);
    for (const line of await ensureExecutionRole(runner, config, identity.account)) process.stdout.write(`✓ ${line}\n`);
  },
};

if (isMain(import.meta.url)) await main(spec);
