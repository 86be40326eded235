// What every script shares: flags (--help, --dry-run, --yes), config loading, the runner,
// and one place that turns errors into a message and an exit code that means something.
import { realpathSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { AccountGuardError, CredentialsError } from './aws.js';
import { applyEnvFiles, ConfigError, loadConfig, secretValues, type Config } from './config.js';
import { LockedError } from './lock.js';
import { CommandError, hintFor, InterruptedError, Runner, SecretInArgvError, stopCleanlyOnSignals } from './run.js';

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
  constructor(message: string, readonly exitCode: number = ExitCode.FAILED) {
    super(message);
    this.name = 'ScriptFailure';
  }
}

type OptionSpec = { type: 'string' | 'boolean'; short?: string; description: string; default?: string | boolean; multiple?: boolean };

export interface ScriptContext {
  config: Config;
  runner: Runner;
  options: Record<string, any>;
  positionals: string[];
  dryRun: boolean;
  /** No prompts: `--yes`, CI, or no TTY. */
  yes: boolean;
}

export interface ScriptSpec {
  /** `npm run <command>` that runs it. */
  command: string;
  summary: string;
  needs: string;
  produces: string;
  next?: string;
  options?: Record<string, OptionSpec>;
  usage?: string;
  main(ctx: ScriptContext): Promise<number | void>;
}

const COMMON: Record<string, OptionSpec> = {
  help: { type: 'boolean', short: 'h', description: 'show this help and exit' },
  'dry-run': { type: 'boolean', description: 'print every command in order without running anything' },
  yes: { type: 'boolean', short: 'y', description: 'no prompts (implied in CI and when not on a TTY)' },
};

export function helpText(spec: ScriptSpec): string {
  const all = { ...spec.options, ...COMMON };
  const width = Math.max(...Object.entries(all).map(([k, o]) => flagLabel(k, o).length));
  const lines = Object.entries(all).map(([k, o]) => `  ${flagLabel(k, o).padEnd(width)}  ${o.description}${o.default !== undefined && o.default !== false ? ` (default: ${o.default})` : ''}`);
  return [
    `npm run ${spec.command} -- [options]${spec.usage ? ` ${spec.usage}` : ''}`,
    '',
    spec.summary,
    '',
    `Needs:    ${spec.needs}`,
    `Produces: ${spec.produces}`,
    ...(spec.next ? [`Next:     ${spec.next}`] : []),
    '',
    'Options:',
    ...lines,
    '',
    `Exit codes: 0 ok, 1 failed, 2 bad configuration or flags (nothing run), 3 preflight failed (nothing changed),`,
    `            4 deployment rolled back, 5 timed out, 6 another deploy (or terraform run) holds the lock,`,
    `            130 interrupted by Ctrl-C (143: SIGTERM) after the running command stopped cleanly.`,
    'Configuration comes from .env and the environment (see .env.example).',
  ].join('\n');
}

function flagLabel(key: string, o: OptionSpec): string {
  return `${o.short ? `-${o.short}, ` : '    '}--${key}${o.type === 'string' ? ' <value>' : ''}`;
}

/** Parse flags, load config, run main, map every error to a message and an exit code. */
export async function runScript(spec: ScriptSpec, argv: string[] = process.argv.slice(2)): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...spec.options, ...COMMON } as any, allowPositionals: true, strict: true });
  } catch (error: any) {
    process.stderr.write(`${error.message}\nRun \`npm run ${spec.command} -- --help\` for the options.\n`);
    return ExitCode.USAGE;
  }
  const values = parsed.values as Record<string, any>;
  if (values.help) {
    process.stdout.write(`${helpText(spec)}\n`);
    return ExitCode.OK;
  }
  let runner: Runner | undefined;
  const restoreSignals = stopCleanlyOnSignals();
  try {
    const config = loadConfig();
    applyEnvFiles();
    const dryRun = !!values['dry-run'];
    runner = new Runner({ dryRun, secrets: secretValues(config) });
    const yes = !!values.yes || !!process.env.CI || !process.stdin.isTTY;
    const code = await spec.main({ config, runner, options: values, positionals: parsed.positionals, dryRun, yes });
    return code ?? ExitCode.OK;
  } catch (error) {
    return reportError(error, runner, spec.command);
  } finally {
    restoreSignals();
  }
}

export function reportError(error: unknown, runner?: Runner, command?: string): number {
  const mask = (s: string) => (runner ? runner.mask(s) : s);
  const say = (s: string) => process.stderr.write(`${mask(s)}\n`);
  if (error instanceof ConfigError || error instanceof UsageError) {
    say(`✗ ${error.message}`);
    return ExitCode.USAGE;
  }
  if (error instanceof AccountGuardError || error instanceof CredentialsError) {
    say(`✗ ${error.message}`);
    return ExitCode.PREFLIGHT;
  }
  if (error instanceof LockedError) {
    say(`✗ ${error.message}`);
    return ExitCode.LOCKED;
  }
  if (error instanceof ScriptFailure) {
    say(`✗ ${error.message}`);
    return error.exitCode;
  }
  if (error instanceof InterruptedError) {
    say(`✗ ${error.message}`);
    if (error.detail !== 'not started') say(`  It was asked to stop cleanly and has stopped (terraform finishes the resource in progress, saves the state and releases its lock).`);
    say(`  rerun: ${error.rerun ?? (command ? `npm run ${command}` : 'the same command')} — every step is safe to rerun and resumes from what exists.`);
    return error.signal === 'SIGTERM' ? 143 : ExitCode.INTERRUPTED;
  }
  if (error instanceof CommandError || error instanceof SecretInArgvError) {
    say(`✗ ${error.message}`);
    return error instanceof CommandError && /Error acquiring the state lock/.test(error.message) ? ExitCode.LOCKED : ExitCode.FAILED;
  }
  const e = error as Error & { code?: string };
  say(`✗ ${e?.message ?? String(error)}`);
  const hint = hintFor(`${e?.name} ${e?.code} ${e?.message}`);
  if (hint) say(`  fix: ${hint}`);
  if (process.env.LLMOPS_DEBUG && e?.stack) say(e.stack);
  return ExitCode.FAILED;
}

/** Ask on a TTY; `yes` answers without asking. */
export async function confirm(question: string, yes: boolean): Promise<boolean> {
  if (yes) return true;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

/** True when the module is the entry point (`tsx scripts/01-prereqs.ts`), not imported by bootstrap. */
export function isMain(importMetaUrl: string): boolean {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(importMetaUrl));
  } catch {
    return false;
  }
}

/** Entry point of a script file: `if (isMain(import.meta.url)) await main(spec)`. */
export async function main(spec: ScriptSpec): Promise<void> {
  process.exitCode = await runScript(spec);
}
