// Maintenance — snapshot the database as <project>-backup-YYYYMMDD (a second one the same day gets -HHMMSS), wait
// until it is available; --list the manual snapshots; --prune N keeps the newest N snapshots made by this script
// (others are never touched).
// Needs:    the RDS instance DB_INSTANCE_ID
// Produces: an available manual snapshot
// Next:     npm run backup -- --list to see it; npm run deploy for the next release
import { resolveIdentity } from '../lib/aws.js';
import { integer, isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import type { Config } from '../lib/config.js';
import { sh, type Runner } from '../lib/run.js';

export interface Snapshot {
  id: string;
  status: string;
  created?: string;
}

export const snapshotPrefix = (config: Config) => `${config.project}-backup-`;

export function snapshotName(config: Config, taken: string[], now = new Date()): string {
  const day = now.toISOString().slice(0, 10).replace(/-/g, '');
  const base = `${snapshotPrefix(config)}${day}`;
  if (!taken.includes(base)) return base;
  return `${base}-${now.toISOString().slice(11, 19).replace(/:/g, '')}`;
}

export async function listSnapshots(runner: Runner, config: Config): Promise<Snapshot[]> {
  const r = await runner.json(
    sh`aws rds describe-db-snapshots --db-instance-identifier ${config.names.dbInstance} --snapshot-type manual --region ${config.region} --output json`,
  );
  return ((r?.DBSnapshots ?? []) as any[])
    .map((s) => ({ id: s.DBSnapshotIdentifier, status: s.Status, created: s.SnapshotCreateTime }))
    .sort((a, b) => String(b.created ?? b.id).localeCompare(String(a.created ?? a.id)));
}

export async function createSnapshot(runner: Runner, config: Config): Promise<string> {
  const existing = runner.dryRun ? [] : (await listSnapshots(runner, config)).map((s) => s.id);
  const id = runner.dryRun ? `${snapshotPrefix(config)}<YYYYMMDD>` : snapshotName(config, existing);
  const region = ['--region', config.region];
  await runner.run(
    sh`aws rds create-db-snapshot --db-instance-identifier ${config.names.dbInstance} --db-snapshot-identifier ${id} ${region} --output json --query DBSnapshot.Status`,
  );
  await runner.run(sh`aws rds wait db-snapshot-available --db-snapshot-identifier ${id} ${region}`, { timeoutMs: 2 * 3_600_000 });
  return id;
}

export async function prune(runner: Runner, config: Config, keep: number): Promise<string[]> {
  const ours = (await listSnapshots(runner, config)).filter((s) => s.id.startsWith(snapshotPrefix(config)));
  const drop = ours.slice(keep);
  for (const s of drop)
    await runner.run(
      sh`aws rds delete-db-snapshot --db-snapshot-identifier ${s.id} --region ${config.region} --output json --query DBSnapshot.Status`,
    );
  return drop.map((s) => s.id);
}

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'backup',
  conflicts: [
    ['list', 'prune'],
    ['list', 'no-snapshot'],
  ],
  requires: { 'no-snapshot': 'prune' },
  options: {
    list: { type: 'boolean', description: 'list the manual snapshots only' },
    prune: {
      type: 'string',
      placeholder: 'N',
      description: "after the backup, keep only the newest N of this script's snapshots",
      parse: integer(1, 1000),
    },
    'no-snapshot': { type: 'boolean', description: 'with --prune: prune without taking a new snapshot' },
  },
  async main({ runner, config, options }: ScriptContext) {
    const keep: number | undefined = options.prune;
    await resolveIdentity(runner, config);
    if (options.list) {
      for (const s of await listSnapshots(runner, config)) process.stdout.write(`${s.id}  ${s.status}  ${s.created ?? ''}\n`);
      return;
    }
    if (!options['no-snapshot']) process.stdout.write(`✓ snapshot ${await createSnapshot(runner, config)} available\n`);
    if (keep !== undefined) {
      const dropped = await prune(runner, config, keep);
      process.stdout.write(dropped.length ? `pruned ${dropped.join(', ')}\n` : `nothing to prune (${keep} kept)\n`);
    }
  },
};

if (isMain(import.meta.url)) await main(spec);
