// `npm test`: the end-to-end sandbox file in one uvu process and every other file in a second, side by
// side. The end-to-end file spends most of its time waiting on Terraform's provider delays and the ECS
// emulator, so the rest of the suite fits into those waits. Output of the second process is held back and
// printed after the first, so neither is interleaved; the exit code is non-zero when either fails.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { unrun } from './helpers/uvu-summary.js';

const ROOT = join(import.meta.dirname, '..');
const UVU = join(ROOT, 'node_modules/uvu/bin.js');
const E2E = 'e2e-sandbox\\.test\\.ts$';
const STARTED = Date.now();

/**
 * The whole suite ends by this many minutes (CI allows 90, its installs included): a process still running
 * then is stopped and what it printed so far is shown, so a hang reads as a failure with its output rather
 * than as CI's bare time-out.
 */
const DEADLINE_MS = Number(process.env.LLMOPS_TEST_DEADLINE_MIN ?? 60) * 60_000;

/** `nice`: the second process yields the CPU to the end-to-end one, whose time is the suite's. */
function uvu(name: string, args: string[], live: boolean, nice = 0): Promise<{ code: number; output: string; seconds: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const argv = [process.execPath, '--import', 'tsx', UVU, 'test', ...args];
    // a process group of its own, so the deadline stops the tests' own children (scripts, terraform) too
    const child = spawn('nice', ['-n', String(nice), ...argv], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    const take = (chunk: Buffer) => {
      output += chunk.toString();
      if (live) process.stdout.write(chunk);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    const signal = (sig: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, sig);
      } catch {
        /* already gone */
      }
    };
    let cut = false;
    const deadline = setTimeout(
      () => {
        cut = true;
        signal('SIGTERM');
        setTimeout(() => signal('SIGKILL'), 10_000).unref();
      },
      DEADLINE_MS - (Date.now() - STARTED),
    );
    const finish = (code: number | null) => {
      clearTimeout(deadline);
      const note = cut ? `\n${name}: STOPPED at the suite's ${DEADLINE_MS / 60_000}-minute deadline\n` : '';
      if (cut && live) process.stdout.write(note);
      resolve({ code: cut ? 1 : (code ?? 1), output: output + note, seconds: (Date.now() - started) / 1000 });
    };
    // all output is in once the pipes close; a grandchild left running (a sandbox engine) may hold them
    // open, so after the exit wait for that a few seconds at most
    let done = false;
    const once = (code: number | null) => {
      if (!done) finish(code);
      done = true;
    };
    child.on('close', once);
    child.on('exit', (code) => setTimeout(() => once(code), 5000).unref());
  });
}

const [e2e, rest] = await Promise.all([
  uvu('end to end', [E2E], true),
  uvu('the other files', ['\\.test\\.ts$', '-i', 'e2e-sandbox'], false, 10),
]);
process.stdout.write(`\n${rest.output}`);
for (const [name, run] of [
  ['end to end', e2e],
  ['the other files', rest],
] as const) {
  const why = unrun(run.output);
  if (why && run.code === 0) {
    process.stdout.write(`\n${name}: FAILED: ${why}\n`);
    run.code = 1;
  }
}
process.stdout.write(
  `\nend to end: ${e2e.code === 0 ? 'passed' : 'FAILED'} in ${e2e.seconds.toFixed(0)} s; the other files: ${rest.code === 0 ? 'passed' : 'FAILED'} in ${rest.seconds.toFixed(0)} s (side by side)\n`,
);
process.exitCode = e2e.code || rest.code;
