// `npm test`: the end-to-end sandbox file in one uvu process and every other file in a second, side by
// side. The suite is bound by CPU (docs/development.md's suite-time section): the other files take what the end-to-end
// file leaves, in a cgroup of lower weight (below). Output of the second process is held back and
// printed after the first, so neither is interleaved; the exit code is non-zero when either fails.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { SUITE_MARK } from './helpers/script.js';
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

/**
 * A version manager's shim (pyenv's `aws`, `python3`) starts shells and resolves the interpreter again on
 * every call: about 0.4 s of CPU more per aws CLI call (0.96 s against 0.57 s), and the end-to-end file alone
 * makes over 500 of them. Each one is resolved
 * once here, and its real directory goes first on the tests' PATH: the same program the shim would run.
 */
function pathWithoutShims(path: string, programs = ['aws', 'python3']): string {
  const first: string[] = [];
  for (const program of programs) {
    let found: string;
    try {
      found = execFileSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8', env: { ...process.env, PATH: path } }).trim();
    } catch {
      continue; // not installed: the tests that need it say so
    }
    if (!/\/shims\/[^/]+$/.test(found)) continue;
    try {
      const real = execFileSync('pyenv', ['which', program], { encoding: 'utf8', cwd: ROOT }).trim();
      if (real && !first.includes(dirname(real))) first.push(dirname(real));
    } catch {
      /* not pyenv's shim: left as it is */
    }
  }
  return [...first, path].join(':');
}

const TEST_PATH = pathWithoutShims(process.env.PATH ?? '');

/**
 * The other files' process yields the CPU to the end-to-end one, whose time is the suite's. `nice` alone does
 * not do that here: with the kernel's autogroups (/proc/sys/kernel/sched_autogroup_enabled) a niceness counts
 * only inside its own session, and every command the toolkit runs starts a session of its own (detached, so an
 * interrupt reaches its whole process group), so the other files' terraform and aws commands took the CPU in
 * equal shares with the end-to-end ones. A cpu cgroup holds a process and everything it starts, whatever
 * their sessions: the other files run in one with a tenth of the default weight (cgroup v1 `cpu.shares`, or
 * v2 `cpu.weight`). Without a writable cgroup file system (not root, a read-only mount) `nice` is all there is.
 */
function lowWeightGroup(name: string, fraction: number): string | undefined {
  const tries: [dir: string, file: string, weight: string][] = [
    [join('/sys/fs/cgroup/cpu', name), 'cpu.shares', String(Math.round(1024 * fraction))], // v1: the default is 1024
    [join('/sys/fs/cgroup', name), 'cpu.weight', String(Math.round(100 * fraction))], // v2: the default is 100
  ];
  for (const [dir, file, weight] of tries) {
    if (!existsSync(dirname(dir)) || !existsSync(join(dirname(dir), 'cgroup.procs'))) continue;
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, file), weight);
      return dir;
    } catch {
      try {
        rmdirSync(dir);
      } catch {
        /* not made, or in use */
      }
    }
  }
  return undefined;
}

/**
 * The Terraform files get half the default weight, not a tenth: terraform waits for its provider plugin to
 * start and the SDK for an answer within fixed times, and on a machine another job kept busy (every process
 * of that job at the full weight) a tenth of a share ran past them ("timeout while waiting for plugin to
 * start", a 10 s request timeout). The other files have no such clocks and keep a tenth.
 */
const groups = {
  terraform: lowWeightGroup(`llmops-test-${process.pid}-terraform`, 0.5),
  others: lowWeightGroup(`llmops-test-${process.pid}-others`, 0.1),
};

/**
 * The tests' temporary files go under one directory of this run (TMPDIR), removed at the end: each script run
 * makes an empty PATH directory and an env file, each fake CLI a directory, and a run leaves thousands of them.
 * Open to every user like /tmp itself (sticky): some cases run commands as an unprivileged user.
 */
const TEMP = mkdtempSync(join(tmpdir(), 'llmops-suite-'));
chmodSync(TEMP, 0o1777);

/** This run's mark: every process the tests start carries it in its environment (keptEnv passes it on). */
const MARK = `${SUITE_MARK}=${process.pid}-${STARTED}`;

/**
 * The processes of this run still alive once every test process has ended: found by the mark in their
 * environment (a terraform provider reparented to init when its terraform was killed, a server a test did
 * not stop). Each is named and killed; the suite fails, since a case left it running.
 */
function outlivers(): string[] {
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (!readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0').includes(MARK)) continue;
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'latin1').split('\0').join(' ').trim();
      process.kill(Number(entry), 'SIGKILL');
      found.push(`pid ${entry}: ${cmd.slice(0, 200)}`);
    } catch {
      /* gone, or not ours to read */
    }
  }
  return found;
}

function uvu(name: string, args: string[], live: boolean, group?: string): Promise<{ code: number; output: string; seconds: number }> {
  const low = group !== undefined;
  const started = Date.now();
  return new Promise((resolve) => {
    const argv = [process.execPath, '--import', 'tsx', '--import', join(ROOT, 'test/helpers/hook-errors.ts'), UVU, 'test', ...args];
    // the process joins its cgroup before it starts anything, so all it starts is in it too
    const enter = group ? `echo $$ > ${group}/cgroup.procs && ` : '';
    // a process group of its own, so the deadline stops the tests' own children (scripts, terraform) too
    const child = spawn('sh', ['-c', `${enter}exec nice -n ${low ? 10 : 0} "$@"`, 'sh', ...argv], {
      cwd: ROOT,
      env: { ...process.env, PATH: TEST_PATH, TMPDIR: TEMP, [SUITE_MARK]: MARK.slice(SUITE_MARK.length + 1) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
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

/**
 * The other files in two processes beside the end-to-end one, both in the low-weight group: one process runs
 * its files one after another and rarely keeps more than one core busy, so alone it could not take all the
 * CPU the end-to-end file leaves while it waits (health checks, polls), and it ran on alone for minutes after
 * it. The Terraform-heavy files go to one; they start emulators of their own, as every file does.
 */
// balanced by a clean-clone run: without safety-netns the Terraform files ended in 1204 s, the rest in 1303 s
const TERRAFORM_FILES = ['terraform', 'terraform-interrupt', 'backend-switch', 'environments', 'safety-netns'];
const filesOf = (names: string[]) => `(${names.join('|')})\\.test\\.ts$`;
/**
 * Once the end-to-end file is done the other files have nothing to yield to: their group gets the default
 * weight back, so on a machine another job keeps busy they are not starved to a tenth of a share (they ran
 * past the suite's deadline that way).
 */
function fullWeight(dir: string | undefined): void {
  if (!dir) return;
  const defaults: [file: string, weight: string][] = [
    ['cpu.weight', '100'],
    ['cpu.shares', '1024'],
  ];
  for (const [file, weight] of defaults) {
    try {
      if (existsSync(join(dir, file))) writeFileSync(join(dir, file), weight);
    } catch {
      /* not ours to change: it keeps the low weight */
    }
  }
}

const [e2e, ...others] = await Promise.all([
  uvu('end to end', [E2E], true).then((run) => (fullWeight(groups.terraform), fullWeight(groups.others), run)),
  uvu('the Terraform files', [filesOf(TERRAFORM_FILES)], false, groups.terraform ?? ''),
  uvu(
    'the other files',
    ['\\.test\\.ts$', '-i', 'e2e-sandbox', ...TERRAFORM_FILES.flatMap((f) => ['-i', `^${f}\\.test\\.ts$`])],
    false,
    groups.others ?? '',
  ),
]);
const runs = [['end to end', e2e] as const, ['the Terraform files', others[0]!] as const, ['the other files', others[1]!] as const];
const left = outlivers();
// the group goes once its last process has: a killed one may take a moment
for (const group of Object.values(groups)) {
  for (let tries = 0; group && existsSync(group) && tries < 20; tries++) {
    try {
      rmdirSync(group);
    } catch {
      await new Promise((r) => setTimeout(r, 500)); // a daemon a test left running stays in it: the group with it
    }
  }
}
rmSync(TEMP, { recursive: true, force: true });
for (const run of others) process.stdout.write(`\n${run.output}`);
if (left.length)
  process.stdout.write(`\nFAILED: ${left.length} process(es) of the suite outlived it (killed now):\n  ${left.join('\n  ')}\n`);
for (const [name, run] of runs) {
  const why = unrun(run.output);
  if (why && run.code === 0) {
    process.stdout.write(`\n${name}: FAILED: ${why}\n`);
    run.code = 1;
  }
}
process.stdout.write(
  `\n${runs.map(([name, run]) => `${name}: ${run.code === 0 ? 'passed' : 'FAILED'} in ${run.seconds.toFixed(0)} s`).join('; ')} (side by side)\n`,
);
process.exitCode = runs.find(([, run]) => run.code !== 0)?.[1].code ?? (left.length ? 1 : 0);
