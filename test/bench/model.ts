// npm run bench:model — a rolling deploy of a 1-2 task Fargate service on real AWS, modelled phase by phase from
// AWS's documented delays and the settings this repository deploys with (read from terraform/alb.tf and the
// toolkit's defaults, so the model follows them): the guide's way (ALB defaults, `aws ecs wait services-stable`)
// against ours. What AWS does not document (Fargate provisioning, pull throughput, the app's start) is an
// assumption, named as such and the same on both sides. Prints a markdown table (README, "Deploy speed on AWS").
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULTS } from '../../lib/schema.js';

const ROOT = resolve(import.meta.dirname, '..', '..');

/** What decides how long a rolling deploy takes. */
export interface DeploySettings {
  /** ALB health check interval (s): a newly registered target is healthy after one passing check. */
  healthCheckInterval: number;
  /** ALB deregistration delay (s): how long an old target drains. */
  deregistrationDelay: number;
  /** Whether the waiter is done only once the old tasks have drained and stopped (`services-stable`). */
  waitsForDrain: boolean;
  /** How often the waiter looks (s): half of it is lost on average. */
  pollInterval: number;
  /** Watching the new release after it serves (s). */
  bake: number;
}

/** Assumptions AWS does not document, the same for both ways. */
export const ASSUMED = {
  /** register-task-definition and update-service, round trips included (s). */
  api: 2,
  /** Fargate placement, ENI attachment and provisioning, until the image pull starts (s). */
  provisioning: 20,
  /** Image download and extraction throughput (MB/s of compressed image). */
  pullMBps: 50,
  /** The app's start, until it answers its health path (s). */
  appStart: 5,
  /** ECS deregisters the old targets once the new ones are healthy (s). */
  deregisterLag: 5,
};

/** The guide's: ALB target group defaults, and the waiter a team adds (`aws ecs wait services-stable`, every 15 s). */
export const GUIDE: DeploySettings = { healthCheckInterval: 30, deregistrationDelay: 300, waitsForDrain: true, pollInterval: 15, bake: 0 };

/** Ours, from terraform/alb.tf and the toolkit's defaults: step 7 polls every second and is done when only the new
 * tasks serve (a draining target takes no new requests), then bakes. */
export function ours(tf = readFileSync(join(ROOT, 'terraform/alb.tf'), 'utf8')): DeploySettings {
  const number = (re: RegExp, what: string) => {
    const m = re.exec(tf);
    if (!m) throw new Error(`terraform/alb.tf: no ${what}`);
    return Number(m[1]);
  };
  return {
    healthCheckInterval: number(/health_check\s*\{[^}]*?\binterval\s*=\s*(\d+)/s, 'health_check interval'),
    deregistrationDelay: number(/deregistration_delay\s*=\s*(\d+)/, 'deregistration_delay'),
    waitsForDrain: false,
    pollInterval: 1,
    bake: Number(DEFAULTS.BAKE_SECONDS),
  };
}

export interface Modelled {
  phases: [string, number][];
  /** From update-service until only the new release serves. */
  serving: number;
  /** Until the waiter says done (the drain, the poll, the bake). */
  done: number;
}

export function model(s: DeploySettings, imageMB: number): Modelled {
  const toServing: [string, number][] = [
    ['register + update-service (assumed)', ASSUMED.api],
    ['Fargate provisioning (assumed)', ASSUMED.provisioning],
    [`image pull, ${imageMB} MB at ${ASSUMED.pullMBps} MB/s (assumed)`, imageMB / ASSUMED.pullMBps],
    ['app start (assumed)', ASSUMED.appStart],
    ['first health check passes (one check, up to an interval)', s.healthCheckInterval],
    ['old targets deregistered (assumed)', ASSUMED.deregisterLag],
  ];
  const serving = toServing.reduce((a, [, x]) => a + x, 0);
  const after: [string, number][] = [
    ['old targets drain (deregistration delay)', s.waitsForDrain ? s.deregistrationDelay : 0],
    ['the waiter notices (half a poll)', s.pollInterval / 2],
    ['bake', s.bake],
  ];
  return { phases: [...toServing, ...after], serving, done: serving + after.reduce((a, [, x]) => a + x, 0) };
}

const fmt = (x: number) => (x >= 60 ? `${x.toFixed(0)} s (${(x / 60).toFixed(1)} min)` : `${x.toFixed(0)} s`);

export function modelTable(imageMB = 150): string {
  const g = model(GUIDE, imageMB);
  const o = model(ours(), imageMB);
  const big = [model(GUIDE, 1000), model(ours(), 1000)];
  return [
    `| phase | the guide's defaults | ours |`,
    '|---|---|---|',
    ...g.phases.map(([name, x], i) => `| ${name} | ${fmt(x)} | ${fmt(o.phases[i]![1])} |`),
    `| **only the new release serves** | **${fmt(g.serving)}** | **${fmt(o.serving)}** |`,
    `| **the waiter says done** | **${fmt(g.done)}** | **${fmt(o.done)}** |`,
    `| the same with a 1 GB image: serving / done | ${fmt(big[0]!.serving)} / ${fmt(big[0]!.done)} | ${fmt(big[1]!.serving)} / ${fmt(big[1]!.done)} |`,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(`${modelTable()}\n`);
