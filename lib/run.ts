// The one runner: every external command goes through here, so echo, dry-run, secret masking,
// timeouts, retries and error hints live in one place.
import { appendFileSync, closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandError, InterruptedError, type RunResult, SecretInArgvError } from './errors.js';
import { DOCKER_DROPPED, DOCKER_DROPPED_HINT, hintFor, installHint, isTransient } from './hints.js';

export type { RunResult } from './errors.js';
export { type Arg, type Cmd, formatCommand, quote, sh } from './command.js';
import { type Cmd, formatCommand } from './command.js';

export interface RunOptions {
  /** Data for the command's stdin (e.g. a password for `--password-stdin`); never echoed. */
  input?: string;
  /** stdin data is masked everywhere as a secret unless this is false (e.g. a lock record). */
  inputIsSecret?: boolean;
  cwd?: string;
  /** Extra environment for the child (on top of the runner's). */
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  /** Retries for throttling / transient network errors (default: 3 for aws, 0 otherwise). */
  retries?: number;
  /** Stream output lines to the echo sink while running (long commands: build, apply). */
  stream?: boolean;
  /** Return the failed result instead of throwing (for checks that may fail on purpose). */
  nothrow?: boolean;
  /** Treat stdout as a secret: masked everywhere from now on. */
  secretOutput?: boolean;
  /** Read-only commands may run in dry-run mode when explicitly allowed (e.g. `git rev-parse`). */
  readOnly?: boolean;
  /** stdout and stderr as one stream in the order written, returned as stdout (one command, not a pipe). */
  interleaved?: boolean;
  /**
   * The user's terminal (an interactive shell in a task): stdin, stdout and stderr inherited, in this
   * terminal's process group; nothing is captured, so nothing can be masked: only for what the user types.
   */
  terminal?: boolean;
  /**
   * The first command's stdout, made another way (through the SDK: no process start-up); the rest of the pipe
   * gets it on stdin, masked as a secret. The line printed is still the whole pipe, noted `# <first> via the SDK`.
   */
  firstOutput?: () => Promise<string>;
}

export interface RunnerOptions {
  dryRun?: boolean;
  /** Where echoed commands and streamed output go (stderr by default). */
  echo?: (line: string) => void;
  env?: Record<string, string | undefined>;
  cwd?: string;
  secrets?: Iterable<string>;
  retryBaseMs?: number;
  defaultTimeoutMs?: number;
}

// Every child runs in its own process group (`detached`), so a Ctrl-C reaches it once, from here:
// terraform stops cleanly on one SIGINT and exits at once, leaving its state lock, on a second.
const running = new Map<{ kill(signal?: NodeJS.Signals): boolean }, string>();
let interruptedBy: NodeJS.Signals | undefined;

/**
 * On the first SIGINT/SIGTERM ask every running command to stop cleanly (SIGINT) and start no new one;
 * the script then fails with InterruptedError. A second signal kills them and exits at once.
 */
export function stopCleanlyOnSignals(say: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    if (interruptedBy) {
      say(`# ${signal} again: stopping at once`);
      for (const child of running.keys()) child.kill('SIGKILL');
      process.exit(signal === 'SIGTERM' ? 143 : 130);
    }
    interruptedBy = signal;
    const what = [...new Set(running.values())].join('; ');
    say(`\n# ${signal}: ${what ? `asking ${what} to stop cleanly` : 'stopping before the next command'}; send it again to stop at once`);
    for (const child of running.keys()) child.kill('SIGINT');
  };
  const onExit = () => {
    for (const child of running.keys()) child.kill('SIGTERM');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', onExit);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', onExit);
  };
}

/** What a failed command said last: terraform's lock details when it names a held lock, else the last lines. */
function tailOf(result: RunResult): string {
  const lock = result.stderr.match(/Lock Info:\n(?:\s+\w+:.*\n?)+/);
  if (lock) return `Error acquiring the state lock\n${lock[0].trimEnd()}`;
  return result.stderr.trim().split('\n').slice(-8).join('\n') || result.stdout.trim().split('\n').slice(-5).join('\n');
}

/** A private temp file whose descriptor a child writes both streams to; read() returns it and removes it. */
function mergedOutput(): { fd: number; read(): string } {
  const dir = mkdtempSync(join(tmpdir(), 'llmops-out-'));
  const file = join(dir, 'output');
  const fd = openSync(file, 'w', 0o600);
  return {
    fd,
    read() {
      closeSync(fd);
      try {
        return readFileSync(file, 'utf8');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

function commandAndOptions(first: string | Cmd, second?: string[] | RunOptions, third?: RunOptions): [Cmd, RunOptions] {
  if (typeof first === 'string') return [{ bin: first, args: (second as string[] | undefined) ?? [] }, third ?? {}];
  return [first, (second as RunOptions | undefined) ?? {}];
}

export class Runner {
  readonly dryRun: boolean;
  private secrets = new Set<string>();
  private readonly echoSink: (line: string) => void;
  private readonly env: Record<string, string | undefined>;
  private readonly cwd?: string;
  private readonly retryBaseMs: number;
  private readonly defaultTimeoutMs: number;

  constructor(options: RunnerOptions = {}) {
    this.dryRun = options.dryRun ?? false;
    this.echoSink = options.echo ?? ((line) => process.stderr.write(`${line}\n`));
    this.env = options.env ?? {};
    this.cwd = options.cwd;
    this.retryBaseMs = options.retryBaseMs ?? 1000;
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? 30 * 60_000;
    for (const s of options.secrets ?? []) this.addSecret(s);
  }

  /** The same runner (shared secrets and settings) echoing somewhere else, e.g. into a task's output. */
  withEcho(echo: (line: string) => void): Runner {
    const child = new Runner({
      dryRun: this.dryRun,
      echo,
      env: this.env,
      cwd: this.cwd,
      retryBaseMs: this.retryBaseMs,
      defaultTimeoutMs: this.defaultTimeoutMs,
    });
    child.secrets = this.secrets;
    return child;
  }

  /** Register a value to mask from now on (passwords, tokens). */
  addSecret(value: string | undefined): void {
    if (value && value.length >= 4) this.secrets.add(value);
  }

  mask(text: string): string {
    let out = text;
    for (const s of [...this.secrets].sort((a, b) => b.length - a.length)) out = out.split(s).join('***');
    return out;
  }

  echo(line: string): void {
    this.echoSink(this.mask(line));
  }

  /**
   * Print a command this program performs another way (through the SDK, or a placeholder in dry-run) as
   * the pasteable line it stands for: quoted like every command the runner runs, masked, with a note.
   */
  echoCommand(bin: string, args: readonly string[], note?: string): void {
    this.trace([{ bin, args: [...args] }]);
    this.echo(`${this.dryRun ? '[dry-run] ' : ''}$ ${formatCommand(bin, args)}${note ? `   # ${note}` : ''}`);
  }

  /**
   * AWS CLI v2 before 2.13 ignores AWS_ENDPOINT_URL (the standard variable the SDKs and CLI v1
   * honour), so it is passed on as `--endpoint-url`: the same call reaches the same endpoint.
   */
  private withEndpoint(cmd: Cmd): Cmd {
    const endpoint = this.env.AWS_ENDPOINT_URL ?? process.env.AWS_ENDPOINT_URL;
    if (cmd.bin !== 'aws' || !endpoint || cmd.args.includes('--endpoint-url') || cmd.args.includes('--version')) return cmd;
    return { bin: cmd.bin, args: [...cmd.args, '--endpoint-url', endpoint] };
  }

  /**
   * LLMOPS_TRACE_ARGV=<file>: append the argv of every command printed (masked, one JSON line each), so a
   * test can check that each printed line, read back by a shell, is exactly that argv.
   */
  private trace(cmds: Cmd[]): void {
    const file = process.env.LLMOPS_TRACE_ARGV;
    if (file) appendFileSync(file, `${JSON.stringify(cmds.map((c) => [c.bin, ...c.args].map((w) => this.mask(w))))}\n`);
  }

  private commandLine(cmds: Cmd[]): string {
    this.trace(cmds);
    return this.mask(cmds.map((c) => formatCommand(c.bin, c.args)).join(' | '));
  }

  private assertNoSecretInArgv(cmd: Cmd): void {
    for (const s of this.secrets) if (cmd.args.some((a) => a.includes(s)) || cmd.bin.includes(s)) throw new SecretInArgvError(cmd.bin);
  }

  /**
   * Run one command: echo it, execute it (unless dry-run), mask everything it returns.
   * `runner.run(sh\`git -C ${dir} status --porcelain\`)`, or `runner.run('git', ['-C', dir, …])`.
   */
  async run(command: Cmd, options?: RunOptions): Promise<RunResult>;
  async run(bin: string, args: string[], options?: RunOptions): Promise<RunResult>;
  async run(first: string | Cmd, second?: string[] | RunOptions, third?: RunOptions): Promise<RunResult> {
    const [cmd, options] = commandAndOptions(first, second, third);
    return this.runPipeline([cmd], options);
  }

  /** Run and parse stdout as JSON (`--output json`); in dry-run returns undefined. */
  async json<T = any>(command: Cmd, options?: RunOptions): Promise<T | undefined>;
  async json<T = any>(bin: string, args: string[], options?: RunOptions): Promise<T | undefined>;
  async json<T = any>(first: string | Cmd, second?: string[] | RunOptions, third?: RunOptions): Promise<T | undefined> {
    const [cmd, options] = commandAndOptions(first, second, third);
    const r = await this.runPipeline([cmd], options);
    if (r.dryRun || !r.ok) return undefined;
    return (r.stdout.trim() ? JSON.parse(r.stdout) : {}) as T;
  }

  /**
   * `a | b`: stdout of each command feeds the next, process to process, never through any argv (a first output
   * made through the SDK, `firstOutput`, goes from this process to the next command's stdin, masked).
   */
  async runPipeline(given: Cmd[], options: RunOptions = {}): Promise<RunResult> {
    const cmds = given.map((c) => this.withEndpoint(c));
    if (options.input !== undefined && options.inputIsSecret !== false) this.addSecret(options.input);
    cmds.forEach((c) => this.assertNoSecretInArgv(c));
    const command = this.commandLine(cmds);
    const note = options.firstOutput ? `   # ${cmds[0]!.bin} ${cmds[0]!.args.slice(0, 2).join(' ')} via the SDK` : '';
    if (this.dryRun && !options.readOnly) {
      this.echoSink(`[dry-run] $ ${command}${note}`);
      return { command, exitCode: 0, stdout: '', stderr: '', ok: true, dryRun: true };
    }
    this.echoSink(`$ ${command}${note}`);
    const retries = options.retries ?? (cmds.some((c) => c.bin === 'aws') ? 3 : 0);
    for (let attempt = 0; ; attempt++) {
      if (interruptedBy) throw new InterruptedError(interruptedBy, command, 'not started');
      const result = options.firstOutput ? await this.afterFirst(cmds, options, command) : await this.execute(cmds, options, command);
      if (interruptedBy && !result.ok) throw new InterruptedError(interruptedBy, command, tailOf(result));
      if (result.ok || (options.nothrow && !isTransient(result.stderr))) return result;
      if (attempt < retries && isTransient(result.stderr)) {
        const delay = this.retryBaseMs * 2 ** attempt;
        this.echoSink(`  (transient error, retry ${attempt + 1}/${retries} in ${delay} ms)`);
        await new Promise((r) => setTimeout(r, delay));
        continue;
      }
      if (options.nothrow) return result;
      throw this.errorFor(cmds, result);
    }
  }

  /** The pipe after its first command, whose output `options.firstOutput` makes (masked from then on). */
  private async afterFirst(cmds: Cmd[], options: RunOptions, command: string): Promise<RunResult> {
    const output = await options.firstOutput!();
    this.addSecret(output);
    return this.execute(cmds.slice(1), { ...options, input: output }, command);
  }

  private errorFor(cmds: Cmd[], result: RunResult): CommandError {
    const tail = tailOf(result);
    const missing =
      result.exitCode === 127 ? cmds.find((c) => tail.includes(`${c.bin}: not found`) || tail.includes(`ENOENT`))?.bin : undefined;
    const text = result.stderr + result.stdout;
    const hint = missing
      ? installHint(missing)
      : cmds.some((c) => c.bin === 'docker') && DOCKER_DROPPED.test(text)
        ? DOCKER_DROPPED_HINT
        : hintFor(text);
    return new CommandError(result.command, result.exitCode, tail, hint, result);
  }

  private async execute(cmds: Cmd[], options: RunOptions, command: string): Promise<RunResult> {
    // loaded by the first command, not at start: `--help`, a refused input and `--dry-run` run none, and
    // execa costs about 0.5 s of CPU to load under tsx (measured with `node --cpu-prof`)
    const { execa } = await import('execa');
    const env = { ...this.env, ...options.env };
    const common = {
      cwd: options.cwd ?? this.cwd,
      env,
      reject: false,
      timeout: options.timeoutMs ?? this.defaultTimeoutMs,
      stripFinalNewline: false,
      detached: true,
    } as const;
    // interleaved: both streams into one file descriptor, so lines keep the order the command wrote them
    const merged = options.interleaved && cmds.length === 1 ? mergedOutput() : undefined;
    const streams = (merged ? { stdout: merged.fd, stderr: merged.fd } : {}) as Record<string, never>;
    const first = options.terminal
      ? execa(cmds[0]!.bin, cmds[0]!.args, { ...common, detached: false, stdio: 'inherit' })
      : execa(cmds[0]!.bin, cmds[0]!.args, {
          ...common,
          input: options.input,
          stdin: options.input === undefined ? 'ignore' : undefined,
          ...streams,
        });
    const children: any[] = [first];
    let last: any = first;
    for (const c of cmds.slice(1)) children.push((last = last.pipe(c.bin, c.args, common)));
    for (const child of children) running.set(child, command);
    const streamed: Promise<void>[] = [];
    if (options.stream) {
      for (const sub of new Set([first, last])) {
        for (const s of [sub.stdout, sub.stderr]) if (s) streamed.push(this.streamLines(s));
      }
    }
    let r: any;
    try {
      r = await last;
    } catch (error: any) {
      r = error; // a failing upstream command of a pipe rejects even with reject:false
    } finally {
      for (const child of children) running.delete(child);
    }
    await Promise.all(streamed);
    const stdout: string = merged ? merged.read() : typeof r.stdout === 'string' ? r.stdout : '';
    const upstreamStderr: string = r.pipedFrom?.map((p: any) => p.stderr ?? '').join('\n') ?? '';
    let stderr: string = [upstreamStderr, typeof r.stderr === 'string' ? r.stderr : ''].filter(Boolean).join('\n');
    let exitCode: number = typeof r.exitCode === 'number' ? r.exitCode : 1;
    const failedUpstream = r.pipedFrom?.find((p: any) => p.failed);
    if (failedUpstream && exitCode === 0) exitCode = failedUpstream.exitCode ?? 1;
    if (r.code === 'ENOENT' || failedUpstream?.code === 'ENOENT') {
      const bin = failedUpstream?.code === 'ENOENT' ? cmds[0]!.bin : cmds[cmds.length - 1]!.bin;
      exitCode = 127;
      stderr = `${bin}: not found (spawn ENOENT)`;
    } else if (r.timedOut) {
      exitCode = 124;
      stderr += `\ntimed out after ${Math.round((options.timeoutMs ?? this.defaultTimeoutMs) / 1000)} s`;
    }
    if (options.secretOutput) this.addSecret(stdout.trim());
    const ok = !r.failed && !failedUpstream && exitCode === 0;
    return { command, exitCode, stdout: this.mask(stdout), stderr: this.mask(stderr), ok, dryRun: false };
  }

  private async streamLines(stream: NodeJS.ReadableStream): Promise<void> {
    let buffered = '';
    for await (const chunk of stream) {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const l of lines) this.echoSink(`  ${this.mask(l)}`);
    }
    if (buffered) this.echoSink(`  ${this.mask(buffered)}`);
  }

  /**
   * Stage a secret in a 0600 file inside a private 0700 directory for `file://` arguments,
   * and remove it afterwards, whatever happens.
   */
  async withSecretFile<T>(content: string, use: (path: string) => Promise<T>): Promise<T> {
    this.addSecret(content);
    if (this.dryRun) return use('<SECRET_FILE>');
    let dir: string;
    try {
      dir = mkdtempSync(join(tmpdir(), 'llmops-secret-'));
    } catch (error: any) {
      throw new Error(
        `Cannot stage a secret: the temp directory ${tmpdir()} is not writable (${error.code}); set TMPDIR to a writable private directory`,
      );
    }
    try {
      const file = join(dir, 'secret');
      try {
        writeFileSync(file, content, { mode: 0o600, flag: 'wx' });
      } catch (error: any) {
        throw new Error(`Cannot stage a secret in ${dir} (${error.code}); free space or set TMPDIR to a writable private directory`);
      }
      return await use(file);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
