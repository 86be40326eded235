// Steps 3 and 4 and the teardown in seconds, on canned CLI answers (the Terraform files prove them against the
// sandbox): the state bucket made once, private and TLS-only; the variables file and what may not reach an
// environment; plan, show and apply of exactly the saved plan; the destroy with its protections lifted.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../lib/config.js';
import { ConfigError, ExitCode, exitCodeFor, ScriptFailure } from '../lib/errors.js';
import { formatSummary, NAME_VARIABLES, prepareTfvars, summarizePlan, tfNames } from '../lib/infra.js';
import { deleteStateBucket, destroyStack, otherStacksInBucket } from '../scripts/destroy.js';
import { newContext } from '../lib/pipeline.js';
import { Runner } from '../lib/run.js';
import type { Config } from '../lib/config.js';
import { ensureStateBucket, stateBucketPolicy, step as planStep } from '../scripts/03-plan.js';
import { printOutputs, step as applyStep } from '../scripts/04-apply.js';
import { fakeAws } from './helpers/fake-aws.js';
import { fakeBins, type FakeBins } from './helpers/fake-bin.js';
import { withEnv } from './helpers/script.js';
import { stsEndpoint, TEST_ACCOUNT, TEST_KEYS } from './helpers/sts.js';

const BUCKET = `llmops-tfstate-${TEST_ACCOUNT}`;
const NO_ENDPOINT = { AWS_ENDPOINT_URL: undefined, AWS_ENDPOINT_URL_S3: undefined };

/**
 * aws s3api as FAKE_HEAD (ok, missing, denied) and FAKE_POLICY (tls, none) say, list-object-versions from
 * `versions.json` beside it; terraform: plan writes the plan file, show -json prints FAKE_PLAN, state list
 * prints FAKE_STATE, outputs from FAKE_OUTPUTS; every call checks terraformEnv() and records TF_VAR_s.
 */
function fakeCli(): FakeBins {
  return fakeBins({
    aws: `here="$(dirname "$0")"
case "$1 $2" in
  "s3api head-bucket")
    case "$FAKE_HEAD" in
      ok) ;;
      missing) echo "An error occurred (404) when calling the HeadBucket operation: Not Found" >&2; exit 254;;
      *) printf 'retrying\\nAn error occurred (403) when calling the HeadBucket operation: Forbidden\\n' >&2; exit 254;;
    esac;;
  "s3api get-bucket-policy")
    case "$FAKE_POLICY" in
      tls) echo '{"Policy":"{\\"Statement\\":[{\\"Sid\\":\\"DenyWithoutTls\\"}]}"}';;
      other) echo '{"Policy":"{\\"Statement\\":[{\\"Sid\\":\\"AllowReplication\\"}]}"}';;
      *) echo "An error occurred (NoSuchBucketPolicy)" >&2; exit 254;;
    esac;;
  "s3api list-object-versions") cat "$here/versions.json";;
  "s3api get-bucket-versioning") [ "$FAKE_SETTINGS" = none ] && echo '{}' || echo '{"Status":"Enabled"}';;
  "s3api get-bucket-encryption")
    [ "$FAKE_SETTINGS" = none ] && { echo "An error occurred (ServerSideEncryptionConfigurationNotFoundError)" >&2; exit 254; }
    echo '{"ServerSideEncryptionConfiguration":{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"aws:kms"}}]}}';;
  "s3api get-public-access-block")
    [ "$FAKE_SETTINGS" = none ] && echo '{"PublicAccessBlockConfiguration":{"BlockPublicAcls":true,"IgnorePublicAcls":true,"BlockPublicPolicy":false,"RestrictPublicBuckets":true}}' \
      || echo '{"PublicAccessBlockConfiguration":{"BlockPublicAcls":true,"IgnorePublicAcls":true,"BlockPublicPolicy":true,"RestrictPublicBuckets":true}}';;
  "s3 cp") echo "fatal error: An error occurred (404) when calling the HeadObject operation: Key does not exist" >&2; exit 1;;
  "s3api "*) ;;
  *) echo "unexpected: $*" >&2; exit 9;;
esac`,
    terraform: `[ "$TF_IN_AUTOMATION" = 1 ] || exit 8
dir="\${1#-chdir=}"; env | grep '^TF_VAR_' | sort >> "$(dirname "$0")/tf-vars"
case "$2" in
  init) mkdir -p "$dir/.terraform";;
  plan) for a in "$@"; do case "$a" in -out=*) echo "plan $FAKE_PLAN" > "$dir/\${a#-out=}";; esac; done; echo "Plan: planned";;
  show) echo "$FAKE_PLAN";;
  apply|destroy) echo "Apply complete!";;
  state) printf '%s\\n' $FAKE_STATE;;
  output) echo "$FAKE_OUTPUTS";;
  *) echo "unexpected: $*" >&2; exit 9;;
esac`,
  });
}

function setup(fake: Record<string, string> = {}, env: Record<string, string> = {}, dryRun = false) {
  const fb = fakeCli();
  const dir = mkdtempSync(join(tmpdir(), 'infra-tf-'));
  const lines: string[] = [];
  const runner = new Runner({
    dryRun,
    echo: (l) => lines.push(l),
    env: { PATH: `${fb.dir}:${process.env.PATH}`, AWS_ENDPOINT_URL: undefined, ...fake },
  });
  const config = loadConfig({ env: { TF_DIR: dir, LLMOPS_ALLOW_PLAIN_HTTP: 'true', ...env }, envFile: '' });
  const calls = (bin = 'aws') =>
    fb
      .calls()
      .filter((c) => c[0] === bin)
      .map((c) => c.slice(1).join(' '));
  return { fb, dir, lines, runner, config, calls };
}

/** Step 3 as bootstrap runs it: the summary it learnt (none in a dry run). */
async function planInfrastructure(runner: Runner, config: Config) {
  const ctx = newContext(config, runner, true);
  await planStep.run(ctx, runner, () => {});
  return ctx.plan;
}

/** What step 4 reported, run after run. */
const applied: string[] = [];

/** Step 4 as bootstrap runs it: applied, nothing to apply, or declined (its ScriptFailure). */
async function applyPlan(runner: Runner, config: Config, yes: boolean): Promise<'applied' | 'no-changes' | 'declined'> {
  try {
    return (await applyStep.run(newContext(config, runner, yes), runner, (t) => applied.push(t))) ? 'no-changes' : 'applied';
  } catch (error) {
    if (error instanceof ScriptFailure && error.message.startsWith('terraform apply declined')) return 'declined';
    throw error;
  }
}

/** `fn` with stdin answering `text` and what was asked on stderr (a question at a terminal: no --yes, no CI). */
async function answering<T>(text: string, fn: () => Promise<T>): Promise<{ value: T; asked: string }> {
  const stdin = Object.getOwnPropertyDescriptor(process, 'stdin')!;
  const input = new PassThrough();
  input.end(`${text}\n`);
  Object.defineProperty(process, 'stdin', { value: input, configurable: true });
  let asked = '';
  const write = process.stderr.write;
  process.stderr.write = ((chunk: unknown) => ((asked += String(chunk)), true)) as any;
  try {
    return { value: await fn(), asked };
  } finally {
    process.stderr.write = write;
    Object.defineProperty(process, 'stdin', stdin);
  }
}

const NO_CHANGES = { add: 0, change: 0, destroy: 0, added: [], changed: [], replace: [], destroyed: [], noChanges: true };
const PLAN = (actions: string[][]) =>
  JSON.stringify({ resource_changes: actions.map((a, i) => ({ address: `aws_thing.r${i}`, change: { actions: a } })) });

test('the state bucket: created once, versioned, encrypted, private and TLS-only; an existing one gets the settings and policy it lacks', async () => {
  await withEnv(NO_ENDPOINT, async () => {
    const fresh = setup({ FAKE_HEAD: 'missing' });
    assert.is(await ensureStateBucket(fresh.runner, fresh.config, TEST_ACCOUNT), 'created');
    assert.equal(fresh.calls(), [
      `s3api head-bucket --bucket ${BUCKET} --region us-east-1`,
      `s3api create-bucket --bucket ${BUCKET} --region us-east-1`,
      `s3api put-bucket-versioning --bucket ${BUCKET} --versioning-configuration Status=Enabled`,
      `s3api put-bucket-encryption --bucket ${BUCKET} --server-side-encryption-configuration {"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}`,
      `s3api put-public-access-block --bucket ${BUCKET} --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true`,
      `s3api put-bucket-policy --bucket ${BUCKET} --region us-east-1 --policy ${stateBucketPolicy(BUCKET, 'us-east-1')}`,
    ]);

    const seoul = setup({ FAKE_HEAD: 'missing' }, { AWS_REGION: 'ap-northeast-2' });
    await ensureStateBucket(seoul.runner, seoul.config, TEST_ACCOUNT);
    assert.is(
      seoul.calls()[1],
      `s3api create-bucket --bucket ${BUCKET} --region ap-northeast-2 --create-bucket-configuration LocationConstraint=ap-northeast-2`,
    );

    const known = setup({ FAKE_HEAD: 'ok', FAKE_POLICY: 'tls' });
    assert.is(await ensureStateBucket(known.runner, known.config, TEST_ACCOUNT), 'exists');
    assert.equal(known.calls(), [
      `s3api head-bucket --bucket ${BUCKET} --region us-east-1`,
      `s3api get-bucket-versioning --bucket ${BUCKET} --region us-east-1 --output json`,
      `s3api get-bucket-encryption --bucket ${BUCKET} --region us-east-1 --output json`,
      `s3api get-public-access-block --bucket ${BUCKET} --region us-east-1 --output json`,
      `s3api get-bucket-policy --bucket ${BUCKET} --region us-east-1 --output json`,
    ]);
    assert.equal(
      known.lines.filter((l) => l.startsWith('#')),
      [],
      'a bucket with every setting (its own KMS encryption too) is left alone',
    );

    // a bucket whose settings were changed since (or made by hand): only what it lacks is set, each said
    const changed = setup({ FAKE_HEAD: 'ok', FAKE_POLICY: 'tls', FAKE_SETTINGS: 'none' });
    await ensureStateBucket(changed.runner, changed.config, TEST_ACCOUNT);
    assert.equal(
      changed.calls().filter((c) => c.includes(' put-')),
      [
        `s3api put-bucket-versioning --bucket ${BUCKET} --versioning-configuration Status=Enabled`,
        `s3api put-bucket-encryption --bucket ${BUCKET} --server-side-encryption-configuration {"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}`,
        `s3api put-public-access-block --bucket ${BUCKET} --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true`,
      ],
    );
    assert.equal(
      changed.lines.filter((l) => l.startsWith('# the state bucket')),
      [
        `# the state bucket ${BUCKET} had no versioning (a lost or broken state could not be restored): setting it`,
        `# the state bucket ${BUCKET} had no default encryption: setting it`,
        `# the state bucket ${BUCKET} had public access not blocked: setting it`,
      ],
    );

    for (const policy of ['none', 'other']) {
      const older = setup({ FAKE_HEAD: 'ok', FAKE_POLICY: policy });
      assert.is(await ensureStateBucket(older.runner, older.config, TEST_ACCOUNT), 'exists');
      assert.ok(
        older.calls()[5]?.startsWith(`s3api put-bucket-policy --bucket ${BUCKET}`),
        `a bucket without the policy gets it (${policy})`,
      );
    }

    const denied = setup({ FAKE_HEAD: 'denied' });
    const error = await ensureStateBucket(denied.runner, denied.config, TEST_ACCOUNT).catch((e) => e);
    assert.instance(error, ScriptFailure);
    assert.is(
      error.message,
      `cannot check the state bucket ${BUCKET}: An error occurred (403) when calling the HeadBucket operation: Forbidden\n  fix: if another account owns this name, set TF_STATE_BUCKET in .env`,
    );
    assert.equal(denied.calls().length, 1, 'nothing created');
  });
  // an HTTPS endpoint (a proxy, a VPC endpoint) gets the policy like AWS
  await withEnv({ AWS_ENDPOINT_URL: 'https://s3.internal.example', AWS_ENDPOINT_URL_S3: undefined }, async () => {
    const tls = setup({ FAKE_HEAD: 'ok', FAKE_POLICY: 'none' });
    await ensureStateBucket(tls.runner, tls.config, TEST_ACCOUNT);
    assert.ok(tls.calls().some((c) => c.startsWith('s3api put-bucket-policy')));
  });
  // the sandbox serves plain HTTP: a TLS-only policy would deny every request, Terraform's included
  await withEnv({ AWS_ENDPOINT_URL: 'http://127.0.0.1:5000', AWS_ENDPOINT_URL_S3: undefined }, async () => {
    const sandbox = setup({ FAKE_HEAD: 'ok' });
    await ensureStateBucket(sandbox.runner, sandbox.config, TEST_ACCOUNT);
    assert.not.ok(sandbox.calls().some((c) => c.includes('policy')));
    assert.ok(
      sandbox.lines.includes("# the state bucket's TLS-only policy is left out: http://127.0.0.1:5000 is plain HTTP (the sandbox)"),
    );
  });
  const policy = (region: string) => JSON.parse(stateBucketPolicy('b', region)).Statement[0];
  assert.is(
    stateBucketPolicy('b', 'us-east-1'),
    '{"Version":"2012-10-17","Statement":[{"Sid":"DenyWithoutTls","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}',
  );
  assert.equal(policy('cn-north-1').Resource, ['arn:aws-cn:s3:::b', 'arn:aws-cn:s3:::b/*']);
  assert.equal(policy('us-gov-west-1').Resource, ['arn:aws-us-gov:s3:::b', 'arn:aws-us-gov:s3:::b/*']);
});

test("the state bucket's other stacks, and its deletion: every version and delete marker, a thousand at a time", async () => {
  await withEnv(NO_ENDPOINT, async () => {
    const s = setup();
    const versions = [
      { Key: 'llmops/terraform.tfstate', VersionId: 'v1' },
      { Key: 'llmops-staging/terraform.tfstate', VersionId: 'v2' },
      { Key: 'llmops-staging/terraform.tfstate', VersionId: 'v3' },
      { Key: 'llmops-a/terraform.tfstate', VersionId: 'v4' },
      { Key: 'llmops/locks/llmops-service.json', VersionId: 'v5' },
    ];
    writeFileSync(join(s.fb.dir, 'versions.json'), JSON.stringify({ Versions: versions, DeleteMarkers: [{ Key: 'x', VersionId: 'm1' }] }));
    assert.equal(await otherStacksInBucket(s.runner, s.config, TEST_ACCOUNT), [
      'llmops-a/terraform.tfstate',
      'llmops-staging/terraform.tfstate',
    ]);
    const dry = setup({}, {}, true);
    assert.equal(await otherStacksInBucket(dry.runner, dry.config, TEST_ACCOUNT), []);
    assert.equal(dry.lines, [], 'a dry run does not even list');
    await deleteStateBucket(dry.runner, dry.config, TEST_ACCOUNT);
    assert.equal(dry.fb.calls(), []);
    assert.is(dry.lines.at(-1), `[dry-run] $ aws s3api delete-bucket --bucket ${BUCKET} --region us-east-1`);

    const many = Array.from({ length: 1001 }, (_, i) => ({ Key: `k${i}`, VersionId: `v${i}` }));
    writeFileSync(join(s.fb.dir, 'versions.json'), JSON.stringify({ Versions: many.slice(0, 1000), DeleteMarkers: many.slice(1000) }));
    await deleteStateBucket(s.runner, s.config, TEST_ACCOUNT);
    const deletes = s.calls().filter((c) => c.startsWith('s3api delete-objects'));
    assert.is(deletes.length, 2);
    assert.is(JSON.parse(deletes[0]!.split(' --delete ')[1]!).Objects.length, 1000);
    assert.equal(JSON.parse(deletes[1]!.split(' --delete ')[1]!), { Objects: [{ Key: 'k1000', VersionId: 'v1000' }], Quiet: true });
    assert.is(s.calls().at(-1), `s3api delete-bucket --bucket ${BUCKET} --region us-east-1`);

    writeFileSync(join(s.fb.dir, 'versions.json'), '{}');
    const empty = s.calls().length;
    await deleteStateBucket(s.runner, s.config, TEST_ACCOUNT);
    assert.equal(
      s
        .calls()
        .slice(empty)
        .map((c) => c.split(' ')[1]),
      ['list-object-versions', 'delete-bucket'],
    );
  });
});

test('the variables file: an environment refuses files Terraform reads by itself; an old terraform.tfvars.json is removed; yours is noted', () => {
  const staging = (dir: string) => {
    writeFileSync(join(dir, '.env'), '');
    writeFileSync(join(dir, '.env.staging'), '');
    return loadConfig({ env: { TF_DIR: dir, LLMOPS_ENVIRONMENT: 'staging', LLMOPS_ALLOW_PLAIN_HTTP: 'true' }, envFile: join(dir, '.env') });
  };
  const dir = mkdtempSync(join(tmpdir(), 'infra-env-'));
  writeFileSync(join(dir, 'terraform.tfvars'), 'x = 1\n');
  writeFileSync(join(dir, 'extra.auto.tfvars.json'), '{}');
  writeFileSync(join(dir, 'b.auto.tfvars'), 'z = 3\n');
  writeFileSync(join(dir, 'c.auto.tfvars.json.bak'), '{}');
  writeFileSync(join(dir, 'other.tfvars'), 'y = 2\n');
  const quiet = new Runner({ echo: () => {} });
  assert.throws(
    () => prepareTfvars(quiet, staging(dir)),
    (e: ConfigError) =>
      exitCodeFor(e) === ExitCode.USAGE &&
      e.message.includes(
        `  ✗ ${join(dir, 'b.auto.tfvars')}, ${join(dir, 'extra.auto.tfvars.json')}, ${join(dir, 'terraform.tfvars')}: Terraform reads them in every run of ${dir}, so their values would reach the staging environment too\n` +
          '    fix: put settings in .env (every environment) or .env.staging (this one), and delete b.auto.tfvars, extra.auto.tfvars.json, terraform.tfvars (the toolkit writes llmops-staging.tfvars.json from them)',
      ),
  );
  const one = mkdtempSync(join(tmpdir(), 'infra-env-'));
  writeFileSync(join(one, 'terraform.tfvars'), 'x = 1\n');
  assert.throws(
    () => prepareTfvars(quiet, staging(one)),
    (e: Error) => e.message.includes(`  ✗ ${join(one, 'terraform.tfvars')}: Terraform reads it in every run of ${one}, so its values`),
  );
  const clean = mkdtempSync(join(tmpdir(), 'infra-env-'));
  assert.is(prepareTfvars(quiet, staging(clean)), join(clean, 'llmops-staging.tfvars.json'));

  // a terraform.tfvars.json an earlier version wrote: removed (a dry run only says so)
  const old = mkdtempSync(join(tmpdir(), 'infra-old-'));
  writeFileSync(join(old, 'terraform.tfvars.json'), '{}');
  const config = loadConfig({ env: { TF_DIR: old, LLMOPS_ALLOW_PLAIN_HTTP: 'true' }, envFile: '' });
  const dryLines: string[] = [];
  prepareTfvars(new Runner({ dryRun: true, echo: (l) => dryLines.push(l) }), config);
  assert.ok(existsSync(join(old, 'terraform.tfvars.json')));
  assert.equal(dryLines, [
    `[dry-run] # remove ${join(old, 'terraform.tfvars.json')} (an earlier version of the toolkit wrote it; Terraform would read it in every run)`,
    `[dry-run] # write ${join(old, 'llmops.tfvars.json')} from the configuration`,
  ]);
  assert.not.ok(existsSync(join(old, 'llmops.tfvars.json')));
  const lines: string[] = [];
  const echo = new Runner({ echo: (l) => lines.push(l) });
  prepareTfvars(echo, config);
  assert.not.ok(existsSync(join(old, 'terraform.tfvars.json')));
  assert.equal(lines, [
    `# removed ${join(old, 'terraform.tfvars.json')}: an earlier version of the toolkit wrote it, and Terraform reads it in every run (now -var-file=llmops.tfvars.json)`,
    `# wrote ${join(old, 'llmops.tfvars.json')} from the configuration`,
  ]);
  lines.length = 0;
  prepareTfvars(echo, config);
  assert.equal(lines, [], 'the same content is not written again');
  writeFileSync(join(old, 'llmops.tfvars.json'), '{"edited": true}\n');
  prepareTfvars(echo, config);
  assert.equal(lines, [`# wrote ${join(old, 'llmops.tfvars.json')} from the configuration`], 'other content is written over');
  assert.equal(JSON.parse(readFileSync(join(old, 'llmops.tfvars.json'), 'utf8')).project_name, 'llmops');

  // your own terraform.tfvars: used, with the names from .env beside it (the names only); a clear-text password
  // is noted, a commented placeholder is not a placeholder
  const own = mkdtempSync(join(tmpdir(), 'infra-own-'));
  const ownConfig = () => loadConfig({ env: { TF_DIR: own }, envFile: '' });
  const namesFile = join(own, 'llmops.tfvars.json');
  writeFileSync(join(own, 'terraform.tfvars'), '  # db_password = "<DB_PASSWORD>"\n  db_password= "s3cret-pw"\n');
  lines.length = 0;
  assert.is(prepareTfvars(echo, ownConfig()), namesFile);
  assert.equal(lines, [
    `# note: ${join(own, 'terraform.tfvars')} holds db_password in clear text; DB_PASSWORD in .env (passed as TF_VAR_db_password) or no password at all (RDS-managed) is safer`,
    `# using your ${join(own, 'terraform.tfvars')}, with the names from .env`,
    `# wrote ${namesFile} from the configuration`,
  ]);
  assert.equal(JSON.parse(readFileSync(namesFile, 'utf8')), tfNames(ownConfig()), 'the names, nothing your file decides');
  assert.is(tfNames(ownConfig()).ecs_cluster_name, 'llmops-cluster');
  assert.equal(Object.keys(tfNames(ownConfig())), Object.keys(NAME_VARIABLES));
  for (const text of ['my_db_password = "x"\n', 'region = "us-east-1"\n']) {
    writeFileSync(join(own, 'terraform.tfvars'), text);
    lines.length = 0;
    prepareTfvars(echo, ownConfig());
    assert.equal(lines, [`# using your ${join(own, 'terraform.tfvars')}, with the names from .env`], `no note for ${text}`);
  }
  // a name in your file would be overridden by the names file, and the scripts would not know it: refused
  writeFileSync(join(own, 'terraform.tfvars'), 'region = "us-east-1"\n  ecs_cluster_name = "mine"\ntask_family="fam"\n');
  assert.throws(
    () => prepareTfvars(echo, ownConfig()),
    (e: ConfigError) =>
      exitCodeFor(e) === ExitCode.USAGE &&
      e.message.includes(
        `  ✗ ${join(own, 'terraform.tfvars')}: sets ecs_cluster_name, task_family: the resource names come from .env, so the scripts and Terraform agree\n` +
          `    fix: move them to .env as ECS_CLUSTER=…, TASK_FAMILY=… and delete the lines from ${join(own, 'terraform.tfvars')}`,
      ),
  );
  writeFileSync(
    join(own, 'terraform.tfvars'),
    'region = "us-east-1"\ndb_password = "your-secure-password"\nalarm_email = "<ALARM_EMAIL>"\n',
  );
  assert.throws(
    () => prepareTfvars(echo, loadConfig({ env: { TF_DIR: own }, envFile: '' })),
    (e: ConfigError) =>
      exitCodeFor(e) === ExitCode.USAGE &&
      e.problems.map((p) => `${p.variable}: ${p.message.split('\n')[0]}`).join('\n') ===
        `${join(own, 'terraform.tfvars')} line 2: db_password still holds a placeholder value\n${join(own, 'terraform.tfvars')} line 3: alarm_email still holds a placeholder value` &&
      e.message.includes('fix: edit it (guide step 3), or delete the file to use the values from .env') &&
      !e.message.includes('your-secure-password') &&
      !e.message.includes('<ALARM_EMAIL>'),
  );
  assert.throws(
    () => prepareTfvars(echo, loadConfig({ env: { TF_DIR: mkdtempSync(join(tmpdir(), 'infra-http-')) }, envFile: '' })),
    (e: ConfigError) =>
      exitCodeFor(e) === ExitCode.USAGE &&
      e.message.includes('  ✗ DOMAIN_NAME: not set, and no certificate: the app would be served over plain HTTP\n    fix: set DOMAIN_NAME'),
  );
});

test('plan: identity, state bucket, variables, init, plan with the variables file, its summary; a dry run runs none of it', async () => {
  const sts = await stsEndpoint();
  try {
    await withEnv({ ...TEST_KEYS, ...NO_ENDPOINT, AWS_ENDPOINT_URL_STS: sts.url }, async () => {
      const s = setup(
        { FAKE_HEAD: 'ok', FAKE_POLICY: 'tls', FAKE_PLAN: PLAN([['create'], ['update'], ['delete', 'create'], ['delete']]) },
        { LLMOPS_DB_PASSWORD: 'pw-0123456789' },
      );
      const summary = await planInfrastructure(s.runner, s.config);
      assert.equal(summary, {
        add: 2,
        change: 1,
        destroy: 2,
        added: ['aws_thing.r0'],
        changed: ['aws_thing.r1'],
        replace: ['aws_thing.r2'],
        destroyed: ['aws_thing.r3'],
        noChanges: false,
      });
      assert.equal(
        s.calls('terraform').map((c) => c.split(' ').slice(1).join(' ')),
        [
          `init -input=false -no-color -backend-config=bucket=${BUCKET} -backend-config=key=llmops/terraform.tfstate -backend-config=region=us-east-1 -backend-config=use_lockfile=true -backend-config=encrypt=true`,
          'plan -input=false -no-color -var-file=llmops.tfvars.json -out=tfplan',
          'show -json -no-color tfplan',
        ],
      );
      assert.ok(s.lines.includes(`# state bucket ${BUCKET}: exists`));
      assert.ok(
        readFileSync(join(s.fb.dir, 'tf-vars'), 'utf8').includes('TF_VAR_db_password=pw-0123456789'),
        'the password by environment only',
      );
      assert.not.ok(s.calls('terraform').some((c) => c.includes('pw-0123456789')));

      const created = setup({ FAKE_HEAD: 'missing', FAKE_PLAN: PLAN([]) });
      assert.equal(await planInfrastructure(created.runner, created.config), NO_CHANGES);
      assert.ok(created.lines.includes(`# state bucket ${BUCKET}: created (versioned, encrypted, private)`));
    });
  } finally {
    sts.close();
  }
  const dry = setup({}, {}, true);
  assert.is(await planInfrastructure(dry.runner, dry.config), undefined);
  assert.equal(dry.fb.calls(), []);
});

test('apply: exactly the saved plan, once; refused without one; a plan without changes is not applied; outputs printed', async () => {
  // the identity; no published outputs object (S3's 404: a stack applied before it published them)
  const sts = await fakeAws(() => undefined);
  try {
    await withEnv(sts.env, async () => {
      const s = setup({ FAKE_HEAD: 'ok', FAKE_POLICY: 'tls', FAKE_PLAN: PLAN([['create']]) });
      const none = await applyPlan(s.runner, s.config, true).catch((e) => e);
      assert.instance(none, ScriptFailure);
      assert.is(none.exitCode, ExitCode.PREFLIGHT);
      assert.is(
        none.message,
        `no saved plan at ${join(s.dir, 'tfplan')}: run \`npm run step:3\` first (step 4 applies exactly what step 3 planned)`,
      );

      await planInfrastructure(s.runner, s.config);
      const shows = s.calls('terraform').length;
      applied.length = 0;
      assert.is(await applyPlan(s.runner, s.config, true), 'applied');
      assert.equal(applied, ['✓ applied.']);
      assert.equal(
        s
          .calls('terraform')
          .slice(shows)
          .map((c) => c.split(' ')[1]),
        ['apply'],
        'the summary step 3 made, not a second show',
      );
      assert.ok(s.lines.includes('# tfplan: summarized when it was saved (same SHA-256), not shown again'));
      assert.ok(s.lines.includes('Plan: 1 to add, 0 to change, 0 to destroy.'));
      assert.not.ok(existsSync(join(s.dir, 'tfplan')), 'a plan is applied once');
      assert.not.ok(existsSync(join(s.dir, 'tfplan.summary.json')));

      // without --yes it asks, naming the account and what it destroys; "n" applies nothing and keeps the plan
      const asked = setup({ FAKE_HEAD: 'ok', FAKE_POLICY: 'tls', FAKE_PLAN: PLAN([['delete'], ['create']]) });
      await planInfrastructure(asked.runner, asked.config);
      const no = await answering('n', () => applyPlan(asked.runner, asked.config, false));
      assert.is(no.value, 'declined');
      assert.is(no.asked, `Apply this plan to account ${TEST_ACCOUNT}? It DESTROYS 1 resource(s). [y/N] `);
      assert.not.ok(asked.calls('terraform').some((c) => c.includes(' apply ')));
      assert.ok(existsSync(join(asked.dir, 'tfplan')), 'a declined plan stays for the next run');
      const yes = await answering('y', () => applyPlan(asked.runner, asked.config, false));
      assert.is(yes.value, 'applied');
      const gentle = setup({ FAKE_HEAD: 'ok', FAKE_POLICY: 'tls', FAKE_PLAN: PLAN([['create']]) });
      await planInfrastructure(gentle.runner, gentle.config);
      const plain = await answering('yes', () => applyPlan(gentle.runner, gentle.config, false));
      assert.equal([plain.value, plain.asked], ['applied', `Apply this plan to account ${TEST_ACCOUNT}? [y/N] `]);

      const nothing = setup({ FAKE_HEAD: 'ok', FAKE_POLICY: 'tls', FAKE_PLAN: PLAN([]) });
      await planInfrastructure(nothing.runner, nothing.config);
      assert.is(await applyPlan(nothing.runner, nothing.config, true), 'no-changes');
      assert.not.ok(nothing.calls('terraform').some((c) => c.includes(' apply ')));
      assert.not.ok(existsSync(join(nothing.dir, 'tfplan')));

      const outputs = Object.fromEntries(
        ['alb_dns_name', 'ecr_repository_url', 'rds_endpoint', 'ecs_cluster_name', 'ecs_service_name', 'target_group_arn', 'app_url'].map(
          (k) => [k, { value: `<${k}>` }],
        ),
      );
      const out = setup({ FAKE_OUTPUTS: JSON.stringify(outputs) });
      assert.is(
        await printOutputs(out.runner, out.config, TEST_ACCOUNT),
        Object.keys(outputs)
          .map((k) => `  ${k} = <${k}>`)
          .join('\n'),
      );
    });
  } finally {
    sts.close();
  }
});

test('destroy: plan it, show it, confirm; lift the protections of what is in the state, then destroy; nothing or declined stops', async () => {
  await withEnv(NO_ENDPOINT, async () => {
    const s = setup({ FAKE_PLAN: PLAN([['delete'], ['delete']]), FAKE_STATE: 'aws_lb.this aws_vpc.main aws_ecr_repository.app' });
    let asked: any;
    assert.is(await destroyStack(s.runner, s.config, TEST_ACCOUNT, async (summary) => ((asked = summary), true)), 'destroyed');
    assert.is(asked.destroy, 2);
    assert.equal(
      s.calls('terraform').map((c) => c.split(' ').slice(1).join(' ')),
      [
        `init -input=false -no-color ${['bucket=' + BUCKET, 'key=llmops/terraform.tfstate', 'region=us-east-1', 'use_lockfile=true', 'encrypt=true'].map((b) => `-backend-config=${b}`).join(' ')}`,
        'plan -destroy -input=false -no-color -var-file=llmops.tfvars.json -out=tfplan',
        'show -json -no-color tfplan',
        'state list',
        'apply -input=false -no-color -auto-approve -var-file=llmops.tfvars.json -target=aws_lb.this -target=aws_ecr_repository.app',
        'destroy -input=false -no-color -auto-approve -var-file=llmops.tfvars.json',
      ],
    );
    assert.not.ok(existsSync(join(s.dir, 'tfplan')), 'a destroy plan is never left for step 4');
    const vars = readFileSync(join(s.fb.dir, 'tf-vars'), 'utf8');
    for (const v of ['TF_VAR_alb_deletion_protection=false', 'TF_VAR_db_deletion_protection=false', 'TF_VAR_ecr_force_delete=true'])
      assert.match(vars, v);

    const unprotected = setup({ FAKE_PLAN: PLAN([['delete']]), FAKE_STATE: 'aws_vpc.main' });
    await destroyStack(unprotected.runner, unprotected.config, TEST_ACCOUNT, async () => true);
    assert.not.ok(
      unprotected.calls('terraform').some((c) => c.includes('-target=')),
      'nothing protected: no targeted apply',
    );

    const nothing = setup({ FAKE_PLAN: PLAN([]) });
    assert.is(
      await destroyStack(
        nothing.runner,
        nothing.config,
        TEST_ACCOUNT,
        async (): Promise<boolean> => assert.unreachable('nothing to confirm') as never,
      ),
      'nothing',
    );
    const declined = setup({ FAKE_PLAN: PLAN([['delete']]) });
    assert.is(await destroyStack(declined.runner, declined.config, TEST_ACCOUNT, async () => false), 'declined');
    assert.not.ok(declined.calls('terraform').some((c) => / (apply|destroy) /.test(c)));

    const dry = setup({}, {}, true);
    assert.is(await destroyStack(dry.runner, dry.config, TEST_ACCOUNT, async () => false), 'destroyed');
    assert.equal(dry.fb.calls(), []);
    assert.ok(
      dry.lines.some((l) =>
        l.includes('-target=aws_lb.this -target=aws_db_instance.this -target=aws_ecr_repository.app -target=aws_s3_bucket.alb_logs'),
      ),
    );
  });
});

test('the plan summary: a replacement or an update alone is a change; no changes when nothing is listed; the lines of a destructive plan', () => {
  assert.is(summarizePlan(JSON.parse(PLAN([['delete', 'create']]))).noChanges, false);
  assert.is(summarizePlan(JSON.parse(PLAN([['create'], ['update']]))).noChanges, false);
  assert.is(summarizePlan(JSON.parse(PLAN([['no-op'], ['read']]))).noChanges, true);
  for (const empty of [{}, undefined, { resource_changes: [{ address: 'x' }] }]) assert.equal(summarizePlan(empty), NO_CHANGES);
  // each resource named under what happens to it (npm run diff lists them)
  const named = summarizePlan(JSON.parse(PLAN([['create'], ['update'], ['delete', 'create'], ['delete'], ['no-op']])));
  assert.equal(
    [named.added, named.changed, named.replace, named.destroyed],
    [['aws_thing.r0'], ['aws_thing.r1'], ['aws_thing.r2'], ['aws_thing.r3']],
  );
  assert.is(
    formatSummary(summarizePlan(JSON.parse(PLAN([['create', 'delete'], ['delete'], ['update']])))),
    'Plan: 1 to add, 1 to change, 2 to destroy.\n  ! REPLACE aws_thing.r0 (destroyed, then created)\n  ! DESTROY aws_thing.r1',
  );
});

test.run();
