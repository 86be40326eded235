// Errors and exit codes: what went wrong, said for the user, and the one exit code each means.
// Nothing here imports the rest of lib/, so every module can throw these without an import loop.

export const ExitCode = {
  OK: 0,
  FAILED: 1,
  /** Bad configuration, flags or input: nothing was run. */
  USAGE: 2,
  /** A precondition failed before anything changed (prerequisites, credentials, account guard). */
  PREFLIGHT: 3,
  /** The deployment failed and ECS rolled back to the previous one. */
  ROLLED_BACK: 4,
  /** Waited past the deadline; the deployment may still finish. */
  TIMEOUT: 5,
  /** Another deploy holds the deploy lock, or another terraform run the state lock. */
  LOCKED: 6,
  /** Ctrl-C (SIGINT; SIGTERM gives 143): the running command was asked to stop cleanly. */
  INTERRUPTED: 130,
} as const;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** An expected failure carrying its own exit code and a message already meant for the user. */
export class ScriptFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number = ExitCode.FAILED,
  ) {
    super(message);
    this.name = 'ScriptFailure';
  }
}

export interface ConfigProblem {
  variable: string;
  value?: string;
  message: string;
  /** Where the value came from when it is not an env file: "the environment's LLMOPS_X" (the fix goes there). */
  from?: string;
}

export class ConfigError extends Error {
  constructor(
    readonly problems: ConfigProblem[],
    readonly source: string,
  ) {
    super(formatProblems(problems, source));
    this.name = 'ConfigError';
  }
}

function formatProblems(problems: ConfigProblem[], source: string): string {
  const lines = problems.map(
    (p) =>
      `  ✗ ${p.variable}${p.value === undefined ? '' : `=${JSON.stringify(p.value)}`}${p.from ? ` (from ${p.from})` : ''}: ${p.message}`,
  );
  return `Invalid configuration (${source}): ${problems.length} problem${problems.length === 1 ? '' : 's'}\n${lines.join('\n')}\nFix them in ${source.startsWith('the ') ? '.env' : source} or the environment; .env.example documents every variable.`;
}

export interface RunResult {
  command: string;
  exitCode: number;
  stdout: string;
  stderr: string;
  ok: boolean;
  dryRun: boolean;
}

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly exitCode: number,
    readonly stderrTail: string,
    readonly hint?: string,
    readonly result?: RunResult,
  ) {
    super(
      `Command failed (exit ${exitCode}): ${command}` +
        (stderrTail
          ? `\n${stderrTail
              .split('\n')
              .map((l) => `  | ${l}`)
              .join('\n')}`
          : '') +
        (hint ? `\n  fix: ${hint}` : ''),
    );
    this.name = 'CommandError';
  }
}

/** Raised before running a command whose argv would carry a secret: a programming error. */
export class SecretInArgvError extends Error {
  constructor(bin: string) {
    super(`Refusing to run ${bin}: a secret value would appear in the process arguments (pass it on stdin or in a 0600 file)`);
    this.name = 'SecretInArgvError';
  }
}

/** The command ran (or was about to run) when Ctrl-C or SIGTERM arrived; it was asked to stop cleanly. */
export class InterruptedError extends Error {
  /** What to run next; a script may set a better one (step 4: plan again). */
  rerun?: string;
  constructor(
    readonly signal: NodeJS.Signals,
    readonly command: string,
    readonly detail = '',
  ) {
    super(
      `interrupted (${signal}) while running: ${command}` +
        (detail
          ? `\n${detail
              .split('\n')
              .map((l) => `  | ${l}`)
              .join('\n')}`
          : ''),
    );
    this.name = 'InterruptedError';
  }
}

export class AccountGuardError extends Error {
  constructor(
    readonly expected: string,
    readonly actual: string,
    readonly arn: string,
  ) {
    super(
      `Refusing to touch AWS account ${actual} (${arn}): EXPECTED_ACCOUNT_ID is ${expected}.\n` +
        `  fix: switch credentials (AWS_PROFILE) to account ${expected}, or correct EXPECTED_ACCOUNT_ID in .env`,
    );
    this.name = 'AccountGuardError';
  }
}

export class CredentialsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CredentialsError';
  }
}

/** Who holds the deploy lock, as the lock record says. */
export interface LockHolder {
  holder: string;
  host: string;
  pid: number;
  acquiredAt: string;
  what: string;
}

export class LockedError extends Error {
  constructor(
    readonly info: LockHolder | undefined,
    waitedS: number,
  ) {
    super(
      `another deploy holds the lock${info ? `: ${info.what} by ${info.holder} (pid ${info.pid} on ${info.host}) since ${info.acquiredAt}` : ''}` +
        `${waitedS ? ` — waited ${waitedS} s` : ''}.\n  fix: wait for it (--lock-wait SECONDS), or if that process is dead and the lock is not yet expired: npm run unlock`,
    );
    this.name = 'LockedError';
  }
}

/** Errors whose message is already written for the user: printed as they are, without a stack. */
export const EXPECTED_ERRORS = [
  ConfigError,
  UsageError,
  AccountGuardError,
  CredentialsError,
  LockedError,
  ScriptFailure,
  InterruptedError,
  CommandError,
  SecretInArgvError,
];

/** The exit code an error means (the one mapping: reportError prints with it, bootstrap's headline reads it). */
export function exitCodeFor(error: unknown): number {
  if (error instanceof ConfigError || error instanceof UsageError) return ExitCode.USAGE;
  if (error instanceof AccountGuardError || error instanceof CredentialsError) return ExitCode.PREFLIGHT;
  if (error instanceof LockedError) return ExitCode.LOCKED;
  if (error instanceof ScriptFailure) return error.exitCode;
  if (error instanceof InterruptedError) return error.signal === 'SIGTERM' ? 143 : ExitCode.INTERRUPTED;
  if (error instanceof CommandError) return /Error acquiring the state lock/.test(error.message) ? ExitCode.LOCKED : ExitCode.FAILED;
  return ExitCode.FAILED;
}
