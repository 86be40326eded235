// The image's smoke test (step 2: "docker run and check it in a browser", done as ECS runs it), on a fake
// docker CLI and a local HTTP server standing in for the container's port: it waits for the health path,
// and a container that exits, never answers or answers an error fails with its reason and its log lines.
// The real engine runs it in the end-to-end file (every bootstrap's step 2).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../lib/config.js';
import { ExitCode, ScriptFailure } from '../lib/errors.js';
import { imagePlatform, imageRef, type ImageRef } from '../lib/image.js';
import { buildImage, smokeTest } from '../scripts/02-build.js';
import { Runner } from '../lib/run.js';
import { fakeBins } from './helpers/fake-bin.js';
import { withEnv } from './helpers/script.js';

const config = loadConfig({ env: {}, envFile: '' });
const ref: ImageRef = {
  tag: 'abc123def456',
  sha: 'abc123def456' + '0'.repeat(28),
  dirty: false,
  local: 'llmops-system:abc123def456',
  source: '.',
};
const NAME = `${config.project}-smoke-${process.pid}`;

/** docker as the smoke test calls it: the port mapping and the container's state come from the environment. */
function fakeDocker() {
  return fakeBins({
    docker: `[ -n "$FAKE_BROKEN" ] && [ "$1" != run ] && exit 1
case "$1" in
  run) echo 0123456789ab;;
  port) [ -n "$FAKE_PORT" ] && echo "0.0.0.0:$FAKE_PORT";;
  inspect) echo "$FAKE_STATE";;
  logs) echo "server starting"; echo "Error: EROFS: read-only file system, open '/app/cache'" >&2;;
  image) [ -n "$FAKE_PLATFORM" ] || { echo "Error: No such image: $5" >&2; exit 1; }; echo "$FAKE_PLATFORM";;
  build) echo "#1 [internal] load build definition from Dockerfile"; echo "#9 naming to docker.io/library/app done";;
esac`,
  });
}

/** An app on a free port: each request's path is recorded, the answers are `statuses` in turn (the last repeats). */
async function app(statuses: number[]): Promise<{ port: number; paths: string[]; server: Server }> {
  const paths: string[] = [];
  const server = createServer((req, res) => {
    paths.push(req.url ?? '');
    res.writeHead(statuses[Math.min(paths.length, statuses.length) - 1]!).end('x');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, paths, server };
}

function runner(fb: ReturnType<typeof fakeDocker>, env: Record<string, string>, dryRun = false) {
  const lines: string[] = [];
  return { lines, runner: new Runner({ echo: (l) => lines.push(l), dryRun, env: { PATH: `${fb.dir}:${process.env.PATH}`, ...env } }) };
}

const dockerCalls = (fb: ReturnType<typeof fakeDocker>) => fb.calls().map((c) => c.slice(1).join(' '));

test('smoke test: runs the image read-only as ECS does, waits through errors until the health path answers 200, then removes it', async () => {
  const fb = fakeDocker();
  const a = await app([503, 503, 200]);
  try {
    const { runner: r, lines } = runner(fb, { FAKE_PORT: String(a.port), FAKE_STATE: 'true 0' });
    await smokeTest(r, config, ref, 20_000);
    assert.equal(a.paths, ['/health', '/health', '/health'], 'it asked the health path until it answered 200');
    const calls = dockerCalls(fb);
    assert.is(calls[0], `run -d --name ${NAME} --read-only --tmpfs /tmp -p 127.0.0.1::3000 -e PORT=3000 ${ref.local}`);
    assert.is(calls[1], `port ${NAME} 3000/tcp`);
    assert.is(calls.at(-1), `rm -f ${NAME}`);
    assert.ok(lines.includes(`# http://127.0.0.1:${a.port}/health answered 200`), lines.join('\n'));
    assert.not.ok(
      calls.some((c) => c.startsWith('logs')),
      'no log lines are fetched for a container that answered',
    );
  } finally {
    a.server.close();
  }
});

test('smoke test: a container that exits fails at once with its exit code and its last log lines, and is removed', async () => {
  const fb = fakeDocker();
  const a = await app([200]);
  a.server.close(); // nothing listens on its port: the container is gone
  const { runner: r } = runner(fb, { FAKE_PORT: String(a.port), FAKE_STATE: 'false 3' });
  const started = Date.now();
  const e = await smokeTest(r, config, ref, 20_000).catch((err) => err);
  assert.ok(Date.now() - started < 10_000, 'it does not wait out the timeout for an exited container');
  assert.instance(e, ScriptFailure);
  assert.is(e.exitCode, 1);
  assert.match(e.message, `${ref.local} did not answer /health on port 3000 (the container exited with code 3).`);
  assert.match(e.message, 'Last container log lines:\n  | server starting\n  | Error: EROFS: read-only file system');
  assert.match(e.message, 'fix: the app must listen on 0.0.0.0:3000 (CONTAINER_PORT) and answer 200 on /health (HEALTH_PATH)');
  const calls = dockerCalls(fb);
  assert.ok(calls.includes(`logs --tail 30 ${NAME}`));
  assert.is(calls.at(-1), `rm -f ${NAME}`);
});

test('smoke test: a container that answers only errors fails after the timeout with the last status', async () => {
  const fb = fakeDocker();
  const a = await app([500]);
  try {
    const { runner: r } = runner(fb, { FAKE_PORT: String(a.port), FAKE_STATE: 'true 0' });
    const started = Date.now();
    const e = await smokeTest(r, config, ref, 1500).catch((err) => err);
    const took = Date.now() - started;
    assert.instance(e, ScriptFailure);
    assert.ok(took >= 1500 && took < 10_000, `waited out its 1.5 s timeout, no more (${took} ms)`);
    assert.ok(a.paths.length >= 2, `asked more than once (${a.paths.length})`);
    assert.match(e.message, '(HTTP 500)');
    assert.is(dockerCalls(fb).at(-1), `rm -f ${NAME}`);
  } finally {
    a.server.close();
  }
});

test('smoke test: no port mapping (the container exited before it was asked) fails with its exit code, asking nothing', async () => {
  const fb = fakeDocker();
  const { runner: r } = runner(fb, { FAKE_PORT: '', FAKE_STATE: 'false 127' });
  const e = await smokeTest(r, config, ref, 20_000).catch((err) => err);
  assert.instance(e, ScriptFailure);
  assert.match(e.message, '(the container exited with code 127)');
  assert.is(dockerCalls(fb).at(-1), `rm -f ${NAME}`);
});

test('smoke test: --dry-run prints the run and the wait, and runs nothing', async () => {
  const fb = fakeDocker();
  const { runner: r, lines } = runner(fb, {}, true);
  await smokeTest(r, config, ref);
  assert.equal(fb.calls(), []);
  assert.ok(
    lines.some((l) => l.includes(`docker run -d --name ${NAME} --read-only --tmpfs /tmp`)),
    lines.join('\n'),
  );
  // then the CA bundle check (DB_SSL_MODE=verify-full) and the removal, as commands the page can show
  const wait = lines.indexOf('[dry-run] # wait for http://127.0.0.1:<PORT>/health to answer 200, then:');
  assert.ok(wait > 0, lines.join('\n'));
  assert.equal(lines.slice(wait + 1, wait + 3), [
    `[dry-run] $ docker cp ${NAME}:/etc/ssl/certs/rds-global-bundle.pem -`,
    `[dry-run] $ docker rm -f ${NAME}`,
  ]);
});

/** A git checkout of an app with one commit (and an origin, when given). */
function checkout(origin?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'llmops-app-'));
  const git = (...a: string[]) => execFileSync('git', ['-C', dir, '-c', 'user.email=t@example.com', '-c', 'user.name=t', ...a]).toString();
  git('init', '-q');
  writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\n');
  git('add', '-A');
  git('commit', '-q', '-m', 'one');
  if (origin) git('remote', 'add', 'origin', origin);
  return dir;
}
const gitOut = (dir: string, ...a: string[]) =>
  execFileSync('git', ['-C', dir, ...a])
    .toString()
    .trim();
const at = (dir: string) => loadConfig({ env: { LLMOPS_BUILD_CONTEXT: dir }, envFile: '' });
const plain = () => new Runner({ echo: () => {} });

test('image ref: the whole commit, its first 12 hex as the tag, the origin as the source; a changed tree is hashed without touching the index', async () => {
  const dir = checkout('https://github.com/acme/app.git');
  const sha = gitOut(dir, 'rev-parse', 'HEAD');
  assert.equal(await imageRef(plain(), at(dir)), {
    tag: sha.slice(0, 12),
    sha,
    dirty: false,
    local: `llmops-system:${sha.slice(0, 12)}`,
    source: 'https://github.com/acme/app.git',
  });
  writeFileSync(join(dir, 'new.js'), 'x');
  const dirty = await imageRef(plain(), at(dir));
  assert.is(dirty.dirty, true);
  assert.is(dirty.sha, sha);
  assert.match(dirty.tag, new RegExp(`^${sha.slice(0, 12)}-dirty-[0-9a-f]{8}$`));
  assert.is(
    gitOut(dir, 'status', '--porcelain'),
    '?? new.js',
    "the user's own index is untouched (the hash is written through a throwaway one)",
  );
  // no origin: the checkout's path is the source
  const local = checkout();
  assert.is((await imageRef(plain(), at(local))).source, local);
});

test('image ref: a dry run prints the git command and answers placeholders; not a checkout is a preflight error with the commands that fix it', async () => {
  const dir = checkout();
  const lines: string[] = [];
  const ref = await imageRef(new Runner({ echo: (l) => lines.push(l), dryRun: true }), at(dir));
  assert.equal(ref, { tag: '<GIT_SHA>', sha: '<GIT_SHA>', dirty: false, local: 'llmops-system:<GIT_SHA>', source: dir });
  assert.equal(lines, [`[dry-run] $ git -C ${dir} rev-parse HEAD`]);
  const none = mkdtempSync(join(tmpdir(), 'llmops-nogit-'));
  const e = await imageRef(plain(), at(none)).catch((err) => err);
  assert.instance(e, ScriptFailure);
  assert.is(e.exitCode, ExitCode.PREFLIGHT);
  assert.is(
    e.message,
    `BUILD_CONTEXT ${none} is not a git checkout with a commit: images are tagged with the commit.\n` +
      `  fix: commit the app (git -C ${none} add -A && git -C ${none} commit -m release) or point BUILD_CONTEXT at its checkout`,
  );
});

test('build: skipped when the commit is built for the platform; built with its labels otherwise, its output streamed', async () => {
  const dir = checkout('https://github.com/acme/app.git');
  const ref = await imageRef(plain(), at(dir));
  const build =
    `build --platform linux/amd64 -t ${ref.local} --label org.opencontainers.image.revision=${ref.sha} ` +
    `--label org.opencontainers.image.source=https://github.com/acme/app.git --label org.opencontainers.image.version=${ref.tag} ` +
    `-f ${dir}/Dockerfile ${dir}`;
  const inspect = `image inspect --format {{.Os}}/{{.Architecture}} ${ref.local}`;

  const cached = fakeDocker();
  const c = runner(cached, { FAKE_PLATFORM: 'linux/amd64' });
  assert.is(await buildImage(c.runner, at(dir), ref), 'cached');
  assert.equal(dockerCalls(cached), [inspect]);
  assert.ok(c.lines.includes(`# ${ref.local} is already built from commit ${ref.sha.slice(0, 12)}: build skipped`), c.lines.join('\n'));

  for (const platform of ['linux/arm64', '']) {
    const fb = fakeDocker();
    const b = runner(fb, { FAKE_PLATFORM: platform });
    assert.is(await buildImage(b.runner, at(dir), ref), 'built', `local image: ${platform || 'none'}`);
    assert.equal(dockerCalls(fb), [inspect, build]);
    assert.ok(
      b.lines.some((l) => l.includes('#9 naming to docker.io/library/app done')),
      'the build is streamed as it runs',
    );
  }
  // a changed tree is always built outside CI (its tag names the change, not a commit), and CI may build a clean one
  const dirtyFb = fakeDocker();
  const dirty = { ...ref, dirty: true };
  assert.is(
    await withEnv({ CI: undefined }, () => buildImage(runner(dirtyFb, { FAKE_PLATFORM: 'linux/amd64' }).runner, at(dir), dirty)),
    'built',
  );
  assert.not.ok(dockerCalls(dirtyFb).includes(inspect));
  assert.is(
    await withEnv({ CI: 'true' }, () => buildImage(runner(fakeDocker(), { FAKE_PLATFORM: 'linux/amd64' }).runner, at(dir), ref)),
    'cached',
  );
});

test('build: a missing Dockerfile is bad input naming the file and the setting (a dry run only prints); the platform of no image is none', async () => {
  const dir = checkout();
  execFileSync('git', ['-C', dir, 'rm', '-q', 'Dockerfile']);
  execFileSync('git', ['-C', dir, '-c', 'user.email=t@example.com', '-c', 'user.name=t', 'commit', '-q', '-m', 'no dockerfile']);
  const ref = await imageRef(plain(), at(dir));
  const fb = fakeDocker();
  const e = await buildImage(runner(fb, {}).runner, at(dir), ref).catch((err) => err);
  assert.instance(e, ScriptFailure);
  assert.is(e.exitCode, ExitCode.USAGE);
  assert.is(e.message, `DOCKERFILE ${dir}/Dockerfile does not exist: set DOCKERFILE (relative to BUILD_CONTEXT=${dir}) in .env`);
  assert.equal(fb.calls(), []);
  const dry = runner(fb, {}, true);
  assert.is(await buildImage(dry.runner, at(dir), ref), 'built');
  assert.ok(
    dry.lines.some((l) => l.startsWith('[dry-run] $ docker build --platform linux/amd64')),
    dry.lines.join('\n'),
  );
  assert.equal(fb.calls(), []);
  assert.is(await imagePlatform(runner(fb, { FAKE_PLATFORM: '' }).runner, 'x:1'), undefined);
  assert.is(await imagePlatform(runner(fb, { FAKE_PLATFORM: 'linux/arm64' }).runner, 'x:1'), 'linux/arm64');
});

test('smoke test: when docker itself fails after the start, the failure still says what it knows, word for word, and the removal is tried', async () => {
  const fb = fakeDocker();
  const { runner: r } = runner(fb, { FAKE_BROKEN: '1' });
  const e = await smokeTest(r, config, ref, 20_000).catch((err) => err);
  assert.instance(e, ScriptFailure);
  assert.is(
    e.message,
    `${ref.local} did not answer /health on port 3000 (the container exited with code ?).\nLast container log lines:\n  | (no output)\n` +
      '  fix: the app must listen on 0.0.0.0:3000 (CONTAINER_PORT) and answer 200 on /health (HEALTH_PATH); it runs with a read-only root filesystem and a writable /tmp, as in ECS',
  );
  assert.is(dockerCalls(fb).at(-1), `rm -f ${NAME}`);
  // no time left to ask: nothing answered
  const quick = fakeDocker();
  const { runner: q, lines } = runner(quick, { FAKE_PORT: '49999', FAKE_STATE: 'true 0' });
  const none = await smokeTest(q, config, ref, 0).catch((err) => err);
  assert.match(none.message, `${ref.local} did not answer /health on port 3000 (no answer).`);
  assert.ok(lines.includes('# waiting for http://127.0.0.1:49999/health'), lines.join('\n'));
});

test.run();
