// The runbook (docs/ko, docs/en) cannot drift from what the scripts run: its command blocks are the
// scripts' --dry-run output, `npm run runbook -- --check` fails naming a stale block, and every section of
// the guide has a Korean and an English page showing the same commands.
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { inKorean, runbookBlocks, scriptOf, settingsLine, settleCommands } from '../lib/runbook.js';
import { ROOT, runScriptFile } from './helpers/script.js';

/** The guide's sections (its `##` and step headings), each a page in both languages. */
const SECTIONS = [
  'prerequisites',
  'iam-permissions',
  'step-1-source',
  'step-2-build',
  'step-3-terraform',
  'step-4-apply',
  'step-5-push',
  'step-6-taskdef',
  'step-7-verify',
  'step-8-domain',
  'security',
  'monitoring',
  'cicd',
  'scaling',
  'maintenance',
  'cost',
  'troubleshooting',
];

const page = (lang: string, name: string) => readFileSync(join(ROOT, 'docs', lang, `${name}.md`), 'utf8');

test('markers: script, arguments after --, per-block settings, and the block they own', () => {
  const text =
    'intro\n<!-- runbook: npm run scale -- --count 2 (DOMAIN_NAME=a.example.com HOSTED_ZONE_ID=Z1) -->\n```bash\nold line\n```\n<!-- runbook: npm run step:4 -->\n```bash\n```\n';
  const [a, b] = runbookBlocks(text);
  assert.equal(
    [a!.name, a!.args, a!.settings, a!.line, a!.body, a!.command],
    [
      'scale',
      ['--count', '2'],
      [
        ['DOMAIN_NAME', 'a.example.com'],
        ['HOSTED_ZONE_ID', 'Z1'],
      ],
      2,
      'old line\n',
      'scale -- --count 2',
    ],
  );
  assert.is(text.slice(a!.bodyStart, a!.bodyEnd), 'old line\n');
  assert.equal([b!.name, b!.args, b!.body], ['step:4', [], '']);
  assert.throws(() => runbookBlocks('<!-- runbook: npm run x (lower=1) -->\n```bash\n```'), /not NAME=value/);
  assert.equal(scriptOf({ dashboard: 'tsx scripts/monitoring.ts dashboard' }, 'dashboard'), {
    file: 'scripts/monitoring.ts',
    args: ['dashboard'],
  });
  assert.is(scriptOf({ test: 'tsx test/all.ts' }, 'test'), undefined);
});

test('dry-run output settles: only commands, no machine paths, clocks or process ids', () => {
  const out = settleCommands(
    [
      '❯ 2. Build',
      '› [dry-run] $ git -C /tmp/app-x rev-parse HEAD',
      '[dry-run] $ docker run --name p-smoke-4242 -f /tmp/app-x/Dockerfile x',
      '[dry-run] $ aws put --body file:///repo/.llmops/a.json --start-time 1795705297313 --t 2026-11-19T16:01:49 --d 2026-10-27',
      '[dry-run] # wait for it',
      `[dry-run] $ aws s3api put-bucket-policy --policy '{"Version":"2012-10-17"}'`,
      '✓ done',
    ].join('\n'),
    { root: '/repo', app: '/tmp/app-x' },
  );
  assert.is(
    out,
    'git -C ../llmops-system rev-parse HEAD\ndocker run --name p-smoke-<PID> -f ../llmops-system/Dockerfile x\naws put --body file://.llmops/a.json --start-time <EPOCH_MS> --t <TIME> --d <DATE>\n# wait for it\naws s3api put-bucket-policy --policy \'{"Version":"2012-10-17"}\'\n',
  );
});

test('every guide section has a Korean and an English page with the same command blocks', () => {
  const pages = (lang: string) =>
    readdirSync(join(ROOT, 'docs', lang))
      .filter((f) => f.endsWith('.md'))
      .sort();
  assert.equal(pages('ko'), pages('en'));
  for (const name of [...SECTIONS, 'README']) {
    const ko = page('ko', name);
    const en = page('en', name);
    assert.match(ko, /[\uac00-\ud7a3]/, `docs/ko/${name}.md is in Korean`);
    assert.equal(
      runbookBlocks(ko).map((b) => b.key),
      runbookBlocks(en).map((b) => b.key),
      `docs/{ko,en}/${name}.md show the same commands`,
    );
    for (const b of runbookBlocks(ko))
      assert.ok(b.body.trim(), `docs/ko/${name}.md:${b.line}: npm run ${b.command} has no generated block`);
  }
  for (const name of SECTIONS) assert.ok(page('ko', 'README').includes(`(${name}.md)`), `docs/ko/README.md links ${name}.md`);
});

test("every block shows the settings its dry run had; the Korean pages' comments are Korean; a comment without Korean stops the runbook", () => {
  for (const lang of ['ko', 'en'] as const)
    for (const name of [...SECTIONS, 'README'])
      for (const b of runbookBlocks(page(lang, name))) {
        const [first, ...rest] = b.body.trimEnd().split('\n');
        assert.is(first, settingsLine(lang, b.settings), `docs/${lang}/${name}.md:${b.line}`);
        assert.match(first!, 'ALLOW_PLAIN_HTTP=true', 'the opt-in every block was generated with is on the page');
        if (lang === 'ko')
          for (const line of rest) {
            const comment = line.startsWith('#') ? line : line.split('   # ')[1];
            if (comment) assert.match(comment, /[\uac00-\ud7a3]|^# (HOSTED_ZONE_ID|http)/, `docs/ko/${name}.md:${b.line}: ${line}`);
          }
      }
  assert.is(inKorean('aws sts get-caller-identity   # via the SDK'), 'aws sts get-caller-identity   # SDK로 호출');
  assert.is(
    inKorean('# every few seconds until the task is STOPPED (at most 600 s):'),
    '# 태스크가 STOPPED가 될 때까지 몇 초마다 확인 (최대 600초):',
  );
  assert.throws(
    () => inKorean('aws x   # a new comment'),
    /no Korean for 1 comment\(s\).*"# a new comment".*KO_COMMENTS in lib\/runbook.ts/,
  );
  assert.is(
    settingsLine('en', [['DB_PASSWORD', 'x']]),
    '# the --dry-run output with ALLOW_PLAIN_HTTP=true EXPECTED_ACCOUNT_ID=123456789012 ALARM_EMAIL=oncall@your-team.example DB_PASSWORD=x',
  );
});

test('npm run runbook -- --check: the committed blocks are what the scripts print with --dry-run', async () => {
  const r = await runScriptFile('scripts/runbook.ts', ['--check'], { LLMOPS_ENV_FILE: '', PATH: process.env.PATH });
  assert.is(r.exitCode, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /runbook blocks match/);
});

test('a stale block fails --check naming file, line and command; npm run runbook rewrites it', async () => {
  const docs = mkdtempSync(join(tmpdir(), 'runbook-'));
  for (const lang of ['ko', 'en']) {
    mkdirSync(join(docs, lang));
    cpSync(join(ROOT, 'docs', lang, 'step-4-apply.md'), join(docs, lang, 'step-4-apply.md'));
  }
  const file = join(docs, 'ko', 'step-4-apply.md');
  const good = readFileSync(file, 'utf8');
  writeFileSync(file, good.replace('apply -input=false -no-color tfplan', 'apply -auto-approve'));
  const stale = await runScriptFile('scripts/runbook.ts', ['--check', '--docs', docs], { LLMOPS_ENV_FILE: '', PATH: process.env.PATH });
  assert.is(stale.exitCode, 1, stale.stdout + stale.stderr);
  assert.match(stale.stderr, /1 runbook block\(s\) no longer match/);
  assert.match(stale.stderr, new RegExp(`ko/step-4-apply.md:${runbookBlocks(good)[0]!.line}: npm run step:4`));
  const fixed = await runScriptFile('scripts/runbook.ts', ['--docs', docs], { LLMOPS_ENV_FILE: '', PATH: process.env.PATH });
  assert.is(fixed.exitCode, 0, fixed.stderr);
  assert.is(readFileSync(file, 'utf8'), good);
});

test.run();
