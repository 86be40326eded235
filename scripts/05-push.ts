// Step 5 — Push the image to ECR.
// Needs:    the image from step 2; the ECR repository from step 4.
// Produces: <ECR_REPOSITORY_URL>:<git sha> in ECR and its digest. Skips the push when ECR already
//           holds the tag (tags are immutable: the same tag is the same image).
// Next:     npm run step:6 (task definition)
import { ecrRegistry, resolveIdentity } from '../lib/aws.js';
import { ExitCode, isMain, main, ScriptFailure, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import type { Config } from '../lib/config.js';
import type { Runner } from '../lib/run.js';
import { imageRef, type ImageRef } from './02-build.js';

export interface Pushed { repositoryUrl: string; tag: string; digest: string; image: string; result: 'pushed' | 'already-in-ecr' }

export function repositoryUrl(config: Config, account: string): string {
  return `${ecrRegistry(account, config.region)}/${config.names.repository}`;
}

/** The digest of `tag` in ECR, or undefined when ECR does not have it. */
export async function ecrDigest(runner: Runner, config: Config, tag: string): Promise<string | undefined> {
  const r = await runner.run('aws', ['ecr', 'describe-images', '--repository-name', config.names.repository, '--image-ids', `imageTag=${tag}`, '--region', config.region, '--output', 'json'], { nothrow: true });
  if (r.dryRun) return undefined;
  if (r.ok) return JSON.parse(r.stdout).imageDetails?.[0]?.imageDigest;
  if (/ImageNotFoundException/.test(r.stderr)) return undefined;
  if (/RepositoryNotFoundException/.test(r.stderr)) {
    throw new ScriptFailure(`ECR repository ${config.names.repository} does not exist in ${config.region}: run \`npm run step:3\` and \`npm run step:4\` first`, ExitCode.PREFLIGHT);
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
  const local = await runner.run('docker', ['image', 'inspect', '--format', '{{.Id}}', ref.local], { nothrow: true });
  if (!local.ok && !local.dryRun) {
    throw new ScriptFailure(`the local image ${ref.local} does not exist: run \`npm run step:2\` first (it builds the image of the current commit)`, ExitCode.PREFLIGHT);
  }
  await runner.runPipeline([
    { bin: 'aws', args: ['ecr', 'get-login-password', '--region', config.region] },
    { bin: 'docker', args: ['login', '--username', 'AWS', '--password-stdin', ecrRegistry(account, config.region)] },
  ]);
  await runner.run('docker', ['tag', ref.local, `${url}:${ref.tag}`]);
  const push = await runner.run('docker', ['push', `${url}:${ref.tag}`], { stream: true, timeoutMs: 30 * 60_000, retries: 2 });
  if (push.dryRun) return { repositoryUrl: url, tag: ref.tag, digest: '<IMAGE_DIGEST>', image: `${url}@<IMAGE_DIGEST>`, result: 'pushed' };
  const digest = /digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1] ?? (await ecrDigest(runner, config, ref.tag));
  if (!digest) throw new ScriptFailure(`pushed ${url}:${ref.tag} but could not read its digest`);
  return { repositoryUrl: url, tag: ref.tag, digest, image: `${url}@${digest}`, result: 'pushed' };
}

export async function step5(runner: Runner, config: Config): Promise<Pushed> {
  const identity = await resolveIdentity(runner, config);
  const ref = await imageRef(runner, config);
  return pushImage(runner, config, ref, identity.account);
}

export const spec: ScriptSpec = {
  command: 'step:5',
  summary: 'Step 5 — log in to ECR (password on stdin, never in argv), tag and push the image of the current commit, and record its digest. Skips the push when ECR already holds the tag.',
  needs: 'the local image from step 2, the ECR repository from step 4',
  produces: '<ECR_REPOSITORY_URL>:<git sha> and its sha256 digest',
  next: 'npm run step:6 (register the task definition by digest and update the service)',
  async main({ runner, config }: ScriptContext) {
    const p = await step5(runner, config);
    process.stdout.write(`✓ ${p.repositoryUrl}:${p.tag} ${p.result === 'pushed' ? 'pushed' : 'already in ECR'}\n  digest ${p.digest}\n`);
  },
};

if (isMain(import.meta.url)) await main(spec);
