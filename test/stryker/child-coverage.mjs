// Loaded with NODE_OPTIONS=--import into every script a test starts during Stryker's dry run: on exit it writes
// the mutants this process reached to __STRYKER_COVERAGE_DIR__, under the test that started it, so a mutant
// only a script run reaches still counts as covered by that test (uvu-runner.mjs merges them).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.__STRYKER_COVERAGE_DIR__;
const test = process.env.__STRYKER_TEST_ID__;
if (dir && test) {
  process.on('exit', () => {
    const coverage = globalThis.__stryker__?.mutantCoverage;
    if (!coverage) return;
    const reached = { ...coverage.static };
    for (const ids of Object.values(coverage.perTest)) Object.assign(reached, ids);
    if (!Object.keys(reached).length) return;
    const file = join(dir, `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
    try {
      writeFileSync(file, JSON.stringify({ test, reached: Object.keys(reached) }));
    } catch {
      // a script the test runs as another user may not write here: its coverage is lost, nothing else
    }
  });
}
