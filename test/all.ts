// `npm test`: the end-to-end sandbox file in one uvu process and every other file in a second, side by
// side (the second from the end of the first bootstraps on). The end-to-end file spends most of its time waiting on Terraform's provider delays and the ECS
// emulator, so the rest of the suite fits into those waits. Output of the second process is held back and
// printed after the first, so neither is interleaved; the exit code is non-zero when either fails.
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const UVU = join(ROOT, 'node_modules/uvu/bin.js');
const E2E = 'e2e-sandbox\\.test\\.ts$';

/** `nice`: the second process yields the CPU to the end-to-end one, whose time is the suite's. */
function uvu(args: string[], live: boolean, nice = 0, onOutput?: (text: string) => void): Promise<{ code: number; output: string; seconds: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const argv = [process.execPath, '--import', 'tsx', UVU, 'test', ...args];
    const child = spawn('nice', ['-n', String(nice), ...argv], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const take = (chunk: Buffer) => {
      if (live) process.stdout.write(chunk);
      else output += chunk.toString();
      onOutput?.(chunk.toString());
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('close', (code) => resolve({ code: code ?? 1, output, seconds: (Date.now() - started) / 1000 }));
  });
}

// The other files start once the end-to-end file is past its first bootstraps (it prints their times):
// those are its most CPU-bound minutes, and the other files have minutes to spare.
let startRest!: () => void;
const restMayStart = new Promise<void>((resolve) => (startRest = resolve));
const e2eRun = uvu([E2E], true, 0, (text) => text.includes('times: {') && startRest()).finally(() => startRest());
const restRun = restMayStart.then(() => uvu(['\\.test\\.ts$', '-i', 'e2e-sandbox'], false, 10));
const [e2e, rest] = await Promise.all([e2eRun, restRun]);
process.stdout.write(`\n${rest.output}`);
process.stdout.write(`\nend to end: ${e2e.code === 0 ? 'passed' : 'FAILED'} in ${e2e.seconds.toFixed(0)} s; the other files: ${rest.code === 0 ? 'passed' : 'FAILED'} in ${rest.seconds.toFixed(0)} s (side by side)\n`);
process.exitCode = e2e.code || rest.code;
