// Every printed command is pasteable (issue 12): the dry-run of every script, with adversarial values where
// the configuration allows them (spaces, both quotes, `$(…)`, `;`, `&`, `|` in paths and free-text flags),
// is read back by bash itself, and each line's argv must equal what the runner would run (recorded through
// LLMOPS_TRACE_ARGV). Nothing executes: on an empty PATH every command lands in bash's
// command_not_found_handle, which writes its argv; a `$(echo PWNED)` that escaped its quotes would show up.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fakeBins, HEALTHY_TOOLS } from './helpers/fake-bin.js';
import { ROOT, runScriptFile } from './helpers/script.js';

const EVIL = `dir 'q' "dq" $(echo PWNED) ;echo PWNED2 &|x`;
const base = mkdtempSync(join(tmpdir(), 'quote-'));
const app = join(base, `app ${EVIL}`);
const tf = join(base, `tf ${EVIL}`);
const state = join(base, `state ${EVIL}`);
const appEnv = join(base, `env ${EVIL}.json`);
mkdirSync(app);
writeFileSync(join(app, 'Dockerfile'), 'FROM scratch\n');
execFileSync('git', ['-C', app, 'init', '-q']);
execFileSync('git', ['-C', app, '-c', 'user.email=t@example.com', '-c', 'user.name=t', 'add', '-A']);
execFileSync('git', ['-C', app, '-c', 'user.email=t@example.com', '-c', 'user.name=t', 'commit', '-q', '-m', 'x']);
mkdirSync(tf);
for (const f of readdirSync(join(ROOT, 'terraform')))
  if (f.endsWith('.tf') && !f.endsWith('_override.tf')) cpSync(join(ROOT, 'terraform', f), join(tf, f));
mkdirSync(state);
writeFileSync(appEnv, '{"OPENAI_API_KEY": "sk-test-value"}');
const FILTER = `ERROR "a b" 'c' $(echo PWNED); echo PWNED2 | x & y`;

const DOMAIN = { LLMOPS_DOMAIN_NAME: 'app.example.org', LLMOPS_HOSTED_ZONE_ID: 'Z0123456789ABC' };
const RUNS: [string, string[], Record<string, string>?][] = [
  ['01-prereqs.ts', []],
  ['bootstrap.ts', []],
  ['08-dns.ts', [], DOMAIN],
  ['certificate.ts', [], DOMAIN],
  ['02-build.ts', []],
  ['03-plan.ts', []],
  ['04-apply.ts', []],
  ['05-push.ts', []],
  ['06-taskdef.ts', []],
  ['07-verify.ts', []],
  ['deploy.ts', []],
  ['rollback.ts', []],
  ['backup.ts', ['--prune', '2']],
  ['secrets.ts', ['--app-env-file', appEnv]],
  ['iam-role.ts', []],
  ['monitoring.ts', ['dashboard']],
  ['monitoring.ts', ['alarms']],
  ['logs.ts', ['--filter', FILTER]],
  ['logs.ts', ['--failed']],
  ['scale.ts', ['--policy', '--count', '2']],
  ['cost.ts', []],
  ['doctor.ts', []],
  ['unlock.ts', ['--force']],
  ['unlock.ts', ['--terraform', '--force']],
  ['github-secrets.ts', ['--repo', 'owner/repo']],
];

/** The argv of each command in a script of printed lines, as bash reads them: one record per command. */
async function shellArgv(lines: string[]): Promise<string[][][]> {
  const out = join(mkdtempSync(join(tmpdir(), 'argv-')), 'argv');
  const script = [
    `exec 3>${JSON.stringify(out).replace(/\$/g, '\\$')}`,
    `command_not_found_handle() { printf '%s\\0' "$@" $'\\x01'; } >&3`,
    ...lines.flatMap((l) => [l, `printf '\\x02\\0' >&3`]),
  ].join('\n');
  await execa('/bin/bash', ['-c', script], { env: { PATH: '/nonexistent' }, reject: false });
  const text = existsSync(out) ? readFileSync(out, 'utf8') : '';
  return text
    .split('\x02\0')
    .slice(0, lines.length)
    .map((line) =>
      line
        .split('\x01\0')
        .filter(Boolean)
        .map((rec) => rec.split('\0').filter((_, i, a) => i < a.length - 1 || a[i] !== '')),
    );
}

const sorted = (cmds: string[][]) => cmds.map((c) => JSON.stringify(c)).sort();

test("every script's dry-run, read back by bash, is exactly the argv the runner would run", async () => {
  const fakes = fakeBins(HEALTHY_TOOLS);
  const checked: string[] = [];
  const results = await Promise.all(
    RUNS.map(async ([script, args, extra]) => {
      const trace = join(mkdtempSync(join(tmpdir(), 'trace-')), 'trace.jsonl');
      const r = await runScriptFile(`scripts/${script}`, [...args, '--dry-run'], {
        PATH: fakes.dir,
        LLMOPS_BUILD_CONTEXT: app,
        TF_DIR: tf,
        LLMOPS_STATE_DIR: state,
        LLMOPS_HEALTH_PATH: '/health?a=1&b=%20~x',
        LLMOPS_TRACE_ARGV: trace,
        LLMOPS_ALLOW_PLAIN_HTTP: 'true',
        LLMOPS_EXPECTED_ACCOUNT_ID: '123456789012',
        ...extra,
      });
      return { script, args, r, trace };
    }),
  );
  for (const { script, args, r, trace } of results) {
    const name = `${script} ${args.join(' ')}`;
    assert.is(r.exitCode, 0, `${name}: exit ${r.exitCode}\n${r.all.slice(-2000)}`);
    const lines = r.all
      .split('\n')
      .map((l) => l.replace(/^\s*› /, ''))
      .filter((l) => /^(\[dry-run\] )?\$ /.test(l))
      .map((l) => l.replace(/^(\[dry-run\] )?\$ /, ''));
    const expected: string[][][] = existsSync(trace)
      ? readFileSync(trace, 'utf8')
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l))
      : [];
    assert.is(lines.length, expected.length, `${name}: every printed command is traced and every traced one printed\n${lines.join('\n')}`);
    assert.ok(lines.length > 0, `${name} printed no command`);
    const parsed = await shellArgv(lines);
    // a task list prints a step's lines when the step shows them, and step 1's checks run side by side: the
    // printed order may differ from the order run, so each printed line must match one traced command, once
    const pending = expected.map((cmds) => JSON.stringify(sorted(cmds)));
    lines.forEach((line, i) => {
      const at = pending.indexOf(JSON.stringify(sorted(parsed[i] ?? [])));
      assert.ok(
        at >= 0,
        `${name}: this printed line does not read back as an argv the runner ran:\n  ${line}\n  read back: ${JSON.stringify(parsed[i])}`,
      );
      pending.splice(at, 1);
      checked.push(line);
    });
  }
  const all = checked.join('\n');
  for (const value of [app, tf, state, FILTER, '/health?a=1&b=%20~x']) {
    assert.ok(
      results.some(({ trace }) => existsSync(trace) && readFileSync(trace, 'utf8').includes(JSON.stringify(value).slice(1, -1))),
      `the adversarial ${value} reached a command`,
    );
  }
  assert.ok(all.includes('PWNED'), 'the adversarial words were printed (quoted) at all');
});

test("iam-policy prints the attach command pasteable, with the rendered file's path quoted", async () => {
  const r = await runScriptFile('scripts/iam-policy.ts', ['--account-id', '123456789012', '--role', 'deploy-role'], {
    LLMOPS_STATE_DIR: state,
  });
  assert.is(r.exitCode, 0, r.all);
  const line = r.stdout
    .split('\n')
    .find((l) => l.startsWith('  aws iam put-role-policy'))!
    .trim();
  const [parsed] = await shellArgv([line]);
  assert.equal(parsed, [
    [
      'aws',
      'iam',
      'put-role-policy',
      '--role-name',
      'deploy-role',
      '--policy-name',
      'deploy-llmops-service',
      '--policy-document',
      `file://${join(state, 'iam-deploy-policy.json')}`,
    ],
  ]);
});

test('the check is not blind: an unquoted line does not read back as its argv', async () => {
  const [parsed] = await shellArgv([`git -C ${app} rev-parse HEAD`]);
  assert.not.equal(parsed, [['git', '-C', app, 'rev-parse', 'HEAD']]);
  const [ok] = await shellArgv([`git -C '${app.replace(/'/g, `'\\''`)}' rev-parse HEAD`]);
  assert.equal(ok, [['git', '-C', app, 'rev-parse', 'HEAD']]);
});

test.run();
