// The deploy lock under races (issue 12), against S3 in the emulator (one request at a time, as S3 applies
// a conditional write atomically): many concurrent deploys and takeovers, with delays injected between
// reading the lock and writing it, never have two holders at once; takeover and release are conditional on
// the ETag that was read; a held lock is renewed; staleness is judged by S3's clock; EPERM means alive.
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { execa } from 'execa';
import { chmodSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../lib/config.js';
import { alive, isStale, lockKey, readLock, withDeployLock, type LockInfo } from '../lib/lock.js';
import { Runner } from '../lib/run.js';
import { stateBucket } from '../lib/terraform.js';
import { startMoto, type Moto } from './helpers/moto.js';
import { keptEnv, ROOT } from './helpers/script.js';
import { LockedError } from '../lib/errors.js';
import { requestFaultProxy, type RequestFault } from './helpers/fault-proxy.js';

const ACCOUNT = '123456789012';
let moto: Moto;
const bucket = stateBucket(loadConfig({ env: { LLMOPS_PROJECT_NAME: 'locktest' }, envFile: '' }), ACCOUNT);
/**
 * Each test's own lock (its own project in the one bucket): a test leaves its lock as it ends (the ETag test
 * leaves another holder's), so tests share none and pass in any order, alone or together.
 */
const configOf = (project: string) => loadConfig({ env: { LLMOPS_PROJECT_NAME: project, TF_STATE_BUCKET: bucket }, envFile: '' });
const quiet = () => new Runner({ echo: () => {} });
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const s3 = () => new S3Client({ region: 'us-east-1', forcePathStyle: true });

/** The variables this file points at its emulator, as they were: put back after, for the files after it. */
let before: Record<string, string | undefined> = {};

test.before(async () => {
  moto = await startMoto({}, { serial: true });
  before = Object.fromEntries(Object.keys(moto.env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, moto.env);
  await s3().send(new CreateBucketCommand({ Bucket: bucket }));
});
test.after(async () => {
  await moto.stop();
  for (const [k, v] of Object.entries(before)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

test('many concurrent deploys and takeovers with delays between read and write never overlap', async () => {
  const config = configOf('lock-many');
  let inside = 0;
  let maxInside = 0;
  let entered = 0;
  const worker = async (i: number) => {
    let crashed = false;
    try {
      await withDeployLock(
        quiet(),
        config,
        ACCOUNT,
        {
          waitSeconds: 60,
          what: `worker ${i}`,
          pollMs: 50,
          // 3 s: room for a renewal a second late on a loaded machine (S3's clock counts whole seconds)
          ttlSeconds: 3,
          renewMs: 300,
          // the race window the old code lost: a random delay between reading the lock and writing it
          beforeWrite: () => sleep(Math.random() * 150),
          crashed: () => crashed,
        },
        async () => {
          inside++;
          entered++;
          maxInside = Math.max(maxInside, inside);
          // some holders outlive the ttl (their renewals must keep them), some die holding it (taken over later)
          await sleep(i % 3 === 0 ? 3600 : 100 + Math.random() * 200);
          inside--;
          if (i % 4 === 1) crashed = true; // dies: no renewal, no release; its lock goes stale after 3 s
        },
      );
    } catch (error) {
      if (!(error instanceof LockedError)) throw error;
    }
  };
  await Promise.all(Array.from({ length: 12 }, (_, i) => worker(i)));
  assert.is(entered, 12, 'every worker got the lock in turn');
  assert.is(maxInside, 1, 'two holders were inside at once');
});

test('a lock that keeps being renewed is never taken over, even past its time to live', async () => {
  const config = configOf('lock-renewed');
  let takenOver = false;
  let started = false;
  const holder = withDeployLock(
    quiet(),
    config,
    ACCOUNT,
    // a ttl of several renewal intervals: on a loaded machine one renewal can come a second late (S3's
    // clock counts whole seconds), which is not what this test is about
    { waitSeconds: 10, pollMs: 100, what: 'long build', ttlSeconds: 3, renewMs: 200 },
    async () => {
      started = true;
      await sleep(5000);
    },
  );
  while (!started) await sleep(50);
  // tries for 4 s, past the 3 s ttl: a lock that were not renewed would be taken over
  const other = withDeployLock(quiet(), config, ACCOUNT, { waitSeconds: 4, what: 'second', ttlSeconds: 3, pollMs: 100 }, async () => {
    takenOver = true;
  }).catch((e) => e);
  assert.instance(await other, LockedError, 'the renewed lock held');
  await holder;
  assert.not.ok(takenOver);
});

test("a fast local clock does not take over a live lock: staleness is S3's clock", async () => {
  const config = configOf('lock-clock');
  const realNow = Date.now;
  let started = false;
  const holder = withDeployLock(
    quiet(),
    config,
    ACCOUNT,
    { waitSeconds: 10, pollMs: 100, what: 'holder', ttlSeconds: 5, renewMs: 1000 },
    async () => {
      started = true;
      await sleep(1500);
    },
  );
  while (!started) await sleep(50);
  Date.now = () => realNow() + 3_600_000;
  try {
    const state = await readLock(quiet(), config, ACCOUNT);
    assert.ok(state && state.ageSeconds < 5 && !state.stale, `age by S3's clock: ${state?.ageSeconds}`);
  } finally {
    Date.now = realNow;
  }
  await holder;
});

test('release is conditional on the ETag: a lock that changed hands is left alone', async () => {
  const config = configOf('lock-etag');
  let replaced = false;
  await withDeployLock(quiet(), config, ACCOUNT, { waitSeconds: 10, pollMs: 100, what: 'first', renewMs: 60_000 }, async () => {
    // another deploy replaces the object (as a takeover would): our release must not delete theirs
    const other: LockInfo = {
      id: 'other',
      holder: 'other@elsewhere',
      host: 'elsewhere',
      pid: 1,
      acquiredAt: new Date().toISOString(),
      expiresAt: '',
      what: 'other',
      ttlSeconds: 300,
    };
    await s3().send(new PutObjectCommand({ Bucket: bucket, Key: lockKey(config), Body: JSON.stringify(other) }));
    replaced = true;
  });
  assert.ok(replaced);
  const body = await (await s3().send(new GetObjectCommand({ Bucket: bucket, Key: lockKey(config) }))).Body!.transformToString();
  assert.is(JSON.parse(body).id, 'other', "the other holder's lock is still there");
  const refused = await withDeployLock(quiet(), config, ACCOUNT, { waitSeconds: 0, what: 'third' }, async () => undefined).catch((e) => e);
  assert.instance(refused, LockedError);
  assert.match(refused.message, 'other by other@elsewhere (pid 1 on elsewhere)');
});

/**
 * The holder's renewals go through a proxy that fails them as `faults` says, one entry per request (its
 * attempts included: the SDK retries a 5xx and a dropped connection); a second deploy tries to take the lock
 * meanwhile. A renewal that failed but did not lose the lock must not stop the renewals, nor the release.
 */
async function renewalsFailing(project: string, faults: RequestFault[]) {
  const config = configOf(project);
  const what = `holder of ${project}`;
  let renewals = 0;
  const proxy = await requestFaultProxy(moto.url, (req, body) => {
    if (req.method !== 'PUT' || !req.headers['if-match'] || !body.includes(what)) return 'pass';
    return faults[renewals++] ?? 'pass';
  });
  const saved = process.env.AWS_ENDPOINT_URL;
  process.env.AWS_ENDPOINT_URL = proxy.url;
  const lines: string[] = [];
  try {
    let started = false;
    let second = false;
    const holder = withDeployLock(
      new Runner({ echo: (l) => lines.push(l) }),
      config,
      ACCOUNT,
      // the ttl leaves room for a loaded machine: the failed attempts, their SDK back-off and a late renewal
      // interval took more than 2 s in a CI run (S3's clock counts whole seconds), and the second deploy got in
      { waitSeconds: 10, pollMs: 100, what, ttlSeconds: 4, renewMs: 200 },
      async () => {
        started = true;
        await sleep(6500);
      },
    );
    while (!started) await sleep(20);
    // tries for 5 s (past the 4 s ttl): a holder that stopped renewing would be taken over
    const other = await withDeployLock(
      quiet(),
      config,
      ACCOUNT,
      { waitSeconds: 5, pollMs: 100, what: 'second', ttlSeconds: 4 },
      async () => {
        second = true;
      },
    ).catch((e) => e);
    await holder;
    const left = await readLock(quiet(), config, ACCOUNT);
    return { other, second, left, lines, used: renewals };
  } finally {
    process.env.AWS_ENDPOINT_URL = saved;
    await proxy.close();
  }
}

test('a renewal that fails with a 500 or a dropped connection keeps the lock: renewals go on, the second deploy waits, the release happens', async () => {
  // one renewal answered 500 on all its attempts, then one whose connections are dropped unanswered
  const r = await renewalsFailing('lock-renew-5xx', ['error-500', 'error-500', 'error-500', 'lost-answer', 'lost-answer', 'lost-answer']);
  assert.ok(r.used >= 6, `the faults were used (${r.used})`);
  assert.instance(r.other, LockedError, 'the lock held through the failed renewals');
  assert.not.ok(r.second, 'a second deploy got in');
  assert.is(r.left, undefined, 'released at the end');
  assert.not.ok(
    r.lines.some((l) => /taken over/.test(l)),
    r.lines.join('\n'),
  );
});

test("a renewal that landed but whose answer was lost: the retry's 412 meets our own record, and the lock is still ours", async () => {
  const r = await renewalsFailing('lock-renew-lost', ['lost-answer']);
  assert.ok(r.used >= 2, `the lost answer and the retry after it (${r.used})`);
  assert.instance(r.other, LockedError, 'the lock held');
  assert.not.ok(r.second);
  assert.is(r.left, undefined, 'released at the end (with the ETag the lost renewal wrote)');
  assert.not.ok(
    r.lines.some((l) => /taken over/.test(l)),
    r.lines.join('\n'),
  );
});

test('staleness: age past the ttl, or a dead process on this machine; a live or unknown one is not stale', () => {
  const info = (over: Partial<LockInfo>): LockInfo => ({
    id: 'x',
    holder: 'h',
    host: 'elsewhere',
    pid: 1,
    acquiredAt: '',
    expiresAt: '',
    what: 'w',
    ttlSeconds: 60,
    ...over,
  });
  assert.not.ok(isStale(info({}), 59));
  assert.ok(isStale(info({}), 61));
  assert.ok(isStale(info({ host: hostname(), pid: 2 ** 22 + 12345 }), 0), 'a dead pid on this host');
  assert.not.ok(isStale(info({ host: hostname(), pid: process.pid }), 0));
  assert.ok(isStale(undefined, 301), 'an unreadable record goes stale by age');
});

test("EPERM from kill(pid, 0) means alive: another user's deploy is not dead", async () => {
  assert.not.ok(alive(2 ** 22 + 12345));
  const probe = `import('${join(ROOT, 'lib/lock.ts')}').then((m) => process.stdout.write(String(m.alive(1))))`;
  const asNobody =
    process.getuid?.() === 0
      ? ['/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath]
      : [process.execPath];
  // the unprivileged user must reach the checkout: a mkdtemp'd copy of it (Stryker's sandbox) is 0700
  if (asNobody.length > 1 && (statSync(ROOT).mode & 0o005) !== 0o005) chmodSync(ROOT, statSync(ROOT).mode | 0o005);
  const r = await execa(asNobody[0]!, [...asNobody.slice(1), '--import', 'tsx', '-e', probe], {
    cwd: ROOT,
    reject: false,
    all: true,
    env: { ...process.env, ...keptEnv() },
  });
  assert.is(r.stdout.trim(), 'true', r.all);
});

test.run();
