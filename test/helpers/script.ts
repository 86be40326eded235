// Run a toolkit script as a user would (a separate process), with a controlled environment.
import { spawn, type ChildProcess } from 'node:child_process';
import { execa } from 'execa';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');

/** The variable test/all.ts marks its run with (not a toolkit name: no prefix the toolkit reads). */
export const SUITE_MARK = 'TEST_SUITE_RUN';

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
  // the mark of this suite run (test/all.ts): every process a test starts carries it, so none can outlive the suite unseen
  if (process.env[SUITE_MARK]) kept[SUITE_MARK] = process.env[SUITE_MARK];
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
  return inSlot(async () => {
    const sub = execa(process.execPath, ['--import', 'tsx', join(ROOT, script), ...args], {
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
    });
    const limit = watchLimit(sub, timeoutMs);
    // its own exit ends the watch (not its pipes: a process it left behind may hold them open until killed)
    const [note, r] = await Promise.all([limit.done(), sub]);
    return { exitCode: note ? -1 : (r.exitCode ?? -1), stdout: r.stdout, stderr: r.stderr, all: (r.all ?? '') + note };
  });
}

/** The machine's load per core (the 1-minute load average over the cores), at least 1. */
export function loadPerCore(): number {
  return Math.max(1, loadavg()[0]! / availableParallelism());
}

/** A time limit stretches with the load, up to this many times its length on an idle machine. */
export const MAX_STRETCH = 5;

/** A process's start time (field 22 of /proc/<pid>/stat): with the pid, it names the process, not a reused pid. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/**
 * A script's time limit, for a suite that is slower, not red, on a busy machine: `baseMs` on an idle machine,
 * stretched by the highest load per core seen while it runs (up to MAX_STRETCH). When it runs out, the
 * script gets SIGTERM, as a user's Ctrl-C: it stops terraform cleanly (the state lock released) and
 * releases its deploy lock; 60 s later whatever is left gets SIGKILL. Every process seen below the script
 * is remembered, so when it has gone, one that outlived it (a terraform provider whose terraform was
 * killed, now a child of init) is stopped too. `done()` says what happened, or '' when the limit held.
 */
export function watchLimit(
  child: ChildProcess,
  baseMs: number,
  load: () => number = loadPerCore,
  graceMs = 60_000,
): { done(): Promise<string> } {
  const pid = child.pid!;
  const exited = new Promise<void>((resolve) =>
    child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve()),
  );
  const started = Date.now();
  const seen = new Map<number, string>();
  let stretch = Math.min(MAX_STRETCH, load());
  let note = '';
  let over = false;
  let grace: NodeJS.Timeout | undefined;
  const remember = () => {
    for (const p of descendants(pid)) if (!seen.has(p)) seen.set(p, startTime(p) ?? '');
  };
  const tick = setInterval(
    () => {
      remember();
      stretch = Math.min(MAX_STRETCH, Math.max(stretch, load()));
      const limit = baseMs * stretch;
      if (!over && Date.now() - started > limit) {
        over = true;
        note = `\n[test] stopped after ${Math.round((Date.now() - started) / 1000)} s: over its limit of ${Math.round(limit / 1000)} s (${baseMs / 1000} s at a load of ${stretch.toFixed(1)} per core)`;
        signal(pid, 'SIGTERM');
        grace = setTimeout(() => {
          remember();
          for (const p of [pid, ...seen.keys()]) signal(p, 'SIGKILL');
        }, graceMs);
        grace.unref();
      }
    },
    Math.min(1000, baseMs / 4),
  );
  tick.unref();
  return {
    async done() {
      await exited;
      clearInterval(tick);
      clearTimeout(grace); // it stopped within its grace: what it left behind is dealt with here
      // what the script started and left behind: given a moment to go by itself, then stopped
      const left = () => [...seen].filter(([p, start]) => start && startTime(p) === start).map(([p]) => p);
      for (let i = 0; i < 8 && left().length; i++) await new Promise((r) => setTimeout(r, 250));
      const survivors = left();
      for (const p of survivors) signal(p, 'SIGKILL');
      for (let i = 0; i < 20 && left().length; i++) await new Promise((r) => setTimeout(r, 100)); // gone before the next case
      if (survivors.length) note += `\n[test] ${survivors.length} process(es) it started outlived it and were killed`;
      return note;
    },
  };
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* gone */
  }
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
