// Step 4 — terraform apply of exactly the plan step 3 saved (a stale plan is refused by terraform), after showing its
// summary; asks on a TTY unless --yes. Prints the outputs the next steps use.
// Needs:    terraform/tfplan (npm run step:3)
// Produces: the infrastructure; outputs alb_dns_name, ecr_repository_url, rds_endpoint, ecs_cluster_name, …
// Next:     npm run step:5 (push the image to ECR)
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { resolveIdentity } from '../lib/aws.js';
import { confirm, isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import { ExitCode, InterruptedError, ScriptFailure } from '../lib/errors.js';
import { formatSummary, KEY_OUTPUTS, removePlan, showPlan } from '../lib/infra.js';
import { newContext, type PipelineStep, runStep } from '../lib/pipeline.js';
import { sh, type Runner } from '../lib/run.js';
import type { Config } from '../lib/config.js';
import { chdir, planFile, terraformEnv, terraformOutputs, tfDir } from '../lib/terraform.js';

export const step: PipelineStep = {
  n: 4,
  title: 'Terraform apply',
  async run(ctx, runner, report) {
    const { config } = ctx;
    if (ctx.plan?.noChanges) return 'nothing to apply (step 3 planned no changes)';
    const identity = (ctx.identity ??= await resolveIdentity(runner, config));
    const plan = join(tfDir(config), planFile(config));
    if (!runner.dryRun && !existsSync(plan)) {
      throw new ScriptFailure(
        `no saved plan at ${plan}: run \`npm run step:3\` first (step 4 applies exactly what step 3 planned)`,
        ExitCode.PREFLIGHT,
      );
    }
    if (!runner.dryRun) {
      const summary = await showPlan(runner, config);
      runner.echo(formatSummary(summary));
      if (summary.noChanges) {
        removePlan(config);
        return 'nothing to apply';
      }
      const destructive = summary.destroy > 0 ? ` It DESTROYS ${summary.destroy} resource(s).` : '';
      if (!(await confirm(`Apply this plan to account ${identity.account}?${destructive}`, ctx.yes)))
        throw new ScriptFailure('terraform apply declined: nothing was applied (the plan is kept)');
    }
    try {
      await runner.run(sh`terraform ${chdir(config)} apply -input=false -no-color ${planFile(config)}`, {
        env: terraformEnv(config),
        stream: true,
        timeoutMs: 60 * 60_000,
      });
    } catch (error) {
      if (error instanceof InterruptedError) {
        removePlan(config); // stale once part of it is applied
        error.rerun = 'npm run step:3 && npm run step:4 (plan again from what was applied)';
      }
      throw error;
    }
    if (!runner.dryRun) removePlan(config);
    report(runner.dryRun ? '(dry run) would apply the saved plan' : '✓ applied.');
  },
};

/** The outputs the next steps use, one per line. */
export async function printOutputs(runner: Runner, config: Config, account: string): Promise<string> {
  const outputs = await terraformOutputs(runner, config, account);
  return KEY_OUTPUTS.map((k) => `  ${k} = ${outputs.get(k)}`).join('\n');
}

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'step:4',
  async main({ runner, config, yes }: ScriptContext) {
    const ctx = newContext(config, runner, yes);
    await runStep(step, ctx);
    ctx.identity ??= await resolveIdentity(runner, config);
    process.stdout.write(`${await printOutputs(runner, config, ctx.identity.account)}\n`);
  },
};

if (isMain(import.meta.url)) await main(spec);
