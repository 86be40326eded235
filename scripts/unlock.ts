// Unlock — show the deploy lock and, when its holder is gone, remove it.
// Needs:    the state bucket (created by step 3).
// Produces: the lock's holder; with --force (and a prompt on a TTY), the lock removed.
// Next:     npm run deploy
import { resolveIdentity } from '../lib/aws.js';
import { confirm, ExitCode, isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import { isStale, lockKey, readLock } from '../lib/lock.js';
import { stateBucket } from '../lib/terraform.js';

export const spec: ScriptSpec = {
  command: 'unlock',
  summary: 'Show who holds the deploy lock (an object in the state bucket), and with --force remove it — for a lock whose holder died on another machine before it expired (a dead holder on this machine, or an expired lock, is taken over automatically).',
  needs: 'the state bucket',
  produces: 'the lock\'s holder; the lock removed with --force',
  next: 'npm run deploy',
  options: { force: { type: 'boolean', description: 'remove the lock' } },
  async main({ runner, config, options, yes }: ScriptContext) {
    const { account } = await resolveIdentity(runner, config);
    const current = runner.dryRun ? undefined : await readLock(runner, config, account);
    if (!current && !runner.dryRun) {
      process.stdout.write('no deploy lock is held\n');
      return;
    }
    const info = current?.info;
    if (info) process.stdout.write(`held by ${info.holder} (pid ${info.pid} on ${info.host}) for ${info.what} since ${info.acquiredAt}, expires ${info.expiresAt}${isStale(info) ? ' — stale' : ''}\n`);
    if (!options.force) return info && !isStale(info) ? ExitCode.LOCKED : ExitCode.OK;
    if (!(await confirm('Remove the deploy lock? Only do this when its holder is really gone.', yes))) return ExitCode.FAILED;
    await runner.run('aws', ['s3api', 'delete-object', '--bucket', stateBucket(config, account), '--key', lockKey(config), '--region', config.region]);
    process.stdout.write('✓ lock removed\n');
  },
};

if (isMain(import.meta.url)) await main(spec);
