// Stands in for `uvu` inside the Stryker worker (see uvu-runner.mjs): the same `test` / `suite` API the test
// files use, but `test.run()` only registers the suite, so the runner can run any subset of its tests, one by
// one, with Stryker's current test id set (per-test coverage) and a mutant active or not.
const registry = (globalThis.__UVU_SHIM__ ??= { file: '', suites: [] });

function context(name, state) {
  return { name, state, tests: [], only: [], before: [], after: [], bEach: [], aEach: [] };
}

function setup(ctx) {
  const test = (name, handler) => void ctx.tests.push({ name, handler });
  test.before = (hook) => void ctx.before.push(hook);
  test.before.each = (hook) => void ctx.bEach.push(hook);
  test.after = (hook) => void ctx.after.push(hook);
  test.after.each = (hook) => void ctx.aEach.push(hook);
  test.only = (name, handler) => void ctx.only.push({ name, handler });
  test.skip = () => {};
  test.run = () => {
    registry.suites.push({ ...ctx, file: registry.file, tests: ctx.only.length ? ctx.only : ctx.tests });
    Object.assign(ctx, context(ctx.name, ctx.state));
  };
  return test;
}

export const suite = (name = '', state = {}) => setup(context(name, state));
export const test = suite();
export default { test, suite };
