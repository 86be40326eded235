// What a deploy of the checkout would change, read-only: the image (the commit against the running release's), the
// task definition against the running one, the Terraform plan by resource, the migration that would run, and the
// monthly cost. One report (its JSON schema below) printed as text, Markdown (a pull request's job summary) or JSON.
import { z } from 'zod';
import { costDelta, formatUsd as usd, monthlyEstimate, type Prices, type StackShape } from './cost.js';
import type { PlanSummary } from './infra.js';

export const DiffReportSchema = z
  .object({
    schema: z.literal(1),
    service: z.string(),
    cluster: z.string(),
    environment: z.string().nullable(),
    /** Anything at all would change. */
    changed: z.boolean(),
    image: z
      .object({
        running: z.string().nullable(),
        runningGitSha: z.string().nullable(),
        gitSha: z.string(),
        tag: z.string(),
        /** In ECR already (by digest), or built and pushed by the deploy. */
        inEcr: z.boolean(),
        changed: z.boolean(),
      })
      .strict(),
    taskDefinition: z
      .object({
        running: z.string().nullable(),
        /** The lines of the task definition that differ (`-` running, `+` proposed), ECS defaults filled. */
        changes: z.array(z.string()),
      })
      .strict(),
    infrastructure: z.discriminatedUnion('planned', [
      z
        .object({
          planned: z.literal(true),
          add: z.array(z.string()),
          change: z.array(z.string()),
          replace: z.array(z.string()),
          destroy: z.array(z.string()),
        })
        .strict(),
      z.object({ planned: z.literal(false), reason: z.string() }).strict(),
    ]),
    migration: z.object({ command: z.string().nullable(), runs: z.boolean() }).strict(),
    /** The app's own database user (null: the service connects as the master); runs: step 6 sets it first. */
    databaseUser: z.object({ user: z.string().nullable(), runs: z.boolean() }).strict(),
    cost: z
      .object({
        /** What differs between the running service and .env: `desiredCount: 2 -> 3`. */
        changes: z.array(z.string()),
        monthlyBefore: z.number(),
        monthlyAfter: z.number(),
        monthlyDelta: z.number(),
        prices: z.string(),
      })
      .strict(),
  })
  .strict();

export type DiffReport = z.infer<typeof DiffReportSchema>;

export interface DiffInputs {
  names: { service: string; cluster: string };
  environment?: string;
  runningTd?: any;
  runningTags?: Record<string, string>;
  image: { ref: string; sha: string; tag: string; inEcr: boolean };
  tdChanges: string[];
  plan: PlanSummary | { skipped: string };
  migrateCommand?: string;
  /** The app's database user, and whether the release's password version or grants differ from the running one's. */
  dbUser?: { user: string; needed: boolean };
  running?: StackShape;
  wanted: StackShape;
  prices: Prices;
}

export function buildDiff(i: DiffInputs): DiffReport {
  const runningImage: string | undefined = i.runningTd?.containerDefinitions?.[0]?.image;
  const runningSha = i.runningTags?.['llmops:git-sha'] ?? null;
  const imageChanged = !runningImage || (runningSha ? runningSha !== i.image.sha : !runningImage.startsWith(i.image.ref));
  const before = monthlyEstimate(i.running ?? i.wanted, i.prices).total;
  const { changes, delta } = i.running ? costDelta(i.running, i.wanted, i.prices) : { changes: [], delta: 0 };
  const infrastructure: DiffReport['infrastructure'] =
    'skipped' in i.plan
      ? { planned: false, reason: i.plan.skipped }
      : { planned: true, add: i.plan.added, change: i.plan.changed, replace: i.plan.replace, destroy: i.plan.destroyed };
  const infraChanged =
    infrastructure.planned &&
    [infrastructure.add, infrastructure.change, infrastructure.replace, infrastructure.destroy].some((l) => l.length);
  const report: DiffReport = {
    schema: 1,
    service: i.names.service,
    cluster: i.names.cluster,
    environment: i.environment ?? null,
    changed: imageChanged || i.tdChanges.length > 0 || !!infraChanged || changes.length > 0,
    image: {
      running: runningImage ?? null,
      runningGitSha: runningSha,
      gitSha: i.image.sha,
      tag: i.image.tag,
      inEcr: i.image.inEcr,
      changed: imageChanged,
    },
    taskDefinition: { running: i.runningTd?.taskDefinitionArn ?? null, changes: i.tdChanges },
    infrastructure,
    // step 6 migrates only when it registers a new revision
    migration: { command: i.migrateCommand ?? null, runs: !!i.migrateCommand && i.tdChanges.length > 0 },
    // and sets the app's database user before it, when the new revision's password version or grants are new
    databaseUser: { user: i.dbUser?.user ?? null, runs: !!i.dbUser?.needed && i.tdChanges.length > 0 },
    cost: {
      changes,
      monthlyBefore: before,
      monthlyAfter: Math.round((before + delta) * 100) / 100,
      monthlyDelta: delta,
      prices: `${i.prices.date}, ${i.prices.region}`,
    },
  };
  return DiffReportSchema.parse(report);
}

const signed = (n: number) => `${n >= 0 ? '+' : '-'}${usd(Math.abs(n))}`;

/** The report as lines of text, or as Markdown for a pull request (the task definition's lines in a diff block). */
export function formatDiff(r: DiffReport, markdown = false): string {
  const h = (t: string) => (markdown ? `#### ${t}` : `${t}:`);
  const item = (t: string) => (markdown ? `- ${t}` : `  ${t}`);
  const code = (t: string) => (markdown ? `\`${t}\`` : t);
  const out: string[] = [];
  out.push(
    markdown
      ? `### ${r.changed ? '📋' : '✅'} What a deploy would change — ${code(r.service)}${r.environment ? ` (${r.environment})` : ''}`
      : `What a deploy would change (${r.service} in ${r.cluster}${r.environment ? `, ${r.environment}` : ''}):`,
  );
  if (!r.changed) out.push(markdown ? '' : '', 'Nothing: the running release and the infrastructure match the checkout and .env.');
  out.push('', h('Image'));
  out.push(
    item(
      r.image.changed
        ? `${code(r.image.runningGitSha?.slice(0, 12) ?? r.image.running ?? 'none')} -> ${code(r.image.tag)}${r.image.inEcr ? ' (in ECR)' : ' (built and pushed by the deploy)'}`
        : `unchanged: ${code(r.image.tag)}`,
    ),
  );
  out.push('', h('Task definition'));
  if (!r.taskDefinition.changes.length) out.push(item('unchanged: no new revision'));
  else if (markdown) out.push('```diff', ...r.taskDefinition.changes, '```');
  else out.push(...r.taskDefinition.changes.map((l) => `  ${l}`));
  out.push('', h('Infrastructure (terraform plan)'));
  const infra = r.infrastructure;
  if (!infra.planned) out.push(item(`not planned: ${infra.reason}`));
  else {
    const rows: [string, string[]][] = [
      ['add', infra.add],
      ['change', infra.change],
      ['REPLACE', infra.replace],
      ['DESTROY', infra.destroy],
    ];
    if (rows.every(([, l]) => !l.length)) out.push(item('no changes'));
    for (const [what, list] of rows) for (const address of list) out.push(item(`${what} ${code(address)}`));
  }
  out.push('', h('Migration'));
  out.push(
    item(
      r.migration.command
        ? r.migration.runs
          ? `${code(r.migration.command)} runs once, as a one-off task, before the service update`
          : `${code(r.migration.command)} does not run (no new revision)`
        : 'none (MIGRATE_COMMAND is not set)',
    ),
  );
  out.push('', h('Database user'));
  const user = r.databaseUser.user;
  out.push(
    item(
      user
        ? r.databaseUser.runs
          ? `${code(user)} is created or given its new password (a one-off task, as the master) before the service update`
          : `${code(user)}: unchanged (the running release holds its password version and grants)`
        : 'the service connects as the master (DB_CONNECT_AS=master)',
    ),
  );
  out.push('', h('Monthly cost (estimate)'));
  out.push(
    item(
      `${usd(r.cost.monthlyBefore)} -> ${usd(r.cost.monthlyAfter)} (${signed(r.cost.monthlyDelta)})${r.cost.changes.length ? `: ${r.cost.changes.join(', ')}` : ''}; list prices of ${r.cost.prices}`,
    ),
  );
  return `${out.join('\n')}\n`;
}
