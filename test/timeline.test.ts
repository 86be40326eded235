// The deploy's timeline (issue 31): one record of phases drawn as the end-of-run table, the job summary's Mermaid
// gantt and the release record's JSON; what docker push moved. The waiter's milestones: waiter.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../lib/config.js';
import { jobSummary, type PipelineContext } from '../lib/pipeline.js';
import { Runner } from '../lib/run.js';
import { addVerifyPhases, mermaidGantt, Timeline, timelineRecord, timelineTable } from '../lib/timeline.js';
import { layersPushed } from '../scripts/05-push.js';

const T0 = Date.UTC(2026, 11, 4, 10, 0, 0);
const deploy = () => {
  const t = new Timeline(T0);
  t.add('2. Build and smoke-test', T0, T0 + 12_000);
  t.add('5. Push the image to ECR', T0 + 12_000, T0 + 20_500);
  t.add('docker push', T0 + 13_000, T0 + 20_000, '2 layer(s) pushed, 5 already in ECR');
  t.add('7. Verify the deployment', T0 + 22_000, T0 + 61_000);
  return t;
};

test('phases in the order they started, a step before the phases inside it; impossible ones are left out', () => {
  const t = deploy();
  t.add('no start', undefined, T0);
  t.add('backwards', T0 + 5000, T0 + 1000);
  t.add('not a number', Number.NaN, T0);
  t.add('no end', T0, undefined);
  t.add('infinite', T0, Number.POSITIVE_INFINITY);
  t.add('instant', T0 + 61_000, T0 + 61_000);
  assert.equal(
    t.ordered().map((p) => p.name),
    ['2. Build and smoke-test', '5. Push the image to ECR', 'docker push', '7. Verify the deployment', 'instant'],
  );
  // two starting together: the longer (the step) first
  const same = new Timeline(T0);
  same.add('inner', T0, T0 + 1000);
  same.add('outer', T0, T0 + 5000);
  assert.equal(
    same.ordered().map((p) => p.name),
    ['outer', 'inner'],
  );
});

test("step 7's phases from the waiter's milestones; none for a deployment already healthy at the first look", () => {
  const m = {
    created: T0,
    pullStarted: T0 + 1000,
    pullStopped: T0 + 3000,
    started: T0 + 4000,
    firstHealthy: T0 + 6500,
    allHealthy: T0 + 9000,
    oldOut: T0 + 9500,
    firstLook: T0,
  };
  const t = new Timeline(T0);
  addVerifyPhases(t, m);
  assert.equal(
    t.ordered().map((p) => [p.name, p.start - T0, p.end - T0, p.detail]),
    [
      ['tasks provisioning', 0, 1000, undefined],
      ['image pull', 1000, 3000, undefined],
      ['container start', 3000, 4000, undefined],
      ['health checks', 4000, 9000, 'first healthy after 2.5 s'],
      ['old tasks out', 9000, 9500, undefined],
    ],
  );
  const steady = new Timeline(T0);
  addVerifyPhases(steady, { ...m, allHealthy: T0 + 100, firstLook: T0 + 100 });
  assert.equal(steady.phases, [], 'healthy before this run looked');
  addVerifyPhases(steady, undefined);
  assert.equal(steady.phases, []);
  const unseen = new Timeline(T0);
  addVerifyPhases(unseen, { started: T0 + 4000, allHealthy: T0 + 9000 });
  assert.equal(
    unseen.phases.map((p) => [p.name, p.detail]),
    [['health checks', undefined]],
    'no first-healthy poll: no detail',
  );
  const noStart = new Timeline(T0);
  addVerifyPhases(noStart, { firstHealthy: T0 + 5000, allHealthy: T0 + 9000, oldOut: T0 + 9100 });
  assert.equal(
    noStart.phases.map((p) => [p.name, p.detail]),
    [['old tasks out', undefined]],
  );
});

test('the table: seconds from the start, how long, what it moved', () => {
  assert.equal(timelineTable(deploy()), [
    '  phase                        from       to     took',
    '  2. Build and smoke-test       0.0     12.0   12.0 s',
    '  5. Push the image to ECR     12.0     20.5    8.5 s',
    '  docker push                  13.0     20.0    7.0 s  2 layer(s) pushed, 5 already in ECR',
    '  7. Verify the deployment     22.0     61.0   39.0 s',
  ]);
  assert.equal(timelineTable(new Timeline()), [], 'nothing recorded: no table');
});

test("the gantt: Mermaid's, in milliseconds from the start, names without Mermaid's syntax characters", () => {
  const t = deploy();
  t.add('scan: gate; #1', T0 + 20_500.4, T0 + 21_000.6);
  const g = mermaidGantt(t, 'llmops-service deploy');
  assert.equal(g.split('\n'), [
    '```mermaid',
    'gantt',
    '  title llmops-service deploy',
    '  dateFormat x',
    '  axisFormat %M:%S',
    '  2. Build and smoke-test : p0, 0, 12000',
    '  5. Push the image to ECR : p1, 12000, 20500',
    '  docker push : p2, 13000, 20000',
    '  scan  gate   1 : p3, 20500, 21001',
    '  7. Verify the deployment : p4, 22000, 61000',
    '```',
  ]);
  assert.is(mermaidGantt(new Timeline()), '');
  assert.match(mermaidGantt(deploy()), '\n  title Deploy timeline\n', 'the default title');
  const short = new Timeline(T0);
  short.add(' spaced ', T0, T0);
  assert.match(mermaidGantt(short), '\n  spaced : p0, 0, 1\n', 'trimmed; at least one millisecond long');
});

test('the record: the start as ISO time, each phase in seconds (one decimal)', () => {
  assert.equal(timelineRecord(deploy()), {
    startedAt: '2026-12-04T10:00:00.000Z',
    phases: [
      { name: '2. Build and smoke-test', from: 0, to: 12 },
      { name: '5. Push the image to ECR', from: 12, to: 20.5 },
      { name: 'docker push', from: 13, to: 20, detail: '2 layer(s) pushed, 5 already in ECR' },
      { name: '7. Verify the deployment', from: 22, to: 61 },
    ],
  });
});

test('the job summary draws the gantt from the same phases', () => {
  const ctx: PipelineContext = {
    config: loadConfig({ env: {}, envFile: '' }),
    runner: new Runner(),
    yes: true,
    durations: {},
    timeline: deploy(),
  };
  assert.ok(jobSummary(ctx).includes(mermaidGantt(deploy(), 'llmops-service deploy')));
  assert.not.match(jobSummary({ ...ctx, timeline: new Timeline() }), 'mermaid');
});

test('docker push: its layers pushed and those ECR had, from its per-layer lines', () => {
  const out = [
    'The push refers to repository [123456789012.dkr.ecr.us-east-1.amazonaws.com/llmops-system]',
    '5f70bf18a086: Pushed',
    'a1b2c3d4e5f6: Layer already exists',
    '0a1b2c3d4e5f: Layer already exists',
    'abc: digest: sha256:0000000000000000000000000000000000000000000000000000000000000000 size: 1234',
  ].join('\n');
  assert.is(layersPushed(out), '1 layer(s) pushed, 2 already in ECR');
  assert.is(layersPushed(''), undefined);
});

test.run();
