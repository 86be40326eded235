// Step 3 — terraform plan: create the S3 state bucket if missing (versioned, encrypted, private; native S3 locking),
// write <project>.tfvars.json from .env (or check your own terraform.tfvars), init, plan -out=tfplan, and summarize
// adds / changes / destroys with every destructive change highlighted. With --env staging: <project>-staging.tfvars.json,
// tfplan-staging, the working state in terraform/.terraform-staging and the state key <project>-staging/.
// Needs:    AWS credentials, terraform >= 1.11, terraform/
// Produces: terraform/tfplan and its summary
// Next:     npm run step:4 (apply exactly this plan)
import { join } from 'node:path';
import { resolveIdentity } from '../lib/aws.js';
import { isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import type { Config } from '../lib/config.js';
import { ExitCode, ScriptFailure } from '../lib/errors.js';
import { switchBackProblem } from '../lib/strategy.js';
import { formatSummary, prepareTfvars, showPlan, tfvarsProblems } from '../lib/infra.js';
import { newContext, type PipelineStep, preflightOf, runStep } from '../lib/pipeline.js';
import { sh, type Runner } from '../lib/run.js';
import { chdir, planFile, stateBucket, terraformEnv, terraformInit, tfDir, varFileArgs } from '../lib/terraform.js';

export const step: PipelineStep = {
  n: 3,
  title: 'Terraform plan',
  // refused before the state bucket is made: no certificate without the plain-HTTP opt-in, a placeholder left
  preflight: tfvarsProblems,
  async run(ctx, runner, report) {
    const { config } = ctx;
    const identity = (ctx.identity ??= await resolveIdentity(runner, config));
    const bucket = await ensureStateBucket(runner, config, identity.account);
    runner.echo(
      `# state bucket ${stateBucket(config, identity.account)}: ${runner.dryRun ? 'would be created if missing (versioned, encrypted, private)' : bucket === 'created' ? 'created (versioned, encrypted, private)' : 'exists'}`,
    );
    // back to rolling while the alternate target group serves: refused before anything is planned
    const switchBack = await switchBackProblem(runner, config, identity.account);
    if (switchBack) throw new ScriptFailure(switchBack, ExitCode.PREFLIGHT);
    prepareTfvars(runner, config);
    await terraformInit(runner, config, identity.account);
    await runner.run(sh`terraform ${chdir(config)} plan -input=false -no-color ${varFileArgs(config)} -out=${planFile(config)}`, {
      env: terraformEnv(config),
      stream: true,
      timeoutMs: 30 * 60_000,
    });
    if (runner.dryRun) return;
    ctx.plan = await showPlan(runner, config);
    report(formatSummary(ctx.plan));
    if (ctx.plan.noChanges) return 'no changes: the infrastructure matches the configuration';
  },
};

/** The ARN partition of a region (aws, aws-cn, aws-us-gov). */
const partitionOf = (region: string) => (region.startsWith('cn-') ? 'aws-cn' : region.includes('-gov-') ? 'aws-us-gov' : 'aws');

/** The state bucket's policy: every request without TLS is denied, whoever makes it (S3.5). */
export function stateBucketPolicy(bucket: string, region: string): string {
  const arn = `arn:${partitionOf(region)}:s3:::${bucket}`;
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'DenyWithoutTls',
        Effect: 'Deny',
        Principal: '*',
        Action: 's3:*',
        Resource: [arn, `${arn}/*`],
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      },
    ],
  });
}

/**
 * The TLS-only policy on the state bucket, unless it is there already (a bucket made before it existed gets it).
 * Not on a plain-HTTP endpoint (the sandbox's): there the policy would deny every request, Terraform's included.
 */
async function ensureTlsOnly(runner: Runner, bucket: string, region: string, known: boolean): Promise<void> {
  const endpoint = process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
  if (endpoint?.startsWith('http://')) {
    runner.echo(`# the state bucket's TLS-only policy is left out: ${endpoint} is plain HTTP (the sandbox)`);
    return;
  }
  if (known) {
    const current = await runner.run(sh`aws s3api get-bucket-policy --bucket ${bucket} --region ${region} --output json`, {
      nothrow: true,
    });
    if (current.ok && !current.dryRun && current.stdout.includes('DenyWithoutTls')) return;
  }
  await runner.run(sh`aws s3api put-bucket-policy --bucket ${bucket} --region ${region} --policy ${stateBucketPolicy(bucket, region)}`);
}

/**
 * Versioned, encrypted, private: set on a new bucket, and on an existing one (made by hand, or changed since)
 * only what it lacks, said in one line each. An encryption of its own (SSE-KMS) is kept.
 */
async function ensureBucketSettings(runner: Runner, bucket: string, region: string, known: boolean): Promise<void> {
  const read = (cmd: ReturnType<typeof sh>) => (known ? runner.json<any>(cmd, { nothrow: true }) : Promise.resolve(undefined));
  const lacks = (what: string) => known && runner.echo(`# the state bucket ${bucket} had ${what}: setting it`);
  const versioning = await read(sh`aws s3api get-bucket-versioning --bucket ${bucket} --region ${region} --output json`);
  if (versioning?.Status !== 'Enabled') {
    lacks('no versioning (a lost or broken state could not be restored)');
    await runner.run(sh`aws s3api put-bucket-versioning --bucket ${bucket} --versioning-configuration Status=Enabled`);
  }
  const encryption = await read(sh`aws s3api get-bucket-encryption --bucket ${bucket} --region ${region} --output json`);
  if (!encryption?.ServerSideEncryptionConfiguration?.Rules?.length) {
    lacks('no default encryption');
    await runner.run(
      sh`aws s3api put-bucket-encryption --bucket ${bucket} --server-side-encryption-configuration ${'{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'}`,
    );
  }
  const block = (await read(sh`aws s3api get-public-access-block --bucket ${bucket} --region ${region} --output json`))
    ?.PublicAccessBlockConfiguration;
  if (!(block?.BlockPublicAcls && block.IgnorePublicAcls && block.BlockPublicPolicy && block.RestrictPublicBuckets)) {
    lacks('public access not blocked');
    await runner.run(
      sh`aws s3api put-public-access-block --bucket ${bucket} --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true`,
    );
  }
}

/** The state bucket: created once, versioned, encrypted, private, TLS only; an existing one keeps being so. */
export async function ensureStateBucket(runner: Runner, config: Config, account: string): Promise<'exists' | 'created'> {
  const bucket = stateBucket(config, account);
  const head = await runner.run(sh`aws s3api head-bucket --bucket ${bucket} --region ${config.region}`, { nothrow: true });
  if (head.ok && !head.dryRun) {
    await ensureBucketSettings(runner, bucket, config.region, true);
    await ensureTlsOnly(runner, bucket, config.region, true);
    return 'exists';
  }
  if (!head.dryRun && !/404|Not Found|NoSuchBucket/i.test(head.stderr)) {
    throw new ScriptFailure(
      `cannot check the state bucket ${bucket}: ${head.stderr.trim().split('\n').pop()}\n  fix: if another account owns this name, set TF_STATE_BUCKET in .env`,
    );
  }
  const location = config.region === 'us-east-1' ? [] : ['--create-bucket-configuration', `LocationConstraint=${config.region}`];
  await runner.run(sh`aws s3api create-bucket --bucket ${bucket} --region ${config.region} ${location}`);
  await ensureBucketSettings(runner, bucket, config.region, false);
  await ensureTlsOnly(runner, bucket, config.region, false);
  return 'created';
}

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'step:3',
  preflight: (_, config) => preflightOf([step], config),
  async main({ runner, config, yes }: ScriptContext) {
    await runStep(step, newContext(config, runner, yes));
    const next = `npm run step:4${config.environment ? ` -- --env ${config.environment}` : ''}`;
    if (!runner.dryRun) process.stdout.write(`Saved to ${join(tfDir(config), planFile(config))}. Next: ${next}\n`);
  },
};

if (isMain(import.meta.url)) await main(spec);
