// What loadConfig refuses, for the configuration tests: each problem as `variable: message`.
import { loadConfig } from '../../lib/config.js';
import { ConfigError } from '../../lib/errors.js';

/** The problems loadConfig reports for `env` (and `envFile`, none by default), as `variable: message`; [] when it loads. */
export function problemsOf(env: Record<string, string>, envFile = ''): string[] {
  try {
    loadConfig({ env, envFile });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((p) => `${p.variable}: ${p.message}`);
    throw error;
  }
  return [];
}
