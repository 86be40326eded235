// Step 2 — build the image with an immutable tag from the git commit (-dirty-<hash> on an uncommitted tree; refused
// in CI), OCI labels, then run it read-only as ECS will and wait for the health path to answer.
// Needs:    BUILD_CONTEXT (a git checkout), DOCKERFILE, a Docker engine
// Produces: the local image <ECR_REPOSITORY>:<git sha>
// Next:     npm run step:3 (terraform plan)
import { isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import type { Config } from '../lib/config.js';
import type { Runner } from '../lib/run.js';
import { buildImage, type ImageRef, imageRef, smokeTest } from '../lib/image.js';

export async function step2(runner: Runner, config: Config): Promise<ImageRef & { result: 'built' | 'cached' }> {
  const ref = await imageRef(runner, config);
  const result = await buildImage(runner, config, ref);
  await smokeTest(runner, config, ref);
  return { ...ref, result };
}

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'step:2',
  paths: ['build'],
  async main({ runner, config }: ScriptContext) {
    const r = await step2(runner, config);
    process.stdout.write(
      `✓ image ${r.local} ${r.result === 'cached' ? '(already built)' : 'built'} and answered ${config.app.healthPath}\n`,
    );
  },
};

if (isMain(import.meta.url)) await main(spec);
