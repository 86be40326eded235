// The local AWS sandbox: moto on 127.0.0.1 extended so ECS deployments run real containers, a Docker engine, a
// registry that serves as ECR, the ALB answering on loopback. `up` twice is the same as once; `down` stops only what
// `up` started and removes every file it wrote.
// Needs:    Debian and root (to install docker.io, docker-registry, awscli, busybox-static; to bind 127.0.0.2:80 /
//           127.0.0.3:80 and edit /etc/hosts); python3 with moto 5.2
// Produces: .sandbox/env for LLMOPS_ENV_FILE, terraform/sandbox_override.tf, .sandbox/app (sample app git checkout)
// Next:     LLMOPS_ENV_FILE=.env,.sandbox/env npm run bootstrap (without a .env: .sandbox/env), or npm run demo
import { join, resolve } from 'node:path';
import { isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import { ExitCode, UsageError } from '../lib/errors.js';
import { mergeEnvFiles, readEnvFiles } from '../lib/envfiles.js';
import {
  envFileForScripts,
  SANDBOX_ACCOUNT,
  SANDBOX_DIR,
  sandboxDown,
  sandboxStatus,
  sandboxUp,
  userSettings,
} from '../sandbox/control.js';

/** The user's own env files (the sandbox's own env file, if named too, is not the user's). */
function ownEnvFiles(): Record<string, string> {
  const files = readEnvFiles(process.env).files.filter((f) => resolve(f.path) !== join(SANDBOX_DIR, 'env'));
  return mergeEnvFiles(files);
}

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'sandbox:<up|down|status>',
  usage: '<up|down|status>',
  positional: ['up', 'down', 'status'],
  async main({ runner, config, positionals }: ScriptContext) {
    const action = positionals[0];
    const tfDir = resolve(config.terraform.dir);
    if (action === 'up') {
      const started = Date.now();
      const s = await sandboxUp(runner, config.region, tfDir, userSettings(ownEnvFiles()));
      process.stdout.write(
        `✓ sandbox up in ${((Date.now() - started) / 1000).toFixed(1)} s: AWS on http://127.0.0.1:${s.port}, ECR ${SANDBOX_ACCOUNT}.dkr.ecr.${s.region}.amazonaws.com\n  rehearse with your own settings: LLMOPS_ENV_FILE=${envFileForScripts()} npm run bootstrap -- --yes\n`,
      );
      return ExitCode.OK;
    }
    if (action === 'down') {
      await sandboxDown(runner, tfDir);
      process.stdout.write('✓ sandbox down: processes stopped, hosts block and sandbox files removed\n');
      return ExitCode.OK;
    }
    if (action === 'status') {
      const rows = await sandboxStatus(config.region);
      for (const r of rows) process.stdout.write(`${r.ok ? '✓' : '✗'} ${r.name}: ${r.detail}\n`);
      return rows.every((r) => r.ok) ? ExitCode.OK : ExitCode.FAILED;
    }
    throw new UsageError(`expected one of up, down, status (got ${action ?? 'nothing'})`);
  },
};

if (isMain(import.meta.url)) await main(spec);
