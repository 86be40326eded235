// `npm run mutation -- [lib/x.ts …]`: StrykerJS over lib/ and the guide's step files (scripts/0N-*.ts), each module against the fast test files that
// claim its guarantees, through test/stryker/uvu-runner.mjs: the files are loaded once per worker and a mutant
// runs only the tests that reach it, fastest first (the command runner, used before, started the whole command
// once per mutant). On demand, not in CI: a module takes minutes. Incremental: a rerun retests only what changed. The score
// per module and the survivors go to docs/reliability.md by hand, with the date.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = join(import.meta.dirname, '..');

/** lib module → the test files (names between `|`) that prove it, each fast enough to run per mutant. */
export const SUITES: Record<string, string> = {
  'lib/run.ts': 'runner|outcomes|adapters|pipeline',
  'lib/command.ts': 'runner|quoting',
  'lib/waiter.ts': 'waiter|pipeline',
  'lib/diagnosis.ts': 'waiter|steps',
  'lib/ecs.ts': 'adapters|waiter|taskdef',
  'lib/errors.ts': 'outcomes',
  'lib/hints.ts': 'hints',
  'lib/flags.ts': 'boundary',
  'lib/runbook.ts': 'runbook',
  'lib/taskdef.ts': 'taskdef|steps|pipeline',
  'lib/infra.ts': 'infra|steps|pipeline',
  'lib/image.ts': 'image|steps|pipeline',
  'lib/pipeline.ts': 'pipeline|outcomes|steps',
  'lib/cli.ts': 'cli|boundary|steps',
  // with boundary (issue 33: it alone holds the ambient-name guarantees; its cases start scripts, so a mutant
  // it covers costs 10-16 s and a module takes over an hour); not property: fast-check runs each property a
  // hundred times under instrumentation, and the score without it is a lower bound
  'lib/config.ts': 'config|envfiles|settings|boundary',
  'lib/schema.ts': 'config|envfiles|settings|boundary',
  'lib/variables.ts': 'config|envfiles|settings|boundary',
  'lib/envfiles.ts': 'config|envfiles|settings|boundary',
  'lib/template.ts': 'template|outcomes',
  'lib/aws.ts': 'outcomes|adapters',
  'lib/oneoff.ts': 'oneoff',
  'lib/dbuser.ts': 'dbuser|taskdef',
  'lib/ecr.ts': 'adapters',
  'lib/terraform.ts': 'adapters',
  'lib/tasks.ts': 'adapters',
  'lib/lock.ts': 'lock|deploylock|least-privilege',
  'lib/http.ts': 'http|image|waiter',
  'lib/strategy.ts': 'strategy',
  // the modules added since the lists were last completed (2026-11-27)
  'lib/alarms.ts': 'waiter|strategy',
  'lib/cost.ts': 'cost|diff',
  'lib/diff.ts': 'diff',
  'lib/preflight.ts': 'preflight',
  'lib/releases.ts': 'releases',
  'lib/timeline.ts': 'timeline|waiter|pipeline|outcomes',
  // the guide's steps: their commands and decisions live in the numbered scripts
  'scripts/01-prereqs.ts': 'checks|prereqs|pipeline',
  'scripts/02-build.ts': 'image|steps|pipeline',
  'scripts/03-plan.ts': 'infra|pipeline',
  'scripts/04-apply.ts': 'infra|pipeline',
  'scripts/05-push.ts': 'adapters|pipeline',
  'scripts/06-taskdef.ts': 'taskdef|pipeline|least-privilege',
  'scripts/07-verify.ts': 'waiter|pipeline|strategy',
  'scripts/08-dns.ts': 'adapters|pipeline',
};

/** `--summary`: every module's last report (reports/mutation/*.json) in one table, and lib/ as a whole. */
function summary(): void {
  const rows: string[] = [];
  const total = { killed: 0, timedOut: 0, survived: 0, noCoverage: 0 };
  const unscored: string[] = [];
  const steps = readdirSync(join(ROOT, 'scripts')).filter((f) => /^0[1-8]-.*\.ts$/.test(f));
  const lib = readdirSync(join(ROOT, 'lib')).filter((f) => f.endsWith('.ts'));
  for (const module of [...lib.sort().map((f) => `lib/${f}`), ...steps.sort().map((f) => `scripts/${f}`)]) {
    const report = join(ROOT, 'reports/mutation', `${module.replace(/\W/g, '_')}.json`);
    if (!existsSync(report)) {
      unscored.push(module);
      continue;
    }
    const mutants: { status: string }[] = JSON.parse(readFileSync(report, 'utf8')).files[module]?.mutants ?? [];
    const count = (status: string) => mutants.filter((m) => m.status === status).length;
    const row = { killed: count('Killed'), timedOut: count('Timeout'), survived: count('Survived'), noCoverage: count('NoCoverage') };
    for (const key of Object.keys(total) as (keyof typeof total)[]) total[key] += row[key];
    rows.push(`| \`${module}\` | ${line(row)} |`);
  }
  rows.push(`| lib/ and the step files (the modules above) | ${line(total)} |`);
  process.stdout.write(
    ['| module | score | killed | timed out | survived | no coverage |', '|---|---|---|---|---|---|', ...rows].join('\n') + '\n',
  );
  if (unscored.length) process.stdout.write(`not scored (no report): ${unscored.join(', ')}\n`);
}

function line(r: { killed: number; timedOut: number; survived: number; noCoverage: number }): string {
  const detected = r.killed + r.timedOut;
  const all = detected + r.survived + r.noCoverage;
  const score = all ? ((100 * detected) / all).toFixed(1) : '-';
  return `${score} % | ${r.killed} | ${r.timedOut} | ${r.survived} | ${r.noCoverage}`;
}

// run as `npm run mutation`; imported (test/structure.test.ts reads SUITES), nothing runs
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) run(process.argv.slice(2).filter((a) => a !== '--'));

function run(wanted: string[]): void {
  if (wanted.includes('--summary')) {
    summary();
    process.exit(0);
  }
  const modules = wanted.length ? wanted : Object.keys(SUITES);
  let failed = 0;
  for (const module of modules) {
    const suite = SUITES[module];
    if (!suite) {
      process.stderr.write(`✗ ${module}: no fast test files listed for it in test/mutation.ts (SUITES)\n`);
      failed++;
      continue;
    }
    const files = suite.split('|').map((name) => `test/${name}.test.ts`);
    process.stdout.write(`\n# ${module}: stryker run (tests: ${files.join(', ')})\n`);
    const name = module.replace(/\W/g, '_');
    const config = join(ROOT, '.stryker-tmp', `${name}.config.json`);
    mkdirSync(dirname(config), { recursive: true });
    writeFileSync(
      config,
      JSON.stringify({
        // test/stryker/uvu-runner.mjs: the test files loaded once per worker, a mutant runs only the tests that
        // reach it (per-test coverage, the scripts they start included)
        testRunner: 'uvu',
        appendPlugins: [join(ROOT, 'test/stryker/uvu-runner.mjs')],
        testRunnerNodeArgs: ['--import', 'tsx'],
        uvu: { files },
        warnings: { unknownOptions: false },
        mutate: [module],
        coverageAnalysis: 'perTest',
        concurrency: 2,
        // on top of 1.5 times the dry-run time of the tests a mutant runs: a mutant that hangs (a poll loop
        // that never ends) costs this much; a legitimately slow run stays well inside it
        timeoutMS: 15_000,
        incremental: true,
        incrementalFile: `.stryker-tmp/${name}.incremental.json`,
        reporters: ['clear-text', 'progress', 'json'],
        jsonReporter: { fileName: `reports/mutation/${name}.json` },
        tempDirName: '.stryker-tmp',
        ignorePatterns: ['.sandbox', 'reports', '.cache', '.llmops', 'terraform/.terraform', '**/.terraform'],
      }),
    );
    const r = spawnSync(join(ROOT, 'node_modules/.bin/stryker'), ['run', config], { cwd: ROOT, stdio: 'inherit' });
    if (r.status !== 0) failed++;
  }
  process.exitCode = failed ? 1 : 0;
}
