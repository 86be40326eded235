// The deploy lock: one object in the Terraform state bucket, created with S3's conditional write
// (If-None-Match: *), so two deploys — a laptop and CI — never interleave. A lock names its holder and
// expires; a holder on this machine whose process is gone is stale at once.
import { hostname, userInfo } from 'node:os';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { resolveIdentity } from './aws.js';
import { integer, type OptionSpec } from './flags.js';
import type { Config } from './config.js';
import type { Runner } from './run.js';
import { stateBucket } from './terraform.js';

export interface LockInfo { id: string; holder: string; host: string; pid: number; acquiredAt: string; expiresAt: string; what: string }

export class LockedError extends Error {
  constructor(readonly info: LockInfo | undefined, waitedS: number) {
    super(
      `another deploy holds the lock${info ? `: ${info.what} by ${info.holder} (pid ${info.pid} on ${info.host}) since ${info.acquiredAt}, expires ${info.expiresAt}` : ''}` +
        `${waitedS ? ` — waited ${waitedS} s` : ''}.\n  fix: wait for it (--lock-wait SECONDS), or if that process is dead and the lock is not yet expired: npm run unlock`,
    );
    this.name = 'LockedError';
  }
}

export const lockKey = (config: Config) => `${config.project}/locks/${config.names.service}.json`;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function isStale(info: LockInfo, now = Date.now()): boolean {
  if (Date.parse(info.expiresAt) < now) return true;
  return info.host === hostname() && !alive(info.pid);
}

// The lock is bookkeeping, not one of the guide's commands: it goes through the SDK (tens of ms instead of
// ~1.3 s of CLI start-up per call), echoing the equivalent CLI command like every other call.
function s3(config: Config): S3Client {
  return new S3Client({ region: config.region, forcePathStyle: !!process.env.AWS_ENDPOINT_URL, maxAttempts: 3 });
}

function where(config: Config, account: string): string[] {
  return ['--bucket', stateBucket(config, account), '--key', lockKey(config)];
}

export async function readLock(runner: Runner, config: Config, account: string): Promise<{ info?: LockInfo; etag?: string } | undefined> {
  runner.echoCommand('aws', ['s3api', 'get-object', ...where(config, account), 'lock.json'], 'via the SDK');
  const client = s3(config);
  try {
    const r = await client.send(new GetObjectCommand({ Bucket: stateBucket(config, account), Key: lockKey(config) }));
    const text = (await r.Body?.transformToString()) ?? '';
    try {
      return { info: JSON.parse(text) as LockInfo, etag: r.ETag };
    } catch {
      return { info: undefined, etag: r.ETag };
    }
  } catch (error: any) {
    if (error?.name === 'NoSuchKey' || error?.$metadata?.httpStatusCode === 404) return undefined;
    throw new Error(`cannot read the deploy lock s3://${stateBucket(config, account)}/${lockKey(config)}: ${error?.name}: ${error?.message}`);
  } finally {
    client.destroy();
  }
}

async function tryCreate(runner: Runner, config: Config, account: string, info: LockInfo): Promise<boolean> {
  runner.echoCommand('aws', ['s3api', 'put-object', ...where(config, account), '--body', 'lock.json', '--if-none-match', '*'], 'via the SDK');
  const client = s3(config);
  try {
    await client.send(new PutObjectCommand({ Bucket: stateBucket(config, account), Key: lockKey(config), Body: JSON.stringify(info), ContentType: 'application/json', IfNoneMatch: '*' }));
    return true;
  } catch (error: any) {
    const status = error?.$metadata?.httpStatusCode;
    if (error?.name === 'PreconditionFailed' || error?.name === 'ConditionalRequestConflict' || status === 412 || status === 409) return false;
    throw new Error(`cannot take the deploy lock in s3://${stateBucket(config, account)}/${lockKey(config)}: ${error?.name}: ${error?.message}`);
  } finally {
    client.destroy();
  }
}

async function deleteLock(runner: Runner, config: Config, account: string): Promise<void> {
  runner.echoCommand('aws', ['s3api', 'delete-object', ...where(config, account)], 'via the SDK');
  const client = s3(config);
  try {
    await client.send(new DeleteObjectCommand({ Bucket: stateBucket(config, account), Key: lockKey(config) }));
  } catch {
    /* gone already, or unreachable: it expires */
  } finally {
    client.destroy();
  }
}

export async function releaseLock(runner: Runner, config: Config, account: string, id: string): Promise<void> {
  const current = await readLock(runner, config, account).catch(() => undefined);
  if (current?.info?.id !== id) return; // not ours any more (expired and taken over): leave it
  await deleteLock(runner, config, account);
}

export interface LockOptions { waitSeconds: number; ttlSeconds: number; what: string; pollMs?: number }

/** Take the lock (waiting up to waitSeconds for a live holder), run `fn`, release it whatever happens. */
export async function withDeployLock<T>(runner: Runner, config: Config, account: string, options: LockOptions, fn: () => Promise<T>): Promise<T> {
  if (runner.dryRun) {
    runner.echoCommand('aws', ['s3api', 'put-object', ...where(config, account), '--body', '-', '--if-none-match', '*'], 'the deploy lock');
    return fn();
  }
  const now = Date.now();
  const info: LockInfo = {
    id: `${hostname()}-${process.pid}-${now}`,
    holder: process.env.GITHUB_ACTOR ? `${process.env.GITHUB_ACTOR} (GitHub Actions run ${process.env.GITHUB_RUN_ID ?? '?'})` : `${process.env.USER ?? userInfo().username}@${hostname()}`,
    host: hostname(),
    pid: process.pid,
    acquiredAt: new Date(now).toISOString(),
    expiresAt: new Date(now + options.ttlSeconds * 1000).toISOString(),
    what: options.what,
  };
  const started = Date.now();
  let announced = false;
  for (;;) {
    if (await tryCreate(runner, config, account, info)) break;
    const current = await readLock(runner, config, account);
    if (current?.info && isStale(current.info)) {
      runner.echo(`# the lock of ${current.info.holder} (pid ${current.info.pid} on ${current.info.host}) is stale: taking it over`);
      await deleteLock(runner, config, account);
      continue;
    }
    const waited = Math.round((Date.now() - started) / 1000);
    if (waited >= options.waitSeconds) throw new LockedError(current?.info, waited);
    if (!announced) {
      runner.echo(`# waiting up to ${options.waitSeconds} s for the deploy lock held by ${current?.info?.holder ?? '?'} (${current?.info?.what ?? '?'})`);
      announced = true;
    }
    await new Promise((r) => setTimeout(r, options.pollMs ?? 2000));
  }
  runner.echo(`# deploy lock taken: s3://${stateBucket(config, account)}/${lockKey(config)}`);
  // Ctrl-C / SIGTERM stop the running command cleanly (lib/run.ts), so fn fails and the lock is released here.
  try {
    return await fn();
  } finally {
    await releaseLock(runner, config, account, info.id);
  }
}

/** Run `fn` holding the deploy lock (see lib/lock.ts); `--lock-wait` seconds to wait for another holder. */
export async function underDeployLock<T>(runner: Runner, config: Config, lockWait: number | undefined, what: string, fn: () => Promise<T>): Promise<T> {
  const wait = lockWait ?? 0;
  const identity = await resolveIdentity(runner, config);
  return withDeployLock(runner, config, identity.account, { waitSeconds: wait, ttlSeconds: config.deployTimeoutSeconds + 600, what }, fn);
}


/** The `--lock-wait` flag of every script that takes the deploy lock. */
export const LOCK_WAIT_OPTION: OptionSpec = { type: 'string', description: 'seconds to wait for another deploy\'s lock (0: exit 6 at once, naming the holder)', default: '0', parse: integer(0, 86_400) };
