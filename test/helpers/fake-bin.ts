// Fake CLIs for unit tests only: small bash scripts on a private PATH that record their argv
// (NUL-separated, one record per call) and answer with canned output.
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FakeBins {
  dir: string;
  log: string;
  /** Every recorded call as [bin, ...args]. */
  calls(): string[][];
  add(name: string, body: string): void;
}

export function fakeBins(bins: Record<string, string> = {}): FakeBins {
  const dir = mkdtempSync(join(tmpdir(), 'llmops-fake-'));
  const log = join(dir, 'calls.log');
  const fb: FakeBins = {
    dir,
    log,
    calls() {
      if (!existsSync(log)) return [];
      return readFileSync(log, 'utf8')
        .split('\x1e')
        .filter(Boolean)
        .map((rec) => rec.split('\0').slice(0, -1));
    },
    add(name, body) {
      const file = join(dir, name);
      writeFileSync(file, `#!/bin/bash\n{ printf '%s\\0' "${name}" "$@"; printf '\\x1e'; } >> '${log}'\n${body}\n`);
      chmodSync(file, 0o755);
    },
  };
  for (const [name, body] of Object.entries(bins)) fb.add(name, body);
  return fb;
}

/** Canned answers of healthy tools, for a machine where everything is installed. */
export const HEALTHY_TOOLS: Record<string, string> = {
  aws: 'echo "aws-cli/2.9.19 Python/3.11.2 Linux/6.1 source/x86_64.debian.12 prompt/off"',
  terraform: 'echo \'{"terraform_version":"1.11.4","platform":"linux_amd64"}\'',
  docker: 'case "$1" in --version) echo "Docker version 28.2.2, build e6534b4";; info) echo "20.10.24";; esac',
  git: 'case "$*" in *--version*) echo "git version 2.39.5";; *rev-parse*) echo main;; *status*) ;; esac',
  gh: 'echo "gh version 2.40.0"',
};
