// Cost — the stack's monthly estimate from the price table in config/prices.json (and what .env changes against the
// running service: count and size), 7 days of hourly CPU and memory utilisation with the smallest valid Fargate size that keeps the peak under
// 70 %, the last 30 days' cost by service (Cost Explorer), and the reservation recommendation, with a clear message
// when the API has no data or is unavailable. Read-only.
// Needs:    CloudWatch metrics of the service; Cost Explorer for the cost part
// Produces: a report on stdout
// Next:     adjust TASK_CPU / TASK_MEMORY, then npm run deploy
import { resolveIdentity } from '../lib/aws.js';
import { isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import { type Config } from '../lib/config.js';
import { costDelta, formatUsd, loadPrices, monthlyEstimate, type Prices, runningShape, stackShape } from '../lib/cost.js';
import { FARGATE_SIZES } from '../lib/schema.js';
import { sh, type Runner } from '../lib/run.js';

const HEADROOM = 0.7; // size so that the observed peak uses at most 70 %

/** The smallest valid Fargate size that keeps the observed peak under 70 %. */
export function rightSize(cpu: number, memory: number, peakCpuPct: number, peakMemPct: number): { cpu: number; memory: number } {
  const needCpu = (cpu * peakCpuPct) / 100 / HEADROOM;
  const needMem = (memory * peakMemPct) / 100 / HEADROOM;
  for (const c of Object.keys(FARGATE_SIZES)
    .map(Number)
    .sort((a, b) => a - b)) {
    if (c < needCpu) continue;
    const m = FARGATE_SIZES[c]!.find((x) => x >= needMem);
    if (m) return { cpu: c, memory: m };
  }
  return { cpu: 16384, memory: 122880 };
}

/** The last line of an API error, without the HTML some endpoints answer with. */
function apiError(stderr: string, exitCode: number): string {
  const line =
    stderr
      .replace(/<[^>]+>/g, ' ')
      .replace(/\s+/g, ' ')
      .trim()
      .split(/(?<=\.) /)
      .find((l) => /error|denied|not/i.test(l)) ?? stderr.trim().split('\n').pop();
  return (line || `exit ${exitCode}`).slice(0, 160);
}

const isoSecond = (d: Date) => d.toISOString().slice(0, 19);

async function utilisation(runner: Runner, config: Config, metric: string): Promise<{ avg: number; peak: number; points: number }> {
  const now = new Date();
  const r = await runner.json(
    sh`aws cloudwatch get-metric-statistics --namespace AWS/ECS --metric-name ${metric} --dimensions Name=ClusterName,Value=${config.names.cluster} Name=ServiceName,Value=${config.names.service} --start-time ${isoSecond(new Date(now.getTime() - 7 * 86_400_000))} --end-time ${isoSecond(now)} --period 3600 --statistics Average Maximum --region ${config.region} --output json`,
  );
  const points = (r?.Datapoints ?? []) as { Average: number; Maximum: number }[];
  if (!points.length) return { avg: 0, peak: 0, points: 0 };
  return {
    avg: points.reduce((s, p) => s + p.Average, 0) / points.length,
    peak: Math.max(...points.map((p) => p.Maximum ?? p.Average)),
    points: points.length,
  };
}

/** The monthly estimate of the stack .env and Terraform describe, line by line, with the table's date and region. */
export function estimateReport(config: Config, prices: Prices = loadPrices()): string[] {
  const e = monthlyEstimate(stackShape(config), prices);
  return [
    `Monthly estimate (on-demand list prices of ${prices.date}, ${prices.region}, config/prices.json; ${config.region !== prices.region ? `your region ${config.region} may differ; ` : ''}data transfer, requests and logs not included):`,
    ...e.lines.map(([item, usd]) => `  ${item.padEnd(44)} ${formatUsd(usd).padStart(9)}`),
    `  ${'total'.padEnd(44)} ${formatUsd(e.total).padStart(9)}`,
    ...e.unknown.map((u) => `  note: ${u}`),
  ];
}

/** What .env would change against the running service (desired count, task size, CPU), and its monthly cost. */
async function runningDelta(runner: Runner, config: Config): Promise<string[]> {
  const svc = (
    await runner.json(
      sh`aws ecs describe-services --cluster ${config.names.cluster} --services ${config.names.service} --region ${config.region} --output json`,
    )
  )?.services?.[0];
  if (runner.dryRun || !svc || svc.status !== 'ACTIVE') return [];
  const td = (
    await runner.json(sh`aws ecs describe-task-definition --task-definition ${svc.taskDefinition} --region ${config.region} --output json`)
  )?.taskDefinition;
  const wanted = stackShape(config);
  const { changes, delta } = costDelta(runningShape(wanted, svc, td), wanted);
  return changes.length
    ? [
        `Against the running service (${svc.taskDefinition.split('/').pop()}): ${changes.join(', ')}: ${delta >= 0 ? '+' : ''}${formatUsd(delta)} a month`,
      ]
    : [`The running service already has this count and size (${svc.taskDefinition.split('/').pop()}).`];
}

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'cost',
  async main({ runner, config }: ScriptContext) {
    await resolveIdentity(runner, config);
    const out: string[] = [...estimateReport(config), ...(await runningDelta(runner, config))];
    const cpu = await utilisation(runner, config, 'CPUUtilization');
    const mem = await utilisation(runner, config, 'MemoryUtilization');
    out.push(`Right-sizing (${config.names.service}, now ${config.app.cpu} cpu / ${config.app.memory} MiB):`);
    if (!cpu.points && !mem.points)
      out.push('  no utilisation data in the last 7 days (is the service running? Container Insights takes a few minutes)');
    else {
      out.push(`  CPU    average ${cpu.avg.toFixed(1)} %, peak ${cpu.peak.toFixed(1)} % (${cpu.points} hours)`);
      out.push(`  memory average ${mem.avg.toFixed(1)} %, peak ${mem.peak.toFixed(1)} % (${mem.points} hours)`);
      const s = rightSize(config.app.cpu, config.app.memory, cpu.peak, mem.peak);
      out.push(
        s.cpu === config.app.cpu && s.memory === config.app.memory
          ? '  the current size fits'
          : `  suggestion: TASK_CPU=${s.cpu} TASK_MEMORY=${s.memory}`,
      );
    }
    const day = (offset: number) => new Date(Date.now() - offset * 86_400_000).toISOString().slice(0, 10);
    const ce = await runner.run(
      sh`aws ce get-cost-and-usage --time-period Start=${day(30)},End=${day(0)} --granularity MONTHLY --metrics UnblendedCost --group-by Type=DIMENSION,Key=SERVICE --region us-east-1 --output json`,
      { nothrow: true },
    );
    out.push('Cost by service, last 30 days:');
    if (!ce.ok)
      out.push(
        `  unavailable: ${apiError(ce.stderr, ce.exitCode)} (Cost Explorer must be enabled, and the caller needs ce:GetCostAndUsage)`,
      );
    else {
      const groups = (JSON.parse(ce.stdout || '{}').ResultsByTime ?? []).flatMap((r: any) => r.Groups ?? []);
      if (!groups.length) out.push('  no cost data yet (Cost Explorer needs about 24 hours after it is enabled)');
      for (const g of groups.sort((a: any, b: any) => Number(b.Metrics.UnblendedCost.Amount) - Number(a.Metrics.UnblendedCost.Amount)))
        out.push(`  ${g.Keys[0].padEnd(48)} ${Number(g.Metrics.UnblendedCost.Amount).toFixed(2)} ${g.Metrics.UnblendedCost.Unit}`);
    }
    const ri = await runner.run(
      sh`aws ce get-reservation-purchase-recommendation --service ${'Amazon Elastic Container Service'} --region us-east-1 --output json`,
      { nothrow: true, retries: 0 },
    );
    out.push("Reservation recommendation (the guide's step 2):");
    if (!ri.ok)
      out.push(
        `  unavailable: ${apiError(ri.stderr, ri.exitCode)}. Fargate has no reserved instances; a Compute Savings Plan is what discounts it (aws ce get-savings-plans-purchase-recommendation).`,
      );
    else {
      const recs = JSON.parse(ri.stdout || '{}').Recommendations ?? [];
      out.push(
        recs.length
          ? `  ${recs.length} recommendation(s): ${JSON.stringify(recs[0].RecommendationSummary ?? {})}`
          : '  none: Fargate has no reserved instances; look at Compute Savings Plans instead',
      );
    }
    process.stdout.write(`${out.join('\n')}\n`);
  },
};

if (isMain(import.meta.url)) await main(spec);
