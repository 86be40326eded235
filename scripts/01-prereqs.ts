// Step 1 — check the prerequisites: aws CLI (v2 recommended), terraform >= 1.11 (write-only arguments; S3-native state locking), docker
// client and engine, git, node, AWS credentials (account, ARN, region, EXPECTED_ACCOUNT_ID guard) and the app
// checkout. Checks run concurrently; each failure prints its fix.
// Needs:    nothing (a .env is optional; see .env.example)
// Produces: a checklist on stdout; exit 0 when every required check passes, 3 otherwise
// Next:     npm run step:2 (build and test the Docker image)
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { assertAccount, getCallerIdentity, type Identity, resolveIdentity } from '../lib/aws.js';
import { isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import type { Config } from '../lib/config.js';
import { ExitCode, InterruptedError, ScriptFailure } from '../lib/errors.js';
import { installHint } from '../lib/hints.js';
import { newContext, type PipelineStep, runStep } from '../lib/pipeline.js';
import { sh, type Runner } from '../lib/run.js';

export const step: PipelineStep = {
  n: 1,
  title: 'Prerequisites',
  async run(ctx, runner, report) {
    const results = await runChecks(runner, ctx.config);
    report(formatChecklist(results));
    if (results.some((r) => r.required && r.result.status === 'fail'))
      throw new ScriptFailure('prerequisites are missing (see the checklist above)', ExitCode.PREFLIGHT);
    // who we are, as the credentials check found it (a dry run: the guide's placeholders): no step asks again
    ctx.identity = results.map((r) => r.result.identity).find(Boolean) ?? (await resolveIdentity(runner, ctx.config));
  },
};

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';
export interface CheckResult {
  status: CheckStatus;
  detail: string;
  fix?: string;
  /** Who we are, from the credentials check: the later steps use it rather than asking again. */
  identity?: Identity;
}
export interface Check {
  name: string;
  required: boolean;
  run(runner: Runner, config: Config): Promise<CheckResult>;
}

/** terraform/: write-only arguments (`password_wo`, `secret_string_wo`) need Terraform 1.11 (`use_lockfile` 1.10). */
export const MIN_TERRAFORM = '1.11.0';
/** `import.meta.dirname`, which the scripts use to find config/ and terraform/, needs Node 20.11. */
export const MIN_NODE = '20.11.0';

export function versionAtLeast(version: string, minimum: string): boolean {
  const a = version.split('.').map((n) => parseInt(n, 10) || 0);
  const b = minimum.split('.').map((n) => parseInt(n, 10) || 0);
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
}

const dryRunResult: CheckResult = { status: 'skip', detail: 'not checked (dry run)' };

/** Run a version command; a missing tool becomes a failed check with the guide's install command. */
async function probe(runner: Runner, bin: string, args: string[]): Promise<{ out: string; missing: boolean; ok: boolean } | undefined> {
  const r = await runner.run(bin, args, { nothrow: true, retries: 0, timeoutMs: 30_000 });
  if (r.dryRun) return undefined;
  return { out: `${r.stdout}\n${r.stderr}`.trim(), missing: r.exitCode === 127, ok: r.ok };
}

export const checks: Check[] = [
  {
    name: 'node',
    required: true,
    async run() {
      const v = process.versions.node;
      return versionAtLeast(v, MIN_NODE)
        ? { status: 'ok', detail: `node ${v}` }
        : {
            status: 'fail',
            detail: `node ${v} is older than ${MIN_NODE}`,
            fix: `install Node.js ${MIN_NODE} or newer (https://nodejs.org, or nvm install 22)`,
          };
    },
  },
  {
    name: 'aws CLI',
    required: true,
    async run(runner) {
      const p = await probe(runner, 'aws', ['--version']);
      if (!p) return dryRunResult;
      if (p.missing) return { status: 'fail', detail: 'aws not found', fix: installHint('aws') };
      const m = /aws-cli\/(\d+)\.(\d+)\.(\d+)/.exec(p.out);
      if (!m) return { status: 'fail', detail: `cannot read the version from: ${p.out.split('\n')[0]}`, fix: installHint('aws') };
      const version = `${m[1]}.${m[2]}.${m[3]}`;
      if (m[1] === '1') {
        return {
          status: 'warn',
          detail: `aws-cli ${version} (v1): works, but has no \`aws logs tail\` (npm run logs falls back to polling filter-log-events)`,
          fix: `v2 recommended: ${installHint('aws')}`,
        };
      }
      return { status: 'ok', detail: `aws-cli ${version}` };
    },
  },
  {
    name: 'terraform',
    required: true,
    async run(runner) {
      const p = await probe(runner, 'terraform', ['version', '-json']);
      if (!p) return dryRunResult;
      if (p.missing) return { status: 'fail', detail: 'terraform not found', fix: installHint('terraform') };
      const m = /"terraform_version"\s*:\s*"([\d.]+)"/.exec(p.out) ?? /Terraform v([\d.]+)/.exec(p.out);
      if (!m) return { status: 'fail', detail: `cannot read the version from: ${p.out.split('\n')[0]}`, fix: installHint('terraform') };
      return versionAtLeast(m[1]!, MIN_TERRAFORM)
        ? { status: 'ok', detail: `terraform ${m[1]}` }
        : { status: 'fail', detail: `terraform ${m[1]} is older than ${MIN_TERRAFORM}`, fix: installHint('terraform') };
    },
  },
  {
    name: 'docker client',
    required: true,
    async run(runner) {
      const p = await probe(runner, 'docker', ['--version']);
      if (!p) return dryRunResult;
      if (p.missing || !p.ok) return { status: 'fail', detail: 'docker not found', fix: installHint('docker') };
      return { status: 'ok', detail: p.out.split('\n')[0]! };
    },
  },
  {
    name: 'docker engine',
    required: true,
    async run(runner) {
      const p = await probe(runner, 'docker', ['info', '--format', '{{.ServerVersion}}']);
      if (!p) return dryRunResult;
      if (p.missing) return { status: 'fail', detail: 'docker not found', fix: installHint('docker') };
      const version = p.out.split('\n')[0]!.trim();
      if (!p.ok || !/^\d/.test(version)) {
        return {
          status: 'fail',
          detail: 'no Docker engine answers',
          fix: 'start it: `sudo systemctl start docker` (or `sudo dockerd &`); check DOCKER_HOST',
        };
      }
      return { status: 'ok', detail: `engine ${version}` };
    },
  },
  {
    name: 'git',
    required: true,
    async run(runner) {
      const p = await probe(runner, 'git', ['--version']);
      if (!p) return dryRunResult;
      if (p.missing || !p.ok) return { status: 'fail', detail: 'git not found', fix: installHint('git') };
      return { status: 'ok', detail: p.out.split('\n')[0]! };
    },
  },
  {
    name: 'gh CLI (optional, CI/CD secrets)',
    required: false,
    async run(runner) {
      const p = await probe(runner, 'gh', ['--version']);
      if (!p) return dryRunResult;
      if (p.missing || !p.ok) return { status: 'warn', detail: 'gh not found: set the GitHub secrets by hand', fix: installHint('gh') };
      return { status: 'ok', detail: p.out.split('\n')[0]! };
    },
  },
  {
    name: 'AWS credentials',
    required: true,
    async run(runner, config) {
      if (runner.dryRun) return { ...dryRunResult, identity: await resolveIdentity(runner, config) }; // the guide's placeholders
      runner.echoCommand('aws', ['sts', 'get-caller-identity'], 'via the SDK');
      try {
        const id = await getCallerIdentity(config.region);
        assertAccount(config, id);
        return { status: 'ok', detail: `account ${id.account}, ${id.arn}, region ${id.region}`, identity: id };
      } catch (error: any) {
        const [detail, fix] = String(error.message).split('\n  fix: ');
        return { status: 'fail', detail: detail!, fix };
      }
    },
  },
  {
    name: 'app source',
    required: true,
    async run(runner, config) {
      const context = resolve(config.app.buildContext);
      if (!existsSync(context))
        return {
          status: 'fail',
          detail: `BUILD_CONTEXT ${context} does not exist`,
          fix: 'set BUILD_CONTEXT in .env to the app checkout (git clone https://github.com/your-username/llmops-system.git)',
        };
      const dockerfile = join(context, config.app.dockerfile);
      if (!existsSync(dockerfile))
        return {
          status: 'fail',
          detail: `DOCKERFILE ${dockerfile} does not exist`,
          fix: 'set DOCKERFILE (relative to BUILD_CONTEXT) in .env',
        };
      const branch = await runner.run(sh`git -C ${context} rev-parse --abbrev-ref HEAD`, { nothrow: true, timeoutMs: 15_000 });
      if (branch.dryRun) return dryRunResult;
      if (!branch.ok)
        return {
          status: 'fail',
          detail: `${context} is not a git checkout with a commit (images are tagged with the git SHA)`,
          fix: `git -C ${context} init && git -C ${context} add -A && git -C ${context} commit -m "Initial commit"`,
        };
      const status = await runner.run(sh`git -C ${context} status --porcelain`, { nothrow: true, timeoutMs: 15_000 });
      const dirty = status.stdout.trim().split('\n').filter(Boolean).length;
      const where = `branch ${branch.stdout.trim()} in ${context}`;
      return dirty
        ? {
            status: 'warn',
            detail: `${where}: ${dirty} uncommitted change(s); the image tag will end in -dirty-<hash> (refused in CI)`,
            fix: 'commit or stash your changes',
          }
        : { status: 'ok', detail: `${where}, clean` };
    },
  },
];

const MARK: Record<CheckStatus, string> = { ok: '✓', warn: '!', fail: '✗', skip: '-' };

export interface CheckRow {
  name: string;
  required: boolean;
  result: CheckResult;
}

/**
 * Every check, side by side; a failed check is a row with its fix. An interrupt stops them all, but only once
 * every check has settled: returning while a command still runs would leave it behind, with this script's
 * signal handling already gone (a second Ctrl-C could then not stop it).
 */
export async function runChecks(runner: Runner, config: Config): Promise<CheckRow[]> {
  const settled = await Promise.allSettled(
    checks.map(async (c) => {
      const result = await c.run(runner, config).catch((error: unknown): CheckResult => {
        if (error instanceof InterruptedError) throw error;
        return { status: 'fail', detail: error instanceof Error ? error.message : String(error) };
      });
      return { name: c.name, required: c.required, result };
    }),
  );
  const interrupted = settled.find((r) => r.status === 'rejected');
  if (interrupted) throw interrupted.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<CheckRow>).value);
}

export function formatChecklist(results: CheckRow[]): string {
  const lines = results.map(
    ({ name, result }) =>
      `${MARK[result.status]} ${name}: ${result.detail}${result.fix && result.status !== 'ok' ? `\n    fix: ${result.fix}` : ''}`,
  );
  const failed = results.filter((r) => r.required && r.result.status === 'fail').length;
  const warned = results.filter((r) => r.result.status === 'warn' || (!r.required && r.result.status === 'fail')).length;
  lines.push(failed ? `✗ ${failed} required check(s) failed.` : `✓ all required checks passed${warned ? ` (${warned} warning(s))` : ''}.`);
  return lines.join('\n');
}

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'step:1',
  async main({ runner, config, yes }: ScriptContext) {
    await runStep(step, newContext(config, runner, yes));
  },
};

if (isMain(import.meta.url)) await main(spec);
