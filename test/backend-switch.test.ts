// Safe target switches: terraform/ knows which backend (bucket, key, region, endpoint) it was initialised
// for, and step 3 re-initialises with -reconfigure when the target changes, saying so — never migrating
// state, never planning against another target's state. Round trip against the AWS emulator: project
// "alpha" in us-east-1 (applied), then "beta" in eu-west-1, then back to alpha, with no manual step.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startMoto, type Moto } from './helpers/moto.js';
import { runScriptFile } from './helpers/script.js';
import { stateBucketPolicy } from '../scripts/03-plan.js';

let moto: Moto;
const dir = mkdtempSync(join(tmpdir(), 'llmops-switch-'));

// The smallest root module with an S3 backend and a resource whose state shows which target it is.
writeFileSync(
  join(dir, 'main.tf'),
  `terraform {
  backend "s3" {
    use_path_style              = true
    skip_credentials_validation = true
    skip_metadata_api_check     = true
    skip_region_validation      = true
  }
}
variable "project_name" {
  type = string
}
resource "terraform_data" "marker" {
  input = var.project_name
}
`,
);

test.before(async () => {
  moto = await startMoto();
});
test.after(async () => moto?.stop());

const env = (project: string, region: string) => ({
  ...moto.env,
  PATH: process.env.PATH,
  TF_DIR: dir,
  AWS_REGION: region,
  LLMOPS_PROJECT_NAME: project,
  LLMOPS_ALLOW_PLAIN_HTTP: 'true',
  TF_IN_AUTOMATION: '1',
});
const step3 = (project: string, region: string) => runScriptFile('scripts/03-plan.ts', [], env(project, region), 240_000);

test('sandbox → another region and project → back: re-initialised each time, each plan reads its own state', async () => {
  const first = await step3('alpha', 'us-east-1');
  assert.is(first.exitCode, 0, first.all);
  assert.not.match(first.all, /-reconfigure/, 'a fresh directory is initialised plainly');
  const apply = await execa('terraform', [`-chdir=${dir}`, 'apply', '-input=false', '-no-color', 'tfplan'], {
    env: env('alpha', 'us-east-1'),
    reject: false,
    all: true,
  });
  assert.is(apply.exitCode, 0, apply.all);

  const second = await step3('beta', 'eu-west-1');
  assert.is(second.exitCode, 0, second.all);
  assert.match(
    second.all,
    /was initialised for s3:\/\/alpha-tfstate-123456789012\/alpha\/terraform\.tfstate \(us-east-1, endpoint http:\/\/127\.0\.0\.1:\d+\); this run uses s3:\/\/beta-tfstate-123456789012\/beta\/terraform\.tfstate \(eu-west-1/,
  );
  assert.match(second.all, /init -input=false -no-color -reconfigure/);
  assert.not.match(second.all, /-migrate-state|Backend configuration changed/);
  assert.match(second.all, /1 to add/, "beta's own (empty) state, not alpha's");

  const back = await step3('alpha', 'us-east-1');
  assert.is(back.exitCode, 0, back.all);
  assert.match(back.all, /-reconfigure/);
  assert.match(back.all, /no changes/i, "alpha's state again: the marker it applied is there");

  const again = await step3('alpha', 'us-east-1');
  assert.is(again.exitCode, 0, again.all);
  assert.not.match(again.all, /-reconfigure|was initialised for/, 'the same target again: no re-initialisation');
});

test("the state bucket policy: TLS only, and it works (over the emulator's plain HTTP it denies everything, so on a plain-HTTP endpoint step 3 leaves it out and says so)", async () => {
  const again = await step3('alpha', 'us-east-1');
  assert.match(again.all, /# the state bucket's TLS-only policy is left out: http:\/\/127\.0\.0\.1:\d+ is plain HTTP/);
  assert.not.match(again.all, 'put-bucket-policy');
  assert.equal(JSON.parse(stateBucketPolicy('alpha-tfstate-123456789012', 'us-east-1')).Statement, [
    {
      Sid: 'DenyWithoutTls',
      Effect: 'Deny',
      Principal: '*',
      Action: 's3:*',
      Resource: ['arn:aws:s3:::alpha-tfstate-123456789012', 'arn:aws:s3:::alpha-tfstate-123456789012/*'],
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    },
  ]);
  assert.match(stateBucketPolicy('b', 'cn-north-1'), 'arn:aws-cn:s3:::b');
});

test.run();
