// Fault: `terraform apply` interrupted mid-way, through our steps 3 and 4, with the same S3 backend and native
// lock file as production, against the AWS emulator. The stack is a small one of its own (a slow resource
// and an AWS resource that waits for it), so the interruption always lands in the middle: what is under
// test is how the toolkit and Terraform stop, lock and resume, not what the stack holds.
import { execa } from 'execa';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { smallStackDir } from './helpers/small-stack.js';
import { startMoto, type Moto } from './helpers/moto.js';
import { killTree, runScriptFile, spawnScript } from './helpers/script.js';

const STACK = `
resource "terraform_data" "slow" {
  provisioner "local-exec" {
    command = "sleep 6"
  }
}

resource "aws_cloudwatch_log_group" "after_slow" {
  name       = "/llmops/fault-test"
  depends_on = [terraform_data.slow]
}
`;

let moto: Moto;
let env: Record<string, string>;
const run = (script: string, args: string[]) => runScriptFile(script, args, env, 300_000);
const lockKey = 's3://llmops-tfstate-123456789012/llmops/terraform.tfstate.tflock';
const lockHeld = async () =>
  (await execa('aws', ['s3', 'ls', lockKey], { env: { ...process.env, ...moto.env }, reject: false })).exitCode === 0;
const logGroups = async () =>
  JSON.parse(
    (
      await execa('aws', ['logs', 'describe-log-groups', '--log-group-name-prefix', '/llmops/fault-test', '--output', 'json'], {
        env: { ...process.env, ...moto.env },
      })
    ).stdout,
  ).logGroups.length;

test('start the AWS emulator and write the stack', async () => {
  moto = await startMoto();
  ({ env } = smallStackDir('llmops-tf-interrupt-', STACK, moto));
});

test('Ctrl-C: terraform gets one SIGINT, stops cleanly and releases its state lock; exit 130 says to plan again', async () => {
  const plan = await run('scripts/03-plan.ts', ['--yes']);
  assert.is(plan.exitCode, 0, plan.all.slice(-2000));
  const apply = spawnScript('scripts/04-apply.ts', ['--yes'], { HOME: process.env.HOME!, LLMOPS_RENDERER: 'simple', ...env });
  await apply.waitFor(/terraform_data\.slow: Creating/);
  apply.child.kill('SIGINT'); // to the script alone: it passes one SIGINT on to terraform
  assert.is(await apply.exited, 130, apply.output().slice(-2000));
  assert.match(apply.output(), /Interrupt received|Gracefully shutting down|execution halted/i);
  assert.not.match(apply.output(), 'Two interrupts received', 'terraform was interrupted once, not twice');
  assert.match(apply.output(), /interrupted \(SIGINT\) while running: terraform .*apply/);
  assert.match(apply.output(), 'rerun: npm run step:3 && npm run step:4');
  assert.not.ok(await lockHeld(), 'terraform released its state lock');
  assert.is(await logGroups(), 0, 'stopped before the resource after the slow one');
});

test('killed outright: the lock stays; the next plan exits 6 naming its holder; unlock --terraform shows and removes it', async () => {
  let plan = await run('scripts/03-plan.ts', ['--yes']);
  assert.is(plan.exitCode, 0, plan.all.slice(-2000));
  const apply = spawnScript('scripts/04-apply.ts', ['--yes'], { HOME: process.env.HOME!, LLMOPS_RENDERER: 'simple', ...env });
  await apply.waitFor(/terraform_data\.slow: Creating/);
  killTree(apply.child.pid!); // a crash: the script and terraform at once
  await apply.exited;
  assert.ok(await lockHeld(), 'a killed terraform leaves its lock');
  plan = await run('scripts/03-plan.ts', ['--yes']);
  assert.is(plan.exitCode, 6, plan.all.slice(-2000));
  assert.match(plan.stderr, /Lock Info:\n\s+\|?\s*ID:\s+\S+/);
  assert.match(plan.stderr, /Who:\s+\S+@/);
  assert.match(plan.stderr, 'npm run unlock -- --terraform --force');
  const show = await run('scripts/unlock.ts', ['--terraform']);
  assert.is(show.exitCode, 6, show.all);
  assert.match(show.stdout, /terraform state lock held by \S+ for OperationTypeApply since/);
  const unlock = await run('scripts/unlock.ts', ['--terraform', '--force', '--yes']);
  assert.is(unlock.exitCode, 0, unlock.all);
  assert.match(unlock.stderr, /\$ terraform -chdir=\S+ force-unlock -force \S+/);
  assert.not.ok(await lockHeld());
  assert.match((await run('scripts/unlock.ts', ['--terraform'])).stdout, 'no terraform state lock is held');
});

test('the rerun completes what was interrupted', async () => {
  const plan = await run('scripts/03-plan.ts', ['--yes']);
  assert.is(plan.exitCode, 0, plan.all.slice(-2000));
  const done = await run('scripts/04-apply.ts', ['--yes']);
  assert.is(done.exitCode, 0, done.all.slice(-2000));
  assert.is(await logGroups(), 1);
});

test('stop the AWS emulator', async () => {
  await moto.stop();
});

test.run();
