// A StrykerJS test runner for uvu (none is published), used by `npm run mutation` (test/mutation.ts).
//
// Stryker's command runner starts the whole test command once per mutant: every mutant paid a Node start, the
// transpile and every test of the listed files (about 20 s a mutant for lib/config.ts). This runner loads the
// test files once per worker, in process, and
// - runs each test on its own with Stryker's current test id set, so the dry run knows which tests reach which
//   mutant (per-test coverage), and a mutant runs only the tests that reach it;
// - counts what the scripts a test starts reach too: during the dry run they load child-coverage.mjs
//   (NODE_OPTIONS, forwarded by keptEnv() in test/helpers/script.ts), which writes their coverage under the
//   test's id;
// - activates a mutant in process (`__stryker__.activeMutant`) and for the scripts a test starts
//   (`__STRYKER_ACTIVE_MUTANT__`, forwarded the same way);
// - reports `reloadEnvironment: false`: the test files are ES modules, which cannot be unloaded, so Stryker
//   starts a fresh worker for a static mutant (one in code that runs when a module loads), which this runner
//   then loads with the mutant active, and runs with every test.
// A test that needs an earlier test of its file makes its whole file run whenever one of its tests is selected
// (findOrderedTests).
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { register } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { spawnSync } from 'node:child_process';
import { commonTokens, declareClassPlugin, PluginKind } from '@stryker-mutator/api/plugin';
import { DryRunStatus, MutantRunStatus, TestStatus } from '@stryker-mutator/api/test-runner';

const CHILD_COVERAGE = new URL('./child-coverage.mjs', import.meta.url).href;
/** What the dry run learnt, for every worker: each test's time, the files whose tests must run whole. */
const shared = () => resolve('.uvu-runner.json'); // in the sandbox: the worker's directory once it runs tests
let hooked = false;

/** Stryker's namespace in this process: the active mutant, the current test id, coverage, hit counts. */
const ns = () => (globalThis.__stryker__ ??= {});

function message(error) {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

class UvuTestRunner {
  static inject = [commonTokens.logger, commonTokens.options];

  constructor(logger, options) {
    this.log = logger;
    this.files = options.uvu?.files ?? [];
    this.tests = undefined;
    this.wholeFiles = new Set();
    this.times = new Map(); // test id → its time in the dry run
  }

  capabilities() {
    return { reloadEnvironment: false };
  }

  async init() {
    if (!this.files.length) throw new Error('uvu runner: no test files (set "uvu": { "files": [...] } in the config)');
    if (!hooked) {
      register('./uvu-hooks.mjs', import.meta.url);
      hooked = true;
    }
  }

  /** Imports the test files (once per worker); each `test.run()` registers its suite with the shim. */
  async load() {
    if (this.tests) return;
    if (existsSync(shared())) {
      const learnt = JSON.parse(readFileSync(shared(), 'utf8'));
      this.times = new Map(learnt.times);
      this.wholeFiles = new Set(learnt.wholeFiles);
    }
    const registry = (globalThis.__UVU_SHIM__ ??= { file: '', suites: [] });
    for (const file of this.files) {
      registry.file = file;
      await import(pathToFileURL(resolve(file)).href);
    }
    const seen = new Map();
    this.tests = [];
    for (const suite of registry.suites) {
      for (const test of suite.tests) {
        let id = `${suite.file}: ${suite.name ? `${suite.name} › ` : ''}${test.name}`;
        const n = (seen.get(id) ?? 0) + 1;
        seen.set(id, n);
        if (n > 1) id += ` (#${n})`;
        this.tests.push({ id, suite, test });
      }
    }
  }

  /**
   * Runs the given tests, the fastest first (by their dry-run time, so with bail a killed mutant costs the
   * cheapest test that kills it), each suite's before hooks when its first test runs and the after hooks of
   * every suite started at the end.
   */
  async run(selected, { bail, coverage, perTestMs }) {
    const results = [];
    const ordered = this.fastestFirst(selected);
    const started = new Map(); // suite → the error its before hooks threw, or undefined
    const exit = process.exit;
    process.exit = (code) => {
      throw new Error(`process.exit(${code}) called during a test`);
    };
    try {
      for (const entry of ordered) {
        const { suite } = entry;
        if (!started.has(suite)) started.set(suite, await this.hooks(suite.before, suite));
        const begun = performance.now();
        const error = started.get(suite) ?? (await this.bounded(this.runOne(suite, entry, coverage), perTestMs));
        const timeSpentMs = Math.round(performance.now() - begun);
        const base = { id: entry.id, name: entry.id, fileName: suite.file, timeSpentMs };
        if (error === undefined) results.push({ ...base, status: TestStatus.Success });
        else results.push({ ...base, status: TestStatus.Failed, failureMessage: message(error) });
        if (error !== undefined && bail) break;
      }
    } finally {
      for (const suite of started.keys()) {
        const error = await this.hooks(suite.after, suite);
        if (error !== undefined) this.log.debug(`uvu runner: an after hook of ${suite.file} failed: ${message(error)}`);
      }
      process.exit = exit;
      process.exitCode = undefined;
    }
    return results;
  }

  /**
   * The tests by their dry-run time, fastest first; the tests of a file that must run whole (findOrderedTests)
   * stay together in their file's order, as one unit timed by their sum.
   */
  fastestFirst(selected) {
    const units = new Map();
    for (const entry of selected) {
      const key = this.wholeFiles.has(entry.suite.file) ? `file ${entry.suite.file}` : `test ${entry.id}`;
      if (!units.has(key)) units.set(key, []);
      units.get(key).push(entry);
    }
    const time = (unit) => unit.reduce((sum, t) => sum + (this.times.get(t.id) ?? 0), 0);
    return [...units.values()].sort((a, b) => time(a) - time(b)).flat();
  }

  /** The test's outcome, or a time-out error after `ms` (the order check: a test run out of order may hang). */
  async bounded(outcome, ms) {
    if (!ms) return outcome;
    let timer;
    const late = new Promise((resolve) => (timer = setTimeout(() => resolve(new Error(`no result within ${ms} ms`)), ms)));
    try {
      return await Promise.race([outcome, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs hooks in order; the error the first failing one threw, or undefined. */
  async hooks(list, suite) {
    try {
      for (const hook of list) await hook(suite.state);
      return undefined;
    } catch (error) {
      return error ?? new Error('a hook threw undefined');
    }
  }

  /** One test with its each-hooks; the error it failed with, or undefined. */
  async runOne(suite, entry, coverage) {
    const stryker = ns();
    if (coverage) stryker.currentTestId = entry.id;
    process.env.__STRYKER_TEST_ID__ = entry.id;
    suite.state.__test__ = entry.test.name;
    try {
      for (const hook of suite.bEach) await hook(suite.state);
      await entry.test.handler(suite.state);
      for (const hook of suite.aEach) await hook(suite.state);
      return undefined;
    } catch (error) {
      try {
        for (const hook of suite.aEach) await hook(suite.state);
      } catch {
        // the test's own failure is the one to report
      }
      return error ?? new Error('a test threw undefined');
    } finally {
      stryker.currentTestId = undefined;
      delete process.env.__STRYKER_TEST_ID__;
    }
  }

  async dryRun(options) {
    try {
      await this.load();
    } catch (error) {
      return { status: DryRunStatus.Error, errorMessage: `uvu runner: loading the test files failed: ${message(error)}` };
    }
    const coverage = options.coverageAnalysis === 'perTest';
    const dir = mkdtempSync(join(tmpdir(), 'stryker-coverage-'));
    chmodSync(dir, 0o1777); // a script a test runs as an unprivileged user reports too
    const saved = { NODE_OPTIONS: process.env.NODE_OPTIONS };
    if (coverage) {
      process.env.__STRYKER_COVERAGE_DIR__ = dir;
      process.env.NODE_OPTIONS = `${saved.NODE_OPTIONS ?? ''} --import ${CHILD_COVERAGE}`.trim();
    }
    let tests;
    try {
      tests = await this.run(this.tests, { bail: false, coverage });
    } finally {
      delete process.env.__STRYKER_COVERAGE_DIR__;
      if (saved.NODE_OPTIONS === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = saved.NODE_OPTIONS;
    }
    const mutantCoverage = coverage ? this.coverage(dir) : undefined;
    rmSync(dir, { recursive: true, force: true });
    if (coverage && tests.every((t) => t.status === TestStatus.Success)) await this.findOrderedTests();
    for (const t of tests) this.times.set(t.id, t.timeSpentMs);
    // Stryker's other workers (and the fresh ones it starts for static mutants) run no dry run: they read these
    writeFileSync(shared(), JSON.stringify({ times: [...this.times], wholeFiles: [...this.wholeFiles] }));
    return { status: DryRunStatus.Complete, tests, mutantCoverage };
  }

  /** This process's coverage with what the scripts started by each test reached added to that test. */
  coverage(dir) {
    const own = ns().mutantCoverage ?? { static: {}, perTest: {} };
    const perTest = { ...own.perTest };
    for (const file of readdirSync(dir)) {
      const { test, reached } = JSON.parse(readFileSync(join(dir, file), 'utf8'));
      perTest[test] ??= {};
      for (const id of reached) perTest[test][id] = (perTest[test][id] ?? 0) + 1;
    }
    return { static: own.static, perTest };
  }

  /**
   * Tests that need an earlier test of their file (its module state, files it made): a fresh worker (Stryker
   * starts one after a static mutant) runs only the tests a mutant reaches, so such a test would fail there and
   * kill the mutant falsely. A fresh process runs every test last-to-first; one that fails so makes its whole
   * file run whenever any of its tests is selected.
   * The same process then runs every test again, in order, as a worker runs them mutant after mutant: a test
   * that fails on its second run keeps state its hooks do not reset (a counter, a file, a lock), and would
   * kill every later mutant falsely. No order fixes that, so the dry run fails naming it.
   */
  async findOrderedTests() {
    const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...this.files], {
      cwd: process.cwd(),
      env: process.env,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    const line = r.stdout.split('\n').findLast((l) => l.startsWith(ORDER_CHECK));
    if (!line) throw new Error(`uvu runner: the order check failed (exit ${r.status}): ${r.stderr.slice(-2000)}`);
    const { ordered, repeated } = JSON.parse(line.slice(ORDER_CHECK.length));
    if (repeated.length)
      throw new Error(
        `uvu runner: ${repeated.map((t) => `"${t.id}" (${t.failureMessage})`).join('; ')} failed when run a second time in one process: ` +
          'reset what the test changes in a before.each or after hook, or every mutant tested after the first would be killed falsely',
      );
    for (const { id, file, failureMessage } of ordered) {
      this.log.info(`uvu runner: "${id}" fails when run before the tests above it (${failureMessage}); ${file} runs whole`);
      this.wholeFiles.add(file);
    }
  }

  async mutantRun(options) {
    const { activeMutant, testFilter, hitLimit, mutantActivation, disableBail } = options;
    const activate = () => {
      ns().activeMutant = activeMutant.id;
      process.env.__STRYKER_ACTIVE_MUTANT__ = activeMutant.id;
    };
    if (mutantActivation === 'static') activate();
    await this.load();
    if (mutantActivation !== 'static') activate();
    const stryker = ns();
    stryker.hitLimit = hitLimit;
    stryker.hitCount = hitLimit === undefined ? undefined : 0;
    const wanted = testFilter ? new Set(testFilter) : undefined;
    const whole = new Set(this.tests.filter((t) => wanted?.has(t.id) && this.wholeFiles.has(t.suite.file)).map((t) => t.suite.file));
    const selected = wanted ? this.tests.filter((t) => wanted.has(t.id) || whole.has(t.suite.file)) : this.tests;
    let results;
    try {
      results = await this.run(selected, { bail: !disableBail, coverage: false });
    } finally {
      stryker.activeMutant = undefined;
      delete process.env.__STRYKER_ACTIVE_MUTANT__;
    }
    const hits = stryker.hitCount;
    stryker.hitLimit = undefined;
    stryker.hitCount = undefined;
    if (hitLimit !== undefined && hits > hitLimit) {
      return { status: MutantRunStatus.Timeout, reason: `hit limit reached (${hits}/${hitLimit})` };
    }
    const failed = results.filter((r) => r.status === TestStatus.Failed);
    if (failed.length) {
      return {
        status: MutantRunStatus.Killed,
        killedBy: failed.map((r) => r.id),
        failureMessage: failed[0].failureMessage,
        nrOfTests: results.length,
      };
    }
    return { status: MutantRunStatus.Survived, nrOfTests: results.length };
  }
}

export const strykerPlugins = [declareClassPlugin(PluginKind.TestRunner, 'uvu', UvuTestRunner)];

// `node uvu-runner.mjs <test files>`: the order check (findOrderedTests), in a process of its own.
const ORDER_CHECK = 'uvu-runner order check: ';
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // a test run out of order may leave a promise that rejects later (lock.test.ts): that is not a crash here
  const stray = [];
  process.on('unhandledRejection', (error) => stray.push(error));
  const quiet = { debug() {}, info() {} };
  const runner = new UvuTestRunner(quiet, { uvu: { files: process.argv.slice(2) } });
  await runner.init();
  await runner.load();
  runner.times = new Map(); // last to first, whatever the dry run timed
  const byId = new Map(runner.tests.map((t) => [t.id, t.suite.file]));
  const failures = (results) =>
    results
      .filter((r) => r.status === TestStatus.Failed)
      .map((r) => ({ id: r.id, file: byId.get(r.id), failureMessage: r.failureMessage }));
  const ordered = failures(await runner.run([...runner.tests].reverse(), { bail: false, coverage: false, perTestMs: 30_000 }));
  // again, in order, in the same process: what a worker does mutant after mutant (a file run whole included)
  const repeated = failures(await runner.run(runner.tests, { bail: false, coverage: false, perTestMs: 30_000 }));
  process.stdout.write(`\n${ORDER_CHECK}${JSON.stringify({ ordered, repeated })}\n`);
  process.exit(0);
}
