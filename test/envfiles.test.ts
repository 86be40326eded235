// Env files and the environment, in milliseconds: each .env line checked before dotenv reads it, which files
// are read and which wins, what reaches child commands, secrets masked in messages, misspellings.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  applyEnvFiles,
  envFiles,
  envFilesWin,
  envLineProblems,
  ignoredEnvironment,
  mergeEnvFiles,
  readEnvFile,
  readEnvFiles,
} from '../lib/envfiles.js';
import { editDistance, misspelling } from '../lib/variables.js';
import { FARGATE_SIZES, maskValue } from '../lib/schema.js';
import { loadConfig } from '../lib/config.js';
import { problemsOf } from './helpers/problems.js';

const dir = () => mkdtempSync(join(tmpdir(), 'envfiles-'));

test('a value in a message: secrets never (not a character, not the length), a value over several lines never, long values cut', () => {
  assert.is(maskValue('DB_PASSWORD', 'hunter2-long'), '(hidden)');
  assert.is(maskValue('LLMOPS_SLACK_WEBHOOK', 'abcd'), '(hidden)');
  assert.is(maskValue('AWS_SECRET_ACCESS_KEY', 'abcde'), '(hidden)');
  assert.is(
    maskValue('PROJECT_NAME', 'llmops\nDB_PASSWORD=Sup3r-secret-pw\n'),
    '(3 lines, not shown: a quote opened on this line is closed lines later)',
  );
  assert.is(maskValue('PROJECT_NAME', 'x'.repeat(80)), 'x'.repeat(80));
  assert.is(maskValue('PROJECT_NAME', 'y'.repeat(81)), `${'y'.repeat(60)}…(81 chars)`);
});

test('each .env line checked before dotenv: not NAME=value, "#" that would cut a value, text after a quote, a quote never closed', () => {
  const text = [
    '# a comment',
    '',
    'export A=1',
    'B = spaced # a note',
    'C=abc#def',
    'D=#abc',
    'E= # only a comment',
    "F='quoted # fine' # note",
    'G="closed" trailing',
    'just words',
    'H=`multi',
    'line`',
    'K=a #note',
    'L="a#b"',
    "M='c#d'",
    'N=`e#f`',
    'O="x"   ',
    '  Q=1',
    'export  R=1',
    '!!S=1',
    'I="never closed',
    'J=after',
  ].join('\n');
  assert.equal(
    envLineProblems(text, '.env').map((p) => `${p.variable}: ${p.message}`),
    [
      'C: .env:5: unquoted "#" inside the value would cut it there (dotenv reads the rest as a comment); quote the value: C=\'…#…\'',
      'D: .env:6: unquoted "#" inside the value would cut it there (dotenv reads the rest as a comment); quote the value: D=\'…#…\'',
      'G: .env:9: text after the closing quote; put the whole value inside the quotes',
      '.env:10: not a NAME=value line (a comment starts with "#")',
      // K: "#" after white space is a comment; L-N: quoted, whatever the quote; O: only spaces after it;
      // Q: indented; R: more than one space after export
      '.env:20: not a NAME=value line (a comment starts with "#")',
      '.env: a value opened with " is never closed',
    ],
  );
  assert.equal(envLineProblems('X=1\r\nY=a#b\r\n', 'f'), [
    {
      variable: 'Y',
      message: 'f:2: unquoted "#" inside the value would cut it there (dotenv reads the rest as a comment); quote the value: Y=\'…#…\'',
    },
  ]);
});

test('an env file: missing (a problem only when named), a directory, unreadable, or read with its line problems', () => {
  const d = dir();
  const missing = join(d, 'nope.env');
  assert.equal(readEnvFile(missing, false), { path: missing, vars: {}, problems: [] });
  assert.equal(readEnvFile(missing).problems, [
    {
      variable: 'LLMOPS_ENV_FILE',
      value: missing,
      message: 'no such file: create it, or fix the path (LLMOPS_ENV_FILE lists env files, comma-separated)',
    },
  ]);
  assert.equal(readEnvFile(d).problems, [
    { variable: 'LLMOPS_ENV_FILE', value: d, message: 'is not a regular file (a directory?): name the env file itself' },
  ]);
  const file = join(d, '.env');
  writeFileSync(file, 'A=1\nB=x#y\n');
  const read = readEnvFile(file);
  assert.equal(read.vars, { A: '1', B: 'x' });
  assert.is(read.problems.length, 1);
});

test("which env files: ./.env by default, the named ones (required), an environment's file right after .env", () => {
  const here = resolve('.env');
  assert.equal(envFiles({}), { files: [here], required: false });
  assert.equal(envFiles({ LLMOPS_ENV_FILE: 'a.env, b.env' }), { files: [resolve('a.env'), resolve('b.env')], required: true });
  assert.equal(envFiles({}, ''), { files: [''], required: true });
  const d = dir();
  writeFileSync(join(d, '.env'), '');
  assert.equal(envFiles({ LLMOPS_ENVIRONMENT: 'staging' }, `${join(d, '.env')},${join(d, 'extra.env')}`), {
    files: [join(d, '.env'), join(d, '.env.staging'), join(d, 'extra.env')],
    required: true,
    environmentFile: join(d, '.env.staging'),
    environmentFileRequired: true,
  });
  assert.equal(envFiles({ LLMOPS_ENVIRONMENT: 'staging' }, join(d, 'other.env')), {
    files: [resolve('.env.staging'), join(d, 'other.env')],
    required: true,
    environmentFile: resolve('.env.staging'),
    environmentFileRequired: false,
  });
  assert.equal(
    envFiles({ LLMOPS_ENVIRONMENT: 'Bad Name' }, join(d, '.env')),
    { files: [join(d, '.env')], required: true },
    'an invalid name: no file',
  );

  // the environment's file must exist beside an existing .env; an empty entry in the list is named
  const { problems } = readEnvFiles({ LLMOPS_ENVIRONMENT: 'prod' }, `${join(d, '.env')},`);
  assert.equal(
    problems.map((p) => `${p.variable}: ${p.message}`),
    [
      'LLMOPS_ENV_FILE: has an empty entry: expected file paths separated by ","',
      `LLMOPS_ENVIRONMENT: reads ${join(d, '.env.prod')}, which does not exist beside .env: create it with the settings that differ in this environment (it may be empty), or check the name`,
    ],
  );
  writeFileSync(join(d, '.env.prod'), 'DESIRED_COUNT=4\nDESIRD_COUNT=5\nLLMOPS_DESIRED_COUNT=6\nSOMETHING_ELSE=1\n');
  const read = readEnvFiles({ LLMOPS_ENVIRONMENT: 'prod' }, join(d, '.env'));
  assert.equal(read.vars.DESIRED_COUNT, '6', 'LLMOPS_ form and plain form are one setting; the later line wins');
  assert.equal(
    read.problems.map((p) => `${p.variable}: ${p.message}`),
    [
      `DESIRD_COUNT: unknown variable in ${join(d, '.env.prod')}; did you mean DESIRED_COUNT? (see .env.example)`,
      `SOMETHING_ELSE: unknown variable in ${join(d, '.env.prod')} (see .env.example)`,
    ],
  );
});

test('merging files: the later file wins whichever form it writes; named files win over the environment, ./.env does not; what reaches child commands', () => {
  assert.equal(mergeEnvFiles([{ vars: { LLMOPS_DESIRED_COUNT: '1', AWS_PROFILE: 'a' } }, { vars: { DESIRED_COUNT: '2' } }]), {
    DESIRED_COUNT: '2',
    AWS_PROFILE: 'a',
  });
  assert.equal(mergeEnvFiles([{ vars: { DESIRED_COUNT: '2' } }, { vars: { LLMOPS_DESIRED_COUNT: '3' } }]), { DESIRED_COUNT: '3' });
  assert.equal(mergeEnvFiles([{ vars: { LLMOPS_NOT_A_SETTING: 'x' } }]), { LLMOPS_NOT_A_SETTING: 'x' });
  assert.is(envFilesWin({}), false);
  assert.is(envFilesWin({ LLMOPS_ENV_FILE: '' }), true);

  const d = dir();
  const file = join(d, 'run.env');
  writeFileSync(file, 'DESIRED_COUNT=3\nAWS_PROFILE=from-file\nAWS_REGION=eu-west-1\n');
  const named: NodeJS.ProcessEnv = { LLMOPS_ENV_FILE: file, AWS_PROFILE: 'from-env' };
  applyEnvFiles(named);
  assert.equal(named, { LLMOPS_ENV_FILE: file, AWS_PROFILE: 'from-file', LLMOPS_DESIRED_COUNT: '3', AWS_REGION: 'eu-west-1' });
  const cwd = process.cwd();
  process.chdir(d);
  try {
    writeFileSync(join(d, '.env'), 'AWS_PROFILE=from-dotenv\nDESIRED_COUNT=2\n');
    const plain: NodeJS.ProcessEnv = { AWS_PROFILE: 'from-env' };
    applyEnvFiles(plain);
    assert.equal(plain, { AWS_PROFILE: 'from-env', LLMOPS_DESIRED_COUNT: '2' }, './.env: the environment wins');
  } finally {
    process.chdir(cwd);
  }

  assert.equal(ignoredEnvironment({ DESIRED_COUNT: '3', AWS_REGION: 'x', PROJECT_NAME: 'a', LLMOPS_PROJECT_NAME: 'a' }), ['DESIRED_COUNT']);
});

test('loading: AWS_DEFAULT_REGION as a last resort; an environment name checked; a name prefix within 24 characters', () => {
  assert.is(loadConfig({ env: { AWS_DEFAULT_REGION: 'eu-central-1' }, envFile: '' }).region, 'eu-central-1');
  assert.is(loadConfig({ env: { AWS_DEFAULT_REGION: 'eu-central-1', AWS_REGION: 'us-west-2' }, envFile: '' }).region, 'us-west-2');
  assert.equal(problemsOf({ LLMOPS_ENVIRONMENT: 'Prod!' }), [
    'LLMOPS_ENVIRONMENT: expected 1-12 lowercase letters or digits, starting with a letter (e.g. staging, production); unset it for a single stack',
  ]);
  assert.equal(problemsOf({ LLMOPS_ENVIRONMENT: 'production', LLMOPS_PROJECT_NAME: 'a-long-project' }), [
    "LLMOPS_ENVIRONMENT: makes the name prefix a-long-project-production longer than 24 characters (AWS limits the names derived from it): shorten PROJECT_NAME or the environment's name",
  ]);
  assert.equal(problemsOf({ LLMOPS_ENVIRONMENT: 'prod', LLMOPS_PROJECT_NAME: 'a-long-project-x' }), []);
  assert.equal(problemsOf({ LLMOPS_DESIRD_COUNT: '2', AWS_REGOIN: 'x', TF_STATE_BUKET: 'b', TF_LOG: 'DEBUG' }), [
    'LLMOPS_DESIRD_COUNT: unknown variable in the environment; did you mean LLMOPS_DESIRED_COUNT? (unset it, or see .env.example)',
    'AWS_REGOIN: unknown variable in the environment; did you mean AWS_REGION? (unset it, or see .env.example)',
    'TF_STATE_BUKET: unknown variable in the environment; did you mean TF_STATE_BUCKET? (unset it, or see .env.example)',
  ]);
});

test('misspellings and the edit distance they use; the Fargate sizes', () => {
  assert.is(editDistance('REGION', 'REGOIN'), 1, 'a swap of neighbours is one edit');
  assert.is(editDistance('', 'abc'), 3);
  assert.is(editDistance('kitten', 'sitting'), 3);
  assert.is(editDistance('abc', 'abc'), 0);
  assert.is(misspelling('LLMOPS_DESIRED_COUNT'), undefined);
  assert.is(misspelling('LLMOPS_ENV_FILE'), undefined);
  assert.is(misspelling('LLMOPS_XYZZY_QUUX_FROB'), '', 'far from everything: unknown, no guess');
  assert.is(misspelling('AWS_PROFILE'), undefined);
  assert.is(misspelling('AWS_PROFLE'), 'AWS_PROFILE');
  assert.is(misspelling('AWS_SOMETHING_ENTIRELY_NEW'), undefined, 'other AWS_ names: not ours to judge');
  assert.is(misspelling('HOME'), undefined);
  assert.equal(FARGATE_SIZES[256], [512, 1024, 2048]);
  assert.equal(FARGATE_SIZES[512], [1024, 2048, 3072, 4096]);
  assert.is(FARGATE_SIZES[1024]!.length, 7);
  assert.equal([FARGATE_SIZES[8192]![0], FARGATE_SIZES[8192]!.at(-1), FARGATE_SIZES[8192]![1]], [16384, 61440, 20480]);
  assert.equal([FARGATE_SIZES[16384]![0], FARGATE_SIZES[16384]!.at(-1), FARGATE_SIZES[16384]![1]], [32768, 122880, 40960]);
});

test('every setting refused with its own words: one bad value each, and the settings that need each other', () => {
  const rows: [string, string, string][] = [
    ['PROJECT_NAME', 'A', 'expected 2-24 lowercase letters, digits or "-", starting with a letter (e.g. "llmops")'],
    ['AWS_REGION', 'mars', 'expected an AWS region code such as "us-east-1"'],
    ['EXPECTED_ACCOUNT_ID', '123', 'expected a 12-digit AWS account id'],
    ['ECR_REPOSITORY', 'A', 'expected an ECR repository name of 2-256 characters (lowercase, digits, "-", "_", "/")'],
    ['ECS_CLUSTER', '-x', 'expected an ECS cluster name (letters, digits, "-", "_")'],
    ['ECS_SERVICE', '-x', 'expected an ECS service name (letters, digits, "-", "_")'],
    ['TASK_FAMILY', '-x', 'expected a task definition family (letters, digits, "-", "_")'],
    ['CONTAINER_NAME', '-x', 'expected a container name (letters, digits, "-", "_")'],
    [
      'LOG_GROUP',
      'a b',
      'expected a CloudWatch log group name such as "/ecs/llmops-task" (not starting with "-", which the aws CLI would read as an option)',
    ],
    ['DB_INSTANCE_ID', 'a--b', 'expected an RDS identifier: a letter, then lowercase letters, digits or single "-"'],
    ['TARGET_GROUP_NAME', 'a_b', 'expected a target group name: up to 32 letters, digits or "-"'],
    ['SNS_TOPIC_NAME', '-x', 'expected an SNS topic name (letters, digits, "-", "_")'],
    ['DASHBOARD_NAME', '-x', 'expected a dashboard name (letters, digits, "-", "_")'],
    ['CPU_ALARM_NAME', '-x', 'expected an alarm name (letters, digits, "-", "_")'],
    ['SCALING_POLICY_NAME', '-x', 'expected a scaling policy name (letters, digits, "-", "_")'],
    ['DB_SECRET_NAME', 'a b', 'expected a Secrets Manager name such as "llmops/db/password"'],
    ['DB_APP_SECRET_NAME', 'a b', 'expected a Secrets Manager name such as "llmops/db/app"'],
    ['APP_SECRET_NAME', 'a b', 'expected a Secrets Manager name such as "llmops/app/env"'],
    ['EXECUTION_ROLE_NAME', 'a b', 'expected an IAM role name'],
    ['CONTAINER_PORT', '0', 'expected a port number from 1 to 65535'],
    ['DESIRED_COUNT', '101', 'expected a whole number of tasks from 0 to 100'],
    ['DESIRED_COUNT', '', 'is empty: expected a whole number of tasks from 0 to 100 (remove the line to use the default)'],
    ['DESIRED_COUNT', '0x10', 'expected a whole number of tasks from 0 to 100, written in decimal digits'],
    ['HEALTH_PATH', 'health', 'expected a URL path of at most 512 characters starting with "/", e.g. "/health"'],
    ['BUILD_CONTEXT', 'a\tb', 'must not contain control characters (newline, tab, ...): expected the path of the app to build, e.g. "."'],
    ['DOCKERFILE', 'x'.repeat(1025), 'expected a Dockerfile path relative to BUILD_CONTEXT of at most 1024 characters'],
    ['PLATFORM', 'linux/386', 'expected linux/amd64 (X86_64 Fargate, the default) or linux/arm64 (ARM64 Fargate, Graviton)'],
    ['ALLOW_PLAIN_HTTP', 'yes', 'expected true or false'],
    ['ALARM_EMAIL', 'nope', 'expected an e-mail address such as ops@example.com'],
    ['DOMAIN_NAME', 'App.Example.com', 'expected a lowercase domain name such as app.example.com'],
    ['ACM_CERTIFICATE_ARN', 'arn:x', 'expected arn:aws:acm:<region>:<12-digit account>:certificate/<uuid>'],
    ['DB_PASSWORD', 'short', 'expected 8-128 printable characters'],
    ['DB_PASSWORD', 'pass/word1', 'must not contain "/", "@" or \'"\' (RDS rejects them)'],
    ['DB_PASSWORD_VERSION', '0', 'expected a whole number from 1: raise it to apply a new DB_PASSWORD'],
    ['SLACK_WEBHOOK', 'http://x', 'expected an https://hooks.slack.com/... URL'],
    ['TF_STATE_BUCKET', 'A', 'expected an S3 bucket name (3-63 lowercase letters, digits, "." or "-")'],
    ['DEPLOY_TIMEOUT_SECONDS', '10', 'expected seconds from 30 to 7200'],
    ['MIGRATE_TIMEOUT_SECONDS', '8000', 'expected seconds from 30 to 7200'],
    ['MIGRATE_COMMAND', 'x'.repeat(4097), 'expected a command of at most 4096 characters'],
  ];
  for (const [variable, value, message] of rows) {
    const key = /^(AWS_|TF_)/.test(variable) ? variable : `LLMOPS_${variable}`;
    // the first problem is the value's own; a setting another one needs may follow (DOMAIN_NAME, below)
    assert.is(problemsOf({ [key]: value })[0], `${variable}: ${message}`, `${variable}=${JSON.stringify(value)}`);
  }
  assert.equal(problemsOf({ LLMOPS_TASK_CPU: '100' }), [
    'TASK_CPU: expected Fargate cpu units: one of 256, 512, 1024, 2048, 4096, 8192, 16384',
    'TASK_CPU: expected one of 256, 512, 1024, 2048, 4096, 8192, 16384 (Fargate cpu units)',
  ]);
  assert.equal(problemsOf({ LLMOPS_TASK_MEMORY: '100' }), [
    'TASK_MEMORY: expected Fargate memory in MiB, e.g. 1024',
    'TASK_MEMORY: is not a valid Fargate size with TASK_CPU=512: expected one of 1024, 2048, 3072, 4096',
  ]);
  assert.equal(problemsOf({ TF_DIR: '' }), ['TF_DIR: expected the Terraform root module directory, e.g. "terraform"']);
  assert.equal(problemsOf({ LLMOPS_HOSTED_ZONE_ID: 'z1', LLMOPS_DOMAIN_NAME: 'app.example.com' }), [
    'HOSTED_ZONE_ID: expected a Route53 hosted zone id such as Z0123456789ABCDEFGHIJ',
  ]);
  assert.equal(problemsOf({ LLMOPS_DOMAIN_NAME: 'App.Example.com' }), [
    'DOMAIN_NAME: expected a lowercase domain name such as app.example.com',
    'HOSTED_ZONE_ID: is required when DOMAIN_NAME is set: the Route53 hosted zone id that serves App.Example.com',
  ]);
  assert.equal(problemsOf({ LLMOPS_TASK_CPU: '300' }), [
    'TASK_CPU: expected one of 256, 512, 1024, 2048, 4096, 8192, 16384 (Fargate cpu units)',
  ]);
  assert.equal(problemsOf({ LLMOPS_TASK_MEMORY: '3000' }), [
    'TASK_MEMORY: is not a valid Fargate size with TASK_CPU=512: expected one of 1024, 2048, 3072, 4096',
  ]);
  assert.equal(problemsOf({ LLMOPS_DOMAIN_NAME: 'app.example.com' }), [
    'HOSTED_ZONE_ID: is required when DOMAIN_NAME is set: the Route53 hosted zone id that serves app.example.com',
  ]);
  assert.equal(problemsOf({ LLMOPS_HOSTED_ZONE_ID: 'Z123' }), [
    'DOMAIN_NAME: is required when HOSTED_ZONE_ID is set: the domain the certificate and records are for',
  ]);
  assert.equal(
    problemsOf({
      LLMOPS_ACM_CERTIFICATE_ARN: `arn:aws:acm:us-east-1:123456789012:certificate/${'a'.repeat(8)}-${'b'.repeat(4)}-${'c'.repeat(4)}-${'d'.repeat(4)}-${'e'.repeat(12)}`,
    }),
    ['DOMAIN_NAME: is required when ACM_CERTIFICATE_ARN is set: the domain the certificate and records are for'],
  );
});

test.run();
