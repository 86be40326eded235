// Show the service's logs: the last --since (default 1h), --follow to keep streaming, --filter for a CloudWatch
// filter pattern, --failed for the last failed task's stream. Uses CLI v2 `aws logs tail`; with CLI v1 it polls
// filter-log-events.
// Needs:    the log group LOG_GROUP (created by Terraform)
// Produces: log lines on stdout
// Next:     npm run doctor
import { resolveIdentity } from '../lib/aws.js';
import { isMain, main, matching, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import type { Config } from '../lib/config.js';
import { sh, type Runner } from '../lib/run.js';
import { UsageError } from '../lib/errors.js';

/** "1h", "30m", "2d", "45s" -> milliseconds. */
export function parseSince(v: string): number {
  const m = /^(\d+)([smhdw])$/.exec(v);
  if (!m || Number(m[1]) < 1 || m[1]!.length > 6) throw new UsageError(`--since expects a duration such as 30m, 1h or 2d, got "${v}"`);
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as 's']!;
}

async function cliMajor(runner: Runner): Promise<number> {
  const r = await runner.run(sh`aws --version`, { nothrow: true, retries: 0 });
  return Number(/aws-cli\/(\d+)/.exec(`${r.stdout} ${r.stderr}`)?.[1] ?? 1);
}

/** The log stream of the newest task that stopped for a reason other than a deployment or scaling. */
export async function lastFailedStream(runner: Runner, config: Config): Promise<{ stream: string; reason: string } | undefined> {
  const region = ['--region', config.region, '--output', 'json'];
  const list = await runner.json(
    sh`aws ecs list-tasks --cluster ${config.names.cluster} --service-name ${config.names.service} --desired-status STOPPED ${region}`,
  );
  if (!list?.taskArns?.length) return undefined;
  const tasks =
    (await runner.json(sh`aws ecs describe-tasks --cluster ${config.names.cluster} --tasks ${list.taskArns.slice(0, 100)} ${region}`))
      ?.tasks ?? [];
  const failed = tasks
    .filter((t: any) => !/Scaling activity|deployment/.test(t.stoppedReason ?? ''))
    .sort((a: any, b: any) => String(b.stoppedAt ?? '').localeCompare(String(a.stoppedAt ?? '')))[0];
  if (!failed) return undefined;
  const td = (await runner.json(sh`aws ecs describe-task-definition --task-definition ${failed.taskDefinitionArn} ${region}`))
    ?.taskDefinition;
  const cd = td?.containerDefinitions?.[0];
  const prefix = cd?.logConfiguration?.options?.['awslogs-stream-prefix'] ?? 'ecs';
  return { stream: `${prefix}/${cd?.name}/${failed.taskArn.split('/').pop()}`, reason: failed.stoppedReason };
}

/** CLI v1 has no `logs tail`: poll filter-log-events from the last timestamp seen. */
async function pollLogs(runner: Runner, config: Config, startMs: number, follow: boolean, filter?: string): Promise<void> {
  let start = startMs;
  const seen = new Set<string>();
  for (;;) {
    const r = await runner.json(
      sh`aws logs filter-log-events --log-group-name ${config.names.logGroup} --start-time ${String(start)} ${filter ? [`--filter-pattern=${filter}`] : []} --region ${config.region} --output json`,
    );
    for (const e of r?.events ?? []) {
      if (seen.has(e.eventId)) continue;
      seen.add(e.eventId);
      process.stdout.write(`${new Date(e.timestamp).toISOString()} ${e.logStreamName} ${runner.mask(e.message)}\n`);
      start = Math.max(start, e.timestamp);
    }
    if (!follow || runner.dryRun) return;
    await new Promise((res) => setTimeout(res, 2000));
  }
}

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'logs',
  conflicts: [
    ['failed', 'follow'],
    ['failed', 'filter'],
    ['failed', 'since'],
  ],
  options: {
    since: {
      type: 'string',
      placeholder: 'duration',
      description: 'how far back: 30m, 1h, 2d',
      default: '1h',
      parse: (raw) => (parseSince(raw), raw),
    },
    follow: { type: 'boolean', short: 'f', description: 'keep streaming new lines' },
    filter: {
      type: 'string',
      placeholder: 'pattern',
      description: 'CloudWatch Logs filter pattern, e.g. ERROR',
      parse: matching(/^.{1,1024}$/, 'a filter pattern of at most 1024 characters'),
    },
    failed: { type: 'boolean', description: 'the logs of the last failed task' },
  },
  async main({ runner, config, options }: ScriptContext) {
    const sinceMs = parseSince(options.since ?? '1h');
    await resolveIdentity(runner, config);
    if (options.failed) {
      const failed = runner.dryRun ? { stream: '<STREAM>', reason: '' } : await lastFailedStream(runner, config);
      if (!failed) {
        process.stdout.write('no failed task among the recently stopped ones\n');
        return;
      }
      runner.echo(`# last failed task stopped: ${failed.reason}`);
      const r = await runner.json(
        sh`aws logs get-log-events --log-group-name ${config.names.logGroup} --log-stream-name ${failed.stream} --limit 100 --region ${config.region} --output json`,
      );
      for (const e of r?.events ?? []) process.stdout.write(`${new Date(e.timestamp).toISOString()} ${runner.mask(e.message)}\n`);
      return;
    }
    if ((await cliMajor(runner)) >= 2) {
      const follow = options.follow ? ['--follow'] : [];
      // one word with "=": a pattern such as -ERROR (exclude ERROR) must not read as an option of the aws CLI
      const filter = options.filter ? [`--filter-pattern=${options.filter}`] : [];
      // following streams the lines as they come (masked); a one-off prints them when done
      const r = await runner.run(
        sh`aws logs tail ${config.names.logGroup} --since ${options.since ?? '1h'} ${follow} ${filter} --region ${config.region}`,
        { timeoutMs: options.follow ? 24 * 3_600_000 : 120_000, stream: !!options.follow },
      );
      if (!options.follow) process.stdout.write(r.stdout);
      return;
    }
    runner.echo('# aws CLI v1 has no `logs tail`: polling filter-log-events (install CLI v2 for `aws logs tail`)');
    await pollLogs(runner, config, Date.now() - sinceMs, !!options.follow, options.filter);
  },
};

if (isMain(import.meta.url)) await main(spec);
