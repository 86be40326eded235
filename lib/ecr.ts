// ECR: the repository URL, an image's digest, and the push (login with the password on stdin).
import { ecrRegistry } from './aws.js';
import type { Config } from './config.js';
import { sh, type Runner } from './run.js';
import { cpuArchitecture, imagePlatform, type ImageRef } from './image.js';
import { ExitCode, ScriptFailure } from './errors.js';

export interface Pushed {
  repositoryUrl: string;
  tag: string;
  digest: string;
  image: string;
  result: 'pushed' | 'already-in-ecr';
}

export function repositoryUrl(config: Config, account: string): string {
  return `${ecrRegistry(account, config.region)}/${config.names.repository}`;
}

/** The digest of `tag` in ECR, or undefined when ECR does not have it. */
export async function ecrDigest(runner: Runner, config: Config, tag: string): Promise<string | undefined> {
  const r = await runner.run(
    sh`aws ecr describe-images --repository-name ${config.names.repository} --image-ids imageTag=${tag} --region ${config.region} --output json`,
    { nothrow: true },
  );
  if (r.dryRun) return undefined;
  if (r.ok) return JSON.parse(r.stdout).imageDetails?.[0]?.imageDigest;
  if (/ImageNotFoundException/.test(r.stderr)) return undefined;
  if (/RepositoryNotFoundException/.test(r.stderr)) {
    throw new ScriptFailure(
      `ECR repository ${config.names.repository} does not exist in ${config.region}: run \`npm run step:3\` and \`npm run step:4\` first`,
      ExitCode.PREFLIGHT,
    );
  }
  throw new ScriptFailure(`aws ecr describe-images failed: ${r.stderr.trim().split('\n').pop()}`);
}

/** `inEcr`: the digest a caller just read from ECR (bootstrap's step 2), so it is not asked twice. */
export async function pushImage(runner: Runner, config: Config, ref: ImageRef, account: string, inEcr?: string): Promise<Pushed> {
  const url = repositoryUrl(config, account);
  const existing = inEcr ?? (await ecrDigest(runner, config, ref.tag));
  if (existing) {
    runner.echo(`# ${url}:${ref.tag} is already in ECR (${existing}): push skipped`);
    return { repositoryUrl: url, tag: ref.tag, digest: existing, image: `${url}@${existing}`, result: 'already-in-ecr' };
  }
  const platform = await imagePlatform(runner, ref.local);
  if (!runner.dryRun && !platform) {
    throw new ScriptFailure(
      `the local image ${ref.local} does not exist: run \`npm run step:2\` first (it builds the image of the current commit)`,
      ExitCode.PREFLIGHT,
    );
  }
  if (!runner.dryRun && platform !== config.app.platform) {
    // an arm64 image from an Apple Silicon laptop fails on X86_64 Fargate with `exec format error`, after the push
    throw new ScriptFailure(
      `the local image ${ref.local} is ${platform}, but the tasks run ${config.app.platform} (PLATFORM; runtimePlatform ${cpuArchitecture(config.app.platform)}): nothing was pushed.\n` +
        `  fix: rebuild it for the tasks with \`npm run step:2\` (docker build --platform ${config.app.platform}), or set PLATFORM=${platform} to run the tasks on ${cpuArchitecture(platform!)} Fargate`,
      ExitCode.PREFLIGHT,
    );
  }
  await runner.runPipeline([
    sh`aws ecr get-login-password --region ${config.region}`,
    sh`docker login --username AWS --password-stdin ${ecrRegistry(account, config.region)}`,
  ]);
  await runner.run(sh`docker tag ${ref.local} ${url}:${ref.tag}`);
  const push = await runner.run(sh`docker push ${url}:${ref.tag}`, { stream: true, timeoutMs: 30 * 60_000, retries: 2 });
  if (push.dryRun) return { repositoryUrl: url, tag: ref.tag, digest: '<IMAGE_DIGEST>', image: `${url}@<IMAGE_DIGEST>`, result: 'pushed' };
  const digest = /digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1] ?? (await ecrDigest(runner, config, ref.tag));
  if (!digest) throw new ScriptFailure(`pushed ${url}:${ref.tag} but could not read its digest`);
  return { repositoryUrl: url, tag: ref.tag, digest, image: `${url}@${digest}`, result: 'pushed' };
}
