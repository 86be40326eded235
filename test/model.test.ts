// The modelled real-AWS deploy (issue 34): its settings come from terraform/alb.tf and the toolkit's defaults, so
// the README's table follows them; the guide's side is ALB's documented defaults and `services-stable`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ASSUMED, GUIDE, model, modelTable, ours } from './bench/model.js';
import { ROOT } from './helpers/script.js';

test("ours is read from terraform/alb.tf and the toolkit's defaults; a changed setting changes the model", () => {
  const tf = readFileSync(join(ROOT, 'terraform/alb.tf'), 'utf8');
  assert.equal(ours(tf), { healthCheckInterval: 10, deregistrationDelay: 30, waitsForDrain: false, pollInterval: 1, bake: 60 });
  const slower = ours(tf.replace(/(health_check\s*\{[^}]*?\binterval\s*=\s*)10/s, (_, head: string) => `${head}25`));
  assert.is(slower.healthCheckInterval, 25);
  assert.is(model(slower, 150).serving - model(ours(tf), 150).serving, 15);
  assert.throws(() => ours('resource "aws_lb" "x" {}'), /terraform\/alb.tf: no health_check interval/);
});

test('the phases add up; the guide waits for the 300 s drain and a 15 s poll, ours for neither but bakes', () => {
  const g = model(GUIDE, 150);
  const o = model(ours(), 150);
  for (const m of [g, o])
    assert.is(
      m.done,
      m.phases.reduce((a, [, x]) => a + x, 0),
    );
  const fixed = ASSUMED.api + ASSUMED.provisioning + 150 / ASSUMED.pullMBps + ASSUMED.appStart + ASSUMED.deregisterLag;
  assert.is(g.serving, fixed + 30);
  assert.is(g.done, g.serving + 300 + 7.5);
  assert.is(o.serving, fixed + 10);
  assert.is(o.done, o.serving + 0.5 + 60);
  assert.ok(o.serving <= 90, `ours serves the new release alone within 90 s for a small image: ${o.serving}`);
  assert.ok(model(GUIDE, 1000).serving - g.serving === 850 / ASSUMED.pullMBps, 'a bigger image pulls longer, on both sides');
  const table = modelTable();
  assert.match(table, '| **only the new release serves** | **65 s (1.1 min)** | **45 s** |');
  assert.match(table, '| **the waiter says done** | **373 s (6.2 min)** | **106 s (1.8 min)** |');
});

test.run();
