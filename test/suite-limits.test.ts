// The suite's own time limits (test/helpers/script.ts): on a busy machine a script's limit stretches with the
// load instead of failing the case; a script over its limit is stopped as a user stops it (SIGTERM first, so
// terraform releases its state lock), and whatever it started that outlived it is stopped too, so no process
// of a failed case (a terraform provider, a daemon) is left running into the next case or after the suite.
import { execa } from 'execa';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MAX_STRETCH, watchLimit } from './helpers/script.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * A "script" that starts a grandchild in a session of its own which ignores SIGTERM (as a terraform provider
 * outlives a killed terraform), prints its pid, and then runs for `seconds`.
 */
function script(seconds: number) {
  return execa('sh', ['-c', `setsid sh -c 'trap "" TERM; sleep 60' & echo $!; sleep ${seconds}`], { reject: false });
}

test('over its limit: stopped with SIGTERM, said in its output, and what it started that outlived it is killed', async () => {
  const sub = script(60);
  const started = Date.now();
  const [note, r] = await Promise.all([watchLimit(sub, 1000, () => 1, 2000).done(), sub]);
  assert.ok(Date.now() - started < 20_000, 'stopped near its limit, not after its 60 s');
  assert.is(r.signal, 'SIGTERM', 'a clean stop first, as Ctrl-C');
  assert.match(note, /stopped after \d+ s: over its limit of 1 s \(1 s at a load of 1\.0 per core\)/);
  assert.match(note, /\d process\(es\) it started outlived it and were killed/);
  const grandchild = Number(r.stdout.trim());
  await new Promise((res) => setTimeout(res, 200));
  assert.not.ok(alive(grandchild), 'the process that outlived it is gone');
});

test('a busy machine stretches the limit (slower, not red); an idle one does not; the stretch has a ceiling', async () => {
  const stretched = script(2);
  const [within, r] = await Promise.all([watchLimit(stretched, 1000, () => 3).done(), stretched]);
  assert.is(r.exitCode, 0, 'a 2 s run under a 1 s limit at a load of 3 per core finished');
  assert.not.match(within, /stopped after/);
  assert.match(within, /\d process\(es\) it started outlived it and were killed/);
  // the grandchild was left on purpose here: it outlived the script, so it is reported and killed
  assert.not.ok(alive(Number(r.stdout.trim())));

  const idle = script(2);
  const [limited] = await Promise.all([watchLimit(idle, 1000, () => 1, 1000).done(), idle]);
  assert.match(limited, /over its limit of 1 s/);

  const huge = script(30);
  const started = Date.now();
  const [capped] = await Promise.all([watchLimit(huge, 1000, () => 100, 1000).done(), huge]);
  assert.match(capped, new RegExp(`over its limit of ${MAX_STRETCH} s`));
  assert.ok(Date.now() - started < 15_000);
});

test.run();
