// Flag values: the spec of one option and the parsers that check a value at the boundary, before anything
// runs. A module of its own, imported by cli.ts and by the libs that declare options (lock.ts).
import { isAbsolute, resolve } from 'node:path';
import { accessSync, constants, existsSync, statSync } from 'node:fs';

export type OptionSpec = {
  type: 'string' | 'boolean';
  short?: string;
  description: string;
  /** What the value is, in the help and in messages: `--lock-wait <seconds>` (default: the flag's own name). */
  placeholder?: string;
  default?: string | boolean;
  /**
   * Checked at the boundary, before anything runs (dry-run included); the value it returns replaces the
   * string in `options`. It throws a message (what is expected) to refuse the value.
   */
  parse?: (raw: string) => unknown;
};

/** Value parsers for OptionSpec.parse: each throws what it expects. */
export const integer =
  (min: number, max: number) =>
  (raw: string): number => {
    const n = Number(raw);
    if (!/^\d{1,9}$/.test(raw) || n < min || n > max) throw new Error(`expects a whole number from ${min} to ${max}`);
    return n;
  };
export const matching =
  (re: RegExp, what: string) =>
  (raw: string): string => {
    if (!re.test(raw)) throw new Error(`expects ${what}`);
    return raw;
  };
/** A path to an existing, readable regular file. */
/**
 * A relative path the user typed (in the environment or on the command line) means the directory they were
 * in: under `npm run` the script runs in the repository, and npm names the user's directory INIT_CWD.
 */
export function userPath(path: string, env: NodeJS.ProcessEnv = process.env): string {
  return isAbsolute(path) || !env.INIT_CWD ? path : resolve(env.INIT_CWD, path);
}

export const readableFile = (given: string): string => {
  const raw = userPath(given);
  if (!existsSync(raw)) throw new Error('expects an existing file: no such file');
  if (!statSync(raw).isFile()) throw new Error('expects a file, not a directory');
  try {
    accessSync(raw, constants.R_OK);
  } catch {
    throw new Error('expects a file this user can read');
  }
  return raw;
};

/** CI: set to anything but "", "false" or "0" (CI=false is how a user says "not CI"). */
export function isCI(env: NodeJS.ProcessEnv = process.env): boolean {
  return !!env.CI && !['false', '0'].includes(env.CI.trim().toLowerCase());
}

/**
 * The scan gate's exception, for the scripts that register a release (bootstrap, deploy, step:6): findings at or
 * above SCAN_SEVERITY accepted for one image digest, with the reason the release's tags keep.
 */
export const SCAN_ALLOW_OPTIONS: Record<string, OptionSpec> = {
  'allow-findings': {
    type: 'string',
    placeholder: 'sha256:digest',
    description: 'deploy this image although its scan has findings at or above SCAN_SEVERITY (this digest only; with --reason)',
    parse: matching(/^sha256:[0-9a-f]{64}$/, 'an image digest, sha256: and 64 hex digits (the gate prints it)'),
  },
  reason: {
    type: 'string',
    placeholder: 'text',
    description: "why the findings are accepted: kept in the release's tags (llmops:scan-allowed)",
    parse: matching(/^[^\x00-\x1f\x7f]{8,256}$/u, '8-256 characters on one line: why the findings are accepted'),
  },
};
export const SCAN_ALLOW_REQUIRES: Record<string, string> = { 'allow-findings': 'reason', reason: 'allow-findings' };

/** The scan gate's exception from the parsed flags, for the pipeline context. */
export const scanAllowOf = (options: Record<string, any>) =>
  options['allow-findings'] ? { digest: options['allow-findings'] as string, reason: options.reason as string } : undefined;
