// The mutation runner (test/stryker/uvu-runner.mjs) must not flatter the score: on a fixture instrumented by
// Stryker's own instrumenter it records which test reaches which mutant (a script the test starts included),
// kills a mutant by the test that fails, lets it survive when the tests it runs pass, and runs the whole file of
// a test that fails alone. It runs in a process of its own: the runner redirects `uvu` for the whole process.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT } from './helpers/script.js';

const quiet = {
  isTraceEnabled: () => false,
  isDebugEnabled: () => false,
  isInfoEnabled: () => false,
  isWarnEnabled: () => false,
  isErrorEnabled: () => false,
  isFatalEnabled: () => false,
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  fatal() {},
};

/** lib.mjs instrumented: `twice` (an arrow function and its `*`), `label` (runs at load), `unused`. */
async function fixture(): Promise<{ dir: string; mutants: Record<string, string> }> {
  const dir = mkdtempSync(join(tmpdir(), 'stryker-runner-'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  const { Instrumenter } = await import('@stryker-mutator/instrumenter');
  const source = "export const twice = (n) => n * 2;\nexport const label = 'x';\nexport function unused(a) { return a + 1; }\n";
  const result = await new Instrumenter(quiet as any).instrument([{ name: join(dir, 'lib.mjs'), content: source, mutate: true }], {
    plugins: null,
    excludedMutations: [],
    ignorers: [],
    noHeader: false,
  } as any);
  writeFileSync(join(dir, 'lib.mjs'), result.files[0]!.content);
  const mutants = Object.fromEntries(result.mutants.map((m) => [m.replacement, m.id]));
  const lib = pathToFileURL(join(dir, 'lib.mjs')).href;
  writeFileSync(
    join(dir, 'a.test.mjs'),
    `import { execFileSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { twice } from './lib.mjs';
test('doubles', () => assert.is(twice(2), 4));
test('unrelated', () => assert.ok(true));
test('in a script', () => {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', "const { twice } = await import('${lib}'); console.log(twice(3));"]);
  assert.is(out.toString().trim(), '6');
});
test.run();
`,
  );
  writeFileSync(
    join(dir, 'b.test.mjs'),
    `import { test } from 'uvu';
import * as assert from 'uvu/assert';
let state = 0;
// slower than the test after it, which needs it just before (and undoes it): fastest-first would swap them
test('sets', async () => { await new Promise((r) => setTimeout(r, 50)); state = 1; });
test('needs the first', () => { assert.is(state, 1); state = 0; });
test.run();
`,
  );
  return { dir, mutants };
}

const DRIVER = `
const { strykerPlugins } = await import(process.env.RUNNER);
const quiet = new Proxy({}, { get: (_, k) => (String(k).startsWith('is') ? () => false : () => {}) });
const runner = new strykerPlugins[0].injectableClass(quiet, { uvu: { files: ['a.test.mjs', 'b.test.mjs'] } });
await runner.init();
const dry = await runner.dryRun({ coverageAnalysis: 'perTest', disableBail: false, timeout: 30000 });
const run = (id, testFilter) =>
  runner.mutantRun({ activeMutant: { id }, testFilter, mutantActivation: 'runtime', reloadEnvironment: false, disableBail: false, timeout: 30000, sandboxFileName: 'lib.mjs' });
const m = JSON.parse(process.env.MUTANTS);
const out = {
  capabilities: runner.capabilities(),
  dry,
  doubles: await run(m['n / 2'], ['a.test.mjs: doubles']),
  script: await run(m['n / 2'], ['a.test.mjs: in a script']),
  unrelated: await run(m['n / 2'], ['a.test.mjs: unrelated']),
  unused: await run(m['a - 1'], undefined),
  ordered: await run(m['n / 2'], ['b.test.mjs: needs the first']),
};
process.stdout.write(JSON.stringify(out));
`;

test('the mutation runner: per-test coverage with scripts; killed by the failing test; survived when its tests pass; an ordered file runs whole', async () => {
  const { dir, mutants } = await fixture();
  writeFileSync(join(dir, 'driver.mjs'), DRIVER);
  const out = JSON.parse(
    execFileSync(process.execPath, ['driver.mjs'], {
      cwd: dir,
      env: {
        PATH: process.env.PATH,
        RUNNER: pathToFileURL(join(ROOT, 'test/stryker/uvu-runner.mjs')).href,
        MUTANTS: JSON.stringify(mutants),
      },
    }).toString(),
  );
  const SUCCESS = 0; // TestStatus.Success
  assert.equal(
    out.dry.tests.map((t: any) => [t.id, t.status]),
    [
      ['a.test.mjs: doubles', SUCCESS],
      ['a.test.mjs: unrelated', SUCCESS],
      ['a.test.mjs: in a script', SUCCESS],
      ['b.test.mjs: sets', SUCCESS],
      ['b.test.mjs: needs the first', SUCCESS],
    ],
  );
  assert.equal(out.capabilities, { reloadEnvironment: false }, 'a static mutant gets a fresh worker');
  const { perTest, static: atLoad } = out.dry.mutantCoverage;
  const times2 = mutants['n / 2']!;
  assert.ok(perTest['a.test.mjs: doubles'][times2], 'the test that calls it');
  assert.ok(perTest['a.test.mjs: in a script'][times2], 'a script the test started');
  assert.not.ok(perTest['a.test.mjs: unrelated']?.[times2], 'not a test that never calls it');
  assert.ok(atLoad[mutants['""']!], "label's literal runs when the module loads: static");
  assert.not.ok(
    Object.values(perTest).some((ids: any) => ids[mutants['a - 1']!]),
    'unused: reached by no test',
  );

  assert.is(out.doubles.status, 'killed');
  assert.equal(out.doubles.killedBy, ['a.test.mjs: doubles']);
  assert.match(out.doubles.failureMessage, 'Expected values to be strictly equal');
  assert.is(out.script.status, 'killed', 'the mutant is active in the scripts a test starts too');
  assert.equal(out.unrelated, { status: 'survived', nrOfTests: 1 }, 'only the tests asked for, and they pass');
  assert.equal(out.unused, { status: 'survived', nrOfTests: 5 }, 'no filter: every test');
  assert.equal(
    out.ordered,
    { status: 'survived', nrOfTests: 2 },
    'a test that needs the one before it brings its whole file, in its order',
  );
});

test('the mutation runner refuses a test that fails when run a second time in one process: it would kill every later mutant', async () => {
  const { dir } = await fixture();
  writeFileSync(
    join(dir, 'c.test.mjs'),
    `import { test } from 'uvu';
import * as assert from 'uvu/assert';
let calls = 0; // module state no hook resets
test('counts from one', () => { calls++; assert.is(calls, 1); });
test.run();
`,
  );
  writeFileSync(
    join(dir, 'driver.mjs'),
    `const { strykerPlugins } = await import(process.env.RUNNER);
const quiet = new Proxy({}, { get: (_, k) => (String(k).startsWith('is') ? () => false : () => {}) });
const runner = new strykerPlugins[0].injectableClass(quiet, { uvu: { files: [process.env.FILE] } });
await runner.init();
const out = await runner.dryRun({ coverageAnalysis: 'perTest', disableBail: false, timeout: 30000 }).then(
  (dry) => ({ status: dry.status }),
  (error) => ({ error: error.message }),
);
process.stdout.write(JSON.stringify(out));
`,
  );
  const run = (file: string) =>
    JSON.parse(
      execFileSync(process.execPath, ['driver.mjs'], {
        cwd: dir,
        env: { PATH: process.env.PATH, RUNNER: pathToFileURL(join(ROOT, 'test/stryker/uvu-runner.mjs')).href, FILE: file },
      }).toString(),
    );
  const refused = run('c.test.mjs');
  assert.match(
    refused.error ?? '',
    '"c.test.mjs: counts from one" (Assertion: Expected values to be strictly equal:) failed when run a second time',
  );
  assert.equal(run('b.test.mjs'), { status: 'complete' }, 'a file whose tests undo what they change is taken');
});

test.run();
