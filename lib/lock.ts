// The deploy lock: one object in the Terraform state bucket, created with S3's conditional write
// (If-None-Match: *), so two deploys — a laptop and CI — never interleave. A lock names its holder, is
// renewed while held and expires when it is not (judged by S3's clock); a holder on this machine whose
// process is gone is stale at once. Takeover, renewal and release are conditional on the ETag that was
// read (If-Match), so a lock is never replaced or removed by someone who did not see its current version.
import { hostname, userInfo } from 'node:os';
import { resolveIdentity, s3Send } from './aws.js';
import { LockedError } from './errors.js';
import type { Config } from './config.js';
import type { Runner } from './run.js';
import { stateBucket } from './terraform.js';

export interface LockInfo {
  id: string;
  holder: string;
  host: string;
  pid: number;
  acquiredAt: string;
  expiresAt: string;
  what: string;
  ttlSeconds?: number;
  /** When it was last renewed (each renewal writes a new body, so a new ETag). */
  renewedAt?: string;
}

/** What is in the bucket now: the record, its ETag (for conditional writes), and its age by S3's own clock. */
export interface LockState {
  info?: LockInfo;
  etag?: string;
  ageSeconds: number;
  stale: boolean;
}

export const lockKey = (config: Config) => `${config.project}/locks/${config.names.service}.json`;

/** kill(pid, 0): ESRCH means gone; EPERM means alive but another user's (a deploy run by someone else). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error: any) {
    return error?.code === 'EPERM';
  }
}

/**
 * Stale when S3 says it has not been renewed for longer than its time to live (the object's LastModified
 * against the Date of S3's answer: no local clock is trusted), or when its holder ran on this machine and
 * that process is gone.
 */
export function isStale(info: LockInfo | undefined, ageSeconds: number, defaultTtl = LOCK_TTL_SECONDS): boolean {
  if (!info) return ageSeconds > defaultTtl; // unreadable record: judged by age alone
  if (ageSeconds > (info.ttlSeconds ?? defaultTtl)) return true;
  return info.host === hostname() && !alive(info.pid);
}

/** A held lock is renewed every LOCK_RENEW_SECONDS and expires LOCK_TTL_SECONDS after its last renewal. */
export const LOCK_TTL_SECONDS = 300;
export const LOCK_RENEW_SECONDS = 30;

// The lock is bookkeeping, not one of the guide's commands: it goes through the SDK (s3Send: tens of ms instead of
// ~1.3 s of CLI start-up per call), echoing the equivalent CLI command like every other call.

const conditionFailed = (error: any) => {
  const status = error?.$metadata?.httpStatusCode;
  return error?.name === 'PreconditionFailed' || error?.name === 'ConditionalRequestConflict' || status === 412 || status === 409;
};
const denied = (error: any) => error?.name === 'AccessDenied' || error?.Code === 'AccessDenied' || error?.$metadata?.httpStatusCode === 403;

/** One line naming who may not do what on which object, and where the policy that must allow it lives. */
function deniedMessage(config: Config, account: string, action: string, principal?: string): string {
  return (
    `AccessDenied: ${principal ?? 'this identity'} may not ${action} on arn:aws:s3:::${stateBucket(config, account)}/${lockKey(config)} (the deploy lock)` +
    `\n  fix: grant it: statement TheDeployLock of config/iam-deploy-policy.json (npm run iam-policy renders it; terraform/github.tf gives the GitHub deploy role the same file)`
  );
}

let lockPrincipal: string | undefined;

const notFound = (error: any) => error?.name === 'NoSuchKey' || error?.name === 'NotFound' || error?.$metadata?.httpStatusCode === 404;

function where(config: Config, account: string): string[] {
  return ['--bucket', stateBucket(config, account), '--key', lockKey(config)];
}

export async function readLock(runner: Runner, config: Config, account: string): Promise<LockState | undefined> {
  runner.echoCommand('aws', ['s3api', 'get-object', ...where(config, account), 'lock.json'], 'via the SDK');
  try {
    const { out, serverMs } = await s3Send(
      config,
      (s3) => new s3.GetObjectCommand({ Bucket: stateBucket(config, account), Key: lockKey(config) }),
      async (o: any) => ({ ...o, text: (await o.Body?.transformToString()) ?? '' }),
    );
    const text: string = out.text;
    const ageSeconds = Math.max(0, (serverMs - (out.LastModified ? new Date(out.LastModified).getTime() : serverMs)) / 1000);
    let info: LockInfo | undefined;
    try {
      info = JSON.parse(text) as LockInfo;
    } catch {
      info = undefined;
    }
    return { info, etag: out.ETag, ageSeconds, stale: isStale(info, ageSeconds) };
  } catch (error: any) {
    if (notFound(error)) return undefined;
    if (denied(error)) throw new Error(deniedMessage(config, account, 's3:GetObject', lockPrincipal));
    throw new Error(
      `cannot read the deploy lock s3://${stateBucket(config, account)}/${lockKey(config)}: ${error?.name}: ${error?.message}`,
    );
  }
}

/**
 * Write the lock record: `ifNoneMatch` creates it only when absent; `ifMatch` replaces exactly the version
 * that was read (a takeover of a stale lock, or a renewal of our own). Returns the new ETag, or undefined
 * when the condition failed (someone else got there first).
 */
async function writeLock(
  runner: Runner,
  config: Config,
  account: string,
  info: LockInfo,
  condition: { ifNoneMatch: '*' } | { ifMatch: string },
  quiet = false,
): Promise<string | undefined> {
  const flag = 'ifMatch' in condition ? ['--if-match', condition.ifMatch] : ['--if-none-match', '*'];
  if (!quiet) runner.echoCommand('aws', ['s3api', 'put-object', ...where(config, account), '--body', 'lock.json', ...flag], 'via the SDK');
  try {
    const { out } = await s3Send<any>(
      config,
      (s3) =>
        new s3.PutObjectCommand({
          Bucket: stateBucket(config, account),
          Key: lockKey(config),
          Body: JSON.stringify(info),
          ContentType: 'application/json',
          ...('ifMatch' in condition ? { IfMatch: condition.ifMatch } : { IfNoneMatch: '*' }),
        }),
    );
    return out.ETag ?? '';
  } catch (error: any) {
    if (conditionFailed(error) || ('ifMatch' in condition && notFound(error))) return undefined;
    if (denied(error)) throw new Error(deniedMessage(config, account, 's3:PutObject', lockPrincipal));
    throw new Error(
      `cannot write the deploy lock s3://${stateBucket(config, account)}/${lockKey(config)}: ${error?.name}: ${error?.message}`,
    );
  }
}

/** Delete the lock only if it is still the version `etag` names (ours); false when it is not. */
export async function deleteLockIfMatch(runner: Runner, config: Config, account: string, etag: string): Promise<boolean> {
  runner.echoCommand('aws', ['s3api', 'delete-object', ...where(config, account), '--if-match', etag], 'via the SDK');
  try {
    await s3Send(config, (s3) => new s3.DeleteObjectCommand({ Bucket: stateBucket(config, account), Key: lockKey(config), IfMatch: etag }));
    return true;
  } catch (error: any) {
    if (conditionFailed(error) || notFound(error)) return false;
    // left behind, it expires LOCK_TTL_SECONDS after its last renewal; say why when it is a permission
    if (denied(error))
      runner.echo(`# WARNING: the deploy lock could not be released: ${deniedMessage(config, account, 's3:DeleteObject', lockPrincipal)}`);
    return false;
  }
}

export interface LockOptions {
  waitSeconds: number;
  what: string;
  pollMs?: number;
  /** Time to live after the last renewal (default LOCK_TTL_SECONDS) and the renewal interval (default LOCK_RENEW_SECONDS). */
  ttlSeconds?: number;
  renewMs?: number;
  /** Tests only: runs between reading the lock and the conditional write that follows (a delay, a race). */
  beforeWrite?: () => Promise<void>;
  /** Tests only: the process died here (no renewal, no release). */
  crashed?: () => boolean;
}

/** Take the lock (waiting up to waitSeconds for a live holder), run `fn` renewing it, release it whatever happens. */
export async function withDeployLock<T>(
  runner: Runner,
  config: Config,
  account: string,
  options: LockOptions,
  fn: () => Promise<T>,
): Promise<T> {
  const release = await acquireDeployLock(runner, config, account, options);
  try {
    return await fn();
  } finally {
    await release();
  }
}

/** Take the lock (waiting up to waitSeconds for a live holder) and renew it until the returned release is called. */
async function acquireDeployLock(runner: Runner, config: Config, account: string, options: LockOptions): Promise<() => Promise<void>> {
  if (runner.dryRun) {
    runner.echoCommand('aws', ['s3api', 'put-object', ...where(config, account), '--body', '-', '--if-none-match', '*'], 'the deploy lock');
    return async () => {};
  }
  const ttl = options.ttlSeconds ?? LOCK_TTL_SECONDS;
  const now = Date.now();
  const info: LockInfo = {
    id: `${hostname()}-${process.pid}-${now}-${Math.random().toString(36).slice(2, 8)}`,
    holder: process.env.GITHUB_ACTOR
      ? `${process.env.GITHUB_ACTOR} (GitHub Actions run ${process.env.GITHUB_RUN_ID ?? '?'})`
      : `${process.env.USER ?? userInfo().username}@${hostname()}`,
    host: hostname(),
    pid: process.pid,
    acquiredAt: new Date(now).toISOString(),
    expiresAt: `${ttl} s after its last renewal (renewed every ${(options.renewMs ?? LOCK_RENEW_SECONDS * 1000) / 1000} s while held)`,
    what: options.what,
    ttlSeconds: ttl,
  };
  const started = Date.now();
  const quiet = runner.withEcho(() => {});
  let announced = false;
  let etag: string | undefined;
  for (;;) {
    await options.beforeWrite?.();
    etag = await writeLock(runner, config, account, info, { ifNoneMatch: '*' }).catch(async (error) => {
      // a write whose answer was lost may have landed: ours if the record names us, else the error stands
      const landed = await readLock(quiet, config, account).catch(() => undefined);
      if (landed?.info?.id === info.id && landed.etag) return landed.etag;
      throw error;
    });
    if (etag !== undefined) break;
    const current = await readLock(runner, config, account);
    if (current?.info?.id === info.id && current.etag) {
      etag = current.etag; // our write landed and the SDK's retry of it met our own record: the lock is ours
      break;
    }
    if (current?.stale && current.etag) {
      await options.beforeWrite?.();
      runner.echo(
        `# the lock of ${current.info?.holder ?? '?'} (pid ${current.info?.pid ?? '?'} on ${current.info?.host ?? '?'}) is stale (not renewed for ${Math.round(current.ageSeconds)} s): taking it over`,
      );
      etag = await writeLock(runner, config, account, info, { ifMatch: current.etag });
      if (etag !== undefined) break;
      continue; // someone else took it over (or renewed it) between our read and write: look again
    }
    // said once, as soon as a live holder is seen, however long that first look took on a busy machine
    if (options.waitSeconds > 0 && !announced) {
      runner.echo(
        `# waiting up to ${options.waitSeconds} s for the deploy lock held by ${current?.info?.holder ?? '?'} (${current?.info?.what ?? '?'})`,
      );
      announced = true;
    }
    const waitedMs = Date.now() - started;
    // a run that was told not to wait did not wait, however long its one attempt took
    if (waitedMs >= options.waitSeconds * 1000)
      throw new LockedError(current?.info, options.waitSeconds ? Math.max(options.waitSeconds, Math.round(waitedMs / 1000)) : 0);
    await new Promise((r) => setTimeout(r, options.pollMs ?? 2000));
  }
  runner.echo(`# deploy lock taken: s3://${stateBucket(config, account)}/${lockKey(config)}`);
  let held = true;
  const renew = async () => {
    if (!held || !etag || options.crashed?.()) return;
    info.renewedAt = new Date().toISOString();
    let next: string | undefined;
    try {
      next = await writeLock(runner, config, account, info, { ifMatch: etag }, true);
    } catch {
      // S3 answered 5xx or the connection dropped (after the SDK's retries): the lock is still ours until its
      // time to live runs out, so keep it and try again at the next interval; never stop renewing for this
      return;
    }
    if (next !== undefined) {
      etag = next;
      return;
    }
    // 412: the record is not the version we last wrote. Either another deploy took it over, or our own
    // renewal landed and its answer was lost (the SDK's retry then met our new ETag): read it to know which
    const current = await readLock(quiet, config, account).catch(() => 'unreadable' as const);
    if (current === 'unreadable') return; // S3 unreachable again: decide at the next interval
    if (current?.info?.id === info.id && current.etag) {
      etag = current.etag;
      return;
    }
    held = false;
    runner.echo('# WARNING: the deploy lock was taken over by another deploy (it was not renewed in time): check `npm run unlock`');
  };
  // one renewal at a time: two in flight would race each other's ETag, and the loser would call the lock lost
  let renewing: Promise<void> | undefined;
  const timer = setInterval(
    () => {
      renewing ??= renew().finally(() => (renewing = undefined));
    },
    options.renewMs ?? LOCK_RENEW_SECONDS * 1000,
  );
  timer.unref();
  // Ctrl-C / SIGTERM stop the running command cleanly (lib/run.ts), so the work fails and the lock is released
  return async () => {
    clearInterval(timer);
    // a renewal still in flight changes the ETag: release the version it wrote, not the one before it (a
    // delete conditional on the old ETag fails, and the lock stays for LOCK_TTL_SECONDS, blocking the next deploy)
    await renewing;
    if (held && etag && !options.crashed?.()) await deleteLockIfMatch(runner, config, account, etag);
  };
}

/** The deploy lock of a run that takes it before its first change: `take` takes it once (later calls wait for that). */
export interface DeployLock {
  take(): Promise<void>;
}

/**
 * Run `fn` holding the deploy lock (see lib/lock.ts); `--lock-wait` seconds to wait for another holder.
 * `when: 'first change'` (a release: bootstrap, deploy): the lock is taken when a step calls `lock.take()` before its
 * first change (the push, the registration), so a run that finds nothing to change writes nothing at all. A lock
 * another live deploy holds is still waited for (or refused, exit 6) at the start: its release may be the one this
 * run would otherwise call unchanged.
 */
export async function underDeployLock<T>(
  runner: Runner,
  config: Config,
  lockWait: number | undefined,
  what: string,
  fn: (lock: DeployLock) => Promise<T>,
  when: 'now' | 'first change' = 'now',
): Promise<T> {
  const options = { waitSeconds: lockWait ?? 0, what };
  const identity = await resolveIdentity(runner, config);
  lockPrincipal = identity.arn;
  let taking: Promise<() => Promise<void>> | undefined;
  const lock: DeployLock = { take: async () => void (await (taking ??= acquireDeployLock(runner, config, identity.account, options))) };
  if (when === 'now') await lock.take();
  else if (!runner.dryRun) {
    const current = await readLock(runner, config, identity.account);
    if (current && !current.stale) {
      runner.echo(
        `# the deploy lock is held by ${current.info?.holder ?? '?'} (${current.info?.what ?? '?'}): waiting for it before anything else`,
      );
      await lock.take();
    }
  }
  try {
    return await fn(lock);
  } finally {
    const release = await taking?.catch(() => undefined);
    await release?.();
  }
}
