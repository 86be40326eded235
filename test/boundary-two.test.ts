// The boundary, round two (issue 32): what an attacker's 544 tries still got through, one table. Each row is a
// category of the red-team round, a case, and what must hold: exit 2 naming the setting, its source and the
// fix before any command, AWS request or file write (dry-run included), "Nothing was run."; no value of a
// secret and no line of a file printed; names checked against AWS's rules before use; an empty value never
// switching a check off; a closed pipe ending quietly; printed lines pasteable. Rows marked `held` were already
// true on the main before this change and are kept so they stay true; every other row failed there.
import { execa } from 'execa';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isCI, npmTookFlags } from '../lib/cli.js';
import { loadConfig, secretValues, settingOverrides } from '../lib/config.js';
import { ConfigError } from '../lib/errors.js';
import { newContext, summary } from '../lib/pipeline.js';
import { Runner } from '../lib/run.js';
import { readEnvFile } from '../lib/envfiles.js';
import { spec as deploySpec } from '../scripts/deploy.js';
import { startBoundary, type Boundary } from './helpers/boundary.js';
import { emptyEnvFile, keptEnv, ROOT } from './helpers/script.js';

let b: Boundary;
test.before(async () => {
  b = await startBoundary();
});
test.after(() => b.close());

const file = (text: string, name = '.env') => {
  const path = join(mkdtempSync(join(tmpdir(), 'b2-')), name);
  writeFileSync(path, text);
  return path;
};
const configError = (env: Record<string, string>, envFile = ''): ConfigError => {
  try {
    loadConfig({ env, envFile });
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`no ConfigError for ${JSON.stringify(env)} ${envFile}`);
};
/** An in-process run of the script's spec that must be refused with `message`, main never called. */
async function refusedInProcess(script: string, args: string[], env: Record<string, string>, message: RegExp | string) {
  const r = await b.inProcess(script, args, env);
  assert.is(r.code, 2, `${script} ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
  assert.not.ok(r.mainCalled, 'the script body ran');
  assert.match(r.stderr, 'Nothing was run.');
  assert.match(r.stderr, message);
  return r;
}

const SECRET = 'Zq9-Secret-b2c4e6';
const NOT_A_DOMAIN = { LLMOPS_ALLOW_PLAIN_HTTP: 'false' };

interface Row {
  category: string;
  name: string;
  held?: boolean;
  check(): Promise<unknown> | void;
}

const ROWS: Row[] = [
  // 1. npm's own flags
  {
    category: "npm's own flags",
    name: 'npm run deploy --dry-run (no --): npm took it, the deploy would run for real; refused naming `npm run deploy -- --dry-run`',
    check: () =>
      refusedInProcess('deploy.ts', [], { npm_lifecycle_event: 'deploy', npm_config_dry_run: 'true' }, 'npm run deploy -- --dry-run'),
  },
  {
    category: "npm's own flags",
    name: 'npm run step:3 --env staging: npm_config_env=true and a stray "staging"; both named',
    check: async () => {
      const r = await refusedInProcess(
        '03-plan.ts',
        ['staging'],
        { npm_lifecycle_event: 'step:3', npm_config_env: 'true' },
        /--env went to npm/,
      );
      assert.match(r.stderr, 'npm run step:3 -- --env <name>');
    },
  },
  {
    category: "npm's own flags",
    name: 'npm_config_yes is "" by default under npm: not a flag npm took; outside npm nothing is looked at',
    check: () => {
      assert.equal(npmTookFlags(deploySpec, { npm_lifecycle_event: 'deploy', npm_config_yes: '' }), []);
      assert.equal(npmTookFlags(deploySpec, { npm_config_dry_run: 'true' }), []);
    },
  },
  // 2. refusals after side effects
  {
    category: 'refusals after side effects',
    name: 'bootstrap --dry-run with no certificate and no plain-HTTP opt-in: refused before step 1 (no create-bucket printed)',
    check: async () => {
      const r = await b.refused('bootstrap.ts', ['--dry-run'], NOT_A_DOMAIN);
      assert.match(r.stderr, 'DOMAIN_NAME: not set, and no certificate');
      assert.not.match(r.all, 'create-bucket');
    },
  },
  {
    category: 'refusals after side effects',
    name: 'step 3 --dry-run with a placeholder left in terraform.tfvars: refused naming the line, not its value',
    check: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'b2-tf-'));
      writeFileSync(join(dir, 'main.tf'), '');
      writeFileSync(join(dir, 'terraform.tfvars'), 'region = "us-east-1"\ndb_password = "your-secure-password"\n');
      const r = await b.refused('03-plan.ts', ['--dry-run'], { TF_DIR: dir });
      assert.match(r.stderr, `${join(dir, 'terraform.tfvars')} line 2: db_password still holds a placeholder value`);
      assert.not.match(r.all, 'your-secure-password');
    },
  },
  {
    category: 'refusals after side effects',
    name: 'bootstrap --only 5,6,7 skips step 3: its certificate check does not apply',
    check: async () => {
      const r = await b.inProcess('bootstrap.ts', ['--only', '5,6,7', '--dry-run'], NOT_A_DOMAIN);
      assert.is(r.code, 0, r.stderr);
      assert.ok(r.mainCalled);
    },
  },
  // 3. an empty value that switches a guard off
  {
    category: 'an empty value never disables a check',
    name: 'EXPECTED_ACCOUNT_ID= in .env',
    check: () => {
      const e = configError({}, file('EXPECTED_ACCOUNT_ID=\n'));
      assert.equal(
        e.problems.map((p) => p.variable),
        ['EXPECTED_ACCOUNT_ID'],
      );
      assert.match(e.message, 'would turn the account guard off');
    },
  },
  {
    category: 'an empty value never disables a check',
    name: 'LLMOPS_EXPECTED_ACCOUNT_ID= in the environment over a good .env (a CI secret that is missing): named as the environment',
    check: () => {
      const e = configError({ LLMOPS_EXPECTED_ACCOUNT_ID: '' }, file('EXPECTED_ACCOUNT_ID=123456789012\n'));
      assert.match(e.message, `EXPECTED_ACCOUNT_ID="" (from the environment's LLMOPS_EXPECTED_ACCOUNT_ID): is empty`);
    },
  },
  {
    category: 'an empty value never disables a check',
    name: "--env '' (targeted the default stack)",
    check: () => refusedInProcess('03-plan.ts', ['--env', '', '--dry-run'], {}, '--env is empty'),
  },
  {
    category: 'an empty value never disables a check',
    name: 'CI=false and CI=0 are not CI (they implied --yes); CI=true and CI=1 are',
    check: () => {
      assert.equal(
        ['false', '0', 'FALSE', '', 'true', '1', 'yes'].map((CI) => isCI({ CI })),
        [false, false, false, false, true, true, true],
      );
      assert.is(isCI({}), false);
    },
  },
  // 4. files that are not quite there
  {
    category: 'files that are not quite there',
    name: 'a dangling .env symlink is not "no .env": named',
    check: () => {
      const dir = mkdtempSync(join(tmpdir(), 'b2-link-'));
      symlinkSync(join(dir, 'gone'), join(dir, '.env'));
      assert.match(readEnvFile(join(dir, '.env'), false).problems[0]?.message ?? '', 'symbolic link that leads nowhere');
    },
  },
  {
    category: 'files that are not quite there',
    name: 'a looping .env symlink: named, and the script refuses',
    check: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'b2-loop-'));
      symlinkSync(join(dir, 'b'), join(dir, 'a'));
      symlinkSync(join(dir, 'a'), join(dir, 'b'));
      const r = await b.refused('01-prereqs.ts', [], { LLMOPS_ENV_FILE: join(dir, 'a') });
      assert.match(r.stderr, 'symbolic link that leads nowhere');
    },
  },
  {
    category: 'files that are not quite there',
    name: 'a relative path in the environment means the directory npm was started in (INIT_CWD), not the repository',
    check: () => {
      const user = mkdtempSync(join(tmpdir(), 'b2-user-'));
      writeFileSync(join(user, 'mine.env'), 'DESIRED_COUNT=4\n');
      const c = loadConfig({ env: { INIT_CWD: user, LLMOPS_BUILD_CONTEXT: 'app', TF_DIR: '../tf', LLMOPS_ENV_FILE: 'mine.env' } });
      assert.equal([c.app.buildContext, c.terraform.dir, c.app.desiredCount], [join(user, 'app'), join(user, '../tf'), 4]);
      // outside npm (no INIT_CWD) the process's own directory is the user's: unchanged
      assert.is(loadConfig({ env: { LLMOPS_BUILD_CONTEXT: 'app' }, envFile: '' }).app.buildContext, 'app');
    },
  },
  // 5. secrets in error text
  {
    category: 'secrets in error text',
    name: 'a quoted value that runs over several lines (a password among them) is not shown',
    check: () => {
      const e = configError({}, file(`PROJECT_NAME="llmops\nDB_PASSWORD=${SECRET}\n"\n`));
      assert.not.match(e.message, SECRET);
      assert.match(e.message, 'lines, not shown');
    },
  },
  {
    category: 'secrets in error text',
    name: 'an invalid DB_PASSWORD shows none of its characters, nor its length',
    check: () => {
      const e = configError({ LLMOPS_DB_PASSWORD: `${SECRET}/x` });
      assert.match(e.message, 'DB_PASSWORD="(hidden)"');
      assert.not.match(e.message, SECRET.slice(0, 2) + '*');
      assert.not.match(e.message, String(SECRET.length + 2));
    },
  },
  {
    category: 'secrets in error text',
    held: true,
    name: 'a line that is only a value (no NAME=) is named by file and line, its text not shown',
    check: () => {
      const e = configError({}, file(`${SECRET}\n`));
      assert.match(e.message, ':1: not a NAME=value line');
      assert.not.match(e.message, SECRET);
    },
  },
  // 6. weak secrets meet the masking
  ...['terraform', 'password', 'llmops-cluster', 'Short1-pw'].map((weak): Row => ({
    category: 'weak secrets meet the masking',
    name: `DB_PASSWORD=${weak} is refused as too weak (it would be masked in every line with the word)`,
    check: () => assert.match(configError({ LLMOPS_DB_PASSWORD: weak }).message, 'DB_PASSWORD="(hidden)" (from the environment'),
  })),
  {
    category: 'weak secrets meet the masking',
    name: 'an emulator\'s AWS key such as "test" is no secret to mask; a real-length one is',
    check: () => {
      const c = loadConfig({ env: {}, envFile: '' });
      assert.equal(secretValues(c, { AWS_SECRET_ACCESS_KEY: 'test', AWS_SESSION_TOKEN: 'testing' }), []);
      const key = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
      assert.equal(secretValues(c, { AWS_SECRET_ACCESS_KEY: key }), [key]);
      const runner = new Runner({ echo: () => {}, secrets: secretValues(c, { AWS_SECRET_ACCESS_KEY: 'test' }) });
      assert.is(runner.mask('terraform test'), 'terraform test');
    },
  },
  // 7. names AWS will refuse later
  ...(
    [
      ['PROJECT_NAME', 'my--app', '"--"'],
      ['PROJECT_NAME', 'myapp-', 'end with "-"'],
      ['PROJECT_NAME', 'sthree-app', 'S3 reserves'],
      ['TF_STATE_BUCKET', 'xn--state', 'reserved prefix'],
      ['TF_STATE_BUCKET', 'my-state-s3alias', 'reserved suffix'],
      ['TF_STATE_BUCKET', 'my..state', 'two adjacent periods'],
      ['TF_STATE_BUCKET', '192.168.10.1', 'IP address'],
      ['LOG_GROUP', '-x', 'not starting with "-"'],
      ['MIGRATE_COMMAND', '/bin/migrate && rm -rf /data', 'only a shell reads'],
      ['MIGRATE_COMMAND', '/bin/migrate up;reboot', 'only a shell reads'],
      ['MIGRATE_COMMAND', '/bin/migrate > /tmp/out', 'only a shell reads'],
    ] as const
  ).map(([name, value, message]): Row => ({
    category: 'names AWS will refuse later',
    name: `${name}=${value}`,
    check: () => {
      const variable = name.startsWith('TF_') ? name : `LLMOPS_${name}`;
      const e = configError({ [variable]: value });
      assert.equal(
        e.problems.map((p) => p.variable),
        [name],
      );
      assert.match(e.message, message);
    },
  })),
  {
    category: 'names AWS will refuse later',
    name: 'logs --filter=-ERROR: the pattern is one word with "=", never an option of the aws CLI',
    check: async () => {
      const r = await execa(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/logs.ts'), '--filter=-ERROR', '--dry-run'], {
        env: { ...keptEnv(), PATH: b.fakes.dir, HOME: tmpdir(), LLMOPS_ENV_FILE: emptyEnvFile(), LLMOPS_ALLOW_PLAIN_HTTP: 'true' },
        extendEnv: false,
        reject: false,
        all: true,
      });
      assert.is(r.exitCode, 0, r.all);
      assert.match(r.all, '--filter-pattern=-ERROR');
      assert.not.match(r.all, /--filter-pattern -ERROR/);
    },
  },
  {
    category: 'names AWS will refuse later',
    held: true,
    name: 'MIGRATE_COMMAND as a JSON array may use a shell on purpose',
    check: () =>
      assert.equal(loadConfig({ env: { LLMOPS_MIGRATE_COMMAND: '["sh", "-c", "a && b"]' }, envFile: '' }).migrate?.command, [
        'sh',
        '-c',
        'a && b',
      ]),
  },
  // 8. ambient values that win silently
  {
    category: 'ambient values that win silently',
    name: "an exported AWS_REGION over .env's: said once, naming both",
    check: () => {
      const env = file('AWS_REGION=us-east-1\n');
      const notes = settingOverrides({ AWS_REGION: 'eu-west-1', LLMOPS_ENV_FILE: env });
      assert.equal(notes, [
        `note: AWS_REGION="us-east-1" from ${env} is used; AWS_REGION="eu-west-1" in the environment is not (LLMOPS_ENV_FILE's files win)`,
      ]);
    },
  },
  {
    category: 'ambient values that win silently',
    name: 'LLMOPS_DESIRED_COUNT over ./.env: the environment wins and says so; a secret is named, not shown',
    check: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'b2-cwd-'));
      writeFileSync(join(dir, '.env'), `DESIRED_COUNT=2\nDB_PASSWORD=${SECRET}\n`);
      const cwd = process.cwd();
      process.chdir(dir);
      try {
        const notes = settingOverrides({ LLMOPS_DESIRED_COUNT: '3', LLMOPS_DB_PASSWORD: `${SECRET}-other` });
        assert.equal(notes, [
          `note: LLMOPS_DESIRED_COUNT="3" in the environment is used, not DESIRED_COUNT="2" from ${join(dir, '.env')} (unset LLMOPS_DESIRED_COUNT to use the file's)`,
          `note: LLMOPS_DB_PASSWORD="(hidden)" in the environment is used, not DB_PASSWORD="(hidden)" from ${join(dir, '.env')} (unset LLMOPS_DB_PASSWORD to use the file's)`,
        ]);
      } finally {
        process.chdir(cwd);
      }
    },
  },
  {
    category: 'ambient values that win silently',
    name: 'a bad value from the environment is blamed on the environment, not .env',
    check: () =>
      assert.match(
        configError({ AWS_REGION: 'mars-1' }, file('AWS_REGION=us-east-1\n')).message,
        `AWS_REGION="mars-1" (from the environment's AWS_REGION): expected an AWS region code`,
      ),
  },
  // 9. crash quality
  {
    category: 'crash quality',
    name: 'deploy -- --dry-run | head -1: ends quietly, no EPIPE stack trace',
    check: async () => {
      const r = await execa('sh', ['-c', `"${process.execPath}" --import tsx scripts/deploy.ts --dry-run 2>&1 | head -1; exit 0`], {
        cwd: ROOT,
        env: {
          ...keptEnv(),
          PATH: `${b.fakes.dir}:/usr/bin:/bin`,
          HOME: tmpdir(),
          LLMOPS_ENV_FILE: emptyEnvFile(),
          LLMOPS_BUILD_CONTEXT: b.app,
        },
        extendEnv: false,
        reject: false,
        all: true,
      });
      assert.not.match(r.all, 'EPIPE');
      assert.not.match(r.all, /at .*\(node:/);
    },
  },
  {
    category: 'crash quality',
    name: "the deploy summary's roll-back line parses in bash (no <previous revision> placeholder)",
    check: async () => {
      const ctx = newContext(loadConfig({ env: {}, envFile: '' }), new Runner({ dryRun: true, echo: () => {} }), true);
      const line = (await summary(ctx)).split('\n').find((l) => l.includes('roll back:'))!;
      const command = line.replace(/^\s*roll back:\s*/, '');
      const r = await execa('bash', ['-n', '-c', command], { reject: false });
      assert.is(r.exitCode, 0, `${command}: ${r.stderr}`);
      assert.not.match(command, '<');
    },
  },
];

for (const row of ROWS) test(`${row.category}: ${row.name}`, async () => void (await row.check()));

test('every category of the round has rows, most of them failing on the main before this change', () => {
  const counts = new Map<string, { rows: number; held: number }>();
  for (const r of ROWS) {
    const c = counts.get(r.category) ?? { rows: 0, held: 0 };
    c.rows++;
    if (r.held) c.held++;
    counts.set(r.category, c);
  }
  assert.is(counts.size, 9);
  for (const [category, c] of counts) assert.ok(c.rows > c.held, `${category}: only rows that held`);
  assert.is(b.requests(), 0, 'no AWS request in the whole table');
});

test.run();
