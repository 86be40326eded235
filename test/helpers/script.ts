// Run a toolkit script as a user would (a separate process), with a controlled environment.
import { execa } from 'execa';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');

export interface ScriptRun { exitCode: number; stdout: string; stderr: string; all: string }

/**
 * `env` replaces the environment except for HOME; PATH defaults to an empty directory so only the tools the
 * test puts on PATH are found. LLMOPS_ENV_FILE points at a missing file unless the test sets it.
 */
export async function runScriptFile(script: string, args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 120_000): Promise<ScriptRun> {
  const r = await execa(process.execPath, ['--import', 'tsx', join(ROOT, script), ...args], {
    cwd: ROOT,
    env: { HOME: process.env.HOME, PATH: mkdtempSync(join(tmpdir(), 'llmops-emptypath-')), LLMOPS_ENV_FILE: join(mkdtempSync(join(tmpdir(), 'llmops-noenv-')), '.env'), LLMOPS_RENDERER: 'simple', ...env },
    extendEnv: false,
    reject: false,
    all: true,
    timeout: timeoutMs,
  });
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, all: r.all ?? '' };
}
