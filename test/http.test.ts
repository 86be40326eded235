// lib/http.ts: the probe's answers (a status, a refusal, a server that never answers), and that a probe
// keeps its script alive: a fetch that never settles must end as "no answer", not as Node's exit code 13
// (an unsettled top-level await), which is how a smoke test once ended mid-deploy in CI.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { probe } from '../lib/http.js';

const HTTP_MODULE = fileURLToPath(new URL('../lib/http.ts', import.meta.url));

async function listening<T extends Server | ReturnType<typeof createTcpServer>>(server: T): Promise<[T, string]> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return [server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`];
}

test('a status is returned as it is, 200 or not, and a redirect is followed', async () => {
  const [server, base] = await listening(
    createServer((req, res) => {
      if (req.url === '/moved') res.writeHead(302, { location: '/health' }).end();
      else res.writeHead(req.url === '/health' ? 200 : 404).end('body that is never read');
    }),
  );
  try {
    assert.equal(await probe(`${base}/health`, 2000), { status: 200 });
    assert.equal(await probe(`${base}/missing`, 2000), { status: 404 });
    assert.equal(await probe(`${base}/moved`, 2000), { status: 200 });
  } finally {
    server.close();
  }
});

test('an answer without a body (204) is a status; a probe leaves no timer behind once it has its answer', async () => {
  const [server, base] = await listening(createServer((_req, res) => res.writeHead(204).end()));
  try {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    assert.equal(await probe(`${base}/health`, 60_000), { status: 204 });
    assert.is(timers(), before, 'the time limit is cleared: it would keep a finished script alive for a minute');
  } finally {
    server.close();
  }
});

test('a refused connection is named by its code', async () => {
  const [server, base] = await listening(createTcpServer());
  server.close();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(await probe(`${base}/health`, 2000), { error: 'ECONNREFUSED' });
});

test('a server that accepts and never answers: "no answer within" the limit, and no later', async () => {
  const sockets: any[] = [];
  const [server, base] = await listening(createTcpServer((s) => (sockets.push(s), s.resume())));
  try {
    const started = Date.now();
    assert.equal(await probe(`${base}/health`, 300), { error: 'no answer within 0.3 s' });
    const took = Date.now() - started;
    // well below a hang, with room for a loaded machine
    assert.ok(took >= 290 && took < 5000, `took ${took} ms`);
    // the request is aborted, not left open: the server sees the connection closed
    const closed = await Promise.race([
      new Promise((r) => sockets[0].once('close', () => r(true))),
      new Promise((r) => setTimeout(() => r(sockets[0].destroyed), 2000)),
    ]);
    assert.ok(closed, 'the connection of a probe that gave up is closed');
  } finally {
    sockets.forEach((s) => s.destroy());
    server.close();
  }
});

test('a fetch that never settles keeps the script alive until the limit: it ends as "no answer", not exit code 13', async () => {
  // nothing else is on the event loop: with an unref'd timer (AbortSignal.timeout) Node exits 13 here
  const script = [
    `globalThis.fetch = () => new Promise(() => {});`,
    `const { probe } = await import(${JSON.stringify(HTTP_MODULE)});`,
    `console.log(JSON.stringify(await probe('http://127.0.0.1:9/health', 300)));`,
  ].join('\n');
  const r = await execa(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { reject: false, all: true });
  assert.is(r.exitCode, 0, r.all);
  assert.equal(JSON.parse(r.stdout), { error: 'no answer within 0.3 s' });
});

test.run();
