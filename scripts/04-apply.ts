// Step 4 — terraform apply of exactly the plan step 3 saved (a stale plan is refused by terraform), after showing its
// summary; asks on a TTY unless --yes. Prints the outputs the next steps use.
// Needs:    terraform/tfplan (npm run step:3)
// Produces: the infrastructure; outputs alb_dns_name, ecr_repository_url, rds_endpoint, ecs_cluster_name, …
// Next:     npm run step:5 (push the image to ECR)
import { resolveIdentity } from '../lib/aws.js';
import { isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import { ExitCode } from '../lib/errors.js';
import { applyPlan, printOutputs } from '../lib/infra.js';

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'step:4',
  async main({ runner, config, yes }: ScriptContext) {
    const result = await applyPlan(runner, config, yes);
    if (result === 'declined') {
      process.stdout.write('Not applied.\n');
      return ExitCode.FAILED;
    }
    const identity = await resolveIdentity(runner, config);
    process.stdout.write(
      `${result === 'no-changes' ? 'Nothing to apply.' : '✓ applied.'}\n${await printOutputs(runner, config, identity.account)}\n`,
    );
  },
};

if (isMain(import.meta.url)) await main(spec);
