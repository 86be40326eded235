// Step 5 — log in to ECR (password on stdin, never in argv), tag and push the image of the current commit, and record
// its digest. Skips the push when ECR already holds the tag.
// Needs:    the local image from step 2, the ECR repository from step 4
// Produces: <ECR_REPOSITORY_URL>:<git sha> and its sha256 digest
// Next:     npm run step:6 (register the task definition by digest and update the service)
import { resolveIdentity } from '../lib/aws.js';
import { isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import type { Config } from '../lib/config.js';
import type { Runner } from '../lib/run.js';
import { imageRef } from '../lib/image.js';
import { type Pushed, pushImage } from '../lib/ecr.js';

export async function step5(runner: Runner, config: Config): Promise<Pushed> {
  const identity = await resolveIdentity(runner, config);
  const ref = await imageRef(runner, config);
  return pushImage(runner, config, ref, identity.account);
}

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'step:5',
  async main({ runner, config }: ScriptContext) {
    const p = await step5(runner, config);
    process.stdout.write(`✓ ${p.repositoryUrl}:${p.tag} ${p.result === 'pushed' ? 'pushed' : 'already in ECR'}\n  digest ${p.digest}\n`);
  },
};

if (isMain(import.meta.url)) await main(spec);
