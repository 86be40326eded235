// The local sandbox's control: start and stop the emulator, the Docker engine and the registry; write the env
// file and the Terraform override; report status. `npm run sandbox:up|down|status` (scripts/sandbox.ts) drives it.
import { spawn } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { copyFileSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { formatCommand, quote, type Runner, sh } from '../lib/run.js';
import { commitSampleApp, writeDbClientImage } from './sample-app.js';
import { caRoot, sandboxCa } from './rds-ca.js';
import { ExitCode, ScriptFailure } from '../lib/errors.js';
import { RDS_CA_BUNDLE } from '../lib/schema.js';

export const ROOT = resolve(import.meta.dirname, '..');
export const SANDBOX_DIR = resolve(process.env.LLMOPS_SANDBOX_DIR ?? join(ROOT, '.sandbox'));
/** The emulator's /etc/hosts block, one per sandbox instance (see hosts_markers in emulator.py). */
export const hostsBegin = (instance: string) =>
  `# llmops-sandbox begin ${instance} (managed by sandbox/emulator.py; removed by sandbox:down)`;
export const hostsEnd = (instance: string) => `# llmops-sandbox end ${instance}`;
export const SANDBOX_ACCOUNT = '123456789012';

interface Settings {
  port: number;
  eventsPort: number;
  registryIp: string;
  albIp: string;
  hostsFile: string;
  timeScale: number;
  region: string;
  instance: string;
}

function settings(region: string): Settings {
  const env = process.env;
  return {
    port: Number(env.SANDBOX_PORT ?? 4566),
    eventsPort: Number(env.SANDBOX_EVENTS_PORT ?? Number(env.SANDBOX_PORT ?? 4566) + 1),
    registryIp: env.SANDBOX_REGISTRY_IP ?? '127.0.0.2',
    albIp: env.SANDBOX_ALB_IP ?? '127.0.0.3',
    hostsFile: env.SANDBOX_HOSTS_FILE ?? '/etc/hosts',
    timeScale: Number(env.SANDBOX_TIME_SCALE ?? 0.1),
    region,
    instance: `sandbox-${env.SANDBOX_PORT ?? 4566}`,
  };
}

interface State {
  dockerd?: number;
  registry?: number;
  emulator?: number;
  settings?: Settings;
}

const statePath = () => join(SANDBOX_DIR, 'state.json');
const readState = (): State => (existsSync(statePath()) ? JSON.parse(readFileSync(statePath(), 'utf8')) : {});
const writeState = (s: State) => writeFileSync(statePath(), `${JSON.stringify(s, null, 2)}\n`);

export function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat); // a zombie is not alive
  } catch {
    return false;
  }
}

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number, logFile?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  const tail = logFile && existsSync(logFile) ? `\n${readFileSync(logFile, 'utf8').trim().split('\n').slice(-10).join('\n')}` : '';
  throw new ScriptFailure(`${what} did not come up within ${timeoutMs / 1000} s${logFile ? ` (log: ${logFile})` : ''}${tail}`);
}

const httpOk = (url: string) => async () => (await fetch(url, { signal: AbortSignal.timeout(1000) })).status < 500;

/** Start a daemon detached, its output in .sandbox/logs; echoed like every other command. */
function startDaemon(runner: Runner, name: string, bin: string, args: string[]): number {
  const logs = join(SANDBOX_DIR, 'logs');
  mkdirSync(logs, { recursive: true });
  const log = join(logs, `${name}.log`);
  runner.echo(`$ ${formatCommand(bin, args)} >${quote(log)} 2>&1 &`);
  const fd = openSync(log, 'a');
  const child = spawn(bin, args, { detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, PYTHONUNBUFFERED: '1' } });
  child.unref();
  if (!child.pid) throw new ScriptFailure(`could not start ${bin}: is it installed?`);
  return child.pid;
}

const PACKAGES: [check: string, pkg: string][] = [
  ['dockerd', 'docker.io'],
  ['docker-registry', 'docker-registry'],
  ['/usr/bin/aws', 'awscli'],
  ['busybox', 'busybox-static'],
  // each RDS instance of the sandbox is a real PostgreSQL server; the sample app carries its psql
  ['/usr/lib/postgresql', 'postgresql-15'],
  ['openssl', 'openssl'],
];

async function missingPackages(runner: Runner): Promise<string[]> {
  const missing: string[] = [];
  for (const [check, pkg] of PACKAGES) {
    const found = check.startsWith('/')
      ? existsSync(check)
      : (await runner.run(sh`sh -c ${`command -v ${check}`}`, { nothrow: true, readOnly: true })).ok;
    if (!found) missing.push(pkg);
  }
  return missing;
}

async function installPackages(runner: Runner): Promise<void> {
  const missing = await missingPackages(runner);
  if (!missing.length) return;
  if (process.getuid?.() !== 0) {
    throw new ScriptFailure(
      `missing ${missing.join(', ')}: install them with \`sudo apt-get install -y ${missing.join(' ')}\` and rerun`,
      ExitCode.PREFLIGHT,
    );
  }
  await runner.run(sh`apt-get update -qq`, { timeoutMs: 10 * 60_000, retries: 2 });
  await runner.run(sh`apt-get install -y -qq --no-install-recommends ${missing}`, {
    timeoutMs: 20 * 60_000,
    env: { DEBIAN_FRONTEND: 'noninteractive' },
  });
}

async function preflight(runner: Runner): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new ScriptFailure(
      'the sandbox needs root: it starts dockerd, binds port 80 on 127.0.0.2/127.0.0.3 and adds host names to /etc/hosts (run with sudo)',
      ExitCode.PREFLIGHT,
    );
  }
  const moto = await runner.run(sh`python3 -c ${'import moto, moto.server; print(moto.__version__)'}`, { nothrow: true, readOnly: true });
  if (!moto.ok)
    throw new ScriptFailure("python3 cannot import moto: install it with `pip install 'moto[server]==5.2.1'`", ExitCode.PREFLIGHT);
}

async function ensureDocker(runner: Runner, state: State): Promise<void> {
  const info = await runner.run(sh`docker info --format {{.ServerVersion}}`, { nothrow: true, retries: 0, timeoutMs: 15_000 });
  if (info.ok || runner.dryRun) return;
  state.dockerd = startDaemon(runner, 'dockerd', 'dockerd', ['--host', 'unix:///var/run/docker.sock']);
  writeState(state);
  await waitFor(
    'the Docker engine',
    async () => (await runner.run(sh`docker info --format {{.ServerVersion}}`, { nothrow: true, retries: 0 })).ok,
    60_000,
    join(SANDBOX_DIR, 'logs', 'dockerd.log'),
  );
}

function registryConfig(s: Settings): string {
  return [
    'version: 0.1',
    'log:',
    '  level: warn',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(SANDBOX_DIR, 'registry')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: ${s.registryIp}:80`,
    'notifications:',
    '  endpoints:',
    '    - name: emulator',
    `      url: http://127.0.0.1:${s.eventsPort}/registry-events`,
    '      timeout: 2s',
    '      threshold: 3',
    '      backoff: 1s',
    '',
  ].join('\n');
}

async function ensureRegistry(runner: Runner, state: State, s: Settings): Promise<void> {
  if (alive(state.registry) || runner.dryRun) return runner.echo(`# registry already running (pid ${state.registry})`);
  const config = join(SANDBOX_DIR, 'registry.yml');
  writeFileSync(config, registryConfig(s));
  state.registry = startDaemon(runner, 'registry', 'docker-registry', ['serve', config]);
  writeState(state);
  await waitFor(
    `the registry on ${s.registryIp}:80`,
    httpOk(`http://${s.registryIp}:80/v2/`),
    20_000,
    join(SANDBOX_DIR, 'logs', 'registry.log'),
  );
}

/** DB_CLIENT_IMAGE in the sandbox: psql, in the sandbox's registry under the ECR host name the tasks pull from. */
export const sandboxDbClientImage = (region: string) => `${SANDBOX_ACCOUNT}.dkr.ecr.${region}.amazonaws.com/sandbox/psql:15`;

/** Build and push the sandbox's psql image once (step 6's database user task runs in it). */
async function ensureDbClientImage(runner: Runner, s: Settings): Promise<void> {
  const image = sandboxDbClientImage(s.region);
  const manifest = `http://${s.registryIp}:80/v2/sandbox/psql/manifests/15`;
  const there = await fetch(manifest, { signal: AbortSignal.timeout(5000) }).then(
    (r) => r.ok,
    () => false,
  );
  if (there || runner.dryRun) return runner.echo(`# ${image} (psql, DB_CLIENT_IMAGE) already in the sandbox's registry`);
  const dir = join(SANDBOX_DIR, 'db-client');
  writeDbClientImage(dir);
  // the emulator writes the registry's host name into the hosts file just after it starts
  const host = image.split('/')[0]!;
  await waitFor(`${host} in ${s.hostsFile}`, async () => (await lookup(host)).address === s.registryIp, 30_000);
  await runner.run(sh`docker build -q -t ${image} ${dir}`, { timeoutMs: 300_000 });
  // dockerd resolves through Go's resolver, which keeps the hosts file it read for 5 s: a push right after the
  // emulator wrote it may not see the name yet
  for (let attempt = 1; ; attempt++) {
    const pushed = await runner.run(sh`docker push ${image}`, { timeoutMs: 300_000, nothrow: attempt < 5 });
    if (pushed.ok) break;
    await new Promise((r) => setTimeout(r, 3000));
  }
}

async function ensureEmulator(runner: Runner, state: State, s: Settings): Promise<void> {
  if (alive(state.emulator) || runner.dryRun) return runner.echo(`# AWS emulator already running (pid ${state.emulator})`);
  const args = [
    join(ROOT, 'sandbox', 'emulator.py'),
    '--port',
    String(s.port),
    '--events-port',
    String(s.eventsPort),
    '--alb-ip',
    s.albIp,
    '--registry-ip',
    s.registryIp,
    '--registry-url',
    `http://${s.registryIp}:80`,
    '--account',
    SANDBOX_ACCOUNT,
    '--regions',
    s.region,
    '--hosts-file',
    s.hostsFile,
    '--time-scale',
    String(s.timeScale),
    '--instance',
    s.instance,
    // the CA that signs each database's certificate: the one the sample app's image carries (DB_CA_BUNDLE)
    '--rds-ca-dir',
    sandboxCa().dir,
  ];
  state.emulator = startDaemon(runner, 'emulator', 'python3', args);
  writeState(state);
  await waitFor(
    `the AWS emulator on 127.0.0.1:${s.port}`,
    httpOk(`http://127.0.0.1:${s.port}/moto-api/`),
    30_000,
    join(SANDBOX_DIR, 'logs', 'emulator.log'),
  );
}

/** The one env file that points every AWS client (CLI v1/v2, SDK, Terraform) at the sandbox. */
/** What the user's own env file says that the sandbox can keep (everything it does not override). */
export interface UserSettings {
  /** The app the user builds, when it exists here with its Dockerfile (else the sample app is used). */
  buildContext?: string;
  alarmEmail?: string;
  /** AWS_PROFILE of the user's .env: the sandbox's config answers for it with the sandbox's keys. */
  profile?: string;
  /** The user's .env names a real domain (its zone and certificate are not in the sandbox: cleared). */
  domain?: boolean;
}

/** From the user's env file(s) (`.env`): only what the sandbox looks at before it overrides anything. */
export function userSettings(vars: Record<string, string>): UserSettings {
  const buildContext = vars.BUILD_CONTEXT ? resolve(vars.BUILD_CONTEXT) : undefined;
  const dockerfile = vars.DOCKERFILE ?? 'Dockerfile';
  return {
    buildContext: buildContext && existsSync(join(buildContext, dockerfile)) ? buildContext : undefined,
    alarmEmail: vars.ALARM_EMAIL || undefined,
    profile: vars.AWS_PROFILE || undefined,
    domain: !!(vars.DOMAIN_NAME || vars.HOSTED_ZONE_ID || vars.ACM_CERTIFICATE_ARN),
  };
}

/** LLMOPS_ENV_FILE for rehearsing in the sandbox: the user's .env (when there is one), then the sandbox's overrides. */
export function envFileForScripts(cwd = process.cwd()): string {
  const own = join(cwd, '.env');
  return [...(existsSync(own) ? ['.env'] : []), relativeOrAbsolute(join(SANDBOX_DIR, 'env'), cwd)].join(',');
}

function relativeOrAbsolute(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel.startsWith('..') ? path : rel;
}

/** The sandbox's AWS config and credentials files: empty, or the user's AWS_PROFILE answering with the sandbox's keys. */
export function sandboxAwsFiles(region: string, user: UserSettings): { config: string; credentials: string } {
  const p = user.profile;
  if (!p) return { config: '', credentials: '' };
  return {
    config: `[${p === 'default' ? p : `profile ${p}`}]\nregion = ${region}\n`,
    credentials: `[${p}]\naws_access_key_id = sandbox\naws_secret_access_key = sandbox-secret-key\n`,
  };
}

/**
 * What the sandbox overrides, layered over the user's own `.env` (LLMOPS_ENV_FILE=.env,.sandbox/env): the AWS
 * endpoint and credentials (the user's AWS_PROFILE answers with the sandbox's keys), the account, the Terraform
 * provider mirror, what cannot exist locally (the Route53 zone and ACM certificate of a real domain), the app
 * when the user's is not here, and the Terraform variables a throwaway stack wants. Project name, region, sizes
 * and every other name stay the user's.
 */
export function sandboxEnv(s: Pick<Settings, 'port' | 'region'>, user: UserSettings = {}): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: `http://127.0.0.1:${s.port}`,
    AWS_ACCESS_KEY_ID: 'sandbox',
    AWS_SECRET_ACCESS_KEY: 'sandbox-secret-key',
    AWS_REGION: s.region,
    AWS_DEFAULT_REGION: s.region,
    AWS_CONFIG_FILE: join(SANDBOX_DIR, 'aws', 'config'),
    AWS_SHARED_CREDENTIALS_FILE: join(SANDBOX_DIR, 'aws', 'credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
    TF_CLI_CONFIG_FILE: join(SANDBOX_DIR, 'terraformrc'),
    LLMOPS_EXPECTED_ACCOUNT_ID: SANDBOX_ACCOUNT,
    LLMOPS_BUILD_CONTEXT: user.buildContext ?? join(SANDBOX_DIR, 'app'),
    ...(user.buildContext
      ? // your image carries AWS's RDS CA bundle, which did not sign the sandbox's database: TLS without the check
        { LLMOPS_DB_SSL_MODE: 'require' }
      : // the sample app carries the sandbox's RDS CA (sandbox/rds-ca.ts) where DB_CA_BUNDLE says by default; the
        // database user's task is given the same CA, as AWS's bundle of the region is given in AWS
        {
          LLMOPS_DOCKERFILE: 'Dockerfile',
          LLMOPS_DB_SSL_MODE: 'verify-full',
          LLMOPS_DB_CA_BUNDLE: RDS_CA_BUNDLE,
          LLMOPS_DB_CA_BUNDLE_URL: `file://${join(caRoot(), 'rds-ca', 'ca.pem')}`,
        }),
    // psql for the database user's task (step 6): built by sandbox:up into the sandbox's registry
    LLMOPS_DB_CLIENT_IMAGE: sandboxDbClientImage(s.region),
    LLMOPS_ALARM_EMAIL: user.alarmEmail ?? 'ops@example.com',
    // no certificate in the sandbox without a domain: plain HTTP on loopback, opted into
    LLMOPS_ALLOW_PLAIN_HTTP: 'true',
    // the bake at the sandbox's time scale (a tenth): 6 s stand for AWS's default minute
    LLMOPS_BAKE_SECONDS: '6',
    // your .env's real domain: its hosted zone and certificate live in your account, not here (cleared only
    // when .env names one, so a domain given for the sandbox run itself still applies)
    ...(user.domain ? { LLMOPS_DOMAIN_NAME: '', LLMOPS_HOSTED_ZONE_ID: '', LLMOPS_ACM_CERTIFICATE_ARN: '' } : {}),
    // Terraform variables a throwaway stack wants (moto cannot create the autoscaling target).
    TF_VAR_alb_deletion_protection: 'false',
    TF_VAR_db_deletion_protection: 'false',
    TF_VAR_enable_autoscaling: 'false',
    TF_VAR_ecr_force_delete: 'true',
    TF_VAR_secret_recovery_window_days: '0',
  };
}

function writeEnvFiles(s: Settings, tfDir: string, user: UserSettings): void {
  mkdirSync(join(SANDBOX_DIR, 'aws'), { recursive: true });
  const aws = sandboxAwsFiles(s.region, user);
  writeFileSync(join(SANDBOX_DIR, 'aws', 'config'), aws.config);
  writeFileSync(join(SANDBOX_DIR, 'aws', 'credentials'), aws.credentials, { mode: 0o600 });
  const mirror = '/opt/tf-plugins';
  writeFileSync(
    join(SANDBOX_DIR, 'terraformrc'),
    existsSync(mirror)
      ? `provider_installation {\n  filesystem_mirror {\n    path    = "${mirror}"\n    include = ["registry.terraform.io/hashicorp/*"]\n  }\n}\n`
      : '# no provider mirror on this machine: providers come from the registry\n',
  );
  const env = sandboxEnv(s, user);
  writeFileSync(
    join(SANDBOX_DIR, 'env'),
    `# Written by npm run sandbox:up: every AWS client points at the local sandbox. Layered over your own .env\n# (later wins): LLMOPS_ENV_FILE=${envFileForScripts()} npm run <script>\n${Object.entries(
      env,
    )
      .map(([k, v]) => `${k}=${v}`)
      .join('\n')}\n`,
  );
  if (existsSync(tfDir)) copyFileSync(join(ROOT, 'sandbox', 'sandbox_override.tf'), join(tfDir, 'sandbox_override.tf'));
}

export function removeHostsBlock(file: string, instance: string): boolean {
  if (!existsSync(file)) return false;
  const lines = readFileSync(file, 'utf8').split('\n');
  const begin = lines.indexOf(hostsBegin(instance));
  if (begin < 0) return false;
  const end = lines.indexOf(hostsEnd(instance), begin);
  lines.splice(begin, (end < 0 ? lines.length : end + 1) - begin);
  writeFileSync(file, lines.join('\n'));
  return true;
}

async function stopPid(runner: Runner, name: string, pid: number | undefined): Promise<void> {
  if (!alive(pid)) return;
  runner.echo(`$ kill ${pid}   # ${name}`);
  if (runner.dryRun) return;
  process.kill(pid!, 'SIGTERM');
  const deadline = Date.now() + 20_000;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive(pid)) process.kill(pid!, 'SIGKILL');
}

export async function sandboxUp(runner: Runner, region: string, tfDir: string, user: UserSettings = {}): Promise<Settings> {
  const s = settings(region);
  mkdirSync(SANDBOX_DIR, { recursive: true });
  await installPackages(runner);
  await preflight(runner);
  const state = readState();
  state.settings = s;
  await ensureDocker(runner, state);
  await ensureRegistry(runner, state, s);
  await ensureEmulator(runner, state, s);
  writeState(state);
  await ensureDbClientImage(runner, s);
  if (!runner.dryRun) {
    writeEnvFiles(s, tfDir, user);
    if (!existsSync(join(SANDBOX_DIR, 'app', '.git'))) commitSampleApp(join(SANDBOX_DIR, 'app'), 'v1');
  }
  return s;
}

export async function sandboxDown(runner: Runner, tfDir: string): Promise<void> {
  const state = readState();
  await stopPid(runner, 'AWS emulator', state.emulator); // removes its task containers and hosts block
  await stopPid(runner, 'registry', state.registry);
  await stopPid(runner, 'dockerd (started by sandbox:up)', state.dockerd);
  if (runner.dryRun) return;
  if (state.settings) removeHostsBlock(state.settings.hostsFile, state.settings.instance);
  rmSync(join(tfDir, 'sandbox_override.tf'), { force: true });
  rmSync(SANDBOX_DIR, { recursive: true, force: true });
}

export async function sandboxStatus(region: string): Promise<{ name: string; ok: boolean; detail: string }[]> {
  const state = readState();
  const s = state.settings ?? settings(region);
  const hosts = existsSync(s.hostsFile) ? readFileSync(s.hostsFile, 'utf8') : '';
  const probe = async (url: string) => httpOk(url)().catch(() => false);
  return [
    {
      name: 'AWS emulator',
      ok: alive(state.emulator) && (await probe(`http://127.0.0.1:${s.port}/moto-api/`)),
      detail: `http://127.0.0.1:${s.port} (pid ${state.emulator ?? '-'})`,
    },
    {
      name: 'registry (ECR data plane)',
      ok: alive(state.registry) && (await probe(`http://${s.registryIp}:80/v2/`)),
      detail: `${SANDBOX_ACCOUNT}.dkr.ecr.${s.region}.amazonaws.com -> ${s.registryIp}:80 (pid ${state.registry ?? '-'})`,
    },
    {
      name: 'docker engine',
      ok: existsSync('/var/run/docker.sock'),
      detail: state.dockerd ? `started by sandbox:up (pid ${state.dockerd})` : 'already running before sandbox:up',
    },
    { name: 'hosts block', ok: hosts.includes(hostsBegin(s.instance)), detail: s.hostsFile },
    { name: 'env file', ok: existsSync(join(SANDBOX_DIR, 'env')), detail: join(SANDBOX_DIR, 'env') },
  ];
}
