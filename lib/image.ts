// The app's image: its immutable tag from the git commit, and the platform of a local image.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Config } from './config.js';
import { sh, formatCommand, type Runner } from './run.js';
import { ExitCode, ScriptFailure } from './errors.js';

/** ECS's and Terraform's name for the CPU architecture of a platform (runtimePlatform.cpuArchitecture). */
export const cpuArchitecture = (platform: string): 'X86_64' | 'ARM64' => (platform === 'linux/arm64' ? 'ARM64' : 'X86_64');

export interface ImageRef {
  tag: string;
  sha: string;
  dirty: boolean;
  local: string;
  source: string;
}

/**
 * The git tree of the working directory as it is (tracked changes and untracked, not ignored, files),
 * written through a throwaway index: the same files give the same hash, any change another.
 */
async function workingTreeHash(runner: Runner, context: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'llmops-index-'));
  const env = { GIT_INDEX_FILE: join(dir, 'index') };
  try {
    await runner.run(sh`git -C ${context} read-tree HEAD`, { env });
    await runner.run(sh`git -C ${context} add -A`, { env });
    return (await runner.run(sh`git -C ${context} write-tree`, { env })).stdout.trim();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The immutable tag: the commit (12 hex), plus `-dirty-<hash of the changes>` on an uncommitted tree. */
export async function imageRef(runner: Runner, config: Config): Promise<ImageRef> {
  const context = resolve(config.app.buildContext);
  if (runner.dryRun) {
    runner.echoCommand('git', ['-C', context, 'rev-parse', 'HEAD']);
    return { tag: '<GIT_SHA>', sha: '<GIT_SHA>', dirty: false, local: `${config.names.repository}:<GIT_SHA>`, source: context };
  }
  const head = await runner.run(sh`git -C ${context} rev-parse HEAD`, { nothrow: true });
  if (!head.ok) {
    throw new ScriptFailure(
      `BUILD_CONTEXT ${context} is not a git checkout with a commit: images are tagged with the commit.\n  fix: commit the app (${formatCommand('git', ['-C', context, 'add', '-A'])} && ${formatCommand('git', ['-C', context, 'commit', '-m', 'release'])}) or point BUILD_CONTEXT at its checkout`,
      ExitCode.PREFLIGHT,
    );
  }
  const sha = head.stdout.trim();
  const status = (await runner.run(sh`git -C ${context} status --porcelain`)).stdout;
  let tag = sha.slice(0, 12);
  if (status.trim()) tag += `-dirty-${(await workingTreeHash(runner, context)).slice(0, 8)}`;
  const remote = await runner.run(sh`git -C ${context} remote get-url origin`, { nothrow: true });
  return {
    tag,
    sha,
    dirty: !!status.trim(),
    local: `${config.names.repository}:${tag}`,
    source: remote.ok ? remote.stdout.trim() : context,
  };
}

/** The platform of a local image (`linux/amd64`), or undefined when there is none. */
export async function imagePlatform(runner: Runner, image: string): Promise<string | undefined> {
  const r = await runner.run(sh`docker image inspect --format {{.Os}}/{{.Architecture}} ${image}`, { nothrow: true });
  return r.ok && !r.dryRun ? r.stdout.trim() : undefined;
}
