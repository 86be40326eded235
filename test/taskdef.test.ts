// Step 6 in seconds, on canned CLI answers (the end-to-end file proves it against the sandbox): a new image
// registers a revision tagged with the release and deploys it; the same image and configuration registers
// nothing; a service at zero tasks gets its count back; the refusals; the migration's task definition; and the
// diff that decides it all.
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../lib/config.js';
import { ExitCode, ScriptFailure, UsageError } from '../lib/errors.js';
import { Runner } from '../lib/run.js';
import {
  canonicalTaskDefinition,
  diffLines,
  migrationTaskDefinition,
  renderTaskDefinition,
  templateValues,
  validateTaskDefinition,
} from '../lib/taskdef.js';
import { releaseMigration } from '../scripts/migrate.js';
import { DB_USER_TAG, dbUserMarker } from '../lib/dbuser.js';
import { releaseTaskDefinition, step as taskDefinitionStep } from '../scripts/06-taskdef.js';
import { newContext } from '../lib/pipeline.js';
import { fakeBins, type FakeBins } from './helpers/fake-bin.js';
import { withEnv } from './helpers/script.js';
import { AwsError, fakeAws, setEnv, type FakeAws } from './helpers/fake-aws.js';
import { isDeepStrictEqual } from 'node:util';
import { stsEndpoint, TEST_ACCOUNT, TEST_KEYS } from './helpers/sts.js';

process.env.LLMOPS_STATE_DIR = mkdtempSync(join(tmpdir(), 'taskdef-state-'));
const DIGEST = `sha256:${'cd'.repeat(32)}`;
const REPO = `${TEST_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/llmops-system`;
const TD = (n: number, family = 'llmops-task') => `arn:aws:ecs:us-east-1:${TEST_ACCOUNT}:task-definition/${family}:${n}`;
const OUTPUTS = Object.fromEntries(
  Object.entries({
    execution_role_arn: `arn:aws:iam::${TEST_ACCOUNT}:role/llmops-execution`,
    migration_execution_role_arn: `arn:aws:iam::${TEST_ACCOUNT}:role/llmops/llmops-ecs-migrate-execution`,
    task_role_arn: `arn:aws:iam::${TEST_ACCOUNT}:role/llmops-task`,
    rds_address: 'llmops-db.example.rds.amazonaws.com',
    rds_port: 5432,
    db_name: 'llmops',
    db_username: 'llmops_admin',
    db_password_secret_arn: `arn:aws:secretsmanager:us-east-1:${TEST_ACCOUNT}:secret:llmops/db/password`,
    db_app_username: 'llmops_app',
    db_app_secret_arn: `arn:aws:secretsmanager:us-east-1:${TEST_ACCOUNT}:secret:llmops/db/app`,
    db_app_secret_version: 'v-1111',
    app_secret_arn: `arn:aws:secretsmanager:us-east-1:${TEST_ACCOUNT}:secret:llmops/app/env`,
  }).map(([k, v]) => [k, { value: v }]),
);

/**
 * The reads step 6 makes through the SDK, answered by this file's AWS endpoint from the current fakes: the outputs
 * object, the service (`sdk.service`: FAKE_SERVICE), the task definition it runs (`current.json` beside the fakes),
 * the scan (one HIGH finding); each recorded in the fakes' log, so that their calls list them in order.
 */
const sdk = {
  fb: undefined as FakeBins | undefined,
  service: '{}',
  outputs: {} as Record<string, string>,
  tags: [] as { key: string; value: string }[],
};
let endpoint: FakeAws;
let restoreEnv: () => void;
test.before(async () => {
  endpoint = await fakeAws(
    (call) => {
      if (call.name === 's3 cp') return { ...Object.fromEntries(Object.entries(OUTPUTS).map(([k, v]) => [k, v.value])), ...sdk.outputs };
      if (call.name === 'ecs describe-services') return JSON.parse(sdk.service);
      if (call.name === 'ecs describe-task-definition') {
        if (!isDeepStrictEqual(call.input.include, ['TAGS'])) return new AwsError(400, 'Unexpected', 'without its tags');
        // the running release's tags: by default those of a release whose database user step 6 already set
        return { tags: sdk.tags, ...JSON.parse(readFileSync(join(sdk.fb!.dir, 'current.json'), 'utf8')) };
      }
      if (call.name === 'ecr describe-image-scan-findings')
        return { imageScanStatus: { status: 'COMPLETE' }, imageScanFindings: { findings: [{ name: 'CVE-1', severity: 'HIGH' }] } };
      return new AwsError(400, 'Unexpected', call.name);
    },
    () => sdk.fb?.log,
  );
  restoreEnv = setEnv(endpoint.env);
});
test.after(() => {
  restoreEnv();
  endpoint.close();
});

/**
 * aws and terraform as step 6 calls them. The service (FAKE_SERVICE, JSON), the task definition it runs
 * (`current.json` beside the fakes), register-task-definition (copies what it got to `registered-<n>.json`,
 * answers revision 8, or 3 of <family>-migrate), update-service, describe-task-definition of the migration
 * family (`migration.json` when there is one).
 */
function fakeCli(): FakeBins {
  const fb = fakeBins({
    aws: `here="$(dirname "$0")"
case "$1 $2" in
  "ecs describe-services") echo "$FAKE_SERVICE";;
  "ecs describe-task-definition")
    case "$4" in
      *-migrate) [ -e "$here/migration.json" ] && cat "$here/migration.json" || { echo "An error occurred (ClientException): Unable to describe task definition." >&2; exit 254; };;
      *) [ "$5 $6" = "--include TAGS" ] || exit 9; cat "$here/current.json";;
    esac;;
  "ecs register-task-definition")
    n=$(ls "$here" | grep -c '^registered-'); cp "\${4#file://}" "$here/registered-$n.json"
    family=$(sed -n 's/.*"family": "\\([^"]*\\)".*/\\1/p' "$here/registered-$n.json" | head -1)
    case "$family" in *-migrate) rev=3;; *-db-user) rev=5;; *) rev=18;; esac
    echo "{\\"taskDefinition\\":{\\"taskDefinitionArn\\":\\"arn:aws:ecs:us-east-1:${TEST_ACCOUNT}:task-definition/$family:$rev\\"}}";;
  "ecs update-service") echo '{"id":"ecs-svc/42","status":"PRIMARY","rolloutState":"IN_PROGRESS"}';;
  "ecs run-task") case "$6" in *-db-user:*) t=u1;; *) t=m1;; esac; echo "{\\"tasks\\":[{\\"taskArn\\":\\"arn:aws:ecs:us-east-1:${TEST_ACCOUNT}:task/llmops-cluster/$t\\"}],\\"failures\\":[]}";;
  "ecs describe-tasks") case "$6" in */u1) echo "{\\"tasks\\":[{\\"lastStatus\\":\\"STOPPED\\",\\"containers\\":[{\\"name\\":\\"db-user\\",\\"exitCode\\":\${FAKE_DB_USER_EXIT:-0}}]}]}";;
    *) echo "{\\"tasks\\":[{\\"lastStatus\\":\\"STOPPED\\",\\"containers\\":[{\\"name\\":\\"llmops-app\\",\\"exitCode\\":\${FAKE_MIGRATION_EXIT:-0}}]}]}";; esac;;
  "logs get-log-events") echo '{"events":[{"message":"migrated"}]}';;
  "ecr describe-image-scan-findings") echo '{"imageScanStatus":{"status":"COMPLETE"},"imageScanFindings":{"findings":[{"name":"CVE-1","severity":"HIGH"}]}}';;
  "s3 cp") echo '${JSON.stringify(Object.fromEntries(Object.entries(OUTPUTS).map(([k, v]) => [k, v.value])))}';;
  *) echo "unexpected: $*" >&2; exit 9;;
esac`,
    terraform: `case "$2" in init) mkdir -p "\${1#-chdir=}/.terraform";; output) echo '${JSON.stringify(OUTPUTS)}';; esac`,
  });
  sdk.fb = fb;
  return fb;
}

const service = (taskDefinition: string | undefined, desiredCount = 2, status = 'ACTIVE') =>
  JSON.stringify({
    services: [
      {
        status,
        desiredCount,
        taskDefinition,
        deployments: [{ id: 'ecs-svc/1', status: 'PRIMARY', rolloutState: 'COMPLETED' }],
        networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-1'], securityGroups: ['sg-1'], assignPublicIp: 'DISABLED' } },
      },
    ],
  });

const ref = { sha: 'a'.repeat(40), tag: 'aaaaaaaaaaaa', local: 'llmops-system:aaaaaaaaaaaa' } as any;

/** Step 6 against the fakes, as bootstrap runs it (the image and digest step 5 pushed). */
async function release(fb: FakeBins, fake: Record<string, string>, env: Record<string, string> = {}, known: any = { ref, digest: DIGEST }) {
  const lines: string[] = [];
  Object.assign(sdk, { fb, service: fake.FAKE_SERVICE ?? '{}', outputs: JSON.parse(fake.FAKE_OUTPUTS ?? '{}') });
  const runner = new Runner({
    echo: (l) => lines.push(l),
    env: { PATH: `${fb.dir}:${process.env.PATH}`, AWS_ENDPOINT_URL: undefined, ...fake },
  });
  const config = loadConfig({ env: { TF_DIR: mkdtempSync(join(tmpdir(), 'taskdef-tf-')), ...env }, envFile: '' });
  sdk.tags = fake.FAKE_RUNNING_TAGS
    ? JSON.parse(fake.FAKE_RUNNING_TAGS)
    : [{ key: DB_USER_TAG, value: dbUserMarker(config, { DB_CREDENTIAL_VERSION: OUTPUTS.db_app_secret_version!.value }) }];
  const sts = await stsEndpoint();
  try {
    const result = await withEnv(
      { ...TEST_KEYS, AWS_ENDPOINT_URL: undefined, AWS_ENDPOINT_URL_STS: sts.url, GITHUB_ACTOR: 'octocat' },
      // the deploy lock's take, recorded among the calls: a release takes it before its first change, a no-op never
      () =>
        releaseTaskDefinition(runner, config, true, known, undefined, undefined, async () =>
          appendFileSync(fb.log, 'aws\0LOCK\0take\0\x1e'),
        ).catch((e) => e),
    );
    const calls = fb
      .calls()
      .filter((c) => c[0] === 'aws')
      .map((c) => c.slice(1, 3).join(' '));
    // the outputs and the service are read side by side: which answer is logged first is the network's business
    if (calls[1] === 's3 cp') calls.unshift(...calls.splice(1, 1));
    return { result, lines, calls };
  } finally {
    sts.close();
  }
}

test('a new image: a revision registered with the release tags and deployed; its diff against the running one is printed', async () => {
  const fb = fakeCli();
  const old = renderTaskDefinition(valuesFor('llmops-system@sha256:old'));
  writeFileSync(join(fb.dir, 'current.json'), JSON.stringify({ taskDefinition: { ...old, taskDefinitionArn: TD(7), revision: 7 } }));
  const { result, lines, calls } = await release(fb, { FAKE_SERVICE: service(TD(7)) });
  assert.equal(result, {
    taskDefinitionArn: TD(18),
    revision: 18,
    changed: true,
    image: `${REPO}@${DIGEST}`,
    digest: DIGEST,
    deploymentId: 'ecs-svc/42',
    migrated: undefined,
  });
  assert.equal(calls, [
    's3 cp',
    'ecs describe-services',
    'ecs describe-task-definition',
    'ecr describe-image-scan-findings',
    'LOCK take',
    'ecs register-task-definition',
    'ecs update-service',
  ]);
  const registered = JSON.parse(readFileSync(join(fb.dir, 'registered-0.json'), 'utf8'));
  assert.is(registered.containerDefinitions[0].image, `${REPO}@${DIGEST}`, 'pinned by digest');
  const tags = Object.fromEntries(registered.tags.map((t: any) => [t.key, t.value]));
  assert.equal(Object.keys(tags), [
    'llmops:git-sha',
    'llmops:image-tag',
    'llmops:image-digest',
    'llmops:released-at',
    'llmops:released-by',
    'llmops:scan',
    'llmops:db-user',
  ]);
  assert.is(tags['llmops:scan'], 'HIGH=1', 'what the scan found, below the gate (CRITICAL)');
  assert.equal(
    [tags['llmops:git-sha'], tags['llmops:image-tag'], tags['llmops:image-digest'], tags['llmops:released-by']],
    [ref.sha, ref.tag, DIGEST, 'octocat'],
  );
  assert.ok(Math.abs(Date.parse(tags['llmops:released-at']) - Date.now()) < 60_000);
  assert.is(
    lines.find((l) => l.startsWith('Task definition changes')),
    `Task definition changes against ${TD(7)}:\n  image: llmops-system@sha256:old\n      -> ${REPO}@${DIGEST}`,
  );
  assert.ok(lines.includes(`  - ${'      '}"image": "llmops-system@sha256:old",`), lines.join('\n'));
  assert.ok(lines.includes(`  + ${'      '}"image": "${REPO}@${DIGEST}",`));
  assert.ok(lines.includes('# deployment ecs-svc/42 started (IN_PROGRESS)'));
  const update = fb.calls().find((c) => c[2] === 'update-service')!;
  assert.not.ok(update.includes('--desired-count'), 'a running service keeps its count (autoscaling owns it)');
  assert.ok(update.join(' ').includes(`--task-definition ${TD(18)}`));
});

test("DEPLOY_STRATEGY=canary: the strategy goes with the release's update-service (Terraform's configuration sent back whole, the second target group, the rule, the role); a service that deploys so already gets none; a stack not applied for it is refused before anything is registered", async () => {
  const ALT = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/llmops-targets-alt/2';
  const RULE = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/llmops-alb/1/2/3';
  const ROLE = `arn:aws:iam::${TEST_ACCOUNT}:role/llmops/llmops-ecs-infrastructure`;
  const canary = JSON.stringify({
    deployment_strategy: 'canary',
    alternate_target_group_arn: ALT,
    production_listener_rule_arn: RULE,
    ecs_infrastructure_role_arn: ROLE,
  });
  const terraforms = {
    deploymentCircuitBreaker: { enable: true, rollback: true },
    alarms: { alarmNames: ['llmops-deploy-5xx'], enable: true, rollback: true },
  };
  const lb = {
    targetGroupArn: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/llmops-targets/1',
    containerName: 'llmops-app',
    containerPort: 3000,
  };
  const withLb = (deploymentConfiguration: any, loadBalancers: any[]) => {
    const s = JSON.parse(service(TD(7)));
    Object.assign(s.services[0], { deploymentConfiguration, loadBalancers });
    return JSON.stringify(s);
  };
  const env = { LLMOPS_DEPLOY_STRATEGY: 'canary', LLMOPS_CANARY_PERCENT: '20' };
  const old = renderTaskDefinition(valuesFor('llmops-system@sha256:old'));
  const current = JSON.stringify({ taskDefinition: { ...old, taskDefinitionArn: TD(7), revision: 7 } });

  const fb = fakeCli();
  writeFileSync(join(fb.dir, 'current.json'), current);
  const first = await release(fb, { FAKE_SERVICE: withLb(terraforms, [lb]), FAKE_OUTPUTS: canary }, env);
  assert.is(first.result.strategy, 'CANARY', 'step 7 follows its stages');
  const update = fb.calls().find((c) => c[2] === 'update-service')!;
  const arg = (name: string) => JSON.parse(update[update.indexOf(name) + 1]!);
  const sent = arg('--deployment-configuration');
  assert.equal(sent, {
    ...terraforms,
    strategy: 'CANARY',
    bakeTimeInMinutes: 1,
    canaryConfiguration: { canaryPercent: 20, canaryBakeTimeInMinutes: 1 },
  });
  assert.equal(arg('--load-balancers'), [
    { ...lb, advancedConfiguration: { alternateTargetGroupArn: ALT, productionListenerRule: RULE, roleArn: ROLE } },
  ]);

  const again = fakeCli();
  writeFileSync(join(again.dir, 'current.json'), current);
  await release(again, { FAKE_SERVICE: withLb(sent, arg('--load-balancers')), FAKE_OUTPUTS: canary }, env);
  const second = again.calls().find((c) => c[2] === 'update-service')!;
  assert.not.ok(second.includes('--deployment-configuration') || second.includes('--load-balancers'), 'already so: only the release');

  const refused = fakeCli();
  writeFileSync(join(refused.dir, 'current.json'), current);
  const r = await release(refused, { FAKE_SERVICE: withLb(terraforms, [lb]) }, env);
  assert.instance(r.result, ScriptFailure);
  assert.is(r.result.exitCode, ExitCode.PREFLIGHT);
  assert.match(r.result.message, 'DEPLOY_STRATEGY=canary, but the stack was applied with deployment_strategy=rolling');
  assert.not.ok(r.calls.includes('ecs register-task-definition') || r.calls.includes('ecs update-service'), r.calls.join(', '));
});

/** The values step 6 renders with, for an image: what the running revision would have been made from. */
function valuesFor(image: string) {
  const outputs = { get: (name: string) => String(OUTPUTS[name]!.value) } as any;
  return templateValues(loadConfig({ env: {}, envFile: '' }), outputs, image, ref.tag);
}

test('the same image and configuration: nothing registered, nothing deployed; at zero tasks the count comes back without a new revision', async () => {
  const fb = fakeCli();
  writeFileSync(join(fb.dir, 'current.json'), JSON.stringify({ taskDefinition: renderTaskDefinition(valuesFor('old')) }));
  const first = await release(fb, { FAKE_SERVICE: service(TD(7)) });
  assert.is(first.result.changed, true);
  // what ECS answers for it: the registered document with ECS's defaults and response fields
  const registered = JSON.parse(readFileSync(join(fb.dir, 'registered-0.json'), 'utf8'));
  for (const c of registered.containerDefinitions) Object.assign(c, { essential: true, cpu: 0 });
  writeFileSync(
    join(fb.dir, 'current.json'),
    JSON.stringify({
      taskDefinition: { ...registered, taskDefinitionArn: TD(8), revision: 8, status: 'ACTIVE', compatibilities: ['FARGATE'] },
      tags: registered.tags,
    }),
  );

  const same = fakeCli();
  writeFileSync(join(same.dir, 'current.json'), readFileSync(join(fb.dir, 'current.json')));
  const again = await release(same, { FAKE_SERVICE: service(TD(8)) });
  assert.equal(again.result, {
    taskDefinitionArn: TD(8),
    revision: 8,
    changed: false,
    image: `${REPO}@${DIGEST}`,
    digest: DIGEST,
    deploymentId: undefined,
    migrated: undefined,
  });
  assert.equal(again.calls, ['s3 cp', 'ecs describe-services', 'ecs describe-task-definition']);
  assert.equal(
    again.lines.filter((l) => !l.startsWith('$ ')),
    [`# ${TD(8)} already runs this image and configuration: no new revision`],
  );

  const zero = fakeCli();
  writeFileSync(join(zero.dir, 'current.json'), readFileSync(join(fb.dir, 'current.json')));
  const scaled = await release(zero, { FAKE_SERVICE: service(TD(8), 0) });
  assert.is(scaled.result.changed, false);
  assert.is(scaled.result.deploymentId, 'ecs-svc/42');
  assert.equal(scaled.calls, ['s3 cp', 'ecs describe-services', 'ecs describe-task-definition', 'LOCK take', 'ecs update-service']);
  const update = zero
    .calls()
    .find((c) => c[2] === 'update-service')!
    .join(' ');
  assert.ok(update.includes(`--task-definition ${TD(8)} --desired-count 2`), update);
});

test('the migration runs with the new revision before the service is updated; a failed migration updates nothing', async () => {
  const migrating = { LLMOPS_MIGRATE_COMMAND: '/bin/migrate up' };
  const old = renderTaskDefinition(valuesFor('llmops-system@sha256:old'));
  const fb = fakeCli();
  writeFileSync(join(fb.dir, 'current.json'), JSON.stringify({ taskDefinition: { ...old, taskDefinitionArn: TD(7), revision: 7 } }));
  const ok = await release(fb, { FAKE_SERVICE: service(TD(7)) }, migrating);
  assert.not.instance(ok.result, Error, String(ok.result?.message));
  assert.equal(ok.calls, [
    's3 cp',
    'ecs describe-services',
    'ecs describe-task-definition',
    'ecr describe-image-scan-findings',
    'LOCK take',
    'ecs register-task-definition',
    'ecs register-task-definition',
    'ecs run-task',
    'ecs describe-tasks',
    'logs get-log-events',
    'ecs update-service',
  ]);
  const runTask = fb.calls().find((c) => c[2] === 'run-task')!;
  assert.is(runTask[runTask.indexOf('--task-definition') + 1], TD(3, 'llmops-task-migrate'), "the new release's migration family");
  assert.is(ok.result.migrated?.exitCode, 0);
  // only the migration may read the master's secret: its own execution role, and the service never names that secret
  const registered = [0, 1].map((n) => JSON.parse(readFileSync(join(fb.dir, `registered-${n}.json`), 'utf8')));
  const migration = registered.find((td) => td.family === 'llmops-task-migrate')!;
  const serviceTd = registered.find((td) => td.family === 'llmops-task')!;
  const master = OUTPUTS.db_password_secret_arn!.value;
  assert.is(migration.executionRoleArn, OUTPUTS.migration_execution_role_arn!.value);
  assert.is(serviceTd.executionRoleArn, OUTPUTS.execution_role_arn!.value);
  assert.ok(migration.containerDefinitions[0].secrets.some((x: any) => x.name === 'DATABASE_PASSWORD' && x.valueFrom.startsWith(master)));
  assert.not.ok(
    serviceTd.containerDefinitions[0].secrets.some((x: any) => x.valueFrom.startsWith(master)),
    "the service's task definition names the master's secret",
  );

  const failing = fakeCli();
  writeFileSync(join(failing.dir, 'current.json'), JSON.stringify({ taskDefinition: { ...old, taskDefinitionArn: TD(7), revision: 7 } }));
  const failed = await release(failing, { FAKE_SERVICE: service(TD(7)), FAKE_MIGRATION_EXIT: '3' }, migrating);
  assert.instance(failed.result, ScriptFailure);
  assert.match(failed.result.message, 'the migration failed: it exited with code 3');
  assert.not.ok(failed.calls.includes('ecs update-service'), 'the service still runs the previous release');
});

const CA_PEM = '-----BEGIN CERTIFICATE-----\nMIIBsandboxRDSCA\n-----END CERTIFICATE-----';

test("the app's database user: a release whose password version or grants the running one was not given sets it first (<family>-db-user, the migration's role, the CA in it), before the migration and the service update; a failure updates nothing; the same version, or the master, runs nothing", async () => {
  const caFile = join(mkdtempSync(join(tmpdir(), 'rds-ca-')), 'bundle.pem');
  writeFileSync(caFile, `${CA_PEM}\n`);
  const env = { LLMOPS_DB_CA_BUNDLE_URL: `file://${caFile}` };
  const old = renderTaskDefinition(valuesFor('llmops-system@sha256:old'));
  const current = JSON.stringify({ taskDefinition: { ...old, taskDefinitionArn: TD(7), revision: 7 } });
  const prior = JSON.stringify([{ key: DB_USER_TAG, value: 'v-0000 ddl' }]); // a release before db_app_password_version was raised

  const fb = fakeCli();
  writeFileSync(join(fb.dir, 'current.json'), current);
  const ok = await release(
    fb,
    { FAKE_SERVICE: service(TD(7)), FAKE_RUNNING_TAGS: prior },
    { ...env, LLMOPS_MIGRATE_COMMAND: '/bin/migrate' },
  );
  assert.not.instance(ok.result, Error, String(ok.result?.message));
  assert.equal(ok.calls, [
    's3 cp',
    'ecs describe-services',
    'ecs describe-task-definition',
    'ecr describe-image-scan-findings',
    'LOCK take',
    'ecs register-task-definition',
    'ecs register-task-definition',
    'ecs run-task',
    'ecs describe-tasks',
    'logs get-log-events',
    'ecs register-task-definition',
    'ecs run-task',
    'ecs describe-tasks',
    'logs get-log-events',
    'ecs update-service',
  ]);
  const runs = fb.calls().filter((c) => c[2] === 'run-task');
  assert.equal(
    runs.map((c) => c[c.indexOf('--task-definition') + 1]),
    [TD(5, 'llmops-task-db-user'), TD(3, 'llmops-task-migrate')],
    'the user first, then the migration',
  );
  assert.is(runs[0]![runs[0]!.indexOf('--started-by') + 1], 'llmops-db-user');
  // its own container's log lines (ecs/db-user/<task id>), and what it is said as
  const logs = fb.calls().filter((c) => c[2] === 'get-log-events');
  assert.is(logs[0]![logs[0]!.indexOf('--log-stream-name') + 1], 'ecs/db-user/u1');
  assert.ok(
    ok.lines.includes("# the app's database user: created, or its password set, with llmops-task-db-user:5, before the service is updated"),
  );
  assert.ok(
    ok.lines.some((l) => l.startsWith('# database user: task u1 started')),
    ok.lines.join('\n'),
  );
  const registered = [0, 1, 2].map((n) => JSON.parse(readFileSync(join(fb.dir, `registered-${n}.json`), 'utf8')));
  const dbUser = registered.find((td) => td.family === 'llmops-task-db-user')!;
  const c = dbUser.containerDefinitions[0];
  const envOf = Object.fromEntries(c.environment.map((e: any) => [e.name, e.value]));
  const secretsOf = Object.fromEntries(c.secrets.map((e: any) => [e.name, e.valueFrom]));
  assert.is(
    dbUser.executionRoleArn,
    OUTPUTS.migration_execution_role_arn!.value,
    "the migration's role: the only one that reads the master's secret",
  );
  assert.equal(
    [c.name, c.image, c.user, c.readonlyRootFilesystem],
    ['db-user', 'public.ecr.aws/docker/library/postgres:15-alpine', '70:70', true],
  );
  assert.equal(c.entryPoint, ['/bin/sh', '-c']);
  assert.match(c.command[0], 'alter role :"app_user" with login password');
  assert.match(c.command[0], 'revoke create on schema public', 'with a migration the app does not change the schema');
  assert.equal(
    [envOf.PGUSER, envOf.APP_DATABASE_USER, envOf.PGHOST, envOf.PGSSLMODE, envOf.APP_CREATES_TABLES, envOf.RDS_CA_PEM],
    ['llmops_admin', 'llmops_app', 'llmops-db.example.rds.amazonaws.com', 'verify-full', 'off', CA_PEM],
  );
  assert.equal(secretsOf, {
    PGPASSWORD: `${OUTPUTS.db_password_secret_arn!.value}:password::`,
    APP_DATABASE_PASSWORD: `${OUTPUTS.db_app_secret_arn!.value}:password::`,
  });
  // the release says which password version and grants its tasks were given; it starts with the new version
  const serviceTd = registered.find((td) => td.family === 'llmops-task')!;
  assert.equal(
    serviceTd.tags.find((t: any) => t.key === DB_USER_TAG),
    { key: DB_USER_TAG, value: 'v-1111 dml' },
  );
  assert.ok(
    serviceTd.containerDefinitions[0].environment.some((e: any) => e.name === 'DATABASE_CREDENTIAL_VERSION' && e.value === 'v-1111'),
  );
  assert.match(
    ok.lines.join('\n'),
    `the RDS CA bundle the database user's task checks the server with: file://${caFile} (DB_CA_BUNDLE_URL)`,
  );

  // a failed user task: nothing migrated, the service untouched, the fix named
  const failing = fakeCli();
  writeFileSync(join(failing.dir, 'current.json'), current);
  const failed = await release(failing, { FAKE_SERVICE: service(TD(7)), FAKE_RUNNING_TAGS: prior, FAKE_DB_USER_EXIT: '2' }, env);
  assert.instance(failed.result, ScriptFailure);
  assert.match(failed.result.message, "the database user's task failed: it exited with code 2");
  assert.match(failed.result.message, 'DB_CA_BUNDLE_URL must be the CA bundle of the database');
  assert.not.ok(failed.calls.includes('ecs update-service'), 'the service still runs the previous release');

  // a first release (the bootstrap's: no tag) sets it too; without a migration the app may create its tables
  const first = fakeCli();
  writeFileSync(join(first.dir, 'current.json'), current);
  const bootstrap = await release(first, { FAKE_SERVICE: service(TD(7)), FAKE_RUNNING_TAGS: '[]' }, env);
  assert.not.instance(bootstrap.result, Error, String(bootstrap.result?.message));
  const firstUser = JSON.parse(readFileSync(join(first.dir, 'registered-1.json'), 'utf8'));
  assert.is(firstUser.family, 'llmops-task-db-user');
  assert.is(firstUser.containerDefinitions[0].environment.find((e: any) => e.name === 'APP_CREATES_TABLES').value, 'on');

  // the running release already holds this version and these grants (the default here): no user task
  const same = fakeCli();
  writeFileSync(join(same.dir, 'current.json'), current);
  const steady = await release(same, { FAKE_SERVICE: service(TD(7)) }, env);
  assert.not.ok(steady.calls.includes('ecs run-task'), 'a new image alone sets nothing');
  // as the master (the guide's way): never, and the release names the master
  const asMaster = fakeCli();
  writeFileSync(join(asMaster.dir, 'current.json'), current);
  const guide = await release(
    asMaster,
    { FAKE_SERVICE: service(TD(7)), FAKE_RUNNING_TAGS: '[]' },
    { ...env, LLMOPS_DB_CONNECT_AS: 'master' },
  );
  assert.not.ok(guide.calls.includes('ecs run-task'));
  const masterTd = JSON.parse(readFileSync(join(asMaster.dir, 'registered-0.json'), 'utf8'));
  assert.not.ok(masterTd.tags.some((t: any) => t.key === DB_USER_TAG));
  assert.ok(masterTd.containerDefinitions[0].environment.some((e: any) => e.name === 'DATABASE_USER' && e.value === 'llmops_admin'));
});

test('refused before anything changes: no service, no image in ECR', async () => {
  const inactive = fakeCli();
  const r = await release(inactive, { FAKE_SERVICE: service(TD(7), 2, 'INACTIVE') });
  assert.instance(r.result, ScriptFailure);
  assert.is(r.result.exitCode, ExitCode.PREFLIGHT);
  assert.is(r.result.message, 'service llmops-service is not ACTIVE in cluster llmops-cluster: run `npm run step:4` first');
  assert.equal(r.calls, ['s3 cp', 'ecs describe-services']);

  const missing = await release(fakeCli(), { FAKE_SERVICE: service(TD(7)) }, {}, { ref, digest: '' });
  assert.instance(missing.result, ScriptFailure);
  assert.is(missing.result.exitCode, ExitCode.PREFLIGHT);
  assert.is(missing.result.message, `ECR has no image ${REPO}:${ref.tag} (the current commit): run \`npm run step:5\` first`);
  assert.equal(missing.calls, []);
});

test('step 6, the definition: what step 5 pushed is deployed without asking ECR again; what it registered is reported; an unchanged release is a skip', async () => {
  const viaStep = async (fb: FakeBins, fake: Record<string, string>) => {
    Object.assign(sdk, { fb, service: fake.FAKE_SERVICE ?? '{}', outputs: JSON.parse(fake.FAKE_OUTPUTS ?? '{}') });
    const runner = new Runner({ echo: () => {}, env: { PATH: `${fb.dir}:${process.env.PATH}`, AWS_ENDPOINT_URL: undefined, ...fake } });
    const ctx = newContext(loadConfig({ env: { TF_DIR: mkdtempSync(join(tmpdir(), 'taskdef-tf-')) }, envFile: '' }), runner, true);
    ctx.ref = ref;
    ctx.pushed = { repositoryUrl: REPO, tag: ref.tag, digest: DIGEST, image: `${REPO}@${DIGEST}`, result: 'pushed' };
    const reported: string[] = [];
    const sts = await stsEndpoint();
    try {
      const skipped = await withEnv({ ...TEST_KEYS, AWS_ENDPOINT_URL: undefined, AWS_ENDPOINT_URL_STS: sts.url }, () =>
        taskDefinitionStep.run(ctx, runner, (t) => reported.push(t)),
      );
      return { skipped, reported, ctx };
    } finally {
      sts.close();
    }
  };
  const fb = fakeCli();
  writeFileSync(join(fb.dir, 'current.json'), JSON.stringify({ taskDefinition: renderTaskDefinition(valuesFor('old')) }));
  const changed = await viaStep(fb, { FAKE_SERVICE: service(TD(7)) });
  assert.is(changed.skipped, undefined);
  assert.equal(changed.reported, [`✓ registered ${TD(18)}\n  image ${REPO}@${DIGEST}`]);
  assert.is(changed.ctx.registered?.deploymentId, 'ecs-svc/42');
  assert.not.ok(
    fb.calls().some((c) => c[1] === 'ecr' && c[2] === 'describe-images'),
    'the digest step 5 pushed is used: ECR is not asked again',
  );

  const registered = JSON.parse(readFileSync(join(fb.dir, 'registered-0.json'), 'utf8'));
  const same = fakeCli();
  writeFileSync(join(same.dir, 'current.json'), JSON.stringify({ taskDefinition: { ...registered, taskDefinitionArn: TD(18) } }));
  const unchanged = await viaStep(same, { FAKE_SERVICE: service(TD(18)) });
  assert.is(unchanged.skipped, 'llmops-task:18 already runs this image: no new revision');
  assert.equal(unchanged.reported, [`✓ unchanged: ${TD(18)}\n  image ${REPO}@${DIGEST}`]);
});

test("the migration's task definition: the release's with the overlay (command, names merged), registered once per release", async () => {
  const values = { ...valuesFor(`${REPO}@${DIGEST}`), DB_APP_USER: 'llmops_app', DB_APP_SECRET_ARN: 'arn:app' };
  const release = renderTaskDefinition(values);
  const overlay = join(mkdtempSync(join(tmpdir(), 'taskdef-overlay-')), 'overlay.json');
  writeFileSync(
    overlay,
    JSON.stringify({
      family: '${TASK_FAMILY}-migrate',
      containerDefinitions: [
        {
          name: '${CONTAINER_NAME}',
          environment: [
            { name: 'DB_USER', value: '${DB_MASTER_USER}' },
            { name: 'MODE', value: 'migrate' },
          ],
        },
      ],
    }),
  );
  const td = migrationTaskDefinition({ ...release, taskDefinitionArn: TD(8), tags: [{ key: 'a', value: 'b' }] }, values, overlay);
  assert.is(td.family, 'llmops-task-migrate');
  assert.is(td.taskDefinitionArn, undefined, 'only what register-task-definition takes');
  assert.is(td.tags, undefined, "the release's tags are passed on registering");
  const env = Object.fromEntries(td.containerDefinitions[0].environment.map((e: any) => [e.name, e.value]));
  assert.is(env.DB_USER, 'llmops_admin', "the overlay's value wins");
  assert.is(env.MODE, 'migrate', 'and adds its own');
  assert.is(td.containerDefinitions[0].environment.filter((e: any) => e.name === 'DB_USER').length, 1);
  assert.equal(td.containerDefinitions[0].secrets, release.containerDefinitions[0].secrets);

  writeFileSync(overlay, JSON.stringify({ containerDefinitions: [{ name: 'sidecar' }] }));
  assert.throws(
    () => migrationTaskDefinition(release, values, overlay),
    (e: Error) =>
      e instanceof UsageError && e.message === `${overlay}: container(s) sidecar not in the task definition (CONTAINER_NAME is llmops-app)`,
  );

  // npm run migrate: derived from the release as ECS describes it; not registered again when unchanged
  const fb = fakeCli();
  writeFileSync(
    join(fb.dir, 'current.json'),
    JSON.stringify({ taskDefinition: { ...release, taskDefinitionArn: TD(8) }, tags: [{ key: 'llmops:image-tag', value: ref.tag }] }),
  );
  const runner = new Runner({ echo: () => {}, env: { PATH: `${fb.dir}:${process.env.PATH}`, AWS_ENDPOINT_URL: undefined } });
  const config = loadConfig({
    env: { TF_DIR: mkdtempSync(join(tmpdir(), 'taskdef-tf-')), LLMOPS_MIGRATE_COMMAND: '/bin/migrate up' },
    envFile: '',
  });
  const arn = await withEnv({ AWS_ENDPOINT_URL: undefined }, () => releaseMigration(runner, config, TEST_ACCOUNT, TD(8)));
  assert.is(arn, TD(3, 'llmops-task-migrate'));
  const registered = JSON.parse(readFileSync(join(fb.dir, 'registered-0.json'), 'utf8'));
  assert.equal(registered.tags, [{ key: 'llmops:image-tag', value: ref.tag }]);
  writeFileSync(
    join(fb.dir, 'migration.json'),
    JSON.stringify({ taskDefinition: { ...registered, taskDefinitionArn: TD(3, 'llmops-task-migrate') } }),
  );
  const lines: string[] = [];
  const again = await withEnv({ AWS_ENDPOINT_URL: undefined }, () =>
    releaseMigration(
      runner.withEcho((l) => lines.push(l)),
      config,
      TEST_ACCOUNT,
      TD(8),
    ),
  );
  assert.is(again, TD(3, 'llmops-task-migrate'));
  assert.equal(
    lines.filter((l) => l.startsWith('#')),
    ["# llmops-task-migrate:3 already is this release's migration: not registered again"],
  );

  writeFileSync(
    join(fb.dir, 'current.json'),
    JSON.stringify({ taskDefinition: { ...release, containerDefinitions: [{ ...release.containerDefinitions[0], name: 'other' }] } }),
  );
  const none = await withEnv({ AWS_ENDPOINT_URL: undefined }, () => releaseMigration(runner, config, TEST_ACCOUNT, TD(8)).catch((e) => e));
  assert.instance(none, ScriptFailure);
  assert.is(none.exitCode, ExitCode.PREFLIGHT);
  assert.is(none.message, `${TD(8)} has no container llmops-app (CONTAINER_NAME): nothing to migrate with`);
});

test("the diff: ECS's defaults and response fields are no change; the order of environment and secrets is none either; real changes with context", () => {
  const base = {
    family: 'f',
    containerDefinitions: [
      {
        name: 'app',
        image: 'i:1',
        essential: true,
        cpu: 0,
        readOnlyRootFilesystem: true,
        privileged: false,
        portMappings: [{ containerPort: 3000, hostPort: 3000, protocol: 'tcp' }],
        environment: [
          { name: 'B', value: '2' },
          { name: 'A', value: '1' },
        ],
        secrets: [],
        mountPoints: [{ sourceVolume: 'tmp', containerPath: '/tmp', readOnly: false }],
        interactive: false,
        pseudoTerminal: false,
        disableNetworking: false,
        configuredAtLaunch: false,
      },
    ],
  };
  const asDescribed = {
    ...base,
    taskDefinitionArn: 'arn',
    revision: 3,
    status: 'ACTIVE',
    requiresAttributes: [{ name: 'x' }],
    compatibilities: ['FARGATE'],
    registeredAt: 'now',
    registeredBy: 'me',
    tags: [],
    containerDefinitions: [
      { ...base.containerDefinitions[0], environment: [...base.containerDefinitions[0]!.environment].reverse(), volumesFrom: null },
    ],
  };
  const stripped = {
    family: 'f',
    containerDefinitions: [
      {
        name: 'app',
        image: 'i:1',
        readOnlyRootFilesystem: true,
        portMappings: [{ containerPort: 3000 }],
        environment: [
          { name: 'A', value: '1' },
          { name: 'B', value: '2' },
        ],
        mountPoints: [{ containerPath: '/tmp', sourceVolume: 'tmp' }],
      },
    ],
  };
  assert.equal(canonicalTaskDefinition(base), canonicalTaskDefinition(asDescribed));
  assert.equal(canonicalTaskDefinition(asDescribed), stripped);
  assert.equal(canonicalTaskDefinition(undefined), {});
  // a real change survives: another port, udp, a privileged container, hostPort other than containerPort
  const changed = JSON.parse(JSON.stringify(base));
  changed.containerDefinitions[0].portMappings = [{ containerPort: 3000, hostPort: 8080, protocol: 'udp' }];
  changed.containerDefinitions[0].essential = false;
  changed.containerDefinitions[0].cpu = 256;
  assert.equal(canonicalTaskDefinition(changed).containerDefinitions[0], {
    cpu: 256,
    environment: [
      { name: 'A', value: '1' },
      { name: 'B', value: '2' },
    ],
    essential: false,
    image: 'i:1',
    name: 'app',
    mountPoints: [{ containerPath: '/tmp', sourceVolume: 'tmp' }],
    portMappings: [{ containerPort: 3000, hostPort: 8080, protocol: 'udp' }],
    readOnlyRootFilesystem: true,
  });

  assert.equal(diffLines('a\nb\nc', 'a\nb\nc'), []);
  assert.equal(diffLines('1\n2\n3\n4\n5\n6\n7\n8', '1\n2\n3\n4\nX\n6\n7\n8'), ['  …', '  3', '  4', '+ X', '- 5', '  6', '  7', '  …']);
  assert.equal(diffLines('1\n2\n3', '1\n2\n3\n4', 1), ['  …', '  3', '+ 4']);
  // the longest common part is kept: two swaps are two moves, not four
  assert.equal(diffLines('1\n2\n3\n4\n5', '1\n3\n2\n5\n4', 9), ['  1', '+ 3', '  2', '+ 5', '- 3', '  4', '- 5']);
  assert.equal(diffLines('0\n1\n2', '1\n2', 0), ['- 0', '  …']);
  assert.equal(diffLines('a\nb', 'b\na', 5), ['+ b', '  a', '- b']);
  assert.equal(diffLines('a\nb\nc', 'a\nc'), ['  a', '- b', '  c']);
  assert.equal(diffLines('a\nc', 'a\nb\nc'), ['  a', '+ b', '  c']);
  assert.equal(diffLines('x\ny', 'y\nz'), ['- x', '  y', '+ z']);
  assert.equal(diffLines('1\n2\n3\n4\n5\n6\n7\n8\n9\n10', '1\n2\nA\n4\n5\n6\n7\n8\nB\n10'), [
    '  1',
    '  2',
    '+ A',
    '- 3',
    '  4',
    '  5',
    '  …',
    '  7',
    '  8',
    '+ B',
    '- 9',
    '  10',
  ]);
});

test('a task definition file is checked before anything is registered: every problem named, with the fix', () => {
  const file = 'config/ecs-task-definition.json';
  const problems = (td: unknown) => {
    try {
      validateTaskDefinition(td, file);
      return [];
    } catch (error) {
      assert.instance(error, UsageError);
      const [head, ...lines] = (error as Error).message.split('\n');
      assert.is(head, `${file}: ${lines.length} problem(s)`);
      return lines;
    }
  };
  const app = { name: 'app', image: 'i:1' };
  assert.equal(problems({ family: 'f', containerDefinitions: [app] }), []);
  for (const top of [null, 'x', [app]]) assert.equal(problems(top), ['  ✗ the top level must be a JSON object'], JSON.stringify(top));
  assert.equal(problems({ family: 'f', containerDefinitions: [app], cpuUnits: 1 }), [
    '  ✗ unknown key "cpuUnits" (register-task-definition accepts: family, taskRoleArn, executionRoleArn, networkMode, containerDefinitions, volumes, placementConstraints, requiresCompatibilities, cpu, memory, tags, pidMode, ipcMode, proxyConfiguration, inferenceAccelerators, ephemeralStorage, runtimePlatform, enableFaultInjection)',
  ]);
  for (const containers of [undefined, []])
    assert.equal(problems({ family: 'f', containerDefinitions: containers }), ['  ✗ "containerDefinitions" must be a non-empty array']);
  for (const bad of [{ image: 'i' }, { name: 'n' }, { name: 1, image: 'i' }, null])
    assert.equal(problems({ containerDefinitions: [bad] }), ['  ✗ every container needs a string "name" and "image"'], JSON.stringify(bad));
  assert.equal(
    problems({
      containerDefinitions: [
        {
          ...app,
          environment: [
            { name: 'DB_PASSWORD', value: 'x' },
            { name: 'API_KEY', value: '' },
            { name: 'HOST', value: 'h' },
            { value: 'v' },
            null,
          ],
          privileged: true,
          portMappings: [{ containerPort: '3000' }, { containerPort: 3000 }],
        },
      ],
    }),
    [
      '  ✗ container app: environment DB_PASSWORD looks like a secret in plain text; use "secrets": [{ "name": "DB_PASSWORD", "valueFrom": "<secret ARN>" }] (ECS.8)',
      '  ✗ container app: "privileged": true is not allowed (ECS.4)',
      '  ✗ container app: portMappings[].containerPort must be a number',
    ],
  );
  // environment values ECS wants as strings
  const rendered = renderTaskDefinition(valuesFor('img'));
  assert.ok(rendered.containerDefinitions[0].environment.every((e: any) => typeof e.value === 'string'));
});

test.run();
