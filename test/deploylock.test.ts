// The deploy lock's calls and what it says, in seconds, against a small S3 of the test's own (conditional writes
// by ETag, S3's clock in the Date header, errors injected); lock.test.ts runs the races against the emulator.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../lib/config.js';
import { LockedError } from '../lib/errors.js';
import { deleteLockIfMatch, readLock, underDeployLock, withDeployLock, type LockInfo } from '../lib/lock.js';
import { Runner } from '../lib/run.js';
import { withEnv } from './helpers/script.js';
import { stsEndpoint, TEST_ACCOUNT, TEST_KEYS } from './helpers/sts.js';

const config = loadConfig({ env: {}, envFile: '' });
const BUCKET = `llmops-tfstate-${TEST_ACCOUNT}`;
const KEY = 'llmops/locks/llmops-service.json';
const WHERE = `--bucket ${BUCKET} --key ${KEY}`;

/** One object store: the lock's body, ETag and LastModified; `fail` answers a method with an S3 error. */
const store: {
  body?: string;
  etag?: string;
  modified?: number;
  n: number;
  fail: Record<string, [number, string]>;
  requests: string[];
  /** How long a PUT takes, and how many are being answered now. */
  putMs?: number;
  inflight: number;
} = {
  n: 0,
  inflight: 0,
  fail: {},
  requests: [],
};
let server: Server;
let endpoint = '';

function s3Error(res: any, status: number, code: string): void {
  res
    .writeHead(status, { 'content-type': 'application/xml' })
    .end(`<?xml version="1.0"?><Error><Code>${code}</Code><Message>${code} here</Message></Error>`);
}

/**
 * A conditional PutObject: If-None-Match creates only, If-Match replaces exactly that version. Applied when it
 * arrives; with `putMs` the answer comes that much later (the write is done, the writer does not know yet).
 */
function put(req: any, res: any, body: string, ifMatch: string | undefined): void {
  const answer = (send: () => void) => {
    if (!store.putMs) return send();
    store.inflight++;
    setTimeout(() => (store.inflight--, send()), store.putMs);
  };
  if (req.headers['if-none-match'] === '*' && store.body !== undefined) return answer(() => s3Error(res, 412, 'PreconditionFailed'));
  if (ifMatch && store.body === undefined) return answer(() => s3Error(res, 404, 'NoSuchKey'));
  if (ifMatch && ifMatch !== store.etag) return answer(() => s3Error(res, 412, 'PreconditionFailed'));
  Object.assign(store, { body, etag: `"etag-${++store.n}"`, modified: Date.now() });
  const etag = store.etag;
  answer(() => res.writeHead(200, { etag }).end());
}

test.before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const path = decodeURIComponent(new URL(req.url!, 'http://x').pathname);
      store.requests.push(
        `${req.method} ${path}${req.headers['if-match'] ? ` if-match ${req.headers['if-match']}` : ''}${req.headers['if-none-match'] ? ` if-none-match ${req.headers['if-none-match']}` : ''}`,
      );
      if (path !== `/${BUCKET}/${KEY}`) return s3Error(res, 404, 'NoSuchBucket');
      const failure = store.fail[req.method!];
      if (failure) return s3Error(res, failure[0], failure[1]);
      const ifMatch = req.headers['if-match'];
      if (req.method === 'GET') {
        if (store.body === undefined) return s3Error(res, 404, 'NoSuchKey');
        return res
          .writeHead(200, {
            etag: store.etag,
            'last-modified': new Date(store.modified!).toUTCString(),
            'content-type': 'application/json',
          })
          .end(store.body);
      }
      if (req.method === 'PUT') {
        return put(req, res, body, ifMatch);
      }
      if (req.method === 'DELETE') {
        if (store.body === undefined) return s3Error(res, 404, 'NoSuchKey');
        if (ifMatch && ifMatch !== store.etag) return s3Error(res, 412, 'PreconditionFailed');
        Object.assign(store, { body: undefined, etag: undefined });
        return res.writeHead(204).end();
      }
      s3Error(res, 405, 'MethodNotAllowed');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
test.after(() => void server.close());
// every test starts from an empty store, its ETags from "etag-1" (a run after another must see the same)
test.before.each(() => {
  Object.assign(store, { body: undefined, etag: undefined, modified: undefined, n: 0, fail: {}, requests: [], putMs: 0, inflight: 0 });
});

/** Resolves once `done()` holds (checked every 5 ms), or fails after 10 s. */
async function until(done: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the store');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** `fn` against this store, with a runner recording what it says. */
async function against<T>(
  fn: (runner: Runner, lines: string[]) => Promise<T>,
  env: Record<string, string | undefined> = {},
): Promise<{ value?: T; error?: any; lines: string[] }> {
  const lines: string[] = [];
  const runner = new Runner({ echo: (l) => lines.push(l) });
  return withEnv(
    { ...TEST_KEYS, AWS_ENDPOINT_URL: endpoint, AWS_ENDPOINT_URL_S3: undefined, GITHUB_ACTOR: undefined, ...env },
    async () => {
      try {
        return { value: await fn(runner, lines), lines };
      } catch (error) {
        return { error, lines };
      }
    },
  );
}

const held = (extra: Partial<LockInfo> = {}, ageSeconds = 10): void => {
  const info: LockInfo = {
    id: 'other',
    holder: 'ada@elsewhere',
    host: 'elsewhere',
    pid: 4242,
    acquiredAt: '2026-11-27T10:00:00.000Z',
    expiresAt: '300 s after its last renewal',
    what: 'deploy',
    ttlSeconds: 300,
    ...extra,
  };
  Object.assign(store, { body: JSON.stringify(info), etag: '"theirs"', modified: Date.now() - ageSeconds * 1000 });
};

test('taken with a conditional write, held while the work runs, released only if still ours; each call echoed as the CLI command', async () => {
  let during: any;
  const r = await against(
    (runner) =>
      withDeployLock(runner, config, TEST_ACCOUNT, { waitSeconds: 0, what: 'deploy abc123' }, async () => {
        during = JSON.parse(store.body!);
        return 'done';
      }),
    { GITHUB_ACTOR: 'octocat', GITHUB_RUN_ID: '42' },
  );
  assert.is(r.value, 'done');
  assert.equal(r.lines, [
    `$ aws s3api put-object ${WHERE} --body lock.json --if-none-match '*'   # via the SDK`,
    `# deploy lock taken: s3://${BUCKET}/${KEY}`,
    `$ aws s3api delete-object ${WHERE} --if-match '"etag-1"'   # via the SDK`,
  ]);
  assert.equal(store.requests, [`PUT /${BUCKET}/${KEY} if-none-match *`, `DELETE /${BUCKET}/${KEY} if-match "etag-1"`]);
  assert.is(store.body, undefined, 'released');
  assert.is(during.holder, 'octocat (GitHub Actions run 42)');
  assert.equal([during.host, during.pid, during.what, during.ttlSeconds], [hostname(), process.pid, 'deploy abc123', 300]);
  assert.is(during.expiresAt, '300 s after its last renewal (renewed every 30 s while held)');
  assert.match(during.id, new RegExp(`^${hostname()}-${process.pid}-\\d+-[a-z0-9]{1,6}$`));
  assert.ok(Math.abs(Date.parse(during.acquiredAt) - Date.now()) < 60_000);

  const local = await against(
    (runner) => withDeployLock(runner, config, TEST_ACCOUNT, { waitSeconds: 0, what: 'x' }, async () => JSON.parse(store.body!).holder),
    {
      USER: 'grace',
    },
  );
  assert.is(local.value, `grace@${hostname()}`);

  // a failing deploy releases the lock too
  const failed = await against((runner) =>
    withDeployLock(runner, config, TEST_ACCOUNT, { waitSeconds: 0, what: 'x' }, async () => {
      throw new Error('deploy failed');
    }),
  );
  assert.is(failed.error.message, 'deploy failed');
  assert.is(store.body, undefined);
});

test("another live deploy's lock: exit 6 at once naming it, or after waiting for it, said once", async () => {
  held();
  const now = await against((runner) => withDeployLock(runner, config, TEST_ACCOUNT, { waitSeconds: 0, what: 'x' }, async () => 'ran'));
  assert.instance(now.error, LockedError);
  assert.is(
    now.error.message,
    'another deploy holds the lock: deploy by ada@elsewhere (pid 4242 on elsewhere) since 2026-11-27T10:00:00.000Z.\n  fix: wait for it (--lock-wait SECONDS), or if that process is dead and the lock is not yet expired: npm run unlock',
  );
  assert.equal(now.lines, [
    `$ aws s3api put-object ${WHERE} --body lock.json --if-none-match '*'   # via the SDK`,
    `$ aws s3api get-object ${WHERE} lock.json   # via the SDK`,
  ]);
  const later = await against((runner) =>
    withDeployLock(runner, config, TEST_ACCOUNT, { waitSeconds: 1, pollMs: 100, what: 'x' }, async () => 'ran'),
  );
  assert.instance(later.error, LockedError);
  assert.match(later.error.message, / — waited \d+ s\./);
  assert.ok(Number(/waited (\d+) s/.exec(later.error.message)![1]) >= 1, 'not before the time asked for');
  assert.equal(
    later.lines.filter((l) => l.startsWith('#')),
    ['# waiting up to 1 s for the deploy lock held by ada@elsewhere (deploy)'],
  );
  assert.ok(later.lines.filter((l) => l.includes('put-object')).length >= 2, 'tried again every pollMs');
  assert.is(JSON.parse(store.body!).id, 'other', 'their lock untouched');
  // a first look that alone took longer than the wait (a busy machine) still says it waited
  const slow = await against((runner) =>
    withDeployLock(
      runner,
      config,
      TEST_ACCOUNT,
      { waitSeconds: 1, pollMs: 100, what: 'x', beforeWrite: () => new Promise((r) => setTimeout(r, 1200)) },
      async () => 'ran',
    ),
  );
  assert.instance(slow.error, LockedError);
  assert.equal(
    slow.lines.filter((l) => l.startsWith('#')),
    ['# waiting up to 1 s for the deploy lock held by ada@elsewhere (deploy)'],
  );
});

test("a stale lock (not renewed for longer than its time to live, by S3's clock) is taken over with a write conditional on what was read", async () => {
  held({}, 400);
  const r = await against((runner) =>
    withDeployLock(runner, config, TEST_ACCOUNT, { waitSeconds: 0, what: 'x' }, async () => JSON.parse(store.body!).id),
  );
  assert.not.equal(r.value, 'other');
  // 400 s old when planted; a second or two more by the time a busy machine reads it
  assert.ok(
    r.lines.some((l) =>
      /^# the lock of ada@elsewhere \(pid 4242 on elsewhere\) is stale \(not renewed for 40[0-5] s\): taking it over$/.test(l),
    ),
    r.lines.join('\n'),
  );
  assert.ok(r.lines.includes(`$ aws s3api put-object ${WHERE} --body lock.json --if-match '"theirs"'   # via the SDK`));
  assert.ok(store.requests.includes(`PUT /${BUCKET}/${KEY} if-match "theirs"`));
  // its own time to live counts, not the default
  held({ ttlSeconds: 600 }, 400);
  const longer = await against((runner) => withDeployLock(runner, config, TEST_ACCOUNT, { waitSeconds: 0, what: 'x' }, async () => 'ran'));
  assert.instance(longer.error, LockedError);
  // a record that is not JSON: judged by age alone
  Object.assign(store, { body: 'garbage', etag: '"g"', modified: Date.now() - 10_000 });
  const unreadable = await against((runner) => readLock(runner, config, TEST_ACCOUNT));
  assert.equal([unreadable.value?.info, unreadable.value?.etag, unreadable.value?.stale], [undefined, '"g"', false]);
  assert.ok(Math.abs(unreadable.value!.ageSeconds - 10) < 3, `age ${unreadable.value!.ageSeconds}`);
  Object.assign(store, { modified: Date.now() - 400_000 });
  const old = await against((runner) => withDeployLock(runner, config, TEST_ACCOUNT, { waitSeconds: 0, what: 'x' }, async () => 'ran'));
  assert.is(old.value, 'ran');
  assert.ok(old.lines.some((l) => l.startsWith('# the lock of ? (pid ? on ?) is stale (not renewed for ')));
  const none = await against((runner) => readLock(runner, config, TEST_ACCOUNT));
  assert.is(none.value, undefined, 'no lock: undefined');
});

test('renewed while held; a lock taken over meanwhile is said and not deleted', async () => {
  const renewed = await against((runner) =>
    withDeployLock(runner, config, TEST_ACCOUNT, { waitSeconds: 0, what: 'x', renewMs: 40 }, async () => {
      // however loaded the machine: until three renewals went through
      await until(() => store.requests.filter((r) => r.includes('if-match "etag-')).length >= 3);
      return store.etag;
    }),
  );
  assert.not.equal(renewed.value, '"etag-1"', 'renewed: a new ETag');
  assert.ok(store.requests.filter((r) => r.includes('if-match "etag-')).length >= 3, store.requests.join('\n'));
  assert.is(renewed.lines.filter((l) => l.includes('put-object')).length, 1, 'renewals are quiet');
  assert.is(store.body, undefined, 'released with the last ETag');

  // the work ends while a renewal is in flight: the release waits for it and deletes the version it wrote
  store.putMs = 100;
  const racing = await against((runner) =>
    withDeployLock(runner, config, TEST_ACCOUNT, { waitSeconds: 0, what: 'x', renewMs: 20 }, async () => {
      while (store.inflight === 0) await new Promise((r) => setTimeout(r, 5));
    }),
  );
  assert.is(racing.error, undefined);
  assert.is(store.body, undefined, 'released, not left to block the next deploy for LOCK_TTL_SECONDS');
  store.putMs = 0;

  store.requests = [];
  const stolen = await against((runner) =>
    withDeployLock(runner, config, TEST_ACCOUNT, { waitSeconds: 0, what: 'x', renewMs: 40 }, async () => {
      held();
      // until a renewal found it gone
      await until(() => store.requests.some((r) => r.includes('if-match "etag-') && store.etag === '"theirs"'));
      await new Promise((r) => setTimeout(r, 50));
    }),
  );
  assert.ok(
    stolen.lines.includes(
      '# WARNING: the deploy lock was taken over by another deploy (it was not renewed in time): check `npm run unlock`',
    ),
    stolen.lines.join('\n'),
  );
  assert.is(JSON.parse(store.body!).id, 'other', "the other deploy's lock is left alone");
  assert.not.ok(store.requests.some((r) => r.startsWith('DELETE')));
});

test('denied calls name the permission and where the policy lives; other errors name the lock; a dry run only prints', async () => {
  const fix =
    '\n  fix: grant it: statement TheDeployLock of config/iam-deploy-policy.json (npm run iam-policy renders it; terraform/github.tf gives the GitHub deploy role the same file)';
  store.fail.PUT = [403, 'AccessDenied'];
  const put = await against((runner) => withDeployLock(runner, config, TEST_ACCOUNT, { waitSeconds: 0, what: 'x' }, async () => 'ran'));
  assert.is(put.error.message, `AccessDenied: this identity may not s3:PutObject on arn:aws:s3:::${BUCKET}/${KEY} (the deploy lock)${fix}`);
  held();
  store.fail = { GET: [403, 'AccessDenied'] };
  const get = await against((runner) => readLock(runner, config, TEST_ACCOUNT));
  assert.is(get.error.message, `AccessDenied: this identity may not s3:GetObject on arn:aws:s3:::${BUCKET}/${KEY} (the deploy lock)${fix}`);
  store.fail = { GET: [500, 'InternalError'] };
  const broken = await against((runner) => readLock(runner, config, TEST_ACCOUNT));
  assert.is(broken.error.message, `cannot read the deploy lock s3://${BUCKET}/${KEY}: InternalError: InternalError here`);
  store.fail = { PUT: [400, 'InvalidRequest'] };
  const bad = await against((runner) => withDeployLock(runner, config, TEST_ACCOUNT, { waitSeconds: 0, what: 'x' }, async () => 'ran'));
  assert.is(bad.error.message, `cannot write the deploy lock s3://${BUCKET}/${KEY}: InvalidRequest: InvalidRequest here`);

  store.fail = { DELETE: [403, 'AccessDenied'] };
  Object.assign(store, { body: undefined });
  const kept = await against((runner) => withDeployLock(runner, config, TEST_ACCOUNT, { waitSeconds: 0, what: 'x' }, async () => 'ran'));
  assert.is(kept.value, 'ran', 'the work is done; the lock expires by itself');
  assert.ok(
    kept.lines.includes(
      `# WARNING: the deploy lock could not be released: AccessDenied: this identity may not s3:DeleteObject on arn:aws:s3:::${BUCKET}/${KEY} (the deploy lock)${fix}`,
    ),
    kept.lines.join('\n'),
  );
  store.fail = {};
  const notOurs = await against((runner) => deleteLockIfMatch(runner, config, TEST_ACCOUNT, '"someone-else"'));
  assert.is(notOurs.value, false);
  Object.assign(store, { body: undefined });
  const gone = await against((runner) => deleteLockIfMatch(runner, config, TEST_ACCOUNT, '"x"'));
  assert.is(gone.value, false);

  const lines: string[] = [];
  const dry = new Runner({ dryRun: true, echo: (l) => lines.push(l) });
  const requests = store.requests.length;
  assert.is(await withDeployLock(dry, config, TEST_ACCOUNT, { waitSeconds: 0, what: 'x' }, async () => 'planned'), 'planned');
  assert.equal(lines, [`[dry-run] $ aws s3api put-object ${WHERE} --body - --if-none-match '*'   # the deploy lock`]);
  assert.is(store.requests.length, requests);
});

test("a release's lock is taken at its first change: a run that changes nothing writes nothing; a live holder is still waited for first", async () => {
  const sts = await stsEndpoint();
  const release = (work: (take: () => Promise<void>) => Promise<string>) =>
    against((runner) => underDeployLock(runner, config, 0, 'deploy abc123', (lock) => work(() => lock.take()), 'first change'), {
      AWS_ENDPOINT_URL_STS: sts.url,
    });
  try {
    // nothing to change: one read of the lock, no write, no delete
    const noop = await release(async () => 'unchanged');
    assert.is(noop.value, 'unchanged');
    assert.equal(store.requests, [`GET /${BUCKET}/${KEY}`]);

    // a change: taken once however many steps ask (the push, the registration), held during the work, released after
    store.requests = [];
    const change = await release(async (take) => {
      await take();
      await Promise.all([take(), take()]);
      assert.ok(store.body?.includes('deploy abc123'), 'held while the work runs');
      return 'deployed';
    });
    assert.is(change.value, 'deployed', change.error?.stack);
    assert.equal(
      store.requests.map((r) => r.split(' ')[0]),
      ['GET', 'PUT', 'DELETE'],
      store.requests.join('\n'),
    );
    assert.is(store.body, undefined, 'released');

    // another live deploy holds it: refused before the work starts (exit 6), even for a run that would change nothing
    held();
    let ran = false;
    const refused = await release(async () => ((ran = true), 'unchanged'));
    assert.instance(refused.error, LockedError);
    assert.not.ok(ran, 'the work never started');
    assert.ok(
      refused.lines.includes('# the deploy lock is held by ada@elsewhere (deploy): waiting for it before anything else'),
      refused.lines.join('\n'),
    );

    // a stale one is no reason to write: a no-op leaves it; a change takes it over
    held({}, 400);
    store.requests = [];
    assert.is((await release(async () => 'unchanged')).value, 'unchanged');
    assert.equal(store.requests, [`GET /${BUCKET}/${KEY}`]);
    const takeover = await release(async (take) => (await take(), 'deployed'));
    assert.is(takeover.value, 'deployed', takeover.error?.stack);
    assert.ok(
      takeover.lines.some((l) => /is stale \(not renewed for \d+ s\): taking it over/.test(l)),
      takeover.lines.join('\n'),
    );

    // a take that is refused is not released by anybody: the holder's record stays
    Object.assign(store, { body: undefined, etag: undefined });
    store.requests = [];
    const late = await against(
      (runner) =>
        underDeployLock(
          runner,
          config,
          0,
          'deploy',
          async (lock) => {
            held(); // another deploy took it between our first look and our first change
            await lock.take();
            return 'never';
          },
          'first change',
        ),
      { AWS_ENDPOINT_URL_STS: sts.url },
    );
    assert.instance(late.error, LockedError);
    assert.not.ok(
      store.requests.some((r) => r.startsWith('DELETE')),
      'nothing released that was not ours',
    );
  } finally {
    sts.close();
  }
});

test.run();
