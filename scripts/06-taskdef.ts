// Step 6 — render config/ecs-task-definition.json with the image by digest, the Terraform outputs and secrets by ARN;
// show the diff against the running task definition (ECS defaults filled, so no false diffs); register it with
// release tags (git sha, digest, time) and point the service at it. Nothing changed: no new revision.
// Needs:    the image in ECR (step 5), Terraform outputs (step 4)
// Produces: a task definition revision and a new ECS deployment
// Next:     npm run step:7 (verify the deployment)
import { isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import { releaseTaskDefinition } from '../lib/taskdef.js';

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'step:6',
  async main({ runner, config, yes }: ScriptContext) {
    const r = await releaseTaskDefinition(runner, config, yes);
    process.stdout.write(
      `${r.changed ? '✓ registered' : '✓ unchanged:'} ${r.taskDefinitionArn}\n  image ${r.image}\nNext: npm run step:7\n`,
    );
  },
};

if (isMain(import.meta.url)) await main(spec);
