// Step 4 — Apply exactly the saved plan.
// Needs:    terraform/tfplan from step 3.
// Produces: the AWS infrastructure (takes 10-15 minutes the first time); prints the outputs.
// Next:     npm run step:5 (push the image to ECR)
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { resolveIdentity } from '../lib/aws.js';
import { confirm, ExitCode, isMain, main, ScriptFailure, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import type { Config } from '../lib/config.js';
import { InterruptedError, type Runner } from '../lib/run.js';
import { terraformEnv, terraformOutputs, tf, tfDir } from '../lib/terraform.js';
import { formatSummary, showPlan } from './03-plan.js';

export const KEY_OUTPUTS = ['alb_dns_name', 'ecr_repository_url', 'rds_endpoint', 'ecs_cluster_name', 'ecs_service_name', 'target_group_arn', 'app_url'];

export async function step4(runner: Runner, config: Config, yes: boolean): Promise<'applied' | 'no-changes' | 'declined'> {
  const identity = await resolveIdentity(runner, config);
  const plan = join(tfDir(config), 'tfplan');
  if (!runner.dryRun && !existsSync(plan)) {
    throw new ScriptFailure(`no saved plan at ${plan}: run \`npm run step:3\` first (step 4 applies exactly what step 3 planned)`, ExitCode.PREFLIGHT);
  }
  if (!runner.dryRun) {
    const summary = await showPlan(runner, config);
    runner.echo(formatSummary(summary));
    if (summary.noChanges) {
      rmSync(plan, { force: true });
      return 'no-changes';
    }
    const destructive = summary.destroy > 0 ? ` It DESTROYS ${summary.destroy} resource(s).` : '';
    if (!(await confirm(`Apply this plan to account ${identity.account}?${destructive}`, yes))) return 'declined';
  }
  try {
    await runner.run('terraform', tf(config, 'apply', '-input=false', '-no-color', 'tfplan'), { env: terraformEnv(config), stream: true, timeoutMs: 60 * 60_000 });
  } catch (error) {
    if (error instanceof InterruptedError) {
      rmSync(plan, { force: true }); // stale once part of it is applied
      error.rerun = 'npm run step:3 && npm run step:4 (plan again from what was applied)';
    }
    throw error;
  }
  if (!runner.dryRun) rmSync(plan, { force: true });
  return 'applied';
}

export async function printOutputs(runner: Runner, config: Config, account: string): Promise<string> {
  const outputs = await terraformOutputs(runner, config, account);
  return KEY_OUTPUTS.map((k) => `  ${k} = ${outputs.get(k)}`).join('\n');
}

export const spec: ScriptSpec = {
  command: 'step:4',
  summary: 'Step 4 — terraform apply of exactly the plan step 3 saved (a stale plan is refused by terraform), after showing its summary; asks on a TTY unless --yes. Prints the outputs the next steps use.',
  needs: 'terraform/tfplan (npm run step:3)',
  produces: 'the infrastructure; outputs alb_dns_name, ecr_repository_url, rds_endpoint, ecs_cluster_name, …',
  next: 'npm run step:5 (push the image to ECR)',
  async main({ runner, config, yes }: ScriptContext) {
    const result = await step4(runner, config, yes);
    if (result === 'declined') {
      process.stdout.write('Not applied.\n');
      return ExitCode.FAILED;
    }
    const identity = await resolveIdentity(runner, config);
    process.stdout.write(`${result === 'no-changes' ? 'Nothing to apply.' : '✓ applied.'}\n${await printOutputs(runner, config, identity.account)}\n`);
  },
};

if (isMain(import.meta.url)) await main(spec);
