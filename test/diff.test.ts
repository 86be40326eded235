// npm run diff (issue 31): the report's schema, what counts as a change (image, task definition, plan, cost), when the
// migration runs, and the Markdown a pull request shows. The sandbox case in e2e-sandbox.test.ts runs the script.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../lib/config.js';
import { loadPrices, monthlyEstimate, runningShape, stackShape } from '../lib/cost.js';
import { buildDiff, DiffReportSchema, type DiffInputs, formatDiff } from '../lib/diff.js';
import { summarizePlan } from '../lib/infra.js';

const prices = loadPrices();
const wanted = stackShape(loadConfig({ env: {}, envFile: '' }), {});
const SHA = 'a'.repeat(40);
const REPO = '123456789012.dkr.ecr.us-east-1.amazonaws.com/llmops-system';
const running = {
  taskDefinitionArn: 'arn:aws:ecs:us-east-1:123456789012:task-definition/llmops-task:7',
  cpu: '512',
  memory: '1024',
  containerDefinitions: [{ image: `${REPO}@sha256:${'1'.repeat(64)}` }],
};
const NO_PLAN = summarizePlan({});

const inputs = (over: Partial<DiffInputs> = {}): DiffInputs => ({
  names: { service: 'llmops-service', cluster: 'llmops-cluster' },
  runningTd: running,
  runningTags: { 'llmops:git-sha': SHA },
  image: { ref: `${REPO}:${SHA.slice(0, 12)}`, sha: SHA, tag: SHA.slice(0, 12), inEcr: true },
  tdChanges: [],
  plan: NO_PLAN,
  running: runningShape(wanted, { desiredCount: 2 }, running),
  wanted,
  prices,
  ...over,
});

test('nothing to change: the same commit, task definition, plan and shape', () => {
  const r = buildDiff(inputs());
  assert.is(r.changed, false);
  assert.is(r.image.changed, false);
  assert.equal(r.infrastructure, { planned: true, add: [], change: [], replace: [], destroy: [] });
  assert.equal(r.cost.changes, []);
  assert.is(r.cost.monthlyDelta, 0);
  assert.is(r.cost.monthlyBefore, monthlyEstimate(wanted, prices).total);
  assert.match(formatDiff(r), 'Nothing: the running release and the infrastructure match');
});

test('each kind of change alone makes the report changed, and is named', () => {
  const commit = buildDiff(inputs({ image: { ref: `${REPO}:bbbbbbbbbbbb`, sha: 'b'.repeat(40), tag: 'bbbbbbbbbbbb', inEcr: false } }));
  assert.ok(commit.changed && commit.image.changed);
  assert.match(formatDiff(commit), `${SHA.slice(0, 12)} -> bbbbbbbbbbbb (built and pushed by the deploy)`);

  const td = buildDiff(inputs({ tdChanges: ['-   "cpu": "512",', '+   "cpu": "1024",'] }));
  assert.ok(td.changed);
  assert.not.ok(td.image.changed);

  const plan = summarizePlan({
    resource_changes: [
      { address: 'aws_db_instance.this', change: { actions: ['delete', 'create'] } },
      { address: 'aws_lb.this', change: { actions: ['update'] } },
    ],
  });
  const infra = buildDiff(inputs({ plan }));
  assert.ok(infra.changed);
  assert.equal(infra.infrastructure, { planned: true, add: [], change: ['aws_lb.this'], replace: ['aws_db_instance.this'], destroy: [] });
  assert.match(formatDiff(infra), 'REPLACE aws_db_instance.this');

  const scaled = buildDiff(inputs({ wanted: { ...wanted, desiredCount: 3 } }));
  assert.ok(scaled.changed);
  assert.equal(scaled.cost.changes, ['desiredCount: 2 -> 3']);
  assert.ok(scaled.cost.monthlyDelta > 0);
  assert.is(scaled.cost.monthlyAfter, Math.round((scaled.cost.monthlyBefore + scaled.cost.monthlyDelta) * 100) / 100);
});

test('no service yet: everything is new, and the cost is the estimate with no delta', () => {
  const r = buildDiff(inputs({ runningTd: undefined, runningTags: {}, running: undefined, tdChanges: ['+ {'] }));
  assert.ok(r.changed && r.image.changed);
  assert.is(r.image.running, null);
  assert.is(r.taskDefinition.running, null);
  assert.is(r.cost.monthlyDelta, 0);
});

test('the migration runs only with a new revision (as step 6 decides)', () => {
  assert.equal(buildDiff(inputs({ migrateCommand: '/bin/migrate' })).migration, { command: '/bin/migrate', runs: false });
  assert.equal(buildDiff(inputs({ migrateCommand: '/bin/migrate', tdChanges: ['+ x'] })).migration, {
    command: '/bin/migrate',
    runs: true,
  });
  assert.equal(buildDiff(inputs({ tdChanges: ['+ x'] })).migration, { command: null, runs: false });
  // the app's database user: set first when the new revision's password version or grants are new, and only then
  const user = (needed: boolean, tdChanges: string[]) =>
    buildDiff(inputs({ dbUser: { user: 'llmops_app', needed }, tdChanges })).databaseUser;
  assert.equal(user(true, ['+ x']), { user: 'llmops_app', runs: true });
  assert.equal(user(true, []), { user: 'llmops_app', runs: false }, 'no new revision: nothing runs');
  assert.equal(user(false, ['+ x']), { user: 'llmops_app', runs: false });
  assert.equal(buildDiff(inputs({ tdChanges: ['+ x'] })).databaseUser, { user: null, runs: false }, 'as the master');
});

test('the schema: a skipped plan says why; a report with a field missing or extra is refused', () => {
  const skipped = buildDiff(inputs({ plan: { skipped: '--skip-plan' } }));
  assert.equal(skipped.infrastructure, { planned: false, reason: '--skip-plan' });
  assert.match(formatDiff(skipped), 'not planned: --skip-plan');
  assert.ok(DiffReportSchema.safeParse(JSON.parse(JSON.stringify(skipped))).success, 'JSON round trip');
  const { cost: _cost, ...noCost } = skipped;
  assert.not.ok(DiffReportSchema.safeParse(noCost).success);
  assert.not.ok(DiffReportSchema.safeParse({ ...skipped, extra: 1 }).success);
  assert.not.ok(DiffReportSchema.safeParse({ ...skipped, infrastructure: { planned: true, add: [] } }).success);
});

test('Markdown for a pull request: a heading, the task definition in a diff block, code spans for names', () => {
  const md = formatDiff(buildDiff(inputs({ tdChanges: ['-   "cpu": "512",', '+   "cpu": "1024",'], environment: 'staging' })), true);
  assert.match(md, '### 📋 What a deploy would change — `llmops-service` (staging)');
  assert.match(md, '```diff\n-   "cpu": "512",\n+   "cpu": "1024",\n```');
  assert.match(md, '#### Monthly cost (estimate)');
  assert.not.match(formatDiff(buildDiff(inputs())), '```');
});

test('a release recorded before the git-sha tag: the image is compared by its reference; the cost changes only with a running shape', () => {
  const byTag = { ...running, containerDefinitions: [{ image: `${REPO}:${SHA.slice(0, 12)}` }] };
  assert.is(buildDiff(inputs({ runningTd: byTag, runningTags: {} })).image.changed, false, 'the same tag');
  assert.is(buildDiff(inputs({ runningTd: byTag, runningTags: undefined })).image.changed, false);
  const other = { ...running, containerDefinitions: [{ image: `x/${REPO}:${SHA.slice(0, 12)}` }] };
  assert.is(buildDiff(inputs({ runningTd: other, runningTags: {} })).image.changed, true, 'the reference must start the image');
  assert.is(buildDiff(inputs({ runningTd: { ...running, containerDefinitions: [] }, runningTags: {} })).image.running, null);
  const fresh = buildDiff(inputs({ running: undefined, wanted: { ...wanted, desiredCount: 9 } }));
  assert.equal([fresh.cost.changes, fresh.cost.monthlyDelta], [[], 0], 'no running shape: no delta');
  assert.is(buildDiff(inputs()).cost.prices, `${prices.date}, ${prices.region}`);
});

test('the whole report, as text and as Markdown: every section with its lines', () => {
  const report = DiffReportSchema.parse({
    schema: 1,
    service: 'llmops-service',
    cluster: 'llmops-cluster',
    environment: 'staging',
    changed: true,
    image: {
      running: `${REPO}@sha256:${'1'.repeat(64)}`,
      runningGitSha: 'b'.repeat(40),
      gitSha: SHA,
      tag: SHA.slice(0, 12),
      inEcr: false,
      changed: true,
    },
    taskDefinition: { running: running.taskDefinitionArn, changes: ['- cpu: 512', '+ cpu: 1024'] },
    infrastructure: {
      planned: true,
      add: ['aws_sqs_queue.jobs'],
      change: ['aws_ecs_service.app'],
      replace: ['aws_db_instance.this'],
      destroy: ['aws_s3_bucket.old'],
    },
    migration: { command: '/bin/migrate', runs: true },
    databaseUser: { user: 'llmops_app', runs: true },
    cost: { changes: ['cpu: 512 -> 1024'], monthlyBefore: 100, monthlyAfter: 129.55, monthlyDelta: 29.55, prices: '2026-11-01, us-east-1' },
  });
  assert.is(
    formatDiff(report),
    [
      'What a deploy would change (llmops-service in llmops-cluster, staging):',
      '',
      'Image:',
      `  bbbbbbbbbbbb -> ${SHA.slice(0, 12)} (built and pushed by the deploy)`,
      '',
      'Task definition:',
      '  - cpu: 512',
      '  + cpu: 1024',
      '',
      'Infrastructure (terraform plan):',
      '  add aws_sqs_queue.jobs',
      '  change aws_ecs_service.app',
      '  REPLACE aws_db_instance.this',
      '  DESTROY aws_s3_bucket.old',
      '',
      'Migration:',
      '  /bin/migrate runs once, as a one-off task, before the service update',
      '',
      'Database user:',
      '  llmops_app is created or given its new password (a one-off task, as the master) before the service update',
      '',
      'Monthly cost (estimate):',
      '  $100.00 -> $129.55 (+$29.55): cpu: 512 -> 1024; list prices of 2026-11-01, us-east-1',
      '',
    ].join('\n'),
  );
  assert.is(
    formatDiff(report, true),
    [
      '### 📋 What a deploy would change — `llmops-service` (staging)',
      '',
      '#### Image',
      `- \`bbbbbbbbbbbb\` -> \`${SHA.slice(0, 12)}\` (built and pushed by the deploy)`,
      '',
      '#### Task definition',
      '```diff',
      '- cpu: 512',
      '+ cpu: 1024',
      '```',
      '',
      '#### Infrastructure (terraform plan)',
      '- add `aws_sqs_queue.jobs`',
      '- change `aws_ecs_service.app`',
      '- REPLACE `aws_db_instance.this`',
      '- DESTROY `aws_s3_bucket.old`',
      '',
      '#### Migration',
      '- `/bin/migrate` runs once, as a one-off task, before the service update',
      '',
      '#### Database user',
      '- `llmops_app` is created or given its new password (a one-off task, as the master) before the service update',
      '',
      '#### Monthly cost (estimate)',
      '- $100.00 -> $129.55 (+$29.55): cpu: 512 -> 1024; list prices of 2026-11-01, us-east-1',
      '',
    ].join('\n'),
  );
  const quiet = DiffReportSchema.parse({
    ...report,
    environment: null,
    changed: false,
    image: { ...report.image, runningGitSha: null, running: null, inEcr: true, changed: false },
    taskDefinition: { running: null, changes: [] },
    infrastructure: { planned: false, reason: 'no state yet' },
    migration: { command: '/bin/migrate', runs: false },
    databaseUser: { user: 'llmops_app', runs: false },
    cost: { ...report.cost, changes: [], monthlyAfter: 95, monthlyDelta: -5 },
  });
  assert.is(
    formatDiff(quiet),
    [
      'What a deploy would change (llmops-service in llmops-cluster):',
      '',
      'Nothing: the running release and the infrastructure match the checkout and .env.',
      '',
      'Image:',
      `  unchanged: ${SHA.slice(0, 12)}`,
      '',
      'Task definition:',
      '  unchanged: no new revision',
      '',
      'Infrastructure (terraform plan):',
      '  not planned: no state yet',
      '',
      'Migration:',
      '  /bin/migrate does not run (no new revision)',
      '',
      'Database user:',
      '  llmops_app: unchanged (the running release holds its password version and grants)',
      '',
      'Monthly cost (estimate):',
      '  $100.00 -> $95.00 (-$5.00); list prices of 2026-11-01, us-east-1',
      '',
    ].join('\n'),
  );
  assert.match(formatDiff(quiet, true), '### ✅ What a deploy would change — `llmops-service`\n');
  const none = DiffReportSchema.parse({
    ...quiet,
    changed: true,
    image: { ...quiet.image, changed: true },
    infrastructure: { planned: true, add: [], change: [], replace: [], destroy: [] },
    migration: { command: null, runs: false },
    databaseUser: { user: null, runs: false },
    cost: { ...quiet.cost, monthlyAfter: 100, monthlyDelta: 0 },
  });
  const text = formatDiff(none);
  assert.match(text, `Image:\n  none -> ${SHA.slice(0, 12)} (in ECR)\n`);
  assert.match(text, 'Infrastructure (terraform plan):\n  no changes\n');
  assert.match(text, 'Migration:\n  none (MIGRATE_COMMAND is not set)\n');
  assert.match(text, 'Database user:\n  the service connects as the master (DB_CONNECT_AS=master)\n');
  assert.match(text, '$100.00 -> $100.00 (+$0.00); list');
});

test.run();
