import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig, secretValues } from '../lib/config.js';
import { fakeBins, HEALTHY_TOOLS } from './helpers/fake-bin.js';
import { runScriptFile } from './helpers/script.js';
import { ConfigError } from '../lib/errors.js';
import { characterClasses, regionSuggestion } from '../lib/schema.js';

const noFile = '';
/** The toolkit reads its settings from the environment as LLMOPS_<NAME> (AWS_* / TF_* settings bare too). */
export const asEnv = (vars: Record<string, string>) =>
  Object.fromEntries(Object.entries(vars).map(([k, v]) => [/^(AWS_|TF_|LLMOPS_)/.test(k) ? k : `LLMOPS_${k}`, v]));
const load = (env: Record<string, string>, envFile = noFile) => loadConfig({ env: asEnv(env), envFile });

function problemsOf(env: Record<string, string>, envFile = noFile): ConfigError {
  try {
    load(env, envFile);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

test("defaults are the guide's names", () => {
  const c = load({});
  assert.is(c.region, 'us-east-1');
  assert.equal(
    [
      c.names.repository,
      c.names.cluster,
      c.names.service,
      c.names.family,
      c.names.logGroup,
      c.names.dbInstance,
      c.names.targetGroup,
      c.names.topic,
      c.names.dashboard,
      c.names.cpuAlarm,
      c.names.scalingPolicy,
      c.names.dbSecret,
      c.names.appSecret,
      c.names.executionRole,
    ],
    [
      'llmops-system',
      'llmops-cluster',
      'llmops-service',
      'llmops-task',
      '/ecs/llmops-task',
      'llmops-db',
      'llmops-targets',
      'llmops-alerts',
      'llmops-dashboard',
      'llmops-high-cpu',
      'llmops-cpu-scaling',
      'llmops/db/password',
      'llmops/app/env',
      'ecsTaskExecutionRole',
    ],
  );
  assert.equal([c.app.port, c.app.cpu, c.app.memory, c.app.healthPath], [3000, 512, 1024, '/health']);
});

test('one project prefix renames everything; explicit names still win', () => {
  const c = load({ PROJECT_NAME: 'shop', ECS_CLUSTER: 'main' });
  assert.is(c.names.service, 'shop-service');
  assert.is(c.names.logGroup, '/ecs/shop-task');
  assert.is(c.names.cluster, 'main');
});

test('config is frozen', () => {
  const c = load({});
  assert.throws(() => {
    (c as any).region = 'eu-west-1';
  });
  assert.throws(() => {
    (c.names as any).cluster = 'x';
  });
});

test('.env is read, the environment wins over it, AWS_DEFAULT_REGION is a fallback', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'cfg-')), '.env');
  writeFileSync(file, 'ECS_SERVICE=from-file\nDESIRED_COUNT=3\nAWS_PROFILE=dev\n');
  const c = load({ DESIRED_COUNT: '4', AWS_DEFAULT_REGION: 'eu-west-1' }, file);
  assert.is(c.names.service, 'from-file');
  assert.is(c.app.desiredCount, 4);
  assert.is(c.region, 'eu-west-1');
});

test('files named in LLMOPS_ENV_FILE win over the environment (the sandbox env file must)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
  writeFileSync(join(dir, 'a.env'), 'ECS_SERVICE=from-a\nDESIRED_COUNT=3\n');
  writeFileSync(join(dir, 'b.env'), 'DESIRED_COUNT=5\n');
  const c = loadConfig({
    env: { LLMOPS_ENV_FILE: `${join(dir, 'a.env')},${join(dir, 'b.env')}`, LLMOPS_DESIRED_COUNT: '9', LLMOPS_ECS_CLUSTER: 'from-env' },
  });
  assert.is(c.app.desiredCount, 5, 'later file wins, and files win over the environment');
  assert.is(c.names.service, 'from-a');
  assert.is(c.names.cluster, 'from-env', 'what no file sets still comes from the environment');
});

test('an environment layers .env.<name> right after .env (before the sandbox file) and prefixes every name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
  writeFileSync(join(dir, '.env'), 'PROJECT_NAME=hanbit\nTASK_CPU=1024\nTASK_MEMORY=2048\n');
  writeFileSync(join(dir, '.env.staging'), 'TASK_CPU=256\nTASK_MEMORY=512\nHEALTH_PATH=/staging\n');
  writeFileSync(join(dir, 'sandbox.env'), 'HEALTH_PATH=/sandbox\n');
  const c = loadConfig({
    env: { LLMOPS_ENV_FILE: `${join(dir, '.env')},${join(dir, 'sandbox.env')}`, LLMOPS_ENVIRONMENT: 'staging' },
  });
  assert.equal([c.project, c.projectName, c.environment], ['hanbit-staging', 'hanbit', 'staging']);
  assert.equal([c.app.cpu, c.app.memory], [256, 512], '.env.staging wins over .env');
  assert.is(c.app.healthPath, '/sandbox', 'the sandbox file, named after .env, still wins over .env.staging');
  assert.equal(
    [c.names.cluster, c.names.service, c.names.targetGroup, c.names.dbSecret, c.names.logGroup],
    [
      'hanbit-staging-cluster',
      'hanbit-staging-service',
      'hanbit-staging-targets',
      'hanbit-staging/db/password',
      '/ecs/hanbit-staging-task',
    ],
  );
  // no .env in the list (CI, a rehearsal without one): .env.<name> is read if present, first, so the files named win
  const p = loadConfig({ env: { LLMOPS_ENV_FILE: join(dir, 'sandbox.env'), LLMOPS_ENVIRONMENT: 'production' } });
  assert.equal([p.project, p.environment, p.app.healthPath], ['llmops-production', 'production', '/sandbox']);
  // without an environment nothing changes: the guide's names, no .env.<name> read
  const none = loadConfig({ env: { LLMOPS_ENV_FILE: join(dir, '.env') } });
  assert.equal([none.project, none.projectName, none.environment, none.app.cpu], ['hanbit', 'hanbit', undefined, 1024]);
});

test('an environment: invalid name, missing .env.<name>, or a name prefix over 24 characters are problems naming LLMOPS_ENVIRONMENT', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
  writeFileSync(join(dir, '.env'), 'PROJECT_NAME=a-long-project-name\n');
  writeFileSync(join(dir, '.env.production'), '');
  const problems = (environment: string) => {
    try {
      loadConfig({ env: { LLMOPS_ENV_FILE: join(dir, '.env'), LLMOPS_ENVIRONMENT: environment } });
    } catch (error) {
      if (error instanceof ConfigError) return error.message;
      throw error;
    }
    return 'no problem';
  };
  assert.match(problems('Staging'), /LLMOPS_ENVIRONMENT.*expected 1-12 lowercase letters or digits/);
  assert.match(problems('staging'), /LLMOPS_ENVIRONMENT.*\.env\.staging, which does not exist beside \.env: create it/);
  assert.match(problems('production'), /LLMOPS_ENVIRONMENT.*a-long-project-name-production longer than 24 characters/);
});

// [case, environment, the variable the message must name]
const BAD: [string, Record<string, string>, string][] = [
  ['bad region', { AWS_REGION: 'us-east' }, 'AWS_REGION'],
  ['region with capitals', { AWS_REGION: 'US-EAST-1' }, 'AWS_REGION'],
  ['bad e-mail', { ALARM_EMAIL: 'ops-at-example.com' }, 'ALARM_EMAIL'],
  ['cpu/memory pair', { TASK_CPU: '512', TASK_MEMORY: '512' }, 'TASK_MEMORY'],
  ['cpu not a Fargate size', { TASK_CPU: '300' }, 'TASK_CPU'],
  ['port out of range', { CONTAINER_PORT: '70000' }, 'CONTAINER_PORT'],
  ['port not a number', { CONTAINER_PORT: 'http' }, 'CONTAINER_PORT'],
  [
    'malformed certificate ARN',
    { DOMAIN_NAME: 'app.example.com', HOSTED_ZONE_ID: 'Z123ABC', ACM_CERTIFICATE_ARN: 'arn:aws:acm:us-east-1:123:cert/x' },
    'ACM_CERTIFICATE_ARN',
  ],
  ['domain without hosted zone', { DOMAIN_NAME: 'app.example.com' }, 'HOSTED_ZONE_ID'],
  [
    'certificate without domain',
    { ACM_CERTIFICATE_ARN: 'arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012' },
    'DOMAIN_NAME',
  ],
  ['empty project prefix', { PROJECT_NAME: '' }, 'PROJECT_NAME'],
  ['project prefix with spaces', { PROJECT_NAME: 'my app' }, 'PROJECT_NAME'],
  ['account id not 12 digits', { EXPECTED_ACCOUNT_ID: '12345' }, 'EXPECTED_ACCOUNT_ID'],
  ['health path without slash', { HEALTH_PATH: 'health' }, 'HEALTH_PATH'],
  ['negative desired count', { DESIRED_COUNT: '-1' }, 'DESIRED_COUNT'],
  ['fractional desired count', { DESIRED_COUNT: '1.5' }, 'DESIRED_COUNT'],
  ['bad domain', { DOMAIN_NAME: 'not a domain', HOSTED_ZONE_ID: 'Z123ABC' }, 'DOMAIN_NAME'],
  ['bad hosted zone id', { DOMAIN_NAME: 'app.example.com', HOSTED_ZONE_ID: 'zone-1' }, 'HOSTED_ZONE_ID'],
  ['target group name too long', { TARGET_GROUP_NAME: 'a'.repeat(33) }, 'TARGET_GROUP_NAME'],
  ['RDS id with underscore', { DB_INSTANCE_ID: 'llmops_db' }, 'DB_INSTANCE_ID'],
  ['DB password RDS rejects', { DB_PASSWORD: 'pa/ss@word1' }, 'DB_PASSWORD'],
  ['Slack webhook not Slack', { SLACK_WEBHOOK: 'http://example.com/hook' }, 'SLACK_WEBHOOK'],
  ['deploy timeout too short', { DEPLOY_TIMEOUT_SECONDS: '5' }, 'DEPLOY_TIMEOUT_SECONDS'],
  ['migration command with shell quoting', { MIGRATE_COMMAND: 'sh -c "npm run migrate"' }, 'MIGRATE_COMMAND'],
  ['migration command with a $', { MIGRATE_COMMAND: 'migrate $HOME' }, 'MIGRATE_COMMAND'],
  ['migration command as broken JSON', { MIGRATE_COMMAND: '["migrate", ' }, 'MIGRATE_COMMAND'],
  ['migration command as an empty array', { MIGRATE_COMMAND: '[]' }, 'MIGRATE_COMMAND'],
  ['migration command array of numbers', { MIGRATE_COMMAND: '[1, 2]' }, 'MIGRATE_COMMAND'],
  ['migration timeout too short', { MIGRATE_COMMAND: '/bin/migrate', MIGRATE_TIMEOUT_SECONDS: '1' }, 'MIGRATE_TIMEOUT_SECONDS'],
];

test('MIGRATE_COMMAND: words or a JSON array become the container command; unset, no migration', () => {
  assert.is(load({}).migrate, undefined);
  assert.equal(load({ MIGRATE_COMMAND: '/bin/migrate  up' }).migrate, { command: ['/bin/migrate', 'up'], timeoutSeconds: 600 });
  assert.equal(load({ MIGRATE_COMMAND: '["sh", "-c", "npm run migrate && echo done"]', MIGRATE_TIMEOUT_SECONDS: '120' }).migrate, {
    command: ['sh', '-c', 'npm run migrate && echo done'],
    timeoutSeconds: 120,
  });
});

for (const [name, env, variable] of BAD) {
  test(`bad config: ${name} names ${variable}`, () => {
    const e = problemsOf(env);
    assert.ok(
      e.problems.some((p) => p.variable === variable),
      `${variable} not in ${JSON.stringify(e.problems)}`,
    );
    assert.match(e.message, variable);
  });
}

test('all problems are reported at once', () => {
  const e = problemsOf({ AWS_REGION: 'mars', CONTAINER_PORT: '0', ALARM_EMAIL: 'x' });
  assert.equal(e.problems.map((p) => p.variable).sort(), ['ALARM_EMAIL', 'AWS_REGION', 'CONTAINER_PORT']);
  assert.match(e.message, '3 problems');
});

test('a secret value is masked in the message', () => {
  const e = problemsOf({ DB_PASSWORD: 'hunter2/canary-Secret' });
  assert.not.match(e.message, 'canary-Secret');
  assert.match(e.message, 'DB_PASSWORD');
});

test('unknown key in .env is an error with a suggestion; AWS_* and TF_* pass through', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'cfg-')), '.env');
  writeFileSync(file, 'ALARM_EMIAL=ops@example.com\nAWS_PROFILE=dev\nTF_LOG=info\n');
  const e = problemsOf({}, file);
  assert.equal(
    e.problems.map((p) => p.variable),
    ['ALARM_EMIAL'],
  );
  assert.match(e.message, 'did you mean ALARM_EMAIL?');
});

test('secretValues lists configured secrets for masking', () => {
  const c = load({ DB_PASSWORD: 'Sup3rSecretPw', AWS_SECRET_ACCESS_KEY: 'abcdSECRETabcdSECRET' });
  const s = secretValues(c, { AWS_SECRET_ACCESS_KEY: 'abcdSECRETabcdSECRET' });
  assert.ok(s.includes('Sup3rSecretPw') && s.includes('abcdSECRETabcdSECRET'));
});

test('a script given bad configuration exits 2, names every variable, and runs nothing', async () => {
  const fakes = fakeBins(HEALTHY_TOOLS);
  const runs = await Promise.all(
    BAD.slice(0, 16).map(async ([name, env, variable]) => ({
      name,
      variable,
      r: await runScriptFile('scripts/01-prereqs.ts', [], { ...asEnv(env), PATH: fakes.dir }),
    })),
  );
  for (const { name, variable, r } of runs) {
    assert.is(r.exitCode, 2, `${name}: exit ${r.exitCode}\n${r.all}`);
    assert.match(r.stderr, variable, name);
  }
  assert.equal(fakes.calls(), [], 'no command may run with a bad configuration');
});

const messages = (env: Record<string, string>) => problemsOf(env).problems.map((p) => `${p.variable}: ${p.message}`);

test('a region typed as people name it gets its code suggested; anything else only the expected form', () => {
  assert.equal(messages({ AWS_REGION: 'Seoul' }), [
    'AWS_REGION: expected an AWS region code such as "us-east-1": for Seoul, AWS_REGION=ap-northeast-2',
  ]);
  assert.equal(messages({ AWS_REGION: '서울' }), [
    'AWS_REGION: expected an AWS region code such as "us-east-1": for 서울, AWS_REGION=ap-northeast-2',
  ]);
  assert.equal(messages({ AWS_REGION: 'north virginia' }), [
    'AWS_REGION: expected an AWS region code such as "us-east-1": for north virginia, AWS_REGION=us-east-1',
  ]);
  assert.equal(messages({ AWS_REGION: 'narnia' }), ['AWS_REGION: expected an AWS region code such as "us-east-1"']);
});

// The exact words of each refusal the schema makes beyond a value's form: what a user reads is the fix.
const BUCKET = 'TF_STATE_BUCKET: S3 refuses this bucket name: ';
const PROJECT_DASHES =
  'PROJECT_NAME: must not hold "--" or end with "-": the RDS identifier and bucket names made from it would be refused by AWS';
const PROJECT_PREFIX = 'PROJECT_NAME: must not start with "sthree", "amzn-s3-demo" or "xn--": S3 reserves those prefixes for bucket names';
const KMS = 'SECRETS_KMS_KEY_ARN: expected arn:aws:kms:<region>:<12-digit account>:key/<key id> (a key ARN, not an alias)';
const PRINTABLE = 'DB_PASSWORD: expected 8-128 printable characters';
const WEAK =
  'DB_PASSWORD: is too weak: use 12 or more characters with three of lowercase, uppercase, digits and symbols (a word such as "terraform" would also be masked in every line that contains it), or leave it unset and RDS manages the password';
const shell = (operator: string) =>
  `MIGRATE_COMMAND: holds "${operator}", which only a shell reads, and none runs this command: write it as a JSON array, e.g. ["sh", "-c", "a && b"], or put the steps in a script`;
const REFUSED: [Record<string, string>, string[]][] = [
  [{ PROJECT_NAME: 'ab--c' }, [PROJECT_DASHES]],
  [{ PROJECT_NAME: 'abc-' }, [PROJECT_DASHES]],
  [{ PROJECT_NAME: 'sthreeapp' }, [PROJECT_PREFIX]],
  [{ PROJECT_NAME: 'amzn-s3-demo-x' }, [PROJECT_PREFIX]],
  [{ PROJECT_NAME: 'xn--abc' }, [PROJECT_DASHES, PROJECT_PREFIX]],
  ...['', '   '].map((v): [Record<string, string>, string[]] => [
    { EXPECTED_ACCOUNT_ID: v },
    [
      'EXPECTED_ACCOUNT_ID: is empty, which would turn the account guard off: set the 12-digit account id, or remove the line (and the variable) to run without the guard',
    ],
  ]),
  [{ SECRETS_KMS_KEY_ARN: 'alias/mine' }, [KMS]],
  [{ SECRETS_KMS_KEY_ARN: 'x arn:aws:kms:us-east-1:123456789012:key/12345678-1234-1234-1234-123456789012' }, [KMS]],
  [{ DB_PASSWORD: 'short' }, [PRINTABLE, WEAK]],
  [{ DB_PASSWORD: 'abcdefghijkl' }, [WEAK]],
  [{ DB_PASSWORD: 'Abcdefg1234' }, [WEAK]],
  [{ DB_PASSWORD: 'x Abcdefgh1234' }, [PRINTABLE]],
  [{ DB_PASSWORD: 'Abcdefgh1234 x' }, [PRINTABLE]],
  [{ TF_STATE_BUCKET: 'a..b' }, [`${BUCKET}no two adjacent periods`]],
  [{ TF_STATE_BUCKET: '192.168.1.1' }, [`${BUCKET}not formatted as an IP address`]],
  [{ TF_STATE_BUCKET: 'a.-b' }, [`${BUCKET}no period next to a hyphen`]],
  [{ TF_STATE_BUCKET: 'a-.b' }, [`${BUCKET}no period next to a hyphen`]],
  ...['xn--', 'sthree-', 'amzn-s3-demo-'].map((p): [Record<string, string>, string[]] => [
    { TF_STATE_BUCKET: `${p}bucket` },
    [`${BUCKET}no reserved prefix ("${p}")`],
  ]),
  ...['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3'].map((x): [Record<string, string>, string[]] => [
    { TF_STATE_BUCKET: `bucket${x}` },
    [`${BUCKET}no reserved suffix ("${x}")`],
  ]),
  [
    { DEPLOY_STRATEGY: 'fast' },
    [
      'DEPLOY_STRATEGY: expected rolling (the default: new tasks replace the old behind one target group), blue-green (all traffic at once to the new release, the old one kept through the bake), canary (CANARY_PERCENT first, the rest after TRAFFIC_STEP_MINUTES) or linear (LINEAR_STEP_PERCENT every TRAFFIC_STEP_MINUTES)',
    ],
  ],
  [
    { SCAN_SEVERITY: 'critical' },
    [
      'SCAN_SEVERITY: expected the lowest severity of an image scan finding that stops a release: CRITICAL (the default), HIGH, MEDIUM, LOW, INFORMATIONAL, or off',
    ],
  ],
  [
    { DB_SSL_MODE: 'disable' },
    [
      "DB_SSL_MODE: expected verify-full (the default: TLS, and the server's certificate checked against DB_CA_BUNDLE and its name against the endpoint), verify-ca (the certificate, not the name) or require (TLS that checks nothing: a server that is not the database is not noticed)",
    ],
  ],
  ...['certs/rds.pem', '/etc/x.pem '].map((v): [Record<string, string>, string[]] => [
    { DB_CA_BUNDLE: v },
    ['DB_CA_BUNDLE: expected the absolute path, inside the image, of the RDS CA bundle, e.g. "/etc/ssl/certs/rds-global-bundle.pem"'],
  ]),
  [{ CRASH_LOOP_TASKS: '201' }, ['CRASH_LOOP_TASKS: expected a number of tasks from 0 (off) to 200']],
  [{ BAKE_SECONDS: 'ten' }, ['BAKE_SECONDS: expected seconds from 0 (no bake) to 3600, written in decimal digits']],
  [{ BAKE_SECONDS: '0x10' }, ['BAKE_SECONDS: expected seconds from 0 (no bake) to 3600, written in decimal digits']],
  [{ CANARY_PERCENT: '0' }, ['CANARY_PERCENT: expected a whole percentage of the traffic from 1 to 99']],
  [
    { LINEAR_STEP_PERCENT: '2' },
    ['LINEAR_STEP_PERCENT: expected a whole percentage of the traffic from 3 to 100 (ECS shifts at least 3 % a step)'],
  ],
  [{ TRAFFIC_STEP_MINUTES: '1441' }, ['TRAFFIC_STEP_MINUTES: expected minutes from 0 to 1440']],
  [{ SCAN_TIMEOUT_SECONDS: '5' }, ['SCAN_TIMEOUT_SECONDS: expected seconds from 10 to 3600']],
  [{ MIGRATE_COMMAND: 'migrate && seed' }, [shell('&&')]],
  [{ MIGRATE_COMMAND: 'migrate; seed' }, [shell('migrate;')]],
  [{ MIGRATE_COMMAND: 'a|b' }, [shell('a|b')]],
  ...['>', '>>', '<', '2>&1', '&', '||'].map((op): [Record<string, string>, string[]] => [{ MIGRATE_COMMAND: `a ${op} b` }, [shell(op)]]),
];

test('each refusal beyond the form, in its exact words: the project prefix, the account guard, the KMS key, the DB password, the state bucket, the strategies, TLS, the migration command', () => {
  for (const [env, expected] of REFUSED) assert.equal(messages(env), expected, JSON.stringify(env));
});

test('the values next to those refusals are accepted; an empty optional setting is unset', () => {
  for (const env of <Record<string, string>[]>[
    { SECRETS_KMS_KEY_ARN: 'arn:aws:kms:us-east-1:123456789012:key/12345678-1234-1234-1234-123456789012' },
    { SECRETS_KMS_KEY_ARN: `arn:aws:kms:us-east-1:123456789012:key/mrk-${'0'.repeat(32)}` },
    { DB_PASSWORD: 'Abcdefgh1234' },
    { DB_PASSWORD: 'abcdefgh12!?' },
    { TF_STATE_BUCKET: 'my.bucket-1' },
    { TF_STATE_BUCKET: '1.2.3.4.5' },
    { TF_STATE_BUCKET: 'v1.2.3.4' },
    { SLACK_WEBHOOK: '' },
    ...['rolling', 'blue-green', 'canary', 'linear'].map((v) => ({ DEPLOY_STRATEGY: v })),
    ...['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'INFORMATIONAL', 'off'].map((v) => ({ SCAN_SEVERITY: v })),
    ...['verify-full', 'verify-ca', 'require'].map((v) => ({ DB_SSL_MODE: v })),
  ])
    assert.not.throws(() => load(env), JSON.stringify(env));
  assert.is(load({ SLACK_WEBHOOK: '' }).secrets.slackWebhook, undefined);
});

test('every region name people type has its code; the name is echoed trimmed', () => {
  const names: Record<string, string> = {
    seoul: 'ap-northeast-2',
    korea: 'ap-northeast-2',
    tokyo: 'ap-northeast-1',
    osaka: 'ap-northeast-3',
    singapore: 'ap-southeast-1',
    sydney: 'ap-southeast-2',
    jakarta: 'ap-southeast-3',
    mumbai: 'ap-south-1',
    'Hong Kong': 'ap-east-1',
    frankfurt: 'eu-central-1',
    ireland: 'eu-west-1',
    london: 'eu-west-2',
    paris: 'eu-west-3',
    stockholm: 'eu-north-1',
    virginia: 'us-east-1',
    ohio: 'us-east-2',
    california: 'us-west-1',
    oregon: 'us-west-2',
    canada: 'ca-central-1',
    'Sao Paulo': 'sa-east-1',
  };
  for (const [name, code] of Object.entries(names)) assert.is(regionSuggestion(name), `: for ${name}, AWS_REGION=${code}`, name);
  assert.is(regionSuggestion('  Tokyo '), ': for Tokyo, AWS_REGION=ap-northeast-1');
});

test('character classes: lowercase, uppercase, digits and symbols, each counted once', () => {
  assert.equal(['abc', 'ABC', '123', '!?-', 'aB', 'a1', 'A!', 'aB1', 'aB1!', 'ü'].map(characterClasses), [1, 1, 1, 1, 2, 2, 2, 3, 4, 1]);
});

test.run();
