// The sandbox emulator's rollout logic, unit-tested in Python on fake tasks (test/emulator_rollout.py):
// the end-to-end file proves the same with real containers; this pins the decisions down in seconds. Also the load
// balancer's targets: only its own target group's healthy tasks, and no two live tasks on one private IP.
import { join } from 'node:path';
import { execa } from 'execa';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT } from './helpers/script.js';

test("reconcile_service: launch, complete, retire, circuit breaker, rollback, scale down; the ALB's targets; unique task IPs; the IAM evaluation's tag conditions", async () => {
  const r = await execa('python3', [join(ROOT, 'test/emulator_rollout.py'), '-v'], { reject: false, all: true, timeout: 120_000 });
  assert.is(r.exitCode, 0, r.all);
  assert.match(r.all ?? '', /Ran 19 tests/);
  assert.match(r.all ?? '', /\nOK\s*$/);
});

test.run();
