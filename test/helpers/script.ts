// Run a toolkit script as a user would (a separate process), with a controlled environment.
import { spawn, type ChildProcess } from 'node:child_process';
import { execa } from 'execa';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');

/** An empty env file of its own (a named env file must exist). */
export function emptyEnvFile(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'llmops-noenv-')), '.env');
  writeFileSync(file, '');
  return file;
}

/**
 * What a script run keeps of the test's own environment however cleared: StrykerJS (`npm run mutation`)
 * names the active mutant in `__STRYKER_ACTIVE_MUTANT__`, and a script started without it runs the unmutated
 * code, so every mutant only a script run can reach would survive. During the mutation dry run
 * (test/stryker/uvu-runner.mjs) the test's id, a coverage directory and NODE_OPTIONS, which loads the hook that
 * writes the script's coverage there, are kept too.
 */
export function keptEnv(): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith('__STRYKER_') && value !== undefined) kept[name] = value;
  }
  if (kept.__STRYKER_COVERAGE_DIR__ && process.env.NODE_OPTIONS) kept.NODE_OPTIONS = process.env.NODE_OPTIONS;
  return kept;
}

/**
 * `fn` with `vars` over process.env (undefined: unset), then process.env as it was. The suite itself runs
 * with CI=true in CI, so a case about CI sets or unsets it here rather than deleting it for every later case.
 */
export async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = { ...process.env };
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return await fn();
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

export interface ScriptRun {
  exitCode: number;
  stdout: string;
  stderr: string;
  all: string;
}

/**
 * At most this many script runs at once in a test process. A case that starts many side by side (every
 * script's --help, a table of bad inputs) would otherwise have them share the CPU so thinly that the
 * timeouts, which count from each spawn, run out: the other files run at a low CPU weight beside the
 * end-to-end file (test/all.ts), and 16 runs at once there took over 120 s each. A queued run's timeout
 * has not started. Two at least, so a case about two runs at once (a lock, two environments) still has them.
 */
const SLOTS = Math.max(2, availableParallelism());
let busy = 0;
const queue: (() => void)[] = [];

async function inSlot<T>(run: () => Promise<T>): Promise<T> {
  while (busy >= SLOTS) await new Promise<void>((resolve) => queue.push(resolve));
  busy++;
  try {
    return await run();
  } finally {
    busy--;
    queue.shift()?.();
  }
}

/**
 * `env` replaces the environment except for HOME; PATH defaults to an empty directory so only the tools the
 * test puts on PATH are found. LLMOPS_ENV_FILE points at an empty env file unless the test sets it.
 */
export async function runScriptFile(
  script: string,
  args: string[],
  env: Record<string, string | undefined> = {},
  timeoutMs = 120_000,
): Promise<ScriptRun> {
  const r = await inSlot(() =>
    execa(process.execPath, ['--import', 'tsx', join(ROOT, script), ...args], {
      cwd: ROOT,
      env: {
        HOME: process.env.HOME,
        PATH: mkdtempSync(join(tmpdir(), 'llmops-emptypath-')),
        LLMOPS_ENV_FILE: emptyEnvFile(),
        LLMOPS_RENDERER: 'simple',
        ...keptEnv(),
        ...env,
      },
      extendEnv: false,
      reject: false,
      all: true,
      timeout: timeoutMs,
    }),
  );
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, all: r.all ?? '' };
}

/** The pids below `pid` (children first found through /proc), so a test can kill a whole tree. */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone */
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [child, ppid] of parent) if (ppid === p) (out.push(child), walk(child));
  };
  walk(pid);
  return out;
}

/** Kill a process and everything it started, at once (a crash or power loss, not a Ctrl-C). */
export function killTree(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const p of [pid, ...descendants(pid)]) {
    try {
      process.kill(p, signal);
    } catch {
      /* already gone */
    }
  }
}

export interface SpawnedScript {
  child: ChildProcess;
  output(): string;
  /** Resolves when the output matches (or the script exits: check the output). */
  waitFor(pattern: RegExp): Promise<void>;
  exited: Promise<number | null>;
}

/** A script started in the background, for tests that interrupt or kill it part-way. */
export function spawnScript(script: string, args: string[], env: Record<string, string>): SpawnedScript {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, script), ...args], {
    cwd: ROOT,
    env: { ...keptEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  const onData = (chunk: Buffer) => {
    out += chunk.toString();
    for (const w of waiters.filter((x) => x.pattern.test(out))) (waiters.splice(waiters.indexOf(w), 1), w.resolve());
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code, signal) => {
      for (const w of waiters.splice(0)) w.resolve();
      resolve(code ?? (signal ? 128 : null));
    }),
  );
  return {
    child,
    output: () => out,
    exited,
    waitFor: (pattern) =>
      pattern.test(out) || child.exitCode !== null ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ pattern, resolve })),
  };
}
