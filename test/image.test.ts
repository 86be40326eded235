// The image's smoke test (step 2: "docker run and check it in a browser", done as ECS runs it), on a fake
// docker CLI and a local HTTP server standing in for the container's port: it waits for the health path,
// and a container that exits, never answers or answers an error fails with its reason and its log lines.
// The real engine runs it in the end-to-end file (every bootstrap's step 2).
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../lib/config.js';
import { ScriptFailure } from '../lib/errors.js';
import { smokeTest, type ImageRef } from '../lib/image.js';
import { Runner } from '../lib/run.js';
import { fakeBins } from './helpers/fake-bin.js';

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
    docker: `case "$1" in
  run) echo 0123456789ab;;
  port) [ -n "$FAKE_PORT" ] && echo "0.0.0.0:$FAKE_PORT";;
  inspect) echo "$FAKE_STATE";;
  logs) echo "server starting"; echo "Error: EROFS: read-only file system, open '/app/cache'" >&2;;
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
  assert.ok(
    lines.includes(`[dry-run] # wait for http://127.0.0.1:<PORT>/health to answer 200, then: docker rm -f ${NAME}`),
    lines.join('\n'),
  );
});

test.run();
