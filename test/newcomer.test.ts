// The newcomer's path (issue 28): a fresh checkout, `.env` copied from `.env.example` with only the values a
// real account needs (the app, the region, the account, where alarms go, a domain or the plain-HTTP opt-in),
// then `npm run bootstrap -- --dry-run`. With all of them it runs through (exit 0); without any one of them it
// stops before its first command (exit 2) naming that setting; without a `.env` it says there is none.
import { execa } from 'execa';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fakeBins, HEALTHY_TOOLS } from './helpers/fake-bin.js';
import { keptEnv, ROOT, watchLimit } from './helpers/script.js';
import { loadConfig } from '../lib/config.js';
import { inSandbox, newAccountProblems, rehearsalFilledIn } from '../scripts/bootstrap.js';
import { SANDBOX_ACCOUNT, SANDBOX_DIR } from '../sandbox/control.js';

/** A fresh checkout of the toolkit (what git tracks of it), with the installed packages beside it. */
function checkout(): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'llmops-newcomer-')), 'llmops-deploy');
  mkdirSync(dir);
  for (const f of ['lib', 'scripts', 'config', 'sandbox', 'package.json', 'tsconfig.json', '.env.example'])
    cpSync(join(ROOT, f), join(dir, f), { recursive: true });
  mkdirSync(join(dir, 'terraform'));
  cpSync(join(ROOT, 'terraform'), join(dir, 'terraform'), {
    recursive: true,
    filter: (src) => !/\/(\.terraform[^/]*|tfplan[^/]*|[^/]*\.tfvars\.json|sandbox_override\.tf)$/.test(src),
  });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

/** The newcomer's own app beside the toolkit: a git checkout with a Dockerfile. */
function app(beside: string): string {
  const dir = join(beside, '..', 'my-app');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\n');
  return dir;
}

/** What the README's Getting started says to write into the copied `.env`. */
const GETTING_STARTED: Record<string, string> = {
  BUILD_CONTEXT: '../my-app',
  AWS_REGION: 'ap-northeast-2',
  EXPECTED_ACCOUNT_ID: '123456789012',
  ALARM_EMAIL: 'oncall@acme.dev',
  ALLOW_PLAIN_HTTP: 'true',
};

/** `.env.example` with the given settings written in: an uncommented line replaced, a commented one turned on. */
function envFrom(example: string, settings: Record<string, string>): string {
  let text = example;
  for (const [name, value] of Object.entries(settings)) {
    const line = new RegExp(`^#? ?${name}=.*$`, 'm');
    text = line.test(text) ? text.replace(line, `${name}=${value}`) : `${text}\n${name}=${value}\n`;
  }
  return text;
}

async function bootstrapDryRun(dir: string): Promise<{ exitCode: number; all: string }> {
  // step 1's tools, answering as installed ones do; no AWS endpoint and no credentials: nothing may be asked of AWS
  const tools = fakeBins(HEALTHY_TOOLS);
  const sub = execa(process.execPath, ['--import', 'tsx', join(dir, 'scripts/bootstrap.ts'), '--dry-run'], {
    cwd: dir,
    env: { HOME: process.env.HOME, PATH: tools.dir, LLMOPS_RENDERER: 'simple', ...keptEnv(), INIT_CWD: dir },
    extendEnv: false,
    reject: false,
    all: true,
  });
  const [note, r] = await Promise.all([watchLimit(sub, 120_000).done(), sub]);
  return { exitCode: note ? -1 : (r.exitCode ?? -1), all: (r.all ?? '') + note };
}

let dir: string;
let example: string;

test.before(() => {
  dir = checkout();
  app(dir);
  example = readFileSync(join(dir, '.env.example'), 'utf8');
});
test.after(() => rmSync(join(dir, '..'), { recursive: true, force: true }));

test("the values are the README's: its Getting started table names each setting this test writes", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const table = readme.slice(readme.indexOf('| setting in `.env` |'), readme.indexOf('```bash\nnpm run bootstrap'));
  for (const name of Object.keys(GETTING_STARTED)) assert.match(table, `\`${name}`, `README's Getting started names ${name}`);
});

test("with the Getting started values in a .env copied from .env.example, bootstrap's dry run goes through", async () => {
  writeFileSync(join(dir, '.env'), envFrom(example, GETTING_STARTED));
  const r = await bootstrapDryRun(dir);
  assert.is(r.exitCode, 0, r.all.slice(-3000));
  assert.match(r.all, '[dry-run] $ aws s3api create-bucket');
  assert.match(r.all, 'ap-northeast-2');
  // a dry run says what it would do, never that it did it
  for (const would of [
    'would build',
    'would apply the saved plan',
    'would push',
    'would register a revision',
    'would follow the deployment',
  ])
    assert.match(r.all, `(dry run) ${would}`);
  assert.not.match(r.all, /✓ (applied|registered|image .* built|.* pushed)|: created \(/);
});

test('without any one of them, bootstrap stops before its first command, naming that setting and the .env line to write', async () => {
  const expected: Record<string, RegExp> = {
    BUILD_CONTEXT:
      /BUILD_CONTEXT="\.": is this toolkit's own checkout, not your app: set BUILD_CONTEXT=<path of your app's git checkout> in \.env/,
    EXPECTED_ACCOUNT_ID: /EXPECTED_ACCOUNT_ID: not set: .* EXPECTED_ACCOUNT_ID=<12 digits> in \.env/,
    ALARM_EMAIL:
      /ALARM_EMAIL="ops@example\.com": is \.env\.example's address, which reaches nobody: set ALARM_EMAIL=<your team's address> in \.env/,
    ALLOW_PLAIN_HTTP: /DOMAIN_NAME: not set, and no certificate[\s\S]*ALLOW_PLAIN_HTTP=true/,
  };
  for (const [left, message] of Object.entries(expected)) {
    const settings = Object.fromEntries(Object.entries(GETTING_STARTED).filter(([name]) => name !== left));
    writeFileSync(join(dir, '.env'), envFrom(example, settings));
    const r = await bootstrapDryRun(dir);
    assert.is(r.exitCode, 2, `without ${left}: ${r.all.slice(-2000)}`);
    assert.match(r.all, message, `without ${left}`);
    assert.match(r.all, 'Nothing was run.');
    assert.not.match(r.all, '$ ', `without ${left}, a command was printed before the refusal`);
    assert.not.match(r.all, /✓|created/, `without ${left}, something was said done`);
  }
});

test('without a .env it says there is none, and which file to start from', async () => {
  rmSync(join(dir, '.env'), { force: true });
  const r = await bootstrapDryRun(dir);
  assert.is(r.exitCode, 2, r.all);
  assert.match(r.all, `note: there is no .env in ${dir}: every setting is a default. Start from the example: cp .env.example .env`);
});

test('after a rehearsal, bootstrap lists what the sandbox filled in that your account needs, as .env lines; nothing outside the sandbox', () => {
  const sandbox = { AWS_ENDPOINT_URL: 'http://127.0.0.1:4566' };
  const filled = loadConfig({
    env: {
      LLMOPS_BUILD_CONTEXT: join(SANDBOX_DIR, 'app'),
      LLMOPS_EXPECTED_ACCOUNT_ID: SANDBOX_ACCOUNT,
      LLMOPS_ALARM_EMAIL: 'ops@example.com',
      LLMOPS_ALLOW_PLAIN_HTTP: 'true',
    },
    envFile: '',
  });
  const lines = rehearsalFilledIn(filled, sandbox);
  assert.is(lines[1], 'Your own account needs in .env what this rehearsal filled in:');
  assert.equal(
    lines.slice(2).map((l) => l.trim().split(/[=\s]/)[0]),
    ['BUILD_CONTEXT', 'EXPECTED_ACCOUNT_ID', 'ALARM_EMAIL', 'DOMAIN_NAME'],
  );
  // the user's own values, rehearsed: nothing to add
  const own = loadConfig({
    env: {
      LLMOPS_BUILD_CONTEXT: '/srv/my-app',
      LLMOPS_EXPECTED_ACCOUNT_ID: '210987654321',
      LLMOPS_ALARM_EMAIL: 'oncall@acme.dev',
      LLMOPS_DOMAIN_NAME: 'app.acme.dev',
      LLMOPS_HOSTED_ZONE_ID: 'Z0123456789ABC',
    },
    envFile: '',
  });
  assert.equal(rehearsalFilledIn(own, sandbox), []);
  assert.equal(rehearsalFilledIn(filled, {}), [], 'a real account is not told about a rehearsal');
  // the sandbox's endpoint in its env file (LLMOPS_ENV_FILE=.env,.sandbox/env), before the files reach the environment
  const file = join(mkdtempSync(join(tmpdir(), 'sandbox-env-')), 'env');
  writeFileSync(file, 'AWS_ENDPOINT_URL=http://127.0.0.1:4566\n');
  assert.ok(inSandbox({ LLMOPS_ENV_FILE: file }), 'the endpoint of the sandbox env file');
  assert.equal(newAccountProblems(filled, { LLMOPS_ENV_FILE: file }), [], "the rehearsal's example address is the sandbox's to use");
  assert.equal(
    newAccountProblems(filled, {}).map((p) => p.variable),
    ['ALARM_EMAIL'],
  );
});

test.run();
