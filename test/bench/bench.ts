// npm run bench — the guide's raw commands for steps 5-7 (as a bash script, with the usual
// `aws ecs wait services-stable`) versus our steps 5-7, on a change and on a no-op, in the local sandbox.
// Needs a bootstrapped sandbox: `sudo npm run demo` first. Prints a markdown table of medians and ratios.
import { execFileSync } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { readEnvFile } from '../../lib/envfiles.js';
import { commitSampleApp } from '../../sandbox/sample-app.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const SANDBOX = resolve(process.env.LLMOPS_SANDBOX_DIR ?? join(ROOT, '.sandbox'));
const ENV_FILE = join(SANDBOX, 'env');
const env = { ...process.env, ...readEnvFile(ENV_FILE).vars, LLMOPS_ENV_FILE: ENV_FILE, LLMOPS_RENDERER: 'silent', CI: 'true' } as Record<
  string,
  string
>;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const app = join(SANDBOX, 'app');
const region = env.AWS_REGION ?? 'us-east-1';
const registry = `123456789012.dkr.ecr.${region}.amazonaws.com`;
const repo = `${registry}/llmops-system`;

const RAW = `#!/usr/bin/env bash
# The guide's steps 5-7, verbatim but for the values it leaves as placeholders, plus the usual waiter.
set -euo pipefail
TAG=$1; EP=(--endpoint-url "$AWS_ENDPOINT_URL")
aws ecr get-login-password --region ${region} "\${EP[@]}" | docker login --username AWS --password-stdin ${registry} >/dev/null
docker tag llmops-system:$TAG ${repo}:$TAG
docker push ${repo}:$TAG >/dev/null
aws ecr describe-images --repository-name llmops-system "\${EP[@]}" >/dev/null
aws ecs register-task-definition --family llmops-task --network-mode awsvpc --requires-compatibilities FARGATE \\
  --cpu 512 --memory 1024 --execution-role-arn "$EXEC_ROLE" --task-role-arn "$TASK_ROLE" \\
  --container-definitions "file://$CONTAINERS" "\${EP[@]}" >/dev/null
aws ecs update-service --cluster llmops-cluster --service llmops-service --task-definition llmops-task --force-new-deployment "\${EP[@]}" >/dev/null
aws ecs wait services-stable --cluster llmops-cluster --services llmops-service "\${EP[@]}"
aws ecs describe-services --cluster llmops-cluster --services llmops-service "\${EP[@]}" >/dev/null
aws ecs list-tasks --cluster llmops-cluster "\${EP[@]}" >/dev/null
aws elbv2 describe-target-health --target-group-arn "$TG_ARN" "\${EP[@]}" >/dev/null
`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = Date.now();
  await fn();
  return (Date.now() - t) / 1000;
}

async function ours(args: string[]) {
  const r = await execa(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/bootstrap.ts'), ...args], {
    cwd: ROOT,
    env,
    reject: false,
    all: true,
  });
  if (r.exitCode !== 0) throw new Error(`our steps failed:\n${r.all.slice(-2000)}`);
}

async function build(version: string): Promise<string> {
  commitSampleApp(app, version);
  await ours(['--only', '2', '--yes']);
  return execFileSync('git', ['-C', app, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim().slice(0, 12);
}

async function main() {
  const outputs = JSON.parse((await execa('terraform', [`-chdir=${join(ROOT, 'terraform')}`, 'output', '-json'], { env })).stdout);
  const dir = mkdtempSync(join(tmpdir(), 'llmops-bench-'));
  const script = join(dir, 'raw-steps-5-7.sh');
  writeFileSync(script, RAW, { mode: 0o755 });
  const containers = join(dir, 'ecs-task-definition.json');
  const rawEnv = {
    ...env,
    EXEC_ROLE: outputs.execution_role_arn.value,
    TASK_ROLE: outputs.task_role_arn.value,
    TG_ARN: outputs.target_group_arn.value,
    CONTAINERS: containers,
  };
  const raw = async (tag: string) => {
    writeFileSync(
      containers,
      JSON.stringify([
        {
          name: 'llmops-app',
          image: `${repo}:${tag}`,
          essential: true,
          user: '1000:1000',
          readonlyRootFilesystem: true,
          portMappings: [{ containerPort: 3000, protocol: 'tcp' }],
          mountPoints: [],
          environment: [{ name: 'PORT', value: '3000' }],
          logConfiguration: {
            logDriver: 'awslogs',
            options: { 'awslogs-group': '/ecs/llmops-task', 'awslogs-region': region, 'awslogs-stream-prefix': 'ecs' },
          },
        },
      ]),
    );
    const r = await execa('bash', [script, tag], { env: rawEnv, reject: false, all: true });
    if (r.exitCode !== 0) throw new Error(`raw script failed:\n${r.all.slice(-2000)}`);
  };
  const t = { rawChange: [] as number[], oursChange: [] as number[], rawNoop: [] as number[], oursNoop: [] as number[] };
  const stamp = Date.now();
  for (let i = 0; i < ROUNDS; i++) {
    const a = await build(`bench-${stamp}-${i}-raw`);
    t.rawChange.push(await time(() => raw(a)));
    t.rawNoop.push(await time(() => raw(a)));
    await build(`bench-${stamp}-${i}-ours`);
    t.oursChange.push(await time(() => ours(['--only', '5,6,7', '--yes'])));
    t.oursNoop.push(await time(() => ours(['--only', '5,6,7', '--yes'])));
    process.stderr.write(`round ${i + 1}/${ROUNDS}: ${JSON.stringify(Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v[i]])))}\n`);
  }
  const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)])) as Record<keyof typeof t, number>;
  const f = (x: number) => `${x.toFixed(1)} s`;
  process.stdout.write(
    [
      `Steps 5-7 in the sandbox (time scale 0.1), median of ${ROUNDS} runs, ${new Date().toISOString().slice(0, 10)}:`,
      '',
      "| run | guide's raw commands + `ecs wait services-stable` | llmops-deploy steps 5-7 | ratio (ours / raw) |",
      '|---|---|---|---|',
      `| change (new commit) | ${f(m.rawChange)} | ${f(m.oursChange)} | ${(m.oursChange / m.rawChange).toFixed(2)} |`,
      `| no-op (same commit again) | ${f(m.rawNoop)} | ${f(m.oursNoop)} | ${(m.oursNoop / m.rawNoop).toFixed(2)} |`,
      '',
      `all runs: ${JSON.stringify(t)}`,
      '',
    ].join('\n'),
  );
}

await main();
