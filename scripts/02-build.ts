// Step 2 — build the image with an immutable tag from the git commit (-dirty-<hash> on an uncommitted tree; refused
// in CI), OCI labels, then run it read-only as ECS will and wait for the health path to answer. Skipped when ECR
// already holds the image of this commit (deploy's second run builds nothing).
// Needs:    BUILD_CONTEXT (a git checkout), DOCKERFILE, a Docker engine
// Produces: the local image <ECR_REPOSITORY>:<git sha>
// Next:     npm run step:3 (terraform plan)
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isCI, isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import type { Config } from '../lib/config.js';
import { ecrDigest } from '../lib/ecr.js';
import { ExitCode, ScriptFailure } from '../lib/errors.js';
import { caBundleLine } from '../lib/hints.js';
import { probe } from '../lib/http.js';
import { imagePlatform, imageRef, type ImageRef } from '../lib/image.js';
import { newContext, type PipelineStep, runStep } from '../lib/pipeline.js';
import { sh, type Runner } from '../lib/run.js';

export const step: PipelineStep = {
  n: 2,
  title: 'Build and test the image',
  async run(ctx, runner, report) {
    const ref = (ctx.ref = await imageRef(runner, ctx.config));
    // an image ECR already holds was built and tested when it was pushed
    ctx.inEcr = runner.dryRun ? undefined : await ecrDigest(runner, ctx.config, ref.tag).catch(() => undefined);
    if (ctx.inEcr) return `${ref.tag} is already in ECR`;
    const built = await buildImage(runner, ctx.config, ref);
    await smokeTest(runner, ctx.config, ref);
    report(
      runner.dryRun
        ? `(dry run) would build ${ref.local} and check that it answers ${ctx.config.app.healthPath}`
        : `✓ image ${ref.local} ${built === 'cached' ? '(already built)' : 'built'} and answered ${ctx.config.app.healthPath}`,
    );
    if (built === 'cached') return `${ref.local} already built (smoke test passed)`;
  },
};

export async function buildImage(runner: Runner, config: Config, ref: ImageRef): Promise<'built' | 'cached'> {
  if (ref.dirty && isCI()) {
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
    runner.echo(`[dry-run] # wait for http://127.0.0.1:<PORT>${healthPath} to answer 200, then:`);
    if (config.dbTls.mode !== 'require') await runner.run(sh`docker cp ${`${name}:${config.dbTls.caBundle}`} -`);
    await runner.run(sh`docker rm -f ${name}`);
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
        await caBundleCheck(runner, config, ref, name);
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

/**
 * With DB_SSL_MODE verify-full or verify-ca the tasks check the database's certificate against DB_CA_BUNDLE: an
 * image without that file cannot connect at all, so it is refused here, not found by a failing deploy.
 */
async function caBundleCheck(runner: Runner, config: Config, ref: ImageRef, container: string): Promise<void> {
  const { mode, caBundle } = config.dbTls;
  if (mode === 'require') return;
  const copied = await runner.run(sh`docker cp ${`${container}:${caBundle}`} -`, { nothrow: true });
  if (copied.ok) {
    runner.echo(`# ${ref.local} carries ${caBundle} (the database's certificate is checked: DB_SSL_MODE=${mode})`);
    return;
  }
  throw new ScriptFailure(
    `${ref.local} has no ${caBundle} (DB_CA_BUNDLE): with DB_SSL_MODE=${mode} its tasks check the database's certificate against that file and cannot connect without it.\n` +
      `  fix: add to ${config.app.dockerfile}:  ${caBundleLine(caBundle)}\n` +
      `       or set DB_CA_BUNDLE in .env to where the image keeps the bundle, or DB_SSL_MODE=require (TLS that does not check the server)`,
    ExitCode.USAGE,
  );
}

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'step:2',
  paths: ['build'],
  async main({ runner, config, yes }: ScriptContext) {
    await runStep(step, newContext(config, runner, yes));
  },
};

if (isMain(import.meta.url)) await main(spec);
