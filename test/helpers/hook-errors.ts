// uvu swallows an error thrown by a `test.before` or `test.after` hook (its runner returns from a `finally`): the
// file then reports "0 / 7" and nothing says why. Loaded before the test files (`--import`, test/all.ts), this
// prints the hook's error, then rethrows it so the file still fails.
import { test } from 'uvu';

type Hook = (fn: (state: any) => void | Promise<void>) => void;

function loud(kind: string, register: Hook): Hook {
  return (fn) =>
    register(async (state) => {
      try {
        await fn(state);
      } catch (error: any) {
        process.stderr.write(`\n  ✘ a test.${kind} hook failed: ${error?.stack ?? error}\n`);
        throw error;
      }
    });
}

const before = test.before;
const after = test.after;
test.before = Object.assign(loud('before', before), { each: before.each });
test.after = Object.assign(loud('after', after), { each: after.each });
