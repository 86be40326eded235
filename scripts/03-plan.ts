// Step 3 — terraform plan: create the S3 state bucket if missing (versioned, encrypted, private; native S3 locking),
// write <project>.tfvars.json from .env (or check your own terraform.tfvars), init, plan -out=tfplan, and summarize
// adds / changes / destroys with every destructive change highlighted. With --env staging: <project>-staging.tfvars.json,
// tfplan-staging, the working state in terraform/.terraform-staging and the state key <project>-staging/.
// Needs:    AWS credentials, terraform >= 1.6, terraform/
// Produces: terraform/tfplan and its summary
// Next:     npm run step:4 (apply exactly this plan)
import { join } from 'node:path';
import { isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import { planFile, tfDir } from '../lib/terraform.js';
import { formatSummary, planInfrastructure } from '../lib/infra.js';

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'step:3',
  async main({ runner, config }: ScriptContext) {
    const summary = await planInfrastructure(runner, config);
    const next = `npm run step:4${config.environment ? ` -- --env ${config.environment}` : ''}`;
    if (summary) process.stdout.write(`${formatSummary(summary)}\nSaved to ${join(tfDir(config), planFile(config))}. Next: ${next}\n`);
  },
};

if (isMain(import.meta.url)) await main(spec);
