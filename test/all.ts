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

/** `nice`: the second process yields the CPU to the end-to-end one, whose time is the suite's. */
function uvu(args: string[], live: boolean, nice = 0): Promise<{ code: number; output: string; seconds: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const argv = [process.execPath, '--import', 'tsx', UVU, 'test', ...args];
    const child = spawn('nice', ['-n', String(nice), ...argv], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const take = (chunk: Buffer) => {
      output += chunk.toString();
      if (live) process.stdout.write(chunk);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('close', (code) => resolve({ code: code ?? 1, output, seconds: (Date.now() - started) / 1000 }));
  });
}

const [e2e, rest] = await Promise.all([uvu([E2E], true), uvu(['\\.test\\.ts$', '-i', 'e2e-sandbox'], false, 10)]);
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
