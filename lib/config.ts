// One typed, frozen configuration for every script: `.env` (dotenv) + the environment,
// validated with zod. Every name defaults to the guide's, derived from PROJECT_NAME.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import dotenv from 'dotenv';
import { z } from 'zod';

/** Fargate task sizes: cpu units -> allowed memory (MiB). */
export const FARGATE_SIZES: Record<number, number[]> = {
  256: [512, 1024, 2048],
  512: range(1024, 4096, 1024),
  1024: range(2048, 8192, 1024),
  2048: range(4096, 16384, 1024),
  4096: range(8192, 30720, 1024),
  8192: range(16384, 61440, 4096),
  16384: range(32768, 122880, 8192),
};

function range(from: number, to: number, step: number): number[] {
  const out: number[] = [];
  for (let v = from; v <= to; v += step) out.push(v);
  return out;
}

/** Variables whose values are secrets: masked in messages, registered with the runner. */
export const SECRET_VARIABLES = ['DB_PASSWORD', 'SLACK_WEBHOOK', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'] as const;

const optional = (schema: z.ZodType<string>) =>
  z.preprocess((v) => (v === '' ? undefined : v), schema.optional());
const int = (min: number, max: number, what: string) =>
  z.coerce.number({ error: `expected ${what}` }).int({ error: `expected ${what}` }).min(min, { error: `expected ${what}` }).max(max, { error: `expected ${what}` });
const name = (what: string, re = /^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$/) =>
  optional(z.string().regex(re, { error: `expected ${what}` }));

/** Keys are the environment variable names, so an issue's path is the variable to name. */
const schema = z
  .object({
    PROJECT_NAME: z
      .string({ error: 'expected a project prefix such as "llmops"' })
      .regex(/^[a-z][a-z0-9-]{1,23}$/, { error: 'expected 2-24 lowercase letters, digits or "-", starting with a letter (e.g. "llmops")' }),
    AWS_REGION: z.string().regex(/^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$/, { error: 'expected an AWS region code such as "us-east-1"' }),
    EXPECTED_ACCOUNT_ID: optional(z.string().regex(/^\d{12}$/, { error: 'expected a 12-digit AWS account id' })),
    ECR_REPOSITORY: name('an ECR repository name (lowercase, digits, "-", "_", "/")', /^[a-z0-9]+(?:[._/-][a-z0-9]+)*$/),
    ECS_CLUSTER: name('an ECS cluster name (letters, digits, "-", "_")'),
    ECS_SERVICE: name('an ECS service name (letters, digits, "-", "_")'),
    TASK_FAMILY: name('a task definition family (letters, digits, "-", "_")'),
    CONTAINER_NAME: name('a container name (letters, digits, "-", "_")'),
    LOG_GROUP: optional(z.string().regex(/^[\w#./-]{1,512}$/, { error: 'expected a CloudWatch log group name such as "/ecs/llmops-task"' })),
    DB_INSTANCE_ID: name('an RDS identifier: a letter, then lowercase letters, digits or single "-"', /^[a-z](?!.*--)[a-z0-9-]{0,62}(?<!-)$/),
    TARGET_GROUP_NAME: name('a target group name: up to 32 letters, digits or "-"', /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$/),
    SNS_TOPIC_NAME: name('an SNS topic name (letters, digits, "-", "_")'),
    DASHBOARD_NAME: name('a dashboard name (letters, digits, "-", "_")'),
    CPU_ALARM_NAME: name('an alarm name (letters, digits, "-", "_")'),
    SCALING_POLICY_NAME: name('a scaling policy name (letters, digits, "-", "_")'),
    DB_SECRET_NAME: name('a Secrets Manager name such as "llmops/db/password"', /^[A-Za-z0-9/_+=.@-]{1,512}$/),
    APP_SECRET_NAME: name('a Secrets Manager name such as "llmops/app/env"', /^[A-Za-z0-9/_+=.@-]{1,512}$/),
    EXECUTION_ROLE_NAME: name('an IAM role name', /^[\w+=,.@-]{1,64}$/),
    CONTAINER_PORT: int(1, 65535, 'a port number from 1 to 65535'),
    TASK_CPU: int(256, 16384, `Fargate cpu units: one of ${Object.keys(FARGATE_SIZES).join(', ')}`),
    TASK_MEMORY: int(512, 122880, 'Fargate memory in MiB, e.g. 1024'),
    DESIRED_COUNT: int(0, 100, 'a whole number of tasks from 0 to 100'),
    HEALTH_PATH: z.string().regex(/^\/[\w\-./~%?=&]*$/, { error: 'expected a URL path starting with "/", e.g. "/health"' }),
    BUILD_CONTEXT: z.string().min(1, { error: 'expected the path of the app to build, e.g. "."' }),
    DOCKERFILE: z.string().min(1, { error: 'expected a Dockerfile path relative to BUILD_CONTEXT' }),
    ALARM_EMAIL: optional(z.email({ error: 'expected an e-mail address such as ops@example.com' })),
    DOMAIN_NAME: optional(z.string().regex(/^(?=.{1,253}$)(?:(?!-)[a-z0-9-]{1,63}(?<!-)\.)+[a-z]{2,63}$/, { error: 'expected a lowercase domain name such as app.example.com' })),
    HOSTED_ZONE_ID: optional(z.string().regex(/^[A-Z0-9]{2,32}$/, { error: 'expected a Route53 hosted zone id such as Z0123456789ABCDEFGHIJ' })),
    ACM_CERTIFICATE_ARN: optional(z.string().regex(/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]{36}$/, { error: 'expected arn:aws:acm:<region>:<12-digit account>:certificate/<uuid>' })),
    DB_PASSWORD: optional(z.string().regex(/^[\x21-\x7e]{8,128}$/, { error: 'expected 8-128 printable characters' }).refine((v) => !/[/@"]/.test(v), { error: 'must not contain "/", "@" or \'"\' (RDS rejects them)' })),
    SLACK_WEBHOOK: optional(z.string().regex(/^https:\/\/hooks\.slack\.com\/\S+$/, { error: 'expected an https://hooks.slack.com/... URL' })),
    TF_DIR: z.string().min(1),
    TF_STATE_BUCKET: optional(z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { error: 'expected an S3 bucket name (3-63 lowercase letters, digits, "." or "-")' })),
    DEPLOY_TIMEOUT_SECONDS: int(30, 7200, 'seconds from 30 to 7200'),
  })
  .superRefine((v, ctx) => {
    const memories = FARGATE_SIZES[v.TASK_CPU];
    if (!memories) {
      ctx.addIssue({ code: 'custom', path: ['TASK_CPU'], message: `expected one of ${Object.keys(FARGATE_SIZES).join(', ')} (Fargate cpu units)` });
    } else if (!memories.includes(v.TASK_MEMORY)) {
      ctx.addIssue({ code: 'custom', path: ['TASK_MEMORY'], message: `is not a valid Fargate size with TASK_CPU=${v.TASK_CPU}: expected one of ${memories.join(', ')}` });
    }
    if (v.DOMAIN_NAME && !v.HOSTED_ZONE_ID) {
      ctx.addIssue({ code: 'custom', path: ['HOSTED_ZONE_ID'], message: `is required when DOMAIN_NAME is set: the Route53 hosted zone id that serves ${v.DOMAIN_NAME}` });
    }
    if ((v.ACM_CERTIFICATE_ARN || v.HOSTED_ZONE_ID) && !v.DOMAIN_NAME) {
      const key = v.ACM_CERTIFICATE_ARN ? 'ACM_CERTIFICATE_ARN' : 'HOSTED_ZONE_ID';
      ctx.addIssue({ code: 'custom', path: ['DOMAIN_NAME'], message: `is required when ${key} is set: the domain the certificate and records are for` });
    }
  });

type Raw = z.infer<typeof schema>;

const DEFAULTS: Record<string, string> = {
  PROJECT_NAME: 'llmops',
  AWS_REGION: 'us-east-1',
  CONTAINER_PORT: '3000',
  TASK_CPU: '512',
  TASK_MEMORY: '1024',
  DESIRED_COUNT: '2',
  HEALTH_PATH: '/health',
  BUILD_CONTEXT: '.',
  DOCKERFILE: 'Dockerfile',
  TF_DIR: 'terraform',
  DEPLOY_TIMEOUT_SECONDS: '900',
};

export const KNOWN_VARIABLES = Object.keys(schema.shape) as (keyof Raw)[];
/** Variables a .env may hold that other tools read (AWS SDK/CLI, Terraform, Docker, CI, the sandbox). */
const PASS_THROUGH = /^(AWS_|TF_|DOCKER_|CI$|GITHUB_|NO_COLOR$|FORCE_COLOR$|LLMOPS_|SANDBOX_)/;

export interface Config {
  project: string;
  region: string;
  expectedAccountId?: string;
  names: {
    repository: string; cluster: string; service: string; family: string; container: string;
    logGroup: string; dbInstance: string; targetGroup: string; topic: string; dashboard: string;
    cpuAlarm: string; scalingPolicy: string; dbSecret: string; appSecret: string; executionRole: string;
  };
  app: { port: number; cpu: number; memory: number; desiredCount: number; healthPath: string; buildContext: string; dockerfile: string };
  alarmEmail?: string;
  domain?: { name: string; hostedZoneId: string; certificateArn?: string };
  terraform: { dir: string; stateBucket?: string };
  deployTimeoutSeconds: number;
  secrets: { dbPassword?: string; slackWebhook?: string };
}

export interface ConfigProblem { variable: string; value?: string; message: string }

export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[], readonly source: string) {
    super(formatProblems(problems, source));
    this.name = 'ConfigError';
  }
}

function formatProblems(problems: ConfigProblem[], source: string): string {
  const lines = problems.map((p) => `  ✗ ${p.variable}${p.value === undefined ? '' : `=${JSON.stringify(p.value)}`}: ${p.message}`);
  return `Invalid configuration (${source}): ${problems.length} problem${problems.length === 1 ? '' : 's'}\n${lines.join('\n')}\nFix them in ${source} or the environment; .env.example documents every variable.`;
}

export function maskValue(variable: string, value: string): string {
  if (!(SECRET_VARIABLES as readonly string[]).includes(variable)) return value;
  return value.length <= 4 ? '****' : `${value.slice(0, 2)}****(${value.length} chars)`;
}

/** Parse a .env file (no mutation of process.env). A missing file is an empty one. */
export function readEnvFile(path: string): Record<string, string> {
  if (!existsSync(path)) return {};
  return dotenv.parse(readFileSync(path));
}

function unknownKeyProblems(fileVars: Record<string, string>): ConfigProblem[] {
  return Object.keys(fileVars)
    .filter((k) => !(KNOWN_VARIABLES as string[]).includes(k) && !PASS_THROUGH.test(k))
    .map((k) => {
      const guess = closest(k, KNOWN_VARIABLES as string[]);
      return { variable: k, message: `unknown variable${guess ? `; did you mean ${guess}?` : ''} (see .env.example)` };
    });
}

function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(3, Math.floor(word.length / 4)) + 1;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

export interface LoadOptions {
  /** The environment (process.env by default); wins over the file. */
  env?: NodeJS.ProcessEnv;
  /** The env file(s), comma-separated, later ones win; `LLMOPS_ENV_FILE` or ./.env by default. */
  envFile?: string;
}

/** The env files in effect: `LLMOPS_ENV_FILE` (comma-separated, later wins) or ./.env. */
export function envFiles(env: NodeJS.ProcessEnv = process.env, given?: string): string[] {
  return (given ?? env.LLMOPS_ENV_FILE ?? '.env').split(',').map((f) => f.trim()).filter(Boolean).map((f) => resolve(f));
}

/** What the env files hold, merged (later files win). */
export function readEnvFiles(files: string[]): Record<string, string> {
  return Object.assign({}, ...files.map(readEnvFile));
}

/**
 * Files named in LLMOPS_ENV_FILE were asked for explicitly for this run (e.g. `.sandbox/env`): they win
 * over the environment. The default ./.env follows the dotenv convention: the environment wins.
 */
export function envFilesWin(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.LLMOPS_ENV_FILE !== undefined;
}

/**
 * Export the env files' variables to this process, so that child commands (aws, terraform, docker) and
 * the SDK see AWS_PROFILE, AWS_ENDPOINT_URL and the like. Precedence as in envFilesWin.
 */
export function applyEnvFiles(env: NodeJS.ProcessEnv = process.env): void {
  const win = envFilesWin(env);
  for (const [k, v] of Object.entries(readEnvFiles(envFiles(env)))) if (win || env[k] === undefined) env[k] = v;
}

/** Load, validate and freeze. Throws ConfigError listing every problem at once. */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const files = envFiles(env, options.envFile);
  const fileVars = readEnvFiles(files);
  const merged: Record<string, string | undefined> = { ...DEFAULTS, ...fileVars };
  const filesWin = envFilesWin(env);
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !(filesWin && k in fileVars)) merged[k] = v;
  if (!env.AWS_REGION && !fileVars.AWS_REGION && env.AWS_DEFAULT_REGION) merged.AWS_REGION = env.AWS_DEFAULT_REGION;

  const input = Object.fromEntries(KNOWN_VARIABLES.map((k) => [k, merged[k]]));
  const result = schema.safeParse(input);
  const problems = unknownKeyProblems(fileVars);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const variable = String(issue.path[0] ?? 'config');
      const raw = merged[variable];
      problems.push({ variable, value: raw === undefined ? undefined : maskValue(variable, raw), message: issue.message });
    }
  }
  const existing = files.filter((f) => existsSync(f));
  const source = existing.length ? existing.join(', ') : 'the environment';
  if (problems.length > 0 || !result.success) throw new ConfigError(problems, source);
  return deepFreeze(toConfig(result.data));
}

function toConfig(v: Raw): Config {
  const p = v.PROJECT_NAME;
  const family = v.TASK_FAMILY ?? `${p}-task`;
  return {
    project: p,
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
    },
    alarmEmail: v.ALARM_EMAIL,
    domain: v.DOMAIN_NAME ? { name: v.DOMAIN_NAME, hostedZoneId: v.HOSTED_ZONE_ID!, certificateArn: v.ACM_CERTIFICATE_ARN } : undefined,
    terraform: { dir: v.TF_DIR, stateBucket: v.TF_STATE_BUCKET },
    deployTimeoutSeconds: v.DEPLOY_TIMEOUT_SECONDS,
    secrets: { dbPassword: v.DB_PASSWORD, slackWebhook: v.SLACK_WEBHOOK },
  };
}

/** Every secret value the environment holds, for the runner to mask. */
export function secretValues(config: Config, env: NodeJS.ProcessEnv = process.env): string[] {
  const fromEnv = SECRET_VARIABLES.map((k) => env[k]);
  return [config.secrets.dbPassword, config.secrets.slackWebhook, ...fromEnv].filter((v): v is string => !!v && v.length >= 4);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
