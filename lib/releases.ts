// The database's schema and the releases that expect it: what `rollback` reads before it points the service at an
// older release, since migrations are never undone. A migration reports the schema it leaves by printing a line
// `schema: <version>` (the newest migration applied; the sample app's /bin/migrate does). Each deploy keeps it in
// its release record, and the schema record says which version the database is at and since which release.
// Versions compare as their names sort, digits as numbers (0002_x < 0010_y, 20260101_a < 20261203_b).
//   aws s3 cp s3://<state bucket>/<project>/releases/database-schema.json -      # where the database is
//   aws s3 cp s3://<state bucket>/<project>/releases/<family>-<revision>.json -  # what that release expects
import type { Config } from './config.js';
import { ExitCode, ScriptFailure } from './errors.js';
import { sh, type Runner } from './run.js';
import { readStateObject, releaseKey, stateBucket } from './terraform.js';

/** Where the database's schema is, and which release's migration brought it there. */
export interface SchemaRecord {
  version: string;
  /** family:revision of the first release whose migration reported this version. */
  release: string;
  revision: number;
  at: string;
}

/** What a release record says about the schema (the rest of it is the timeline: lib/pipeline.ts). */
export interface ReleaseRecord {
  schema?: string;
}

export const schemaKey = (config: Config) => `${config.project}/releases/database-schema.json`;

const FIX =
  'the deploy role reads and writes under <project>/releases/ (statement RecordTheRelease of config/iam-deploy-policy.json), or --force to roll back without the check';

/** The version a migration's log reports: its last `schema: <version>` line. */
export function reportedSchema(lines: readonly string[]): string | undefined {
  for (const line of [...lines].reverse()) {
    const m = /^schema: (\S+)\s*$/.exec(line.trim());
    if (m) return m[1];
  }
  return undefined;
}

/** Negative when schema `a` is older than `b`. */
export const compareSchemas = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true });

/**
 * Why the release at `revision` (expecting `expects`, if its record says) must not serve a database at `db`, or
 * undefined when it may. A release without a recorded schema predates `db` when it is older than the release that
 * brought the database there.
 */
export function schemaConflict(db: SchemaRecord | undefined, revision: number, expects: string | undefined): string | undefined {
  if (!db) return undefined;
  const at = `the database is at schema ${db.version} (since ${db.release}, ${db.at})`;
  if (expects !== undefined)
    return compareSchemas(expects, db.version) < 0 ? `revision ${revision} was released for schema ${expects}; ${at}` : undefined;
  return revision < db.revision
    ? `revision ${revision} is older than ${db.release}, whose migration reached schema ${db.version}; ${at}`
    : undefined;
}

/**
 * After a migration: the schema it reported becomes the database's, with the release it came with, unless the
 * database was already there (a migration that applied nothing keeps the release that reached the version).
 */
export async function recordSchema(
  runner: Runner,
  config: Config,
  account: string,
  lines: readonly string[],
  release: { family: string; revision: number },
): Promise<string | undefined> {
  const version = reportedSchema(lines);
  if (runner.dryRun) return undefined;
  if (!version) {
    runner.echo(
      '# the migration printed no `schema: <version>` line: rollback cannot check the schema (docs/operations.md, "Rollback and the schema")',
    );
    return undefined;
  }
  const current = await readStateObject<SchemaRecord>(runner, config, account, schemaKey(config), 'the schema record', FIX);
  if (current?.version === version) return version;
  const record: SchemaRecord = {
    version,
    release: `${release.family}:${release.revision}`,
    revision: release.revision,
    at: new Date().toISOString(),
  };
  await runner.run(
    sh`aws s3 cp - ${`s3://${stateBucket(config, account)}/${schemaKey(config)}`} --content-type application/json --region ${config.region}`,
    { input: JSON.stringify(record), inputIsSecret: false },
  );
  return version;
}

/**
 * Before a rollback to `target`: refused (exit 2) when that release is older than the database's schema, unless
 * `force` says its code reads the newer schema (then said and done).
 */
export async function checkSchema(
  runner: Runner,
  config: Config,
  account: string,
  target: { revision: number },
  force: boolean,
): Promise<void> {
  const db = await readStateObject<SchemaRecord>(runner, config, account, schemaKey(config), 'the schema record', FIX);
  if (runner.dryRun || !db) return;
  const release = await readStateObject<ReleaseRecord>(
    runner,
    config,
    account,
    releaseKey(config, target.revision),
    'the release record',
    FIX,
  );
  const conflict = schemaConflict(db, target.revision, release?.schema);
  if (!conflict) return;
  if (force) {
    runner.echo(`# --force: ${conflict}: rolling back anyway, as you say revision ${target.revision} reads it`);
    return;
  }
  throw new ScriptFailure(
    `rollback refused: ${conflict}. Migrations are not undone, and the older code may fail on the newer schema.\n` +
      `  fix: deploy a fix forward (npm run deploy), or, if revision ${target.revision} reads schema ${db.version}, run the rollback again with --force`,
    ExitCode.USAGE,
  );
}
