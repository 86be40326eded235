// Rehearse your own configuration: the sandbox's env file is layered over the user's .env
// (LLMOPS_ENV_FILE=.env,.sandbox/env) and replaces only the endpoint, the credentials, the account and what
// cannot exist locally; the project's names, region and sizes stay the user's. The config is loaded the way
// every script loads it, and the AWS CLI reads the sandbox's credentials files.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../lib/config.js';
import { mergeEnvFiles, readEnvFile } from '../lib/envfiles.js';
import { envFileForScripts, SANDBOX_ACCOUNT, SANDBOX_DIR, sandboxAwsFiles, sandboxEnv, userSettings } from '../sandbox/control.js';

const dir = mkdtempSync(join(tmpdir(), 'llmops-rehearse-'));
const write = (name: string, vars: Record<string, string>) => {
  writeFileSync(
    join(dir, name),
    Object.entries(vars)
      .map(([k, v]) => `${k}=${v}\n`)
      .join(''),
  );
  return join(dir, name);
};
const USER_ENV = {
  PROJECT_NAME: 'hanbit',
  AWS_REGION: 'ap-northeast-2',
  AWS_PROFILE: 'hanbit-prod',
  EXPECTED_ACCOUNT_ID: '210987654321',
  TASK_CPU: '1024',
  TASK_MEMORY: '2048',
  ALARM_EMAIL: 'ops@hanbit.example',
  DOMAIN_NAME: 'app.hanbit.example',
  HOSTED_ZONE_ID: 'Z0HANBIT0000000000',
  BUILD_CONTEXT: join(dir, 'no-such-app'),
};

/** The sandbox's env file as sandbox:up writes it for this user, and the config a script then loads. */
function rehearse(user: Record<string, string>) {
  const own = write('.env', user);
  const overrides = sandboxEnv({ port: 45999, region: user.AWS_REGION ?? 'us-east-1' }, userSettings(mergeEnvFiles([readEnvFile(own)])));
  const sandbox = write('sandbox.env', overrides);
  return { overrides, config: loadConfig({ env: {}, envFile: `${own},${sandbox}` }) };
}

test('a later env file wins, whichever form (plain or LLMOPS_) either file writes', () => {
  assert.equal(mergeEnvFiles([{ vars: { LLMOPS_BUILD_CONTEXT: 'a' } }, { vars: { BUILD_CONTEXT: 'b' } }]), { BUILD_CONTEXT: 'b' });
  assert.equal(mergeEnvFiles([{ vars: { BUILD_CONTEXT: 'a' } }, { vars: { LLMOPS_BUILD_CONTEXT: 'b' } }]), { BUILD_CONTEXT: 'b' });
  assert.equal(mergeEnvFiles([{ vars: { LLMOPS_ENV_FILE: 'x', AWS_REGION: 'a' } }, { vars: { AWS_REGION: 'b' } }]), {
    LLMOPS_ENV_FILE: 'x',
    AWS_REGION: 'b',
  });
});

test('your .env rehearsed: your project names, region and sizes; the sandbox endpoint, keys and account', () => {
  const { overrides, config } = rehearse(USER_ENV);
  assert.is(config.project, 'hanbit');
  assert.is(config.region, 'ap-northeast-2');
  assert.equal(
    [config.names.cluster, config.names.service, config.names.repository, config.names.family],
    ['hanbit-cluster', 'hanbit-service', 'hanbit-system', 'hanbit-task'],
  );
  assert.equal([config.app.cpu, config.app.memory], [1024, 2048]);
  assert.is(config.alarmEmail, 'ops@hanbit.example', 'kept: an address is not an AWS resource');
  assert.is(config.expectedAccountId, SANDBOX_ACCOUNT, 'the account guard now expects the sandbox');
  assert.is(config.domain, undefined, "a real domain's zone and certificate are not in the sandbox");
  assert.is(config.app.buildContext, join(SANDBOX_DIR, 'app'), 'your app is not on this machine: the sample app');
  assert.is(overrides.AWS_ENDPOINT_URL, 'http://127.0.0.1:45999');
  assert.is(overrides.AWS_REGION, 'ap-northeast-2');
  assert.is(overrides.LLMOPS_PROJECT_NAME, undefined, 'the sandbox never renames your project');
});

test('your app is built when it is here; without a .env the guide defaults, as before', () => {
  const app = join(dir, 'app');
  mkdirSync(app, { recursive: true });
  writeFileSync(join(app, 'Dockerfile.prod'), 'FROM scratch\n');
  const { config } = rehearse({ ...USER_ENV, BUILD_CONTEXT: app, DOCKERFILE: 'Dockerfile.prod' });
  assert.equal([config.app.buildContext, config.app.dockerfile], [app, 'Dockerfile.prod']);
  const bare = loadConfig({ env: {}, envFile: write('only-sandbox.env', sandboxEnv({ port: 45999, region: 'us-east-1' })) });
  assert.equal(
    [bare.project, bare.region, bare.app.buildContext, bare.alarmEmail],
    ['llmops', 'us-east-1', join(SANDBOX_DIR, 'app'), 'ops@example.com'],
  );
});

test('LLMOPS_ENV_FILE for rehearsing: .env first when there is one, then the sandbox', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'llmops-cwd-'));
  assert.is(envFileForScripts(cwd), join(SANDBOX_DIR, 'env'));
  writeFileSync(join(cwd, '.env'), 'PROJECT_NAME=hanbit\n');
  assert.is(envFileForScripts(cwd), `.env,${join(SANDBOX_DIR, 'env')}`);
});

test("your AWS_PROFILE answers with the sandbox's keys in the sandbox's files (the real aws CLI reads them)", async () => {
  const files = sandboxAwsFiles('ap-northeast-2', userSettings({ AWS_PROFILE: 'hanbit-prod' }));
  const config = write('aws-config', {});
  const credentials = write('aws-credentials', {});
  writeFileSync(config, files.config);
  writeFileSync(credentials, files.credentials);
  const env = {
    PATH: process.env.PATH,
    HOME: dir,
    AWS_CONFIG_FILE: config,
    AWS_SHARED_CREDENTIALS_FILE: credentials,
    AWS_PROFILE: 'hanbit-prod',
  };
  const key = await execa('aws', ['configure', 'get', 'aws_access_key_id'], { env, extendEnv: false, reject: false, all: true });
  assert.is(key.exitCode, 0, key.all);
  assert.is(key.stdout.trim(), 'sandbox');
  const region = await execa('aws', ['configure', 'get', 'region'], { env, extendEnv: false, reject: false });
  assert.is(region.stdout.trim(), 'ap-northeast-2');
  assert.equal(sandboxAwsFiles('us-east-1', userSettings({})), { config: '', credentials: '' }, 'no profile: the files stay empty');
});

test.run();
