// The .env files: which are in effect (LLMOPS_ENV_FILE, .env, .env.<environment>), each line checked before
// dotenv reads it, merged (later files win), exported to the commands the scripts start; unknown and misspelt
// names reported.
import { quote } from './command.js';
import { userPath } from './flags.js';
import { accessSync, constants, existsSync, lstatSync, readFileSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import dotenv from 'dotenv';
import type { ConfigProblem } from './errors.js';
import { PREFIX } from './schema.js';
import { closest, misspelling, OTHER_TOOLS, prefixed, readBare, SETTING_NAMES, TOOLKIT_VARIABLES } from './variables.js';

/** One env file's variables and the problems of its lines. Problems never quote a value: it may be a secret. */
export interface EnvFile {
  path: string;
  vars: Record<string, string>;
  problems: ConfigProblem[];
}

/**
 * Check a .env text line by line before dotenv parses it: dotenv silently cuts `abc#def` to `abc` and skips
 * lines that are not NAME=value. An unquoted value may carry a comment after white space (`X=1  # note`).
 */
export function envLineProblems(text: string, path: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const lines = text.split(/\r?\n/);
  let open: string | undefined;
  lines.forEach((line, i) => {
    const where = `${path}:${i + 1}`;
    if (open) {
      if (line.includes(open)) open = undefined;
      return;
    }
    const t = line.trim();
    if (!t || t.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=(\s*)(.*)$/.exec(t);
    if (!m) {
      problems.push({ variable: where, message: 'not a NAME=value line (a comment starts with "#")' });
      return;
    }
    const [, key, space, value] = m as unknown as [string, string, string, string];
    const q = value[0];
    if (q === '"' || q === "'" || q === '`') {
      const end = value.indexOf(q, 1);
      if (end < 0) open = q;
      else if (
        value.slice(end + 1).trim() &&
        !value
          .slice(end + 1)
          .trim()
          .startsWith('#')
      ) {
        problems.push({ variable: key, message: `${where}: text after the closing quote; put the whole value inside the quotes` });
      }
      return;
    }
    const hash = value.indexOf('#');
    // `X=1  # note` and `X= # note` are comments; `X=abc#def` and `X=#abc` would silently lose the value
    if (hash >= 0 && (hash > 0 ? !/\s/.test(value[hash - 1]!) : space === '')) {
      problems.push({
        variable: key,
        message: `${where}: unquoted "#" inside the value would cut it there (dotenv reads the rest as a comment); quote the value: ${key}='…#…'`,
      });
    }
  });
  if (open) problems.push({ variable: path, message: `a value opened with ${open} is never closed` });
  return problems;
}

const isLink = (path: string) => {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
};

/** Read one env file; a missing, unreadable or non-file path is a problem naming it (never a bare EISDIR). */
export function readEnvFile(path: string, required = true): EnvFile {
  const out: EnvFile = { path, vars: {}, problems: [] };
  const problem = (message: string) => out.problems.push({ variable: 'LLMOPS_ENV_FILE', value: path, message });
  if (!existsSync(path)) {
    // a link that leads nowhere (its target gone, or a loop) is not "no .env": the defaults would be used silently
    if (isLink(path))
      problem('is a symbolic link that leads nowhere (its target is missing, or the links loop): fix the link or remove it');
    else if (required) problem('no such file: create it, or fix the path (LLMOPS_ENV_FILE lists env files, comma-separated)');
    return out;
  }
  if (!statSync(path).isFile()) {
    problem('is not a regular file (a directory?): name the env file itself');
    return out;
  }
  try {
    accessSync(path, constants.R_OK);
  } catch {
    problem(`cannot be read by this user: fix its permissions (chmod u+r ${quote(path)})`);
    return out;
  }
  const text = readFileSync(path, 'utf8');
  out.problems.push(...envLineProblems(text, path));
  out.vars = dotenv.parse(text);
  return out;
}

function unknownKeyProblems(file: EnvFile): ConfigProblem[] {
  const settings = SETTING_NAMES();
  return Object.keys(file.vars)
    .filter((k) => !settings.includes(k) && !(k.startsWith(PREFIX) && settings.includes(k.slice(PREFIX.length))))
    .filter((k) => !TOOLKIT_VARIABLES.includes(k) && !OTHER_TOOLS.test(k))
    .map((k) => ({
      k,
      guess: k.startsWith(PREFIX) || k.startsWith('AWS_') || k.startsWith('TF_') ? misspelling(k) : (closest(k, settings, Infinity) ?? ''),
    }))
    .filter(({ guess }) => guess !== undefined)
    .map(({ k, guess }) => ({
      variable: k,
      message: `unknown variable in ${file.path}${guess ? `; did you mean ${guess}?` : ''} (see .env.example)`,
    }));
}

/** Misspelt LLMOPS_*, AWS_* and TF_* names in the environment (CONTAINER_NAME and the like are simply not read). */
export function environmentProblems(env: NodeJS.ProcessEnv): ConfigProblem[] {
  const problems: ConfigProblem[] = Object.keys(env)
    .map((k) => ({ k, guess: misspelling(k) }))
    .filter(({ guess }) => guess !== undefined)
    .map(({ k, guess }) => ({
      variable: k,
      message: `unknown variable in the environment${guess ? `; did you mean ${guess}?` : ''} (unset it, or see .env.example)`,
    }));
  const e = env.LLMOPS_ENVIRONMENT;
  if (e && !ENVIRONMENT_NAME.test(e))
    problems.push({
      variable: 'LLMOPS_ENVIRONMENT',
      value: e,
      message: 'expected 1-12 lowercase letters or digits, starting with a letter (e.g. staging, production); unset it for a single stack',
    });
  return problems;
}

/** An environment's name: short, so PROJECT_NAME-ENVIRONMENT-targets stays within AWS's 32 characters. */
export const ENVIRONMENT_NAME = /^[a-z][a-z0-9]{0,11}$/;

/** LLMOPS_ENVIRONMENT when it is a valid name (an invalid one is reported by loadConfig). */
export function environmentOf(env: NodeJS.ProcessEnv): string | undefined {
  const e = env.LLMOPS_ENVIRONMENT;
  return e && ENVIRONMENT_NAME.test(e) ? e : undefined;
}

/**
 * The env files in effect: `LLMOPS_ENV_FILE` (comma-separated, later wins) or ./.env; `required` when named
 * explicitly. With an environment, its file `.env.<name>` comes right after `.env` (first when no `.env` is
 * listed, so the sandbox's file still wins over it). Beside an existing `.env` it must exist: a misspelt
 * environment name would otherwise quietly create a stack of its own. Where there is no `.env` (CI, whose
 * settings are the job's environment) it is read when present.
 */
export function envFiles(
  env: NodeJS.ProcessEnv = process.env,
  given?: string,
): { files: string[]; required: boolean; environmentFile?: string; environmentFileRequired?: boolean } {
  const named = given ?? env.LLMOPS_ENV_FILE;
  const files = named === undefined ? [resolve('.env')] : named.split(',').map((f) => (f.trim() ? resolve(userPath(f.trim(), env)) : ''));
  const environment = environmentOf(env);
  if (!environment) return { files, required: named !== undefined };
  const at = files.findIndex((f) => f && basename(f) === '.env');
  const environmentFile = at >= 0 ? `${files[at]}.${environment}` : resolve(`.env.${environment}`);
  files.splice(at + 1, 0, environmentFile);
  return { files, required: named !== undefined, environmentFile, environmentFileRequired: at >= 0 && existsSync(files[at]!) };
}

/** Read the env files in effect (later files win) with every problem of theirs. */
export function readEnvFiles(
  env: NodeJS.ProcessEnv = process.env,
  given?: string,
): { vars: Record<string, string>; files: EnvFile[]; problems: ConfigProblem[] } {
  const { files, required, environmentFile, environmentFileRequired } = envFiles(env, given);
  const problems: ConfigProblem[] = [];
  if (required && files.some((f) => !f) && (given ?? env.LLMOPS_ENV_FILE) !== '') {
    problems.push({
      variable: 'LLMOPS_ENV_FILE',
      value: given ?? env.LLMOPS_ENV_FILE,
      message: 'has an empty entry: expected file paths separated by ","',
    });
  }
  const read = files.filter(Boolean).map((f) => {
    if (f !== environmentFile) return readEnvFile(f, required);
    const file = readEnvFile(f, false);
    if (environmentFileRequired && !existsSync(f))
      file.problems.push({
        variable: 'LLMOPS_ENVIRONMENT',
        value: env.LLMOPS_ENVIRONMENT,
        message: `reads ${f}, which does not exist beside ${basename(f, `.${env.LLMOPS_ENVIRONMENT}`)}: create it with the settings that differ in this environment (it may be empty), or check the name`,
      });
    return file;
  });
  for (const f of read) problems.push(...f.problems, ...unknownKeyProblems(f));
  return { vars: mergeEnvFiles(read), files: read, problems };
}

/**
 * The env files' settings, later files winning: a setting is one setting whether a file writes it plainly
 * (BUILD_CONTEXT) or in the toolkit's namespace (LLMOPS_BUILD_CONTEXT), so a later file overrides either form.
 */
export function mergeEnvFiles(files: Pick<EnvFile, 'vars'>[]): Record<string, string> {
  const settings = SETTING_NAMES();
  const merged: Record<string, string> = {};
  for (const file of files) {
    for (const [k, v] of Object.entries(file.vars)) {
      const plain = k.startsWith(PREFIX) && settings.includes(k.slice(PREFIX.length)) ? k.slice(PREFIX.length) : k;
      delete merged[prefixed(plain)];
      merged[plain] = v;
    }
  }
  return merged;
}

/**
 * Files named in LLMOPS_ENV_FILE were asked for explicitly for this run (e.g. `.sandbox/env`): they win
 * over the environment. The default ./.env follows the dotenv convention: the environment wins.
 */
export function envFilesWin(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.LLMOPS_ENV_FILE !== undefined;
}

/**
 * Export the env files' variables to this process, so that child commands (aws, terraform, docker) and
 * the SDK see AWS_PROFILE, AWS_ENDPOINT_URL and the like. Precedence as in envFilesWin. The toolkit's own
 * settings are exported only under their LLMOPS_ names (a child never sees a bare CONTAINER_NAME from us).
 */
export function applyEnvFiles(env: NodeJS.ProcessEnv = process.env): void {
  const win = envFilesWin(env);
  const settings = SETTING_NAMES();
  for (const [k, v] of Object.entries(readEnvFiles(env).vars)) {
    const name = settings.includes(k) && !readBare(k) ? prefixed(k) : k;
    if (win || env[name] === undefined) env[name] = v;
  }
}

/** A setting's value in the environment: LLMOPS_<NAME>, or the bare name for AWS_* / TF_* settings. */
export function settingFromEnvironment(env: NodeJS.ProcessEnv, k: string): string | undefined {
  return env[prefixed(k)] ?? (readBare(k) ? env[k] : undefined);
}

/** A setting's value in the env files: LLMOPS_<NAME> wins over <NAME> in the same files. */
export function settingFromFiles(vars: Record<string, string>, k: string): string | undefined {
  return vars[prefixed(k)] ?? vars[k];
}

/** Bare toolkit names in the environment that are not read (a notice, so an old `export DESIRED_COUNT=3` is not silently lost). */
export function ignoredEnvironment(env: NodeJS.ProcessEnv = process.env): string[] {
  return SETTING_NAMES().filter((k) => !readBare(k) && env[k] !== undefined && env[prefixed(k)] === undefined);
}
