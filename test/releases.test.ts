// Rollback and the schema (issue 30): migrations are not undone, so a rollback to a release older than the
// database's schema is refused unless --force. A fake object store here; the end-to-end file
// refuses a rollback below the sandbox database's schema after a real migration, and forces one.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../lib/config.js';
import { ExitCode, ScriptFailure } from '../lib/errors.js';
import {
  checkSchema,
  compareSchemas,
  recordSchema,
  reportedSchema,
  schemaConflict,
  schemaKey,
  type SchemaRecord,
} from '../lib/releases.js';
import { Runner } from '../lib/run.js';
import { releaseKey } from '../lib/terraform.js';
import { fakeBins } from './helpers/fake-bin.js';
import { AwsError, fakeAws, setEnv, type FakeAws } from './helpers/fake-aws.js';

const ACCOUNT = '123456789012';
const config = loadConfig({ env: {}, envFile: '' });

/**
 * An object store in a directory: reads through the SDK from this file's AWS endpoint (S3's 404 when absent; an
 * AwsError for every read when `sdk.denied`), writes with `aws s3 cp - s3://b/k` (a fake CLI storing stdin).
 */
const sdk = { root: '', log: undefined as string | undefined, denied: false };
let endpoint: FakeAws;
let restoreEnv: () => void;
test.before(async () => {
  endpoint = await fakeAws(
    (call) => {
      if (sdk.denied) return new AwsError(403, 'AccessDenied', 'Access Denied');
      const file = join(sdk.root, String(call.input.url).replace(/^s3:\/\/[^/]+\//, ''));
      return call.name === 's3 cp' && existsSync(file) ? readFileSync(file, 'utf8') : undefined;
    },
    () => sdk.log,
  );
  restoreEnv = setEnv(endpoint.env);
});
test.after(() => {
  restoreEnv();
  endpoint.close();
});

function store() {
  const root = mkdtempSync(join(tmpdir(), 's3-'));
  const fb = fakeBins({
    aws: `[ "$1 $2" = "s3 cp" ] || exit 9
if [ "$3" = - ]; then k=\${4#s3://*/}; mkdir -p "$(dirname "${root}/$k")"; cat > "${root}/$k"; exit 0; fi
k=\${3#s3://*/}
[ -f "${root}/$k" ] || { echo "fatal error: An error occurred (404) when calling the HeadObject operation: Key \\"$k\\" does not exist" >&2; exit 1; }
cat "${root}/$k"`,
  });
  Object.assign(sdk, { root, log: fb.log, denied: false });
  const lines: string[] = [];
  const runner = new Runner({ echo: (l) => lines.push(l), env: { PATH: `${fb.dir}:${process.env.PATH}`, AWS_ENDPOINT_URL: '' } });
  const path = (key: string) => join(root, key);
  return {
    runner,
    lines,
    fb,
    read: (key: string) => (existsSync(path(key)) ? JSON.parse(readFileSync(path(key), 'utf8')) : undefined),
    put(key: string, value: unknown) {
      mkdirSync(dirname(path(key)), { recursive: true });
      writeFileSync(path(key), JSON.stringify(value));
    },
  };
}

const DB: SchemaRecord = { version: '002_orders', release: 'llmops-task:7', revision: 7, at: '2026-12-04T10:00:00.000Z' };

test('the schema a migration reports: its last `schema: <version>` line; versions compare with digits as numbers', () => {
  assert.is(reportedSchema(['migrate: applying 001_a', 'schema: 001_a', 'migrate: done']), '001_a');
  assert.is(reportedSchema(['schema: 001_a', '  schema: 0010_b  ']), '0010_b', 'the last one, trimmed');
  assert.is(reportedSchema(['migrate: done', 'the schema: 3', 'schema: two words']), undefined);
  assert.ok(compareSchemas('0002_x', '0010_y') < 0);
  assert.ok(compareSchemas('9_x', '10_x') < 0, 'digits as numbers, not characters');
  assert.ok(compareSchemas('20261203_b', '20260101_a') > 0);
  assert.is(compareSchemas('002_orders', '002_orders'), 0);
});

test('the verdict: older schema or, without one, older than the release that reached the schema, is a conflict; else none', () => {
  assert.is(schemaConflict(undefined, 1, undefined), undefined, 'no schema recorded: nothing to check');
  assert.is(
    schemaConflict(DB, 5, '001_items'),
    'revision 5 was released for schema 001_items; the database is at schema 002_orders (since llmops-task:7, 2026-12-04T10:00:00.000Z)',
  );
  assert.is(schemaConflict(DB, 5, '002_orders'), undefined, 'released for the same schema (its migration was the one, or applied nothing)');
  assert.is(schemaConflict(DB, 9, '003_later'), undefined);
  assert.match(schemaConflict(DB, 6, undefined)!, /^revision 6 is older than llmops-task:7, whose migration reached schema 002_orders;/);
  assert.is(schemaConflict(DB, 7, undefined), undefined, 'the release that reached it');
  assert.is(schemaConflict(DB, 8, undefined), undefined, 'a later release without a migration');
});

test('a migration that reports a new version records it with its release; the same version again keeps the release that reached it', async () => {
  const s = store();
  assert.is(
    await recordSchema(s.runner, config, ACCOUNT, ['migrate: applying 001_items', 'schema: 001_items'], {
      family: 'llmops-task',
      revision: 3,
    }),
    '001_items',
  );
  const first = s.read(schemaKey(config));
  assert.equal([first.version, first.release, first.revision], ['001_items', 'llmops-task:3', 3]);
  assert.ok(Math.abs(Date.parse(first.at) - Date.now()) < 60_000);
  assert.ok(
    s.lines.includes(
      `$ aws s3 cp - s3://llmops-tfstate-${ACCOUNT}/llmops/releases/database-schema.json --content-type application/json --region us-east-1`,
    ),
    s.lines.join('\n'),
  );
  await recordSchema(s.runner, config, ACCOUNT, ['migrate: 001_items already applied', 'schema: 001_items'], {
    family: 'llmops-task',
    revision: 4,
  });
  assert.is(s.read(schemaKey(config)).release, 'llmops-task:3', 'applied nothing: the release that reached it stays');
  await recordSchema(s.runner, config, ACCOUNT, ['schema: 002_orders'], { family: 'llmops-task', revision: 5 });
  assert.equal([s.read(schemaKey(config)).version, s.read(schemaKey(config)).revision], ['002_orders', 5]);
  // no such line: nothing recorded, and said
  const quiet = store();
  assert.is(await recordSchema(quiet.runner, config, ACCOUNT, ['migrate: done'], { family: 'llmops-task', revision: 6 }), undefined);
  assert.is(quiet.read(schemaKey(config)), undefined);
  assert.ok(quiet.lines.some((l) => l.includes('printed no `schema: <version>` line')));
  assert.equal(quiet.fb.calls(), [], 'and nothing asked of S3');
});

test('rollback below the schema: exit 2 naming both and the fix; --force says it and goes on; no schema or a newer release passes', async () => {
  const s = store();
  const refused = await checkSchema(s.runner, config, ACCOUNT, { revision: 5 }, false).catch((e) => e);
  assert.is(refused, undefined, 'no schema recorded yet');
  s.put(schemaKey(config), DB);
  s.put(releaseKey(config, 5), { schema: '001_items', outcome: 'ok' });
  const e = await checkSchema(s.runner, config, ACCOUNT, { revision: 5 }, false).catch((x) => x);
  assert.instance(e, ScriptFailure);
  assert.is(e.exitCode, ExitCode.USAGE);
  assert.is(
    e.message,
    'rollback refused: revision 5 was released for schema 001_items; the database is at schema 002_orders (since llmops-task:7, 2026-12-04T10:00:00.000Z). Migrations are not undone, and the older code may fail on the newer schema.\n' +
      '  fix: deploy a fix forward (npm run deploy), or, if revision 5 reads schema 002_orders, run the rollback again with --force',
  );
  // a release with no record (deployed before records, or its write failed) older than the schema's release
  const unknown = await checkSchema(s.runner, config, ACCOUNT, { revision: 4 }, false).catch((x) => x);
  assert.match(unknown.message, 'rollback refused: revision 4 is older than llmops-task:7');
  s.lines.length = 0;
  await checkSchema(s.runner, config, ACCOUNT, { revision: 5 }, true);
  assert.ok(
    s.lines.some(
      (l) =>
        l.startsWith('# --force: revision 5 was released for schema 001_items;') &&
        l.endsWith('rolling back anyway, as you say revision 5 reads it'),
    ),
    s.lines.join('\n'),
  );
  s.put(releaseKey(config, 8), { schema: '002_orders' });
  await checkSchema(s.runner, config, ACCOUNT, { revision: 8 }, false);
  // each read is printed as the command that makes it
  assert.ok(
    s.lines.includes(`$ aws s3 cp s3://llmops-tfstate-${ACCOUNT}/llmops/releases/llmops-task-8.json - --region us-east-1   # via the SDK`),
    s.lines.join('\n'),
  );
});

test('a record that cannot be read (not a 404) stops the rollback naming it and the statement, not silently allowed', async () => {
  const { runner } = store();
  sdk.denied = true;
  const e = await checkSchema(runner, config, ACCOUNT, { revision: 5 }, false).catch((x) => x);
  assert.instance(e, Error);
  assert.match(
    e.message,
    `cannot read the schema record s3://llmops-tfstate-${ACCOUNT}/llmops/releases/database-schema.json: An error occurred (AccessDenied): Access Denied`,
  );
  assert.match(e.message, 'statement RecordTheRelease of config/iam-deploy-policy.json), or --force');
});

test.run();
