// npm run bench:startup [-- --baseline DIR] — the CPU a script costs before it runs its first command, the
// part every `npm run` pays (the suite starts scripts hundreds of times). Each case runs ROUNDS times,
// interleaved with the baseline checkout when one is given (`git worktree add /tmp/base HEAD~1`), and the
// table gives medians of user+system CPU seconds (from /usr/bin/time) and the ratio. No sandbox needed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..', '..');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const at = process.argv.indexOf('--baseline');
const BASELINE = at > 0 ? resolve(process.argv[at + 1] ?? '') : undefined;
if (!existsSync('/usr/bin/time')) throw new Error('needs /usr/bin/time (apt-get install time)');
if (BASELINE && !existsSync(join(BASELINE, 'scripts'))) throw new Error(`--baseline ${BASELINE}: no scripts/ there`);

const work = mkdtempSync(join(tmpdir(), 'llmops-bench-'));
const envFile = join(work, '.env');
writeFileSync(join(work, 'Dockerfile'), 'FROM scratch\n');
writeFileSync(envFile, `AWS_REGION=us-east-1\nEXPECTED_ACCOUNT_ID=123456789012\nBUILD_CONTEXT=${work}\nALLOW_PLAIN_HTTP=true\n`);

const CASES: [name: string, script: string, args: string[]][] = [
  ['deploy --help', 'scripts/deploy.ts', ['--help']],
  ['logs --help', 'scripts/logs.ts', ['--help']],
  ['bootstrap --dry-run', 'scripts/bootstrap.ts', ['--dry-run', '--yes']],
  ['rollback: a refused input', 'scripts/rollback.ts', ['--to', 'x']],
];

/** user + system CPU seconds of one run of `script` in the checkout `root`. */
function cpuSeconds(root: string, script: string, args: string[]): number {
  const r = spawnSync('/usr/bin/time', ['-f', 'CPU %U %S', process.execPath, '--import', 'tsx', join(root, script), ...args], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LLMOPS_ENV_FILE: envFile, LLMOPS_RENDERER: 'silent' },
    encoding: 'utf8',
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const out = r.stderr ?? ''; // a refused input exits non-zero on purpose: only the timing matters
  const m = /CPU ([\d.]+) ([\d.]+)\s*$/.exec(out);
  if (!m) throw new Error(`no timing from ${script}: ${out.slice(-300)}`);
  return Number(m[1]) + Number(m[2]);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const rows = ['| case | this checkout (CPU s) | baseline (CPU s) | ratio |', '|---|---|---|---|'];
for (const [name, script, args] of CASES) {
  const now: number[] = [];
  const base: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    now.push(cpuSeconds(ROOT, script, args));
    if (BASELINE) base.push(cpuSeconds(BASELINE, script, args));
  }
  const b = BASELINE ? median(base) : undefined;
  rows.push(`| ${name} | ${median(now).toFixed(2)} | ${b?.toFixed(2) ?? '-'} | ${b ? (median(now) / b).toFixed(2) : '-'} |`);
}
rmSync(work, { recursive: true, force: true });
process.stdout.write(`${rows.join('\n')}\n\nmedians of ${ROUNDS} runs each, interleaved; ${new Date().toISOString().slice(0, 10)}\n`);
