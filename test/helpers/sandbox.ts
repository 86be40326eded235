// A test sandbox of its own (region us-west-2, loopback addresses 127.0.0.12/13, a random port, its own
// directory, hosts block and copy of terraform/), so tests never touch a developer's sandbox.
import { cpSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './moto.js';
import { ROOT, runScriptFile, type ScriptRun } from './script.js';
import { loadConfig } from '../../lib/config.js';
import { tfNames } from '../../lib/infra.js';

export interface SandboxEnv {
  HOME: string;
  PATH: string;
  LLMOPS_SANDBOX_DIR: string;
  LLMOPS_STATE_DIR: string;
  SANDBOX_PORT: string;
  SANDBOX_EVENTS_PORT: string;
  SANDBOX_REGISTRY_IP: string;
  SANDBOX_ALB_IP: string;
  AWS_REGION?: string;
  LLMOPS_ENV_FILE?: string;
  TF_DIR: string;
  LLMOPS_DESIRED_COUNT: string;
  SANDBOX_TIME_SCALE: string;
  LLMOPS_RENDERER: string;
}

export interface TestSandbox {
  dir: string;
  env: SandboxEnv & Record<string, string>;
  /** Environment for toolkit scripts once the sandbox is up (its env file). */
  scriptEnv: Record<string, string>;
  run(script: string, args?: string[], extra?: Record<string, string>, timeoutMs?: number): Promise<ScriptRun>;
  region: string;
  /** The user's own env file, when the sandbox rehearses one (first in every LLMOPS_ENV_FILE). */
  ownEnvFile?: string;
}

/** The resource names step 3 passes to Terraform (the guide's), as TF_VAR_ variables for a run of terraform by hand. */
export function tfNameVars(): Record<string, string> {
  return Object.fromEntries(Object.entries(tfNames(loadConfig({ env: {}, envFile: '' }))).map(([k, v]) => [`TF_VAR_${k}`, v]));
}

export function copyTerraform(dest: string): string {
  mkdirSync(dest, { recursive: true });
  for (const f of readdirSync(join(ROOT, 'terraform'))) {
    if (f.endsWith('.tf') && !f.endsWith('_override.tf')) cpSync(join(ROOT, 'terraform', f), join(dest, f));
  }
  cpSync(join(ROOT, 'terraform', '.terraform.lock.hcl'), join(dest, '.terraform.lock.hcl'));
  cpSync(join(ROOT, 'terraform', 'modules'), join(dest, 'modules'), { recursive: true });
  // the dashboard body is config/dashboard-config.json, shared with the scripts
  cpSync(join(ROOT, 'config'), join(dest, '..', 'config'), { recursive: true });
  return dest;
}

/**
 * `own`: the user's own env file (PROJECT_NAME, AWS_REGION, …), rehearsed as `npm run demo` does with a
 * `.env`: `sandbox:up` reads it, and scripts layer the sandbox's env file over it. Without it the guide's
 * defaults in us-west-2.
 */
export async function testSandbox(own?: Record<string, string>): Promise<TestSandbox> {
  const dir = mkdtempSync(join(tmpdir(), 'llmops-e2e-'));
  const port = await freePort();
  const region = own?.AWS_REGION ?? 'us-west-2';
  // named .env, as in a checkout: an environment's .env.<name> goes beside it
  const ownFile = join(dir, '.env');
  if (own)
    writeFileSync(
      ownFile,
      Object.entries(own)
        .map(([k, v]) => `${k}=${v}\n`)
        .join(''),
    );
  const env: SandboxEnv = {
    HOME: process.env.HOME!,
    PATH: process.env.PATH!,
    LLMOPS_SANDBOX_DIR: join(dir, 'sandbox'),
    LLMOPS_STATE_DIR: join(dir, 'state'),
    SANDBOX_PORT: String(port),
    SANDBOX_EVENTS_PORT: String(await freePort()),
    SANDBOX_REGISTRY_IP: '127.0.0.12',
    SANDBOX_ALB_IP: '127.0.0.13',
    // the region is the own file's when there is one: the environment would win over it
    ...(own ? { LLMOPS_ENV_FILE: ownFile } : { AWS_REGION: region }),
    TF_DIR: copyTerraform(join(dir, 'terraform')),
    LLMOPS_DESIRED_COUNT: '2',
    SANDBOX_TIME_SCALE: '0.1',
    LLMOPS_RENDERER: 'simple',
  };
  const scriptEnv = { ...env, LLMOPS_ENV_FILE: [...(own ? [ownFile] : []), join(env.LLMOPS_SANDBOX_DIR, 'env')].join(',') };
  return {
    dir,
    env: env as SandboxEnv & Record<string, string>,
    scriptEnv,
    region,
    ownEnvFile: own ? ownFile : undefined,
    run: (script, args = [], extra = {}, timeoutMs = 600_000) => runScriptFile(script, args, { ...scriptEnv, ...extra }, timeoutMs),
  };
}
