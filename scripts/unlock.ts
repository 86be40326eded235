// Show who holds the deploy lock (an object in the state bucket), and with --force remove it — for a lock whose
// holder died on another machine before it expired (a dead holder on this machine, or an expired lock, is taken over
// automatically). With --terraform, the same for Terraform's state lock left by a killed `terraform apply`
// (`terraform force-unlock`).
// Needs:    the state bucket
// Produces: the lock's holder; the lock removed with --force
// Next:     npm run deploy
import { resolveIdentity } from '../lib/aws.js';
import { confirm, isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import { deleteLockIfMatch, lockKey, readLock } from '../lib/lock.js';
import type { Config } from '../lib/config.js';
import { sh, type Runner } from '../lib/run.js';
import { chdir, needsInit, stateBucket, stateKey, terraformEnv, terraformInit } from '../lib/terraform.js';
import { ExitCode } from '../lib/errors.js';

/** Terraform's S3 lock file (use_lockfile): `<state key>.tflock`, JSON with ID, Operation, Who, Created. */
export async function readTerraformLock(runner: Runner, config: Config, account: string): Promise<Record<string, string> | undefined> {
  const r = await runner.run(sh`aws s3 cp s3://${stateBucket(config, account)}/${stateKey(config)}.tflock - --region ${config.region}`, {
    nothrow: true,
  });
  if (r.dryRun) return undefined;
  if (!r.ok) {
    if (/404|Not ?Found|NoSuchKey|does not exist/i.test(r.stderr)) return undefined;
    throw new Error(`cannot read terraform's state lock: ${r.stderr.trim().split('\n').pop()}`);
  }
  return JSON.parse(r.stdout);
}

async function terraformUnlock(runner: Runner, config: Config, account: string, force: boolean, yes: boolean): Promise<number> {
  const lock = await readTerraformLock(runner, config, account);
  if (!lock && !runner.dryRun) {
    process.stdout.write('no terraform state lock is held\n');
    return ExitCode.OK;
  }
  if (lock)
    process.stdout.write(
      `terraform state lock held by ${lock.Who} for ${lock.Operation} since ${lock.Created} (ID ${lock.ID}, terraform ${lock.Version})\n`,
    );
  if (!force) return lock ? ExitCode.LOCKED : ExitCode.OK;
  if (!(await confirm("Remove terraform's state lock? Only do this when that terraform run is really gone (killed, crashed).", yes)))
    return ExitCode.FAILED;
  if (!runner.dryRun && needsInit(config, account)) await terraformInit(runner, config, account);
  await runner.run(sh`terraform ${chdir(config)} force-unlock -force ${lock?.ID ?? '<LOCK_ID>'}`, { env: terraformEnv(config) });
  process.stdout.write('✓ terraform state lock removed: run `npm run step:3` to plan from the state it left\n');
  return ExitCode.OK;
}

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'unlock',
  options: {
    force: { type: 'boolean', description: 'remove the lock' },
    terraform: { type: 'boolean', description: "Terraform's state lock instead of the deploy lock" },
  },
  async main({ runner, config, options, yes }: ScriptContext) {
    const { account } = await resolveIdentity(runner, config);
    if (options.terraform) return terraformUnlock(runner, config, account, !!options.force, yes);
    const current = runner.dryRun ? undefined : await readLock(runner, config, account);
    if (!current && !runner.dryRun) {
      process.stdout.write('no deploy lock is held\n');
      return;
    }
    const info = current?.info;
    if (info)
      process.stdout.write(
        `held by ${info.holder} (pid ${info.pid} on ${info.host}) for ${info.what} since ${info.acquiredAt}, last renewed ${Math.round(current!.ageSeconds)} s ago by S3's clock${current!.stale ? ' — stale' : ''}\n`,
      );
    if (!options.force) return current && !current.stale ? ExitCode.LOCKED : ExitCode.OK;
    if (!(await confirm('Remove the deploy lock? Only do this when its holder is really gone.', yes))) return ExitCode.FAILED;
    // only the version shown above: a lock taken or renewed since then is left alone
    if (runner.dryRun)
      runner.echoCommand('aws', [
        's3api',
        'delete-object',
        '--bucket',
        stateBucket(config, account),
        '--key',
        lockKey(config),
        '--if-match',
        '<ETAG>',
      ]);
    else if (!(await deleteLockIfMatch(runner, config, account, current!.etag!))) {
      process.stdout.write('the lock changed since it was read (renewed or taken over): left alone; run unlock again to see it\n');
      return ExitCode.LOCKED;
    }
    process.stdout.write('✓ lock removed\n');
  },
};

if (isMain(import.meta.url)) await main(spec);
