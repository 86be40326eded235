// What every script shares: flags (--help, --dry-run, --yes), config loading, the runner,
// and one place that turns errors into a message and an exit code that means something.
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { integer, isCI, type OptionSpec } from './flags.js';
export { integer, isCI, matching, readableFile, SCAN_ALLOW_OPTIONS, SCAN_ALLOW_REQUIRES, scanAllowOf, type OptionSpec } from './flags.js';
import { applyEnvFiles, ignoredEnvironment } from './envfiles.js';
import { loadConfig, secretValues, settingOverrides, type Config } from './config.js';
import { PREFIX } from './schema.js';
import { ConfigError, EXPECTED_ERRORS, ExitCode, exitCodeFor, InterruptedError, type ConfigProblem } from './errors.js';
import { hintFor } from './hints.js';
import { Runner, stopCleanlyOnSignals } from './run.js';

// Node before 20.11 has no import.meta.dirname (the scripts find config/ and terraform/ with it): say so
// before a script's body fails with a TypeError. Step 1 checks the same floor.
{
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  if (major < 20 || (major === 20 && minor < 11)) {
    process.stderr.write(
      `✗ node ${process.versions.node} is older than 20.11, which this toolkit needs: install Node.js 20.11 or newer (nvm install 22)\n`,
    );
    process.exit(3);
  }
}

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
  /** The one positional argument it takes, if any (e.g. `up|down|status`): required, one of these. */
  positional?: string[];
  /** Pairs of flags that cannot be given together. */
  conflicts?: [string, string][];
  /** Flags that only mean something with another flag: `{ min: 'policy' }`. */
  requires?: Record<string, string>;
  /** Checks of the parsed flags together (beyond each value): problems, each naming its flag. */
  validate?(options: Record<string, any>, config: Config): string[];
  /** Problems of the configuration found before anything runs, for these flags (a step's preflight). */
  preflight?(options: Record<string, any>, config: Config): ConfigProblem[];
  /** Paths it uses that must exist before anything runs: `build` (BUILD_CONTEXT, DOCKERFILE). TF_DIR always. */
  paths?: 'build'[];
  /** `import.meta.url` of the script: its header comment (what / Needs / Produces / Next) is its --help. */
  header: string;
  options?: Record<string, OptionSpec>;
  usage?: string;
  main(ctx: ScriptContext): Promise<number | void>;
}

const COMMON: Record<string, OptionSpec> = {
  help: { type: 'boolean', short: 'h', description: 'show this help and exit' },
  'dry-run': { type: 'boolean', description: 'print every command in order without running anything' },
  yes: { type: 'boolean', short: 'y', description: 'no prompts (implied in CI and when not on a TTY)' },
  env: {
    type: 'string',
    placeholder: 'name',
    description:
      'one of several environments side by side (staging, production): .env.<name> over .env, names <project>-<name>-* (LLMOPS_ENVIRONMENT)',
  },
};

export interface ScriptHeader {
  what: string;
  needs: string;
  produces: string;
  next?: string;
}

/**
 * A script's header comment, read from its file: the lines before `Needs:` say what it does, then `Needs:`,
 * `Produces:` and `Next:`, each continued on indented lines. Written once, shown by --help.
 */
export function scriptHeader(fileUrl: string): ScriptHeader {
  const lines: string[] = [];
  for (const line of readFileSync(fileURLToPath(fileUrl), 'utf8').split('\n')) {
    if (!line.startsWith('//')) break;
    lines.push(line.replace(/^\/\/ ?/, ''));
  }
  const fields: Record<string, string[]> = { what: [] };
  let current = 'what';
  for (const line of lines) {
    const m = /^(Needs|Produces|Next):\s*(.*)$/.exec(line);
    if (m) fields[(current = m[1]!.toLowerCase())] = [m[2]!];
    else fields[current]!.push(line.trim());
  }
  const text = (k: string) => (fields[k] ?? []).join(' ').trim();
  if (!text('what') || !text('needs') || !text('produces'))
    throw new Error(`${fileURLToPath(fileUrl)}: the header comment needs what it does, then Needs: and Produces: lines`);
  return { what: text('what'), needs: text('needs'), produces: text('produces'), next: text('next') || undefined };
}

export function helpText(spec: ScriptSpec): string {
  const header = scriptHeader(spec.header);
  const all = { ...spec.options, ...COMMON };
  const width = Math.max(...Object.entries(all).map(([k, o]) => flagLabel(k, o).length));
  const lines = Object.entries(all).map(
    ([k, o]) =>
      `  ${flagLabel(k, o).padEnd(width)}  ${o.description}${o.default !== undefined && o.default !== false ? ` (default: ${o.default})` : ''}`,
  );
  return [
    `npm run ${spec.command} -- [options]${spec.usage ? ` ${spec.usage}` : ''}`,
    '',
    header.what,
    '',
    `Needs:    ${header.needs}`,
    `Produces: ${header.produces}`,
    ...(header.next ? [`Next:     ${header.next}`] : []),
    '',
    'Options:',
    ...lines,
    '',
    `Exit codes: 0 ok, 1 failed, 2 bad configuration or flags (nothing run), 3 preflight failed (nothing changed),`,
    `            4 deployment rolled back, 5 timed out, 6 another deploy (or terraform run) holds the lock,`,
    `            130 interrupted by Ctrl-C (143: SIGTERM) after the running command stopped cleanly.`,
    'Configuration comes from .env (plain names) and the environment (as LLMOPS_<NAME>, plus AWS_REGION, TF_DIR, TF_STATE_BUCKET); see .env.example.',
  ].join('\n');
}

function flagLabel(key: string, o: OptionSpec): string {
  return `${o.short ? `-${o.short}, ` : '    '}--${key}${o.type === 'string' ? ` <${placeholderOf(key, o)}>` : ''}`;
}

/** `<seconds>` for --lock-wait: the option's placeholder, else its own name (`--count <count>`). */
function placeholderOf(key: string, o: OptionSpec | undefined): string {
  return o?.placeholder ?? key;
}

/** One problem with the command line, naming the flag or argument. */
export class FlagProblems extends Error {
  constructor(
    readonly problems: string[],
    readonly command: string,
  ) {
    super(
      `${problems.length === 1 ? 'bad command line' : `bad command line: ${problems.length} problems`}\n${problems.map((p) => `  ✗ ${p}`).join('\n')}\nRun \`npm run ${command} -- --help\` for the options.`,
    );
    this.name = 'FlagProblems';
  }
}

const CONTROL = /[\x00-\x1f\x7f]/;

/**
 * The command line, checked completely: unknown flags, values of the wrong type, repeated flags with
 * different values, stray or missing positionals, conflicts, flags that need another. Every problem at once.
 */
export function parseFlags(spec: ScriptSpec, argv: string[]): { values: Record<string, any>; positionals: string[]; problems: string[] } {
  const options = { ...spec.options, ...COMMON };
  const problems: string[] = [];
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: options as any, allowPositionals: true, strict: true, tokens: true });
  } catch (error: any) {
    return { values: {}, positionals: [], problems: [String(error.message).split('\n')[0]!] };
  }
  const values = { ...(parsed.values as Record<string, any>) };
  const seen = new Map<string, unknown>();
  for (const t of parsed.tokens ?? []) {
    if (t.kind !== 'option') continue;
    const value = t.value ?? true;
    if (seen.has(t.name) && seen.get(t.name) !== value) problems.push(`--${t.name} is given twice with different values: give it once`);
    seen.set(t.name, value);
  }
  for (const [name, o] of Object.entries(options)) {
    const raw = values[name];
    if (typeof raw !== 'string') continue;
    if (CONTROL.test(raw) || raw.length > 4096) {
      problems.push(`--${name}: the value must be at most 4096 characters without control characters (newline, tab, ...)`);
      continue;
    }
    if (!o.parse) {
      // `--env ''` targeted the default stack: an empty value never stands for "none"
      if (raw.trim() === '') problems.push(`--${name} is empty: give a value, or leave the flag out`);
      continue;
    }
    try {
      values[name] = o.parse(raw);
    } catch (error: any) {
      problems.push(`--${name} ${error.message}, got ${JSON.stringify(raw.length > 60 ? `${raw.slice(0, 60)}…` : raw)}`);
    }
  }
  const positionals = parsed.positionals;
  if (spec.positional) {
    if (positionals.length === 0) problems.push(`expected one of ${spec.positional.join(', ')}`);
    else if (!spec.positional.includes(positionals[0]!))
      problems.push(`expected one of ${spec.positional.join(', ')}, got ${JSON.stringify(positionals[0])}`);
  }
  const stray = positionals.slice(spec.positional ? 1 : 0);
  if (stray.length) {
    const flagLike = Object.keys(spec.options ?? {}).find((k) => options[k]!.type === 'string');
    problems.push(
      `unexpected argument${stray.length > 1 ? 's' : ''} ${stray.map((a) => JSON.stringify(a)).join(' ')}${flagLike && /^\d+$/.test(stray[0]!) ? ` (did you mean --${flagLike} ${stray[0]}?)` : ''}: values go after their flag`,
    );
  }
  const given = (k: string) => seen.has(k);
  for (const [a, b] of spec.conflicts ?? [])
    if (given(a) && given(b)) problems.push(`--${a} and --${b} cannot be given together: choose one`);
  for (const [flag, needs] of Object.entries(spec.requires ?? {}))
    if (given(flag) && !given(needs)) problems.push(`--${flag} only applies with --${needs}`);
  return { values, positionals, problems };
}

/**
 * `npm run deploy --dry-run` (no `--`): npm takes the flag as its own config (npm_config_dry_run=true) and the
 * script never sees it, so the deploy would run for real; `--env staging` leaves npm_config_env=true and a
 * stray "staging". Under npm, each of the script's own flags found as npm config is refused, naming the fix.
 * (npm sets npm_config_yes to "" by default: only a value counts.)
 */
export function npmTookFlags(spec: ScriptSpec, env: NodeJS.ProcessEnv = process.env): string[] {
  if (!env.npm_lifecycle_event) return [];
  const took = Object.keys({ ...spec.options, ...COMMON }).filter((name) => {
    const value = env[`npm_config_${name.replace(/-/g, '_')}`];
    return name !== 'help' && value !== undefined && value !== '';
  });
  return took.map(
    (name) =>
      `--${name} went to npm, not to the script (npm_config_${name.replace(/-/g, '_')} is set): put the script's flags after --, as in \`npm run ${spec.command} -- --${name}${(spec.options?.[name] ?? COMMON[name])?.type === 'string' ? ` <${placeholderOf(name, spec.options?.[name] ?? COMMON[name])}>` : ''}\``,
  );
}

/** This toolkit's own checkout: the default BUILD_CONTEXT (`.`) when a script runs from it, never an app to deploy. */
const TOOLKIT_ROOT = join(import.meta.dirname, '..');
const isToolkit = (dir: string) => existsSync(dir) && realpathSync(dir) === realpathSync(TOOLKIT_ROOT);

/** Paths the script uses, checked before anything runs: TF_DIR always, the build's when it builds. */
export function pathProblems(config: Config, paths: ScriptSpec['paths'] = []): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const dir = (variable: string, path: string, what: string) => {
    if (!existsSync(path)) problems.push({ variable, value: path, message: `no such directory: expected ${what}` });
    else if (!statSync(path).isDirectory()) problems.push({ variable, value: path, message: `is not a directory: expected ${what}` });
    else return true;
    return false;
  };
  if (
    dir('TF_DIR', config.terraform.dir, 'the Terraform root module (the directory with the *.tf files)') &&
    !readdirSync(config.terraform.dir).some((f) => f.endsWith('.tf'))
  ) {
    problems.push({ variable: 'TF_DIR', value: config.terraform.dir, message: 'holds no *.tf file: expected the Terraform root module' });
  }
  if (paths.includes('build') && isToolkit(config.app.buildContext)) {
    // .env.example's BUILD_CONTEXT=. is this checkout: the rehearsal builds its sample app, a real account yours
    problems.push({
      variable: 'BUILD_CONTEXT',
      value: config.app.buildContext,
      message: "is this toolkit's own checkout, not your app: set BUILD_CONTEXT=<path of your app's git checkout> in .env (e.g. ../my-app)",
    });
  } else if (paths.includes('build') && dir('BUILD_CONTEXT', config.app.buildContext, 'the app checkout to build')) {
    const file = join(config.app.buildContext, config.app.dockerfile);
    if (!existsSync(file) || !statSync(file).isFile())
      problems.push({
        variable: 'DOCKERFILE',
        value: config.app.dockerfile,
        message: `${file} is not a file: expected the Dockerfile, relative to BUILD_CONTEXT`,
      });
  }
  return problems;
}

/** Parse flags, load config, check both completely (nothing runs before), run main, map errors to exit codes. */
/**
 * A reader that went away (`npm run deploy -- --dry-run | head -1`): the script ends quietly with the exit code
 * it has so far, never with an EPIPE stack trace. Any other stream error is left to the error report.
 */
export function endQuietlyOnClosedPipe(stream: NodeJS.WriteStream, exit: (code: number) => void = (c) => process.exit(c)): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
    else throw error;
  });
}

export async function runScript(spec: ScriptSpec, argv: string[] = process.argv.slice(2)): Promise<number> {
  const flags = parseFlags(spec, argv);
  flags.problems.unshift(...npmTookFlags(spec));
  if (flags.values.help) {
    process.stdout.write(`${helpText(spec)}\n`);
    return ExitCode.OK;
  }
  let config: Config | undefined;
  let configError: ConfigError | undefined;
  // --env is LLMOPS_ENVIRONMENT for this run and every command it starts
  if (typeof flags.values.env === 'string') process.env.LLMOPS_ENVIRONMENT = flags.values.env;
  try {
    config = loadConfig();
    const problems = [
      ...pathProblems(config, spec.paths),
      ...(flags.problems.length ? [] : (spec.preflight?.(flags.values, config) ?? [])),
    ];
    if (problems.length) throw new ConfigError(problems, 'the configuration');
  } catch (error) {
    if (!(error instanceof ConfigError)) return reportError(error, undefined, spec.command);
    configError = error;
  }
  if (config && !flags.problems.length && spec.validate) flags.problems.push(...spec.validate(flags.values, config));
  if (configError || flags.problems.length) {
    if (configError) process.stderr.write(`✗ ${configError.message}\n`);
    if (configError && process.env.LLMOPS_ENV_FILE === undefined && !existsSync('.env'))
      process.stderr.write(
        `note: there is no .env in ${process.cwd()}: every setting is a default. Start from the example: cp .env.example .env\n`,
      );
    if (flags.problems.length) process.stderr.write(`✗ ${new FlagProblems(flags.problems, spec.command).message}\n`);
    process.stderr.write('Nothing was run.\n');
    return ExitCode.USAGE;
  }
  const values = flags.values;
  for (const name of ignoredEnvironment())
    process.stderr.write(`note: ${name} in the environment is not read (the toolkit reads ${PREFIX}${name}; .env may say ${name})\n`);
  for (const note of settingOverrides()) process.stderr.write(`${note}\n`);
  let runner: Runner | undefined;
  const restoreSignals = stopCleanlyOnSignals();
  try {
    applyEnvFiles();
    const dryRun = !!values['dry-run'];
    runner = new Runner({ dryRun, secrets: secretValues(config!) });
    const yes = !!values.yes || isCI() || !process.stdin.isTTY;
    const code = await spec.main({ config: config!, runner, options: values, positionals: flags.positionals, dryRun, yes });
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
  const code = exitCodeFor(error);
  if (EXPECTED_ERRORS.some((k) => error instanceof k)) {
    say(`✗ ${(error as Error).message}`);
    if (error instanceof InterruptedError) {
      if (error.detail !== 'not started')
        say(
          `  It was asked to stop cleanly and has stopped (terraform finishes the resource in progress, saves the state and releases its lock).`,
        );
      say(
        `  rerun: ${error.rerun ?? (command ? `npm run ${command}` : 'the same command')} — every step is safe to rerun and resumes from what exists.`,
      );
    }
    return code;
  }
  const e = error as Error & { code?: string };
  say(`✗ ${e?.message ?? String(error)}`);
  const hint = hintFor(`${e?.name} ${e?.code} ${e?.message}`);
  if (hint) say(`  fix: ${hint}`);
  if (process.env.LLMOPS_DEBUG && e?.stack) say(e.stack);
  return code;
}

/** Ask on a TTY; `yes` answers without asking. Only "y" or "yes" (any case) is yes. */
export async function confirm(question: string, yes: boolean, input: NodeJS.ReadableStream = process.stdin): Promise<boolean> {
  if (yes) return true;
  const rl = createInterface({ input, output: process.stderr });
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
  endQuietlyOnClosedPipe(process.stdout);
  endQuietlyOnClosedPipe(process.stderr);
  process.exitCode = await runScript(spec);
}

/** The `--lock-wait` flag of every script that takes the deploy lock. */
export const LOCK_WAIT_OPTION: OptionSpec = {
  type: 'string',
  placeholder: 'seconds',
  description: "seconds to wait for another deploy's lock (0: exit 6 at once, naming the holder)",
  default: '0',
  parse: integer(0, 86_400),
};
