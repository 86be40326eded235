// Unit tests of the step scripts' own logic (no AWS): tags, templates, diffs, plan summaries, failure
// explanations, step selection. Anything that talks to AWS is proven in e2e-sandbox.test.ts.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { reportError } from '../lib/cli.js';
import { loadConfig } from '../lib/config.js';
import { Runner } from '../lib/run.js';
import { runScriptFile, withEnv, ROOT } from './helpers/script.js';
import { ConfigError, ExitCode, exitCodeFor, ScriptFailure, UsageError } from '../lib/errors.js';
import { imageRef } from '../lib/image.js';
import { buildImage } from '../scripts/02-build.js';
import { formatSummary, prepareTfvars, showPlan, summarizePlan, tfvarsFromConfig } from '../lib/infra.js';
import { fakeBins } from './helpers/fake-bin.js';
import {
  canonicalTaskDefinition,
  databaseUser,
  diffLines,
  migrationTaskDefinition,
  renderTaskDefinition,
  TEMPLATE,
  templateValues,
} from '../lib/taskdef.js';
import { explainStoppedTask } from '../lib/diagnosis.js';
import { pollDelayMs } from '../lib/waiter.js';
import { selectSteps, stepList } from '../lib/pipeline.js';
import { STEPS } from '../scripts/bootstrap.js';

const config = loadConfig({ env: {}, envFile: '' });
const quiet = () => new Runner({ echo: () => {} });

const VALUES = {
  TASK_FAMILY: 'llmops-task',
  TASK_CPU: '512',
  TASK_MEMORY: '1024',
  CPU_ARCHITECTURE: 'X86_64',
  CONTAINER_NAME: 'llmops-app',
  CONTAINER_PORT: 3000,
  HEALTH_PATH: '/health',
  LOG_GROUP: '/ecs/llmops-task',
  AWS_REGION: 'us-east-1',
  IMAGE: '123456789012.dkr.ecr.us-east-1.amazonaws.com/llmops-system@sha256:' + 'a'.repeat(64),
  IMAGE_TAG: 'abc123def456',
  EXECUTION_ROLE_ARN: 'arn:aws:iam::123456789012:role/x',
  TASK_ROLE_ARN: 'arn:aws:iam::123456789012:role/y',
  DB_HOST: 'db.example',
  DB_PORT: '5432',
  DB_NAME: 'llmops',
  DB_USER: 'llmops',
  DB_CREDENTIAL_VERSION: 'master',
  DB_PASSWORD_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:rds-abc',
  APP_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:app-abc',
  DB_SSL_MODE: 'verify-full',
  DB_CA_BUNDLE: '/etc/ssl/certs/rds-global-bundle.pem',
};

function gitRepo(): string {
  const dir = mkdtempSync(join(tmpdir(), 'repo-'));
  const git = (...a: string[]) => execFileSync('git', ['-C', dir, '-c', 'user.email=t@example.com', '-c', 'user.name=t', ...a]);
  git('init', '-q');
  writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\n');
  git('add', '-A');
  git('commit', '-q', '-m', 'one');
  return dir;
}

test('image tag: the commit on a clean tree, -dirty-<hash> on a changed one, stable for the same change', async () => {
  const dir = gitRepo();
  const c = loadConfig({ env: { LLMOPS_BUILD_CONTEXT: dir }, envFile: '' });
  const clean = await imageRef(quiet(), c);
  assert.match(clean.tag, /^[0-9a-f]{12}$/);
  assert.is(clean.local, `llmops-system:${clean.tag}`);
  writeFileSync(join(dir, 'app.js'), 'x');
  const dirty1 = await imageRef(quiet(), c);
  const dirty2 = await imageRef(quiet(), c);
  assert.match(dirty1.tag, new RegExp(`^${clean.tag}-dirty-[0-9a-f]{8}$`));
  assert.is(dirty1.tag, dirty2.tag);
  writeFileSync(join(dir, 'app.js'), 'y');
  assert.is.not((await imageRef(quiet(), c)).tag, dirty1.tag, 'another change, another tag');
});

test('a dirty tree is refused in CI before docker runs', async () => {
  const dir = gitRepo();
  writeFileSync(join(dir, 'x'), 'x');
  const c = loadConfig({ env: { LLMOPS_BUILD_CONTEXT: dir }, envFile: '' });
  const ref = await imageRef(quiet(), c);
  const e = await withEnv({ CI: 'true' }, () => buildImage(quiet(), c, ref).catch((err) => err));
  assert.instance(e, ScriptFailure);
  assert.is(e.exitCode, ExitCode.PREFLIGHT);
  assert.match(e.message, 'uncommitted tree in CI');
});

test('not a git checkout: a clear preflight error naming BUILD_CONTEXT', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nogit-'));
  const c = loadConfig({ env: { LLMOPS_BUILD_CONTEXT: dir }, envFile: '' });
  const e = await imageRef(quiet(), c).catch((err) => err);
  assert.instance(e, ScriptFailure);
  assert.match(e.message, 'BUILD_CONTEXT');
});

test('task definition template renders: ports are numbers, env values strings, image by digest', () => {
  const td = renderTaskDefinition(VALUES);
  const c = td.containerDefinitions[0];
  assert.is(c.portMappings[0].containerPort, 3000);
  assert.ok(c.environment.every((e: any) => typeof e.value === 'string'));
  assert.match(c.image, /@sha256:/);
  assert.is(c.secrets.find((s: any) => s.name === 'DATABASE_PASSWORD').valueFrom, `${VALUES.DB_PASSWORD_SECRET_ARN}:password::`);
  // the database's certificate is checked against the image's bundle, its name against the endpoint
  const env = Object.fromEntries(c.environment.map((e: any) => [e.name, e.value]));
  assert.equal([env.PGSSLMODE, env.PGSSLROOTCERT], ['verify-full', '/etc/ssl/certs/rds-global-bundle.pem']);
});

test('SECRETS_KMS_KEY_ARN goes to Terraform as secrets_kms_key_arn; unset, Terraform keeps its default (the AWS managed key)', () => {
  const key = 'arn:aws:kms:us-east-1:123456789012:key/0123abcd-4567-89ef-0123-456789abcdef';
  assert.is(tfvarsFromConfig(loadConfig({ env: { LLMOPS_SECRETS_KMS_KEY_ARN: key }, envFile: '' })).secrets_kms_key_arn, key);
  assert.not.ok('secrets_kms_key_arn' in tfvarsFromConfig(loadConfig({ env: {}, envFile: '' })));
});

test('DB_SSL_MODE and DB_CA_BUNDLE: verify-full and the RDS bundle path by default, into the task definition and Terraform; a bad one is named', () => {
  const values = templateValues(loadConfig({ env: {}, envFile: '' }), { get: () => 'x' } as any, 'img', 'tag');
  assert.equal([values.DB_SSL_MODE, values.DB_CA_BUNDLE], ['verify-full', '/etc/ssl/certs/rds-global-bundle.pem']);
  const custom = loadConfig({ env: { LLMOPS_DB_SSL_MODE: 'require', LLMOPS_DB_CA_BUNDLE: '/app/certs/rds.pem' }, envFile: '' });
  assert.equal([tfvarsFromConfig(custom).db_ssl_mode, tfvarsFromConfig(custom).db_ca_bundle], ['require', '/app/certs/rds.pem']);
  for (const [name, value, message] of [
    ['DB_SSL_MODE', 'disable', 'expected verify-full (the default'],
    ['DB_CA_BUNDLE', 'certs/rds.pem', 'expected the absolute path, inside the image'],
  ] as const) {
    const e = (() => {
      try {
        return loadConfig({ env: { [`LLMOPS_${name}`]: value }, envFile: '' });
      } catch (error) {
        return error;
      }
    })() as Error;
    assert.instance(e, ConfigError, name);
    assert.match(e.message, name);
    assert.match(e.message, message);
  }
});

test('PLATFORM decides the build platform, runtimePlatform and the Terraform variable together', () => {
  const outputs = { get: (k: string) => `<${k}>` } as any;
  for (const [platform, arch] of [
    ['linux/amd64', 'X86_64'],
    ['linux/arm64', 'ARM64'],
  ] as const) {
    const c = loadConfig({ env: { LLMOPS_PLATFORM: platform }, envFile: '' });
    assert.is(c.app.platform, platform);
    assert.is(renderTaskDefinition(templateValues(c, outputs, 'img@sha256:x', 't')).runtimePlatform.cpuArchitecture, arch);
    assert.is(tfvarsFromConfig(c).cpu_architecture, arch);
  }
  assert.is(loadConfig({ env: {}, envFile: '' }).app.platform, 'linux/amd64', 'X86_64 Fargate by default, as the guide');
  try {
    loadConfig({ env: { LLMOPS_PLATFORM: 'linux/386' }, envFile: '' });
    assert.unreachable('linux/386 accepted');
  } catch (error: any) {
    assert.match(
      error.message,
      /PLATFORM="linux\/386" \(from the environment.s LLMOPS_PLATFORM\): expected linux\/amd64 .* or linux\/arm64/,
    );
  }
});

function badTemplate(mutate: (td: any) => void | string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tpl-'));
  const td = JSON.parse(execFileSync('cat', [TEMPLATE], { encoding: 'utf8' }));
  const replaced = mutate(td);
  const file = join(dir, 'ecs-task-definition.json');
  writeFileSync(file, typeof replaced === 'string' ? replaced : JSON.stringify(td));
  return file;
}

const BAD_TEMPLATES: [string, (td: any) => void | string, RegExp][] = [
  ['malformed JSON', () => '{ "family": ', /not valid JSON/],
  ['unknown placeholder', (td) => void (td.family = '${NOT_A_THING}'), /unknown placeholder.*NOT_A_THING/],
  ['unknown key', (td) => void (td.famliy = 'x'), /unknown key "famliy"/],
  [
    'secret in plain environment',
    (td) => void td.containerDefinitions[0].environment.push({ name: 'DB_PASSWORD', value: 'hunter2' }),
    /DB_PASSWORD looks like a secret/,
  ],
  ['privileged container', (td) => void (td.containerDefinitions[0].privileged = true), /privileged/],
  ['no containers', (td) => void (td.containerDefinitions = []), /non-empty array/],
  ['port not a number', (td) => void (td.containerDefinitions[0].portMappings[0].containerPort = 'http'), /containerPort must be a number/],
];

for (const [name, mutate, message] of BAD_TEMPLATES) {
  test(`bad task definition template: ${name} -> usage error naming the file (exit 2)`, () => {
    const file = badTemplate(mutate);
    try {
      renderTaskDefinition(VALUES, file);
      assert.unreachable('should fail');
    } catch (error) {
      assert.instance(error, UsageError);
      assert.match((error as Error).message, message);
      assert.match((error as Error).message, file);
      const stderr = process.stderr.write;
      process.stderr.write = () => true;
      try {
        assert.is(reportError(error), ExitCode.USAGE);
      } finally {
        process.stderr.write = stderr;
      }
    }
  });
}

const OUTPUTS = {
  db_username: 'llmops',
  db_password_secret_arn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:rds-master',
  db_app_username: 'llmops_app',
  db_app_secret_arn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:llmops/db/app',
  db_app_secret_version: 'v-2222',
};
const outputs = { get: (k: string) => (OUTPUTS as Record<string, string>)[k] ?? `<${k}>` } as any;

test("the app's database user: its own user and secret by default, with a migration or without; the master only with DB_CONNECT_AS=master, as the guide does", () => {
  const withMigration = loadConfig({ env: { LLMOPS_MIGRATE_COMMAND: '/bin/migrate' }, envFile: '' });
  for (const c of [config, withMigration]) {
    const app = databaseUser(c, outputs);
    assert.is(app.DB_USER, 'llmops_app');
    assert.is(app.DB_PASSWORD_SECRET_ARN, OUTPUTS.db_app_secret_arn);
    assert.is(app.DB_CREDENTIAL_VERSION, 'v-2222', "the app password's version: a new one is a new release");
    assert.is(app.DB_MASTER_SECRET_ARN, OUTPUTS.db_password_secret_arn, "for the migration's and the user's task only");
  }
  const master = databaseUser(loadConfig({ env: { LLMOPS_DB_CONNECT_AS: 'master' }, envFile: '' }), outputs);
  assert.is(master.DB_USER, 'llmops');
  assert.is(master.DB_PASSWORD_SECRET_ARN, OUTPUTS.db_password_secret_arn);
  assert.is(master.DB_APP_USER, undefined, 'no app user is named where nothing creates it');
  assert.is(master.DB_CREDENTIAL_VERSION, 'master');
  // a migration always has the service connect as its own user
  assert.throws(
    () => loadConfig({ env: { LLMOPS_DB_CONNECT_AS: 'master', LLMOPS_MIGRATE_COMMAND: '/bin/migrate' }, envFile: '' }),
    /DB_CONNECT_AS="master" .*: is master while MIGRATE_COMMAND is set: with a migration the service connects as its own user/,
  );
});

test("the migration's task definition: <family>-migrate, master and app credentials, the service's keeps only the app's", () => {
  const withMigration = loadConfig({ env: { LLMOPS_MIGRATE_COMMAND: '/bin/migrate' }, envFile: '' });
  const values = { ...VALUES, ...databaseUser(withMigration, outputs) };
  const service = renderTaskDefinition(values);
  const serviceSecrets = JSON.stringify(service.containerDefinitions[0].secrets);
  assert.not.match(serviceSecrets, 'rds-master', "the service's task definition cannot read the master secret");
  assert.match(serviceSecrets, `${OUTPUTS.db_app_secret_arn}:password::`);
  const m = migrationTaskDefinition({ ...service, tags: [{ key: 'k', value: 'v' }] }, values);
  assert.is(m.family, 'llmops-task-migrate');
  assert.is(m.tags, undefined, 'tags are given at register, not copied from a described revision');
  const c = m.containerDefinitions[0];
  const env = Object.fromEntries(c.environment.map((e: any) => [e.name, e.value]));
  const secrets = Object.fromEntries(c.secrets.map((e: any) => [e.name, e.valueFrom]));
  assert.is(env.DATABASE_USER, 'llmops', 'the migration connects as the master');
  assert.is(env.APP_DATABASE_USER, 'llmops_app');
  assert.is(env.DATABASE_HOST, 'db.example', "the release's other settings are kept");
  assert.is(secrets.DATABASE_PASSWORD, `${OUTPUTS.db_password_secret_arn}:password::`);
  assert.is(secrets.APP_DATABASE_PASSWORD, `${OUTPUTS.db_app_secret_arn}:password::`);
  assert.is(secrets.APP_SECRETS, VALUES.APP_SECRET_ARN);
  assert.is(c.environment.filter((e: any) => e.name === 'DATABASE_USER').length, 1, 'replaced, not doubled');
  assert.is(c.image, VALUES.IMAGE, "the release's image");
  assert.is(service.family, 'llmops-task', 'the release itself is unchanged');
  // an overlay naming a container the release does not have is refused, naming the file
  const dir = mkdtempSync(join(tmpdir(), 'overlay-'));
  writeFileSync(join(dir, 'o.json'), JSON.stringify({ containerDefinitions: [{ name: 'nope', environment: [] }] }));
  assert.throws(
    () => migrationTaskDefinition(service, values, join(dir, 'o.json')),
    /o\.json: container\(s\) nope not in the task definition/,
  );
});

test('no false diff: a task definition as ECS returns it (defaults filled) equals the rendered one', () => {
  const rendered = renderTaskDefinition(VALUES);
  const described = JSON.parse(JSON.stringify(rendered));
  Object.assign(described, {
    taskDefinitionArn: 'arn:aws:ecs:us-east-1:123456789012:task-definition/llmops-task:7',
    revision: 7,
    status: 'ACTIVE',
    compatibilities: ['EC2', 'FARGATE'],
    requiresAttributes: [{ name: 'x' }],
    registeredAt: '2026-01-01',
    registeredBy: 'me',
  });
  const c = described.containerDefinitions[0];
  Object.assign(c, { cpu: 0, volumesFrom: [], systemControls: [] });
  c.portMappings[0].hostPort = 3000;
  c.environment.reverse();
  described.volumes[0].configuredAtLaunch = false;
  assert.equal(
    diffLines(JSON.stringify(canonicalTaskDefinition(described), null, 2), JSON.stringify(canonicalTaskDefinition(rendered), null, 2)),
    [],
  );
});

test('the diff shows an image change', () => {
  const a = renderTaskDefinition(VALUES);
  const b = renderTaskDefinition({ ...VALUES, IMAGE: VALUES.IMAGE.replace(/a{64}/, 'b'.repeat(64)) });
  const diff = diffLines(JSON.stringify(canonicalTaskDefinition(a), null, 2), JSON.stringify(canonicalTaskDefinition(b), null, 2));
  assert.ok(diff.some((l) => l.startsWith('-') && l.includes('aaaa')));
  assert.ok(diff.some((l) => l.startsWith('+') && l.includes('bbbb')));
});

test('plan summary counts and highlights what is destroyed or replaced', () => {
  const s = summarizePlan({
    resource_changes: [
      { address: 'aws_vpc.this', change: { actions: ['no-op'] } },
      { address: 'aws_lb.this', change: { actions: ['create'] } },
      { address: 'aws_ecs_service.app', change: { actions: ['update'] } },
      { address: 'aws_db_instance.this', change: { actions: ['delete', 'create'] } },
      { address: 'aws_s3_bucket.old', change: { actions: ['delete'] } },
    ],
  });
  assert.equal([s.add, s.change, s.destroy], [2, 1, 2]);
  const text = formatSummary(s);
  assert.match(text, 'Plan: 2 to add, 1 to change, 2 to destroy.');
  assert.match(text, '! REPLACE aws_db_instance.this');
  assert.match(text, '! DESTROY aws_s3_bucket.old');
  assert.match(formatSummary(summarizePlan({ resource_changes: [] })), 'No changes');
});

test('step 4 takes the summary step 3 made of the same saved plan; a plan file changed since is shown again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'llmops-plan-'));
  const c = loadConfig({ env: { TF_DIR: dir }, envFile: '' });
  const fb = fakeBins({ terraform: `echo '{"resource_changes":[{"address":"aws_s3_bucket.old","change":{"actions":["delete"]}}]}'` });
  const runner = new Runner({ echo: () => {}, env: { PATH: `${fb.dir}:${process.env.PATH}` } });
  const shows = () => fb.calls().filter((call) => call[0] === 'terraform' && call.includes('show')).length;
  writeFileSync(join(dir, 'tfplan'), 'the first plan');
  const first = await showPlan(runner, c);
  assert.equal([first.destroy, first.destroyed, shows()], [1, ['aws_s3_bucket.old'], 1]);
  assert.equal(await showPlan(runner, c), first);
  assert.is(shows(), 1, 'the same plan file is not shown a second time');
  // a new plan saved over it (another step 3, or by hand): the record no longer matches its digest
  writeFileSync(join(dir, 'tfplan'), 'the second plan');
  fb.add('terraform', `echo '{"resource_changes":[]}'`);
  const second = await showPlan(runner, c);
  assert.equal([second.noChanges, shows()], [true, 2], 'a changed plan file is shown again');
});

test("tfvars from the config: the guide's names, no secrets", () => {
  const c = loadConfig({ env: { LLMOPS_DB_PASSWORD: 'Sup3r-secret-pw', LLMOPS_ALARM_EMAIL: 'ops@example.com' }, envFile: '' });
  const vars = tfvarsFromConfig(c);
  assert.is(vars.ecs_cluster_name, 'llmops-cluster');
  assert.is(vars.alarm_email, 'ops@example.com');
  assert.not.ok(JSON.stringify(vars).includes('Sup3r-secret-pw'), 'the DB password goes through TF_VAR_db_password, never a file');
});

test('HTTPS by default: no domain and no opt-in is refused before anything is written (exit 2, naming the settings); ALLOW_PLAIN_HTTP=true or a domain goes on', () => {
  const write = (env: Record<string, string>) => {
    const dir = mkdtempSync(join(tmpdir(), 'tf-'));
    try {
      return { file: prepareTfvars(quiet(), loadConfig({ env: { TF_DIR: dir, ...env }, envFile: '' })), dir };
    } catch (err) {
      return { error: err as ConfigError, dir };
    }
  };
  const refused = write({});
  assert.instance(refused.error, ConfigError);
  assert.is(exitCodeFor(refused.error), ExitCode.USAGE);
  for (const name of ['DOMAIN_NAME', 'HOSTED_ZONE_ID', 'ALLOW_PLAIN_HTTP=true']) assert.match(refused.error!.message, name);
  assert.equal(readdirSync(refused.dir), [], 'nothing written');
  const http = write({ LLMOPS_ALLOW_PLAIN_HTTP: 'true' });
  assert.is(JSON.parse(readFileSync(http.file!, 'utf8')).allow_plain_http, true);
  const https = write({ LLMOPS_DOMAIN_NAME: 'app.example.com', LLMOPS_HOSTED_ZONE_ID: 'Z0123456789ABC' });
  const vars = JSON.parse(readFileSync(https.file!, 'utf8'));
  assert.is(vars.domain_name, 'app.example.com');
  assert.is(vars.allow_plain_http, undefined, 'with a certificate, no opt-in is written');
  assert.throws(() => loadConfig({ env: { LLMOPS_ALLOW_PLAIN_HTTP: 'yes' }, envFile: '' }), /ALLOW_PLAIN_HTTP.*expected true or false/s);
});

test('your own terraform.tfvars with placeholders left is refused (exit 2)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tf-'));
  writeFileSync(join(dir, 'terraform.tfvars'), 'alarm_email = "ops@example.com"\ndb_password = "your-secure-password"\n');
  const c = loadConfig({ env: { TF_DIR: dir }, envFile: '' });
  const e = (() => {
    try {
      prepareTfvars(quiet(), c);
    } catch (err) {
      return err as ConfigError;
    }
  })();
  assert.instance(e, ConfigError);
  assert.is(exitCodeFor(e), ExitCode.USAGE);
  assert.match(e!.message, 'line 2');
  assert.not.match(e!.message, 'your-secure-password', 'the value itself is not echoed');
});

test('stopped-task explanations map to fixes', () => {
  assert.match(
    explainStoppedTask({ stoppedReason: 'CannotPullContainerError: pull image manifest has been retried 5 time(s)' }),
    'NAT gateway or VPC endpoints',
  );
  assert.match(
    explainStoppedTask({ stoppedReason: 'ResourceInitializationError: unable to pull secrets or registry auth' }),
    'npm run secrets',
  );
  assert.match(explainStoppedTask({ stoppedReason: 'Essential container in task exited', containers: [{ exitCode: 137 }] }), 'exit 137');
  assert.match(
    explainStoppedTask({ stoppedReason: 'Essential container in task exited', containers: [{ exitCode: 3 }] }),
    'exited with code 3',
  );
  assert.match(
    explainStoppedTask({
      stoppedReason: 'Essential container in task exited',
      containers: [{ exitCode: 137, reason: 'OutOfMemoryError: Container killed due to memory usage' }],
    }),
    'TASK_MEMORY',
  );
});

test('polling starts fast and backs off', () => {
  assert.equal([pollDelayMs(0), pollDelayMs(20_000), pollDelayMs(120_000)], [1000, 2000, 5000]);
});

test('--from and --only select steps; bad values are usage errors', () => {
  assert.equal(
    selectSteps(STEPS, { from: 5 }).map((s) => s.n),
    [5, 6, 7, 8],
  );
  assert.equal(
    selectSteps(STEPS, { only: [2, 6] }).map((s) => s.n),
    [2, 6],
  );
  assert.equal(stepList('5,6,7'), [5, 6, 7]);
  for (const bad of ['x', '', '9', '5,,6', '5,5', ' 5', '0x5']) assert.throws(() => stepList(bad), /expects/, bad);
});

test('every script answers --help with what it needs, produces and what comes next', async () => {
  const scripts = readdirSync(join(ROOT, 'scripts')).filter((f) => f.endsWith('.ts'));
  assert.ok(scripts.length >= 11, scripts.join(' '));
  const runs = await Promise.all(scripts.map(async (f) => ({ f, r: await runScriptFile(`scripts/${f}`, ['--help']) })));
  for (const { f, r } of runs) {
    assert.is(r.exitCode, 0, `${f}: ${r.all}`);
    for (const s of ['Needs:', 'Produces:', '--dry-run', '--yes']) assert.match(r.stdout, s, `${f} --help lacks ${s}`);
  }
});

test.run();
