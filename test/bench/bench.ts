// npm run bench — the guide's raw commands for steps 5-7 (as a bash script, with the usual
// `aws ecs wait services-stable`) versus our steps 5-7, on a change and on a no-op, in the local sandbox; then phase
// by phase on a change: the raw script's phases (timed between its commands) against the phases our deploy recorded
// (its release record, the same phases as its timeline table and job summary gantt).
// Needs a bootstrapped sandbox: `sudo npm run demo` first. Prints markdown tables of medians and ratios.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
# The guide's steps 5-7, verbatim but for the values it leaves as placeholders, plus the usual waiter; PHASE marks
# the time between its commands (epoch ms) in $PHASES.
set -euo pipefail
TAG=$1; EP=(--endpoint-url "$AWS_ENDPOINT_URL")
PHASE() { echo "$1 $(date +%s%3N)" >> "$PHASES"; }
PHASE push
aws ecr get-login-password --region ${region} "\${EP[@]}" | docker login --username AWS --password-stdin ${registry} >/dev/null
docker tag llmops-system:$TAG ${repo}:$TAG
docker push ${repo}:$TAG >/dev/null
aws ecr describe-images --repository-name llmops-system "\${EP[@]}" >/dev/null
PHASE register
aws ecs register-task-definition --family llmops-task --network-mode awsvpc --requires-compatibilities FARGATE \\
  --cpu 512 --memory 1024 --execution-role-arn "$EXEC_ROLE" --task-role-arn "$TASK_ROLE" \\
  --container-definitions "file://$CONTAINERS" "\${EP[@]}" >/dev/null
aws ecs update-service --cluster llmops-cluster --service llmops-service --task-definition llmops-task --force-new-deployment "\${EP[@]}" >/dev/null
PHASE wait
aws ecs wait services-stable --cluster llmops-cluster --services llmops-service "\${EP[@]}"
aws ecs describe-services --cluster llmops-cluster --services llmops-service "\${EP[@]}" >/dev/null
aws ecs list-tasks --cluster llmops-cluster "\${EP[@]}" >/dev/null
aws elbv2 describe-target-health --target-group-arn "$TG_ARN" "\${EP[@]}" >/dev/null
PHASE end
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

/**
 * Like the raw commands: no bake after the new tasks serve, no scan gate before the registration. An env file after
 * the sandbox's (the files LLMOPS_ENV_FILE names win over the environment, later files over earlier ones).
 */
const likeRawFile = join(mkdtempSync(join(tmpdir(), 'llmops-bench-env-')), 'like-raw.env');
writeFileSync(likeRawFile, 'BAKE_SECONDS=0\nSCAN_SEVERITY=off\n');
const LIKE_RAW = { LLMOPS_ENV_FILE: `${ENV_FILE},${likeRawFile}` };

async function ours(args: string[], extra: Record<string, string> = {}): Promise<string> {
  const r = await execa(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/bootstrap.ts'), ...args], {
    cwd: ROOT,
    env: { ...env, ...extra },
    reject: false,
    all: true,
  });
  if (r.exitCode !== 0) throw new Error(`our steps failed:\n${r.all.slice(-2000)}`);
  return r.all;
}

/** The phases our run recorded: its release record (the summary names it), seconds by phase name. */
async function recordedPhases(output: string): Promise<Record<string, number>> {
  const url = /release record: {2}(s3:\/\/\S+\.json)/.exec(output)?.[1];
  if (!url) throw new Error(`no release record in our run's summary:\n${output.slice(-1500)}`);
  const record = JSON.parse((await execa('aws', ['s3', 'cp', url, '-'], { env })).stdout);
  return Object.fromEntries(record.timeline.phases.map((p: any) => [p.name, p.to - p.from]));
}

/** The raw script's phases: the time between one PHASE mark and the next, in seconds. */
function rawPhases(file: string): Record<string, number> {
  const marks = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(' '))
    .map(([name, ms]) => [name!, Number(ms)] as const);
  return Object.fromEntries(marks.slice(0, -1).map(([name, ms], i) => [name, (marks[i + 1]![1] - ms) / 1000]));
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
    PHASES: join(dir, 'phases.txt'),
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
    rmSync(rawEnv.PHASES, { force: true });
    const r = await execa('bash', [script, tag], { env: rawEnv, reject: false, all: true });
    if (r.exitCode !== 0) throw new Error(`raw script failed:\n${r.all.slice(-2000)}`);
  };
  const t = {
    rawChange: [] as number[],
    oursChange: [] as number[],
    rawNoop: [] as number[],
    oursNoop: [] as number[],
    oursLikeRaw: [] as number[],
  };
  const phases = { raw: [] as Record<string, number>[], ours: [] as Record<string, number>[] };
  const stamp = Date.now();
  for (let i = 0; i < ROUNDS; i++) {
    const a = await build(`bench-${stamp}-${i}-raw`);
    t.rawChange.push(await time(() => raw(a)));
    phases.raw.push(rawPhases(rawEnv.PHASES));
    t.rawNoop.push(await time(() => raw(a)));
    await build(`bench-${stamp}-${i}-ours`);
    let output = '';
    t.oursChange.push(await time(async () => (output = await ours(['--only', '5,6,7', '--yes']))));
    phases.ours.push(await recordedPhases(output));
    t.oursNoop.push(await time(() => ours(['--only', '5,6,7', '--yes'])));
    await build(`bench-${stamp}-${i}-like-raw`);
    t.oursLikeRaw.push(await time(() => ours(['--only', '5,6,7', '--yes'], LIKE_RAW)));
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
      `| change, like the raw commands (BAKE_SECONDS=0, SCAN_SEVERITY=off) | ${f(m.rawChange)} | ${f(m.oursLikeRaw)} | ${(m.oursLikeRaw / m.rawChange).toFixed(2)} |`,
      '',
      `all runs: ${JSON.stringify(t)}`,
      '',
      ...phaseTable(phases, f),
    ].join('\n'),
  );
}

/** Phase by phase on a change: the raw script's three against our steps, and what our step 7 waited for. */
function phaseTable(phases: { raw: Record<string, number>[]; ours: Record<string, number>[] }, f: (x: number) => string): string[] {
  const med = (runs: Record<string, number>[], name: string) => {
    const xs = runs.map((r) => r[name]).filter((x): x is number => x !== undefined);
    return xs.length ? median(xs) : undefined;
  };
  const rows: [string, string | undefined, string][] = [
    ['push (login, tag, push)', 'push', '5. Push the image to ECR'],
    ['… inside step 5: docker push', undefined, 'docker push'],
    ['register the task definition, update the service', 'register', '6. Task definition and service'],
    ['… inside step 6: the scan gate', undefined, 'scan gate'],
    ['wait until it serves (`services-stable` + checks / step 7)', 'wait', '7. Verify the deployment'],
    ['… inside step 7: tasks provisioning', undefined, 'tasks provisioning'],
    ['… image pull', undefined, 'image pull'],
    ['… container start', undefined, 'container start'],
    ['… health checks', undefined, 'health checks'],
    ['… old tasks out of the load balancer', undefined, 'old tasks out'],
    ['… bake (BAKE_SECONDS: the raw commands have none)', undefined, 'bake'],
  ];
  const cell = (x: number | undefined) => (x === undefined ? '—' : f(x));
  return [
    `Phase by phase on a change, median of ${ROUNDS} runs (ours: the phases its release record holds, as its timeline table and gantt show them):`,
    '',
    "| phase | guide's raw commands | llmops-deploy |",
    '|---|---|---|',
    ...rows.map(([label, raw, ours]) => `| ${label} | ${cell(raw ? med(phases.raw, raw) : undefined)} | ${cell(med(phases.ours, ours))} |`),
    '',
  ];
}

await main();
