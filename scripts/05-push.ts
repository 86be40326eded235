// Step 5 — log in to ECR (password on stdin, never in argv), tag and push the image of the current commit, and record
// its digest. Skips the push when ECR already holds the tag.
// Needs:    the local image from step 2, the ECR repository from step 4
// Produces: <ECR_REPOSITORY_URL>:<git sha> and its sha256 digest
// Next:     npm run step:6 (register the task definition by digest and update the service)
import { ecrRegistry, resolveIdentity } from '../lib/aws.js';
import { isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import type { Config } from '../lib/config.js';
import { ecrDigest, ecrLoginPassword, type Pushed, repositoryUrl } from '../lib/ecr.js';
import { ExitCode, ScriptFailure } from '../lib/errors.js';
import { cpuArchitecture, imagePlatform, imageRef, type ImageRef } from '../lib/image.js';
import { newContext, type PipelineStep, runStep } from '../lib/pipeline.js';
import { sh, type Runner } from '../lib/run.js';
import type { Timeline } from '../lib/timeline.js';

export const step: PipelineStep = {
  n: 5,
  title: 'Push the image to ECR',
  async run(ctx, runner, report) {
    ctx.identity ??= await resolveIdentity(runner, ctx.config);
    ctx.ref ??= await imageRef(runner, ctx.config);
    const p = (ctx.pushed = await pushImage(runner, ctx.config, ctx.ref, ctx.identity.account, ctx.inEcr, ctx.timeline, ctx.lock?.take));
    report(
      runner.dryRun
        ? `(dry run) would push ${p.repositoryUrl}:${p.tag} unless ECR holds it`
        : `✓ ${p.repositoryUrl}:${p.tag} ${p.result === 'pushed' ? 'pushed' : 'already in ECR'}\n  digest ${p.digest}`,
    );
    if (p.result === 'already-in-ecr') return `${p.tag} is already in ECR (${p.digest.slice(0, 19)}…)`;
  },
};

/**
 * `inEcr`: the digest step 2 just read from ECR (bootstrap, deploy), so it is not asked twice. `beforeChange`: called
 * before the push (a release takes its deploy lock there).
 */
export async function pushImage(
  runner: Runner,
  config: Config,
  ref: ImageRef,
  account: string,
  inEcr?: string,
  timeline?: Timeline,
  beforeChange?: () => Promise<void>,
): Promise<Pushed> {
  const url = repositoryUrl(config, account);
  const existing = inEcr ?? (await ecrDigest(runner, config, ref.tag));
  if (existing) {
    runner.echo(`# ${url}:${ref.tag} is already in ECR (${existing}): push skipped`);
    return { repositoryUrl: url, tag: ref.tag, digest: existing, image: `${url}@${existing}`, result: 'already-in-ecr' };
  }
  await assertPlatform(runner, config, ref);
  await beforeChange?.();
  // the password through the SDK (the same call, without starting the aws CLI: about 1 s here), on docker's stdin
  await runner.runPipeline(
    [
      sh`aws ecr get-login-password --region ${config.region}`,
      sh`docker login --username AWS --password-stdin ${ecrRegistry(account, config.region)}`,
    ],
    { firstOutput: () => ecrLoginPassword(config) },
  );
  await runner.run(sh`docker tag ${ref.local} ${url}:${ref.tag}`);
  const pushStarted = Date.now();
  const push = await runner.run(sh`docker push ${url}:${ref.tag}`, { stream: true, timeoutMs: 30 * 60_000, retries: 2 });
  timeline?.add('docker push', pushStarted, Date.now(), layersPushed(push.stdout));
  if (push.dryRun) return { repositoryUrl: url, tag: ref.tag, digest: '<IMAGE_DIGEST>', image: `${url}@<IMAGE_DIGEST>`, result: 'pushed' };
  const digest = /digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1] ?? (await ecrDigest(runner, config, ref.tag));
  if (!digest) throw new ScriptFailure(`pushed ${url}:${ref.tag} but could not read its digest`);
  return { repositoryUrl: url, tag: ref.tag, digest, image: `${url}@${digest}`, result: 'pushed' };
}

/** What `docker push` moved: its layers pushed, and those ECR had already (from its per-layer lines). */
export function layersPushed(output: string): string | undefined {
  const pushed = (output.match(/: Pushed\s*$/gm) ?? []).length;
  const existing = (output.match(/: Layer already exists\s*$/gm) ?? []).length;
  return pushed + existing ? `${pushed} layer(s) pushed, ${existing} already in ECR` : undefined;
}

/** The local image exists and is built for the tasks' CPU: refused before anything is pushed. */
async function assertPlatform(runner: Runner, config: Config, ref: ImageRef): Promise<void> {
  const platform = await imagePlatform(runner, ref.local);
  if (runner.dryRun) return;
  if (!platform) {
    throw new ScriptFailure(
      `the local image ${ref.local} does not exist: run \`npm run step:2\` first (it builds the image of the current commit)`,
      ExitCode.PREFLIGHT,
    );
  }
  if (platform !== config.app.platform) {
    // an arm64 image from an Apple Silicon laptop fails on X86_64 Fargate with `exec format error`, after the push
    throw new ScriptFailure(
      `the local image ${ref.local} is ${platform}, but the tasks run ${config.app.platform} (PLATFORM; runtimePlatform ${cpuArchitecture(config.app.platform)}): nothing was pushed.\n` +
        `  fix: rebuild it for the tasks with \`npm run step:2\` (docker build --platform ${config.app.platform}), or set PLATFORM=${platform} to run the tasks on ${cpuArchitecture(platform)} Fargate`,
      ExitCode.PREFLIGHT,
    );
  }
}

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'step:5',
  async main({ runner, config, yes }: ScriptContext) {
    await runStep(step, newContext(config, runner, yes));
  },
};

if (isMain(import.meta.url)) await main(spec);
