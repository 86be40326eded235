// Step 3 — Terraform plan.
// Needs:    AWS credentials; terraform; the terraform/ root module.
// Produces: the state bucket (versioned, encrypted, private) if missing; terraform.tfvars.json from the
//           validated config (unless you keep your own terraform.tfvars); terraform/tfplan; a summary.
// Next:     npm run step:4 (apply exactly this plan)
import { join } from 'node:path';
import { isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import { tfDir } from '../lib/terraform.js';
import { formatSummary, planInfrastructure } from '../lib/infra.js';

export const spec: ScriptSpec = {
  command: 'step:3',
  summary:
    'Step 3 — terraform plan: create the S3 state bucket if missing (versioned, encrypted, private; native S3 locking), write terraform.tfvars.json from .env (or check your own terraform.tfvars), init, plan -out=tfplan, and summarize adds / changes / destroys with every destructive change highlighted.',
  needs: 'AWS credentials, terraform >= 1.6, terraform/',
  produces: 'terraform/tfplan and its summary',
  next: 'npm run step:4 (apply exactly this plan)',
  async main({ runner, config }: ScriptContext) {
    const summary = await planInfrastructure(runner, config);
    if (summary) process.stdout.write(`${formatSummary(summary)}\nSaved to ${join(tfDir(config), 'tfplan')}. Next: npm run step:4\n`);
  },
};

if (isMain(import.meta.url)) await main(spec);
