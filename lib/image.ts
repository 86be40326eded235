// The app's image: its immutable tag from the git commit, the build, and a smoke test run as ECS runs it.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Config } from './config.js';
import { sh, formatCommand, type Runner } from './run.js';
import { ExitCode, ScriptFailure } from './errors.js';
import { probe } from './http.js';

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

export async function buildImage(runner: Runner, config: Config, ref: ImageRef): Promise<'built' | 'cached'> {
  if (ref.dirty && process.env.CI) {
    throw new ScriptFailure(
      `refusing to build ${ref.local} from an uncommitted tree in CI: every image must map to a commit`,
      ExitCode.PREFLIGHT,
    );
  }
  const context = resolve(config.app.buildContext);
  const dockerfile = join(context, config.app.dockerfile);
  if (!runner.dryRun && !existsSync(dockerfile)) {
    throw new ScriptFailure(
      `DOCKERFILE ${dockerfile} does not exist: set DOCKERFILE (relative to BUILD_CONTEXT=${config.app.buildContext}) in .env`,
      ExitCode.USAGE,
    );
  }
  if (!ref.dirty && (await imagePlatform(runner, ref.local)) === config.app.platform) {
    runner.echo(`# ${ref.local} is already built from commit ${ref.sha.slice(0, 12)}: build skipped`);
    return 'cached';
  }
  const labels = [
    `org.opencontainers.image.revision=${ref.sha}`,
    `org.opencontainers.image.source=${ref.source}`,
    `org.opencontainers.image.version=${ref.tag}`,
  ];
  await runner.run(
    sh`docker build --platform ${config.app.platform} -t ${ref.local} ${labels.flatMap((l) => ['--label', l])} -f ${dockerfile} ${context}`,
    {
      stream: true,
      timeoutMs: 30 * 60_000,
    },
  );
  return 'built';
}

/**
 * The guide's "docker run -p 3000:3000 and check in a browser", done properly: run it read-only as the
 * task definition will, wait for the health path, stop it; on failure show the container's last logs.
 */
export async function smokeTest(runner: Runner, config: Config, ref: ImageRef, timeoutMs = 30_000): Promise<void> {
  const name = `${config.project}-smoke-${process.pid}`;
  const { port, healthPath } = config.app;
  const started = await runner.run(
    sh`docker run -d --name ${name} --read-only --tmpfs /tmp -p 127.0.0.1::${port} -e PORT=${port} ${ref.local}`,
  );
  if (started.dryRun) {
    runner.echo(`[dry-run] # wait for http://127.0.0.1:<PORT>${healthPath} to answer 200, then: docker rm -f ${name}`);
    return;
  }
  try {
    const mapping = (await runner.run(sh`docker port ${name} ${port}/tcp`, { nothrow: true })).stdout.trim().split('\n')[0] ?? '';
    const url = `http://${mapping.replace('0.0.0.0', '127.0.0.1')}${healthPath}`;
    runner.echo(`# waiting for ${url}`);
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer';
    while (mapping && Date.now() < deadline) {
      const answer = await probe(url, 2000);
      if ('status' in answer && answer.status >= 200 && answer.status < 300) {
        runner.echo(`# ${url} answered ${answer.status}`);
        return;
      }
      last = 'status' in answer ? `HTTP ${answer.status}` : answer.error;
      const running = await runner.run(sh`docker inspect --format ${'{{.State.Running}} {{.State.ExitCode}}'} ${name}`, { nothrow: true });
      if (running.ok && running.stdout.startsWith('false')) {
        last = `the container exited with code ${running.stdout.trim().split(' ')[1]}`;
        break;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    if (!mapping) {
      const state = await runner.run(sh`docker inspect --format ${'{{.State.Running}} {{.State.ExitCode}}'} ${name}`, { nothrow: true });
      last = `the container exited with code ${state.stdout.trim().split(' ')[1] ?? '?'}`;
    }
    const logs = await runner.run(sh`docker logs --tail 30 ${name}`, { nothrow: true });
    const text = `${logs.stdout}${logs.stderr}`.trim();
    // no output at all says so (an empty text split is one empty line, which printed a bare "  | ")
    const lines = text
      ? text
          .split('\n')
          .slice(-30)
          .map((l) => `  | ${l}`)
          .join('\n')
      : '';
    throw new ScriptFailure(
      `${ref.local} did not answer ${healthPath} on port ${port} (${last}).\nLast container log lines:\n${lines || '  | (no output)'}\n` +
        `  fix: the app must listen on 0.0.0.0:${port} (CONTAINER_PORT) and answer 200 on ${healthPath} (HEALTH_PATH); it runs with a read-only root filesystem and a writable /tmp, as in ECS`,
    );
  } finally {
    await runner.run(sh`docker rm -f ${name}`, { nothrow: true });
  }
}
