// Each setting's pattern at its edges (the shortest and longest value it takes, one over, a bad character
// at either end), the command settings' forms, the defaults every derived name falls back to, and which
// variables the environment and a .env may hold without being called unknown. In process: milliseconds.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AWS_VARIABLES, editDistance, misspelling, TF_VARIABLES, TOOLKIT_VARIABLES } from '../lib/variables.js';
import { commandWords } from '../lib/schema.js';
import { loadConfig, secretValues } from '../lib/config.js';
import { ConfigError } from '../lib/errors.js';
import { problemsOf } from './helpers/problems.js';

const keyOf = (variable: string) => (/^(AWS_|TF_)/.test(variable) ? variable : `LLMOPS_${variable}`);
const UUID = '0123abcd-4567-89ef-0123-456789abcdef';
const ARN = `arn:aws:acm:us-east-1:123456789012:certificate/${UUID}`;
/** What a domain setting needs beside it to be valid on its own. */
const COMPANIONS: Record<string, Record<string, string>> = {
  DOMAIN_NAME: { LLMOPS_HOSTED_ZONE_ID: 'Z123' },
  HOSTED_ZONE_ID: { LLMOPS_DOMAIN_NAME: 'app.example.com' },
  ACM_CERTIFICATE_ARN: { LLMOPS_DOMAIN_NAME: 'app.example.com', LLMOPS_HOSTED_ZONE_ID: 'Z123' },
};
const x = (n: number, c = 'x') => c.repeat(n);
/** A domain of `n` characters made of valid labels. */
const domainOf = (n: number) => `${x(63, 'a')}.${x(63, 'b')}.${x(63, 'c')}.${x(n - 3 * 64 - 4, 'd')}.com`;

/** setting → values it takes, values it refuses (at each edge of its pattern). */
const EDGES: [string, string[], string[]][] = [
  ['PROJECT_NAME', ['ab', 'a-1', `a${x(23, 'b')}`], ['a', `a${x(24, 'b')}`, '1ab', 'Ab', 'aB', 'ab_', ' ab', 'ab ', 'ab!']],
  [
    'AWS_REGION',
    ['us-east-1', 'eu-central-2', 'us-gov-west-1', 'us-iso-east-1', 'us-isob-east-1'],
    ['Xus-east-1', 'us-east-1x', 'us-east-12', 'useast-1', 'us-east', 'us-ISO-east-1', 'us-iso1-east-1'],
  ],
  ['EXPECTED_ACCOUNT_ID', ['123456789012'], ['', ' ', '12345678901', '1234567890123', 'x123456789012', '123456789012x', 'abcdefghijkl']],
  ['ECR_REPOSITORY', ['ab', 'a/b-c_d.e', 'ns/app', x(256)], ['a', x(257), 'Ab', 'ab-', '-ab', 'a--b', 'a/-b', 'ab/', 'a b', '_ab', 'ab!']],
  ['ECS_CLUSTER', ['a', 'A_b-1', x(255)], [x(256), '-a', '_a', 'a b', 'a!', 'a.b']],
  ['CONTAINER_NAME', ['a', 'app-1'], ['-a', 'a!']],
  ['LOG_GROUP', ['/ecs/x', 'a', '#a.b-c_d', x(512)], [x(513), 'a b', '/ecs/x!', '!/ecs/x']],
  ['DB_INSTANCE_ID', ['a', 'a-b1', `a${x(62, 'b')}`], [`a${x(63, 'b')}`, '1a', 'a--b', 'a-', 'A', 'ab_', '-a']],
  ['TARGET_GROUP_NAME', ['a', 'ab', 'abcd', 'a-b', x(32)], [x(33), '-a', 'a-', 'a_b', 'a b']],
  ['DB_SECRET_NAME', ['llmops/db/password', 'a+b=c.d@e-f_g', x(512)], ['a b', x(513), 'a!', '!a']],
  ['DB_APP_SECRET_NAME', ['llmops/db/app', 'ab', x(512)], ['a b', x(513)]],
  ['APP_SECRET_NAME', ['llmops/app/env', 'ab', x(512)], ['a b', x(513)]],
  ['EXECUTION_ROLE_NAME', ['role+=,.@-_1', 'ab', x(64)], [x(65), 'a b', 'a/b', '!a']],
  ['HEALTH_PATH', ['/', '/health', '/a-b.c/~d%20?e=1&f', `/${x(511)}`], ['x/health', 'health', '/a b', `/${x(512)}`, '/a!']],
  [
    'DOMAIN_NAME',
    ['app.example.com', 'a-b.c.io', domainOf(253)],
    [domainOf(254), 'app.example.com.', 'app.example.com1', 'App.example.com', '-a.example.com', 'a-.example.com', 'localhost', 'a.c'],
  ],
  ['HOSTED_ZONE_ID', ['Z1', 'Z0123456789ABCDEFGHIJ', x(32, 'Z')], ['Z', x(33, 'Z'), 'xZ12', 'Z12x', 'Z 12']],
  [
    'ACM_CERTIFICATE_ARN',
    [ARN, `arn:aws-us-gov:acm:us-gov-west-1:123456789012:certificate/${UUID}`],
    [
      `x${ARN}`,
      `${ARN}0`,
      ARN.replace('123456789012', '12345678901'),
      ARN.replace(UUID, UUID.slice(1)),
      ARN.replace('arn:aws:', 'arn:aws1:'),
    ],
  ],
  [
    'SECRETS_KMS_KEY_ARN',
    [`arn:aws:kms:us-east-1:123456789012:key/${UUID}`, `arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/mrk-${x(32, 'a')}`],
    [
      'arn:aws:kms:us-east-1:123456789012:alias/llmops',
      `arn:aws:kms:us-east-1:123456789012:key/${UUID.slice(1)}`,
      `arn:aws:kms:us-east-1:123456789012:key/${UUID}0`,
      `arn:aws:kms:us-east-1:12345678901:key/${UUID}`,
      `arn:aws:kms:us-east-1:123456789012:key/mrk-${x(31, 'a')}`,
      UUID,
    ],
  ],
  [
    'DB_PASSWORD',
    ['Aa1' + x(9), 'a1-' + x(125), '!~abcdef1234'],
    [
      x(7),
      x(129),
      ' abcdefgh',
      'abcdefgh ',
      'abcd\u00e9fgh',
      'terraform',
      'password',
      'llmops-cluster',
      'Abcdefghijk1'.slice(0, 11),
      x(12),
    ],
  ],
  [
    'SLACK_WEBHOOK',
    ['https://hooks.slack.com/services/T0/B0/x', 'https://hooks.slack.com/a'],
    ['https://hooks.slack.com/', 'xhttps://hooks.slack.com/a', 'https://hooks.slack.com/a b', 'https://hooks.slack.com/a '],
  ],
  ['TF_STATE_BUCKET', ['abc', 'a.b-c', x(63)], ['ab', x(64), '-abc', 'abc-', 'a_c', 'Abc', 'abC', ' abc']],
  ['PLATFORM', ['linux/amd64', 'linux/arm64'], ['', 'linux/386', 'linux/amd64 ']],
  ['ALLOW_PLAIN_HTTP', ['true', 'false'], ['', 'yes', 'True']],
  ['CONTAINER_PORT', ['1', '65535', '080'], ['0', '65536', '', '0x50', '1e3', ' 3', '1.5', '-1', x(10, '1')]],
];

test('every pattern at its edges: each value it takes passes alone, each it refuses is refused naming the setting', () => {
  for (const [variable, takes, refuses] of EDGES) {
    const companions = COMPANIONS[variable] ?? {};
    for (const value of takes) {
      assert.equal(problemsOf({ ...companions, [keyOf(variable)]: value }), [], `${variable}=${JSON.stringify(value)} is valid`);
    }
    for (const value of refuses) {
      const problems = problemsOf({ ...companions, [keyOf(variable)]: value });
      assert.ok(
        problems.some((p) => p.startsWith(`${variable}: `)),
        `${variable}=${JSON.stringify(value)} must be refused: ${JSON.stringify(problems)}`,
      );
    }
  }
});

test('a number setting gives one problem, the first that applies: empty, then not digits, then out of range', () => {
  const only = (value: string) => problemsOf({ LLMOPS_DESIRED_COUNT: value });
  assert.equal(only(''), ['DESIRED_COUNT: is empty: expected a whole number of tasks from 0 to 100 (remove the line to use the default)']);
  assert.equal(only('0x10'), ['DESIRED_COUNT: expected a whole number of tasks from 0 to 100, written in decimal digits']);
  assert.equal(only('101'), ['DESIRED_COUNT: expected a whole number of tasks from 0 to 100']);
  assert.equal(only('100'), []);
});

test('LLMOPS_ENVIRONMENT: 1-12 lowercase letters or digits from a letter, nothing after', () => {
  for (const ok of ['a', 'prod', `a${x(11, 'b')}`, 'stage2']) assert.equal(problemsOf({ LLMOPS_ENVIRONMENT: ok }), [], ok);
  for (const bad of ['prod!', 'Prod', '2prod', `a${x(12, 'b')}`, 'pro-d', 'prod ']) {
    assert.ok(
      problemsOf({ LLMOPS_ENVIRONMENT: bad }).some((p) => p.startsWith('LLMOPS_ENVIRONMENT: expected 1-12 lowercase')),
      bad,
    );
  }
});

test('the command settings: words, or a JSON array of non-empty strings of at most 1024 characters, no control characters', () => {
  assert.equal(commandWords('  /bin/migrate   up  '), ['/bin/migrate', 'up']);
  assert.equal(commandWords('a\tb'), ['a', 'b']);
  assert.equal(commandWords('["sh", "-c", "echo $X"]'), ['sh', '-c', 'echo $X']);
  assert.equal(commandWords(` ["${x(1024)}"] `), [x(1024)]);
  const notArray = 'expected a JSON array of 1 or more non-empty strings, e.g. ["/bin/migrate", "up"]';
  assert.is(commandWords('[]'), notArray);
  assert.is(commandWords('["a", ""]'), notArray);
  assert.is(commandWords('["", "a"]'), notArray);
  assert.is(commandWords('["a", 1]'), notArray);
  assert.is(commandWords('[["a"]]'), notArray);
  assert.is(commandWords(`["a", "${x(1025)}"]`), notArray);
  assert.is(commandWords('[bad'), 'is not a valid JSON array: expected ["program", "arg", ...] or words separated by spaces');
  assert.is(commandWords('["a\\nb"]'), 'must not contain control characters');
  assert.is(commandWords('["ok", "a\\u007fb"]'), 'must not contain control characters');
  const quoted = 'contains a quote, "$" or a backslash, which no shell will read here: write it as a JSON array, e.g. ["sh", "-c", "..."]';
  for (const v of ['a "b"', "a 'b'", 'a `b`', 'echo $X', 'a\\b']) assert.is(commandWords(v), quoted, v);
  assert.is(commandWords('   '), 'is empty: remove the line, or give the migration command');
  assert.is(commandWords('a\nb'), 'must not contain control characters');
  assert.is(commandWords('a\u0001b'), 'must not contain control characters');
  // through loadConfig: kept as the words' JSON, the problem under the setting's name
  assert.equal(loadConfig({ env: { LLMOPS_MIGRATE_COMMAND: '/bin/migrate up' }, envFile: '' }).migrate?.command, ['/bin/migrate', 'up']);
  assert.equal(problemsOf({ LLMOPS_DB_CHECK_COMMAND: '[]' }), [`DB_CHECK_COMMAND: ${notArray}`]);
});

test('the defaults every name falls back to, and what the settings turn into', () => {
  const c = loadConfig({ env: { LLMOPS_PROJECT_NAME: 'shop' }, envFile: '' });
  assert.equal(c.names, {
    repository: 'shop-system',
    cluster: 'shop-cluster',
    service: 'shop-service',
    family: 'shop-task',
    container: 'shop-app',
    logGroup: '/ecs/shop-task',
    dbInstance: 'shop-db',
    targetGroup: 'shop-targets',
    topic: 'shop-alerts',
    dashboard: 'shop-dashboard',
    cpuAlarm: 'shop-high-cpu',
    scalingPolicy: 'shop-cpu-scaling',
    dbSecret: 'shop/db/password',
    dbAppSecret: 'shop/db/app',
    appSecret: 'shop/app/env',
    executionRole: 'ecsTaskExecutionRole',
  });
  assert.is(c.allowPlainHttp, false);
  assert.is(c.domain, undefined);
  assert.is(c.migrate, undefined);
  const set = loadConfig({
    env: {
      LLMOPS_PROJECT_NAME: 'shop',
      LLMOPS_ALLOW_PLAIN_HTTP: 'true',
      LLMOPS_CONTAINER_NAME: 'web',
      LLMOPS_DB_APP_SECRET_NAME: 'x/app',
      LLMOPS_DOMAIN_NAME: 'shop.example.com',
      LLMOPS_HOSTED_ZONE_ID: 'Z123',
      LLMOPS_ACM_CERTIFICATE_ARN: ARN,
    },
    envFile: '',
  });
  assert.is(set.allowPlainHttp, true);
  assert.is(set.names.container, 'web');
  assert.is(set.names.dbAppSecret, 'x/app');
  assert.equal(set.domain, { name: 'shop.example.com', hostedZoneId: 'Z123', certificateArn: ARN });
});

// The names users set most, written out here (a test reading only the module's own lists would not notice one
// dropped from them); every name in those lists is checked as well.
const PINNED = [
  'AWS_PROFILE',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_ENDPOINT_URL',
  'AWS_ACCESS_KEY_ID',
  'AWS_SESSION_TOKEN',
  'TF_LOG',
  'TF_CLI_ARGS',
  'TF_DATA_DIR',
];
const FAMILIES = ['TF_VAR_region', 'TF_CLI_ARGS_plan', 'TF_TOKEN_app_terraform_io', 'AWS_ENDPOINT_URL_ECS', 'AWS_LAMBDA_FUNCTION_NAME'];

test('known names are never unknown: the AWS and Terraform variables, the open families, the toolkit own', () => {
  for (const name of [...PINNED, ...AWS_VARIABLES, ...TF_VARIABLES, ...TOOLKIT_VARIABLES, ...FAMILIES])
    assert.is(misspelling(name), undefined, name);
});

test('a misspelling gets the closest known name within its budget; a swap of neighbours is one edit', () => {
  assert.is(misspelling('AWS_REGOIN'), 'AWS_REGION');
  assert.is(misspelling('TF_LGX'), 'TF_LOG'); // two edits on a short name: within the budget of 2
  assert.is(misspelling('TF_STATE_BUKET'), 'TF_STATE_BUCKET');
  // an AWS_ or TF_ name far from every known one is another tool's: not called unknown
  assert.is(misspelling('AWS_NOTHING_ALIKE_AT_ALL'), undefined);
  assert.is(misspelling('LLMOPS_DESIRD_COUNT'), 'LLMOPS_DESIRED_COUNT');
  assert.is(misspelling('LLMOPS_ENVIRONMNT'), 'LLMOPS_ENVIRONMENT');
  assert.is(misspelling('PATH'), undefined);
  assert.is(editDistance('', 'abc'), 3);
  assert.is(editDistance('abc', ''), 3);
  assert.is(editDistance('ab', 'ba'), 1);
  assert.is(editDistance('abcd', 'acbd'), 1);
  assert.is(editDistance('abcdef', 'badcfe'), 3);
  assert.is(editDistance('ca', 'abc'), 3);
  assert.is(editDistance('kitten', 'sitting'), 3);
  assert.is(editDistance('same', 'same'), 0);
});

test("a .env may hold other tools' variables by their exact names; a near name is unknown", () => {
  const dir = mkdtempSync(join(tmpdir(), 'settings-'));
  const file = join(dir, '.env');
  writeFileSync(
    file,
    [
      'CI=true',
      'NO_COLOR=1',
      'FORCE_COLOR=1',
      'DOCKER_HOST=unix:///x',
      'GITHUB_SHA=abc',
      'SANDBOX_FAST=1',
      'LLMOPS_DEBUG=1',
      'PROJECT_NAME=shop',
      'LLMOPS_TASK_CPU=512',
      'CIX=1',
      'NO_COLORS=1',
      'FORCE_COLOUR=1',
      'XDOCKER_HOST=1',
      'LLMOPS_PROJEKT_NAME=x',
      'DESIRD_COUNT=2',
    ].join('\n'),
  );
  const unknown = problemsOf({ LLMOPS_ENV_FILE: file }, file)
    .filter((p) => p.includes('unknown variable'))
    .map((p) => p.split(':')[0]);
  assert.equal(unknown.sort(), ['CIX', 'DESIRD_COUNT', 'FORCE_COLOUR', 'LLMOPS_PROJEKT_NAME', 'NO_COLORS', 'XDOCKER_HOST']);
  assert.ok(
    problemsOf({ LLMOPS_ENV_FILE: file }, file).some(
      (p) => p.startsWith('DESIRD_COUNT: unknown variable') && p.includes('did you mean DESIRED_COUNT?'),
    ),
  );
});

test('what a configuration error names: the env files it came from (those that exist), else the environment', () => {
  const dir = mkdtempSync(join(tmpdir(), 'settings-source-'));
  const file = join(dir, '.env');
  writeFileSync(file, 'DESIRED_COUNT=many\n');
  const sourceOf = (env: Record<string, string>, envFile?: string) => {
    try {
      loadConfig({ env, envFile });
    } catch (error) {
      if (error instanceof ConfigError) return error.source;
      throw error;
    }
    return 'no error';
  };
  assert.is(sourceOf({}, file), file);
  assert.is(sourceOf({ LLMOPS_DESIRED_COUNT: 'many' }, ''), 'the environment');
  // a file named but missing is a problem of its own, not where the settings came from
  const missing = join(dir, 'missing.env');
  assert.is(sourceOf({ LLMOPS_ENV_FILE: `${file},${missing}` }), file);
  assert.is(sourceOf({ LLMOPS_ENV_FILE: dir }), 'the environment', 'a directory named as an env file is not where settings came from');
  assert.ok(problemsOf({ LLMOPS_ENV_FILE: missing }, missing).some((p) => p.startsWith('LLMOPS_ENV_FILE: no such file')));
  assert.equal(
    (() => {
      try {
        loadConfig({ env: { LLMOPS_ENV_FILE: `${file},,${file}` } });
      } catch (error) {
        return (error as ConfigError).problems.find((p) => p.message.startsWith('has an empty entry'))?.value;
      }
    })(),
    `${file},,${file}`,
    'the empty entry is shown in the list as given',
  );
});

test('the name prefix: exactly 24 characters with the environment is taken, 25 is not', () => {
  assert.equal(problemsOf({ LLMOPS_PROJECT_NAME: 'a-long-project', LLMOPS_ENVIRONMENT: 'staging12' }), []);
  assert.ok(
    problemsOf({ LLMOPS_PROJECT_NAME: 'a-long-project', LLMOPS_ENVIRONMENT: 'staging123' }).some((p) =>
      p.includes('a-long-project-staging123 longer than 24 characters'),
    ),
  );
});

test('AWS_DEFAULT_REGION only when AWS_REGION is set nowhere; the state settings; the secrets to mask', () => {
  const dir = mkdtempSync(join(tmpdir(), 'settings-region-'));
  const file = join(dir, '.env');
  writeFileSync(file, 'AWS_REGION=us-west-2\n');
  assert.is(loadConfig({ env: { AWS_DEFAULT_REGION: 'eu-west-1' }, envFile: file }).region, 'us-west-2', 'a file saying AWS_REGION wins');
  assert.is(loadConfig({ env: { AWS_DEFAULT_REGION: 'eu-west-1', AWS_REGION: 'ap-south-1' }, envFile: '' }).region, 'ap-south-1');
  assert.is(loadConfig({ env: { AWS_DEFAULT_REGION: 'eu-west-1' }, envFile: '' }).region, 'eu-west-1');
  const c = loadConfig({ env: { TF_STATE_BUCKET: 'my-state', LLMOPS_DB_PASSWORD: 'pw-0123456789' }, envFile: '' });
  assert.equal(c.terraform, { dir: 'terraform', stateBucket: 'my-state' });
  // an AWS key shorter than 16 characters is no AWS secret (an emulator's "test"): masking it would garble every line with the word
  const key = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
  assert.equal(secretValues(c, { AWS_SECRET_ACCESS_KEY: key, AWS_SESSION_TOKEN: 'abcd', LLMOPS_SLACK_WEBHOOK: '' }), [
    'pw-0123456789',
    key,
  ]);
  assert.equal(secretValues(c, { AWS_SECRET_ACCESS_KEY: 'test' }), ['pw-0123456789']);
});

test.run();
