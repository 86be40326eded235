// One typed, frozen configuration for every script: `.env` (dotenv) + the environment, validated with zod
// (lib/schema.ts). Every name defaults to the guide's, derived here from PROJECT_NAME, once: Terraform is
// given these names (lib/infra.ts's tfvars) rather than deriving its own.
import { existsSync } from 'node:fs';
import { ConfigError, type ConfigProblem } from './errors.js';
import { environmentOf, environmentProblems, envFilesWin, readEnvFiles, settingFromEnvironment, settingFromFiles } from './envfiles.js';
import { DEFAULTS, KNOWN_VARIABLES, maskValue, type Raw, rdsRegionBundleUrl, schema, SECRET_VARIABLES } from './schema.js';
import { prefixed, SETTING_NAMES } from './variables.js';
import { userPath } from './flags.js';

export interface Config {
  /**
   * The prefix every name derives from: PROJECT_NAME, or PROJECT_NAME-ENVIRONMENT for one of several
   * environments side by side (hanbit-staging-cluster, its own state key and deploy lock).
   */
  project: string;
  /** PROJECT_NAME itself: the state bucket is one per project, shared by its environments. */
  projectName: string;
  /** LLMOPS_ENVIRONMENT or --env (staging, production), or undefined: one stack named by PROJECT_NAME alone. */
  environment?: string;
  region: string;
  expectedAccountId?: string;
  names: {
    repository: string;
    cluster: string;
    service: string;
    family: string;
    container: string;
    logGroup: string;
    dbInstance: string;
    targetGroup: string;
    topic: string;
    dashboard: string;
    cpuAlarm: string;
    scalingPolicy: string;
    dbSecret: string;
    /** The app's own database user's secret (JSON: username, password); the service reads it when migrations run. */
    dbAppSecret: string;
    appSecret: string;
    executionRole: string;
  };
  app: {
    port: number;
    cpu: number;
    memory: number;
    desiredCount: number;
    healthPath: string;
    buildContext: string;
    dockerfile: string;
    /** The image's platform, which the tasks' runtimePlatform matches: linux/amd64 (X86_64) or linux/arm64 (ARM64). */
    platform: 'linux/amd64' | 'linux/arm64';
  };
  alarmEmail?: string;
  /** A customer managed KMS key for the stack's secrets (else Secrets Manager's AWS managed key). */
  secretsKmsKeyArn?: string;
  /** Serve plain HTTP when there is no certificate (Terraform refuses otherwise). */
  allowPlainHttp: boolean;
  domain?: { name: string; hostedZoneId: string; certificateArn?: string };
  terraform: { dir: string; stateBucket?: string };
  deployTimeoutSeconds: number;
  /** CRASH_LOOP_TASKS: stop a deployment whose tasks stop this many times before any is healthy (0: leave it to ECS). */
  crashLoopTasks: number;
  /** BAKE_SECONDS: after a new deployment turns healthy, how long a task of it that stops still fails the deploy. */
  bakeSeconds: number;
  /**
   * DEPLOY_STRATEGY and its numbers: rolling, or one of ECS's native strategies (Terraform's deployment_strategy makes
   * the second target group; step 6 sets the rest on the service). ECS bakes BAKE_SECONDS, in whole minutes.
   */
  strategy: { kind: 'rolling' | 'blue-green' | 'canary' | 'linear'; canaryPercent: number; linearStepPercent: number; stepMinutes: number };
  /** MIGRATE_COMMAND: run once per release as a one-off task before the service update (deploy, bootstrap, npm run migrate). */
  migrate?: { command: string[]; timeoutSeconds: number };
  /** DB_CHECK_COMMAND: doctor runs it as a one-off task to prove the tasks reach the database (exit 0 = connected). */
  dbCheckCommand?: string[];
  /** The scan gate: a finding at or above `severity` in the image's ECR scan stops the release before it is registered. */
  scan: { severity: 'CRITICAL' | 'HIGH' | 'MEDIUM' | 'LOW' | 'INFORMATIONAL' | 'off'; timeoutSeconds: number };
  /** How the tasks' PostgreSQL clients check the server (PGSSLMODE) and the CA bundle in the image they check it with (PGSSLROOTCERT). */
  dbTls: { mode: 'verify-full' | 'verify-ca' | 'require'; caBundle: string };
  /**
   * Whom the service connects as: `app`, its own database user, which step 6 creates (or whose password it sets)
   * with a one-off task of `clientImage` (psql) that checks the server against the bundle at `caBundleUrl`; or
   * `master`, the guide's way.
   */
  dbUser: { connectAs: 'app' | 'master'; clientImage: string; caBundleUrl: string };
  secrets: { dbPassword?: string; slackWebhook?: string };
  /** Terraform sends DB_PASSWORD (write-only) again only when this changes. */
  dbPasswordVersion: number;
}

export interface LoadOptions {
  /** The environment (process.env by default). */
  env?: NodeJS.ProcessEnv;
  /** The env file(s), comma-separated, later ones win; `LLMOPS_ENV_FILE` or ./.env by default. An empty string: none. */
  envFile?: string;
}

/** Load, validate and freeze. Throws ConfigError listing every problem at once. */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const fileRead = readEnvFiles(env, options.envFile);
  const filesWin = envFilesWin(env);
  const merged: Record<string, string | undefined> = { ...DEFAULTS };
  /** Settings whose value came from the environment: a problem with one names the variable set there. */
  const fromEnvironment = new Map<string, string>();
  for (const k of SETTING_NAMES()) {
    const fromFile = settingFromFiles(fileRead.vars, k);
    const fromEnv = settingFromEnvironment(env, k);
    const value = filesWin ? (fromFile ?? fromEnv) : (fromEnv ?? fromFile);
    if (value !== undefined) merged[k] = value;
    if (fromEnv !== undefined && value === fromEnv && fromFile !== fromEnv)
      fromEnvironment.set(k, env[prefixed(k)] !== undefined ? prefixed(k) : k);
  }
  if (
    settingFromEnvironment(env, 'AWS_REGION') === undefined &&
    settingFromFiles(fileRead.vars, 'AWS_REGION') === undefined &&
    env.AWS_DEFAULT_REGION
  ) {
    merged.AWS_REGION = env.AWS_DEFAULT_REGION;
  }

  // a relative path from the environment means the user's directory (npm runs the script in the repository)
  for (const k of ['BUILD_CONTEXT', 'TF_DIR'] as const) if (fromEnvironment.has(k) && merged[k]) merged[k] = userPath(merged[k]!, env);
  const input = Object.fromEntries(KNOWN_VARIABLES.map((k) => [k, merged[k]]));
  const result = schema.safeParse(input);
  const problems = [...fileRead.problems, ...environmentProblems(env)];
  if (!result.success) {
    for (const issue of result.error.issues) {
      const variable = String(issue.path[0] ?? 'config');
      const raw = merged[variable];
      const where = fromEnvironment.get(variable);
      problems.push({
        variable,
        value: raw === undefined ? undefined : maskValue(variable, raw),
        message: issue.message,
        ...(where ? { from: `the environment's ${where}` } : {}),
      });
    }
  }
  const existing = fileRead.files
    .filter((f) => !f.problems.some((p) => p.variable === 'LLMOPS_ENV_FILE'))
    .map((f) => f.path)
    .filter((f) => existsSync(f));
  const source = existing.length ? existing.join(', ') : 'the environment';
  const environment = environmentOf(env);
  if (result.success && environment && `${result.data.PROJECT_NAME}-${environment}`.length > 24)
    problems.push({
      variable: 'LLMOPS_ENVIRONMENT',
      value: environment,
      message: `makes the name prefix ${result.data.PROJECT_NAME}-${environment} longer than 24 characters (AWS limits the names derived from it): shorten PROJECT_NAME or the environment's name`,
    });
  if (problems.length > 0 || !result.success) throw new ConfigError(problems, source);
  return deepFreeze(toConfig(result.data, environment));
}

function toConfig(v: Raw, environment?: string): Config {
  const p = environment ? `${v.PROJECT_NAME}-${environment}` : v.PROJECT_NAME;
  const family = v.TASK_FAMILY ?? `${p}-task`;
  return {
    project: p,
    projectName: v.PROJECT_NAME,
    environment,
    region: v.AWS_REGION,
    expectedAccountId: v.EXPECTED_ACCOUNT_ID,
    names: {
      repository: v.ECR_REPOSITORY ?? `${p}-system`,
      cluster: v.ECS_CLUSTER ?? `${p}-cluster`,
      service: v.ECS_SERVICE ?? `${p}-service`,
      family,
      container: v.CONTAINER_NAME ?? `${p}-app`,
      logGroup: v.LOG_GROUP ?? `/ecs/${family}`,
      dbInstance: v.DB_INSTANCE_ID ?? `${p}-db`,
      targetGroup: v.TARGET_GROUP_NAME ?? `${p}-targets`,
      topic: v.SNS_TOPIC_NAME ?? `${p}-alerts`,
      dashboard: v.DASHBOARD_NAME ?? `${p}-dashboard`,
      cpuAlarm: v.CPU_ALARM_NAME ?? `${p}-high-cpu`,
      scalingPolicy: v.SCALING_POLICY_NAME ?? `${p}-cpu-scaling`,
      dbSecret: v.DB_SECRET_NAME ?? `${p}/db/password`,
      dbAppSecret: v.DB_APP_SECRET_NAME ?? `${p}/db/app`,
      appSecret: v.APP_SECRET_NAME ?? `${p}/app/env`,
      executionRole: v.EXECUTION_ROLE_NAME ?? 'ecsTaskExecutionRole',
    },
    app: {
      port: v.CONTAINER_PORT,
      cpu: v.TASK_CPU,
      memory: v.TASK_MEMORY,
      desiredCount: v.DESIRED_COUNT,
      healthPath: v.HEALTH_PATH,
      buildContext: v.BUILD_CONTEXT,
      dockerfile: v.DOCKERFILE,
      platform: v.PLATFORM,
    },
    alarmEmail: v.ALARM_EMAIL,
    secretsKmsKeyArn: v.SECRETS_KMS_KEY_ARN,
    allowPlainHttp: v.ALLOW_PLAIN_HTTP === 'true',
    domain: v.DOMAIN_NAME ? { name: v.DOMAIN_NAME, hostedZoneId: v.HOSTED_ZONE_ID!, certificateArn: v.ACM_CERTIFICATE_ARN } : undefined,
    terraform: { dir: v.TF_DIR, stateBucket: v.TF_STATE_BUCKET },
    deployTimeoutSeconds: v.DEPLOY_TIMEOUT_SECONDS,
    crashLoopTasks: v.CRASH_LOOP_TASKS,
    bakeSeconds: v.BAKE_SECONDS,
    strategy: {
      kind: v.DEPLOY_STRATEGY,
      canaryPercent: v.CANARY_PERCENT,
      linearStepPercent: v.LINEAR_STEP_PERCENT,
      stepMinutes: v.TRAFFIC_STEP_MINUTES,
    },
    migrate: v.MIGRATE_COMMAND ? { command: JSON.parse(v.MIGRATE_COMMAND), timeoutSeconds: v.MIGRATE_TIMEOUT_SECONDS } : undefined,
    dbCheckCommand: v.DB_CHECK_COMMAND ? JSON.parse(v.DB_CHECK_COMMAND) : undefined,
    dbTls: { mode: v.DB_SSL_MODE, caBundle: v.DB_CA_BUNDLE },
    dbUser: {
      connectAs: v.DB_CONNECT_AS,
      clientImage: v.DB_CLIENT_IMAGE,
      caBundleUrl: v.DB_CA_BUNDLE_URL ?? rdsRegionBundleUrl(v.AWS_REGION),
    },
    scan: { severity: v.SCAN_SEVERITY, timeoutSeconds: v.SCAN_TIMEOUT_SECONDS },
    secrets: { dbPassword: v.DB_PASSWORD, slackWebhook: v.SLACK_WEBHOOK },
    dbPasswordVersion: v.DB_PASSWORD_VERSION,
  };
}

/** Every secret value the environment holds, for the runner to mask. */
export function secretValues(config: Config, env: NodeJS.ProcessEnv = process.env): string[] {
  // an AWS secret key is 40 characters and a session token hundreds: a short one ("test", an emulator's) is
  // no AWS secret, and masking it would garble every line that contains the word
  const fromEnv = SECRET_VARIABLES.map((k) => (k.startsWith('AWS_') && (env[k]?.length ?? 0) < 16 ? undefined : env[k]));
  return [config.secrets.dbPassword, config.secrets.slackWebhook, ...fromEnv].filter((v): v is string => !!v && v.length >= 4);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * One note per setting that the environment and an env file both give, with different values: which one is
 * used and where the other is (an exported AWS_REGION, as CloudShell and CI set it, silently beat .env's).
 * Secrets are named, never shown.
 */
export function settingOverrides(env: NodeJS.ProcessEnv = process.env): string[] {
  const { files } = readEnvFiles(env);
  const filesWin = envFilesWin(env);
  return SETTING_NAMES().flatMap((k) => {
    const file = [...files].reverse().find((f) => settingFromFiles(f.vars, k) !== undefined);
    const inFile = file && settingFromFiles(file.vars, k);
    const inEnv = settingFromEnvironment(env, k);
    if (inFile === undefined || inEnv === undefined || inFile === inEnv) return [];
    const envName = env[prefixed(k)] !== undefined ? prefixed(k) : k;
    const show = (v: string) => JSON.stringify(maskValue(k, v));
    return [
      filesWin
        ? `note: ${k}=${show(inFile!)} from ${file!.path} is used; ${envName}=${show(inEnv)} in the environment is not (LLMOPS_ENV_FILE's files win)`
        : `note: ${envName}=${show(inEnv)} in the environment is used, not ${k}=${show(inFile!)} from ${file!.path} (unset ${envName} to use the file's)`,
    ];
  });
}
