// One typed, frozen configuration for every script: `.env` (dotenv) + the environment,
// validated with zod. Every name defaults to the guide's, derived from PROJECT_NAME.
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import dotenv from 'dotenv';
import { z } from 'zod';
import { ConfigError, type ConfigProblem } from './errors.js';

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
export const SECRET_VARIABLES = [
  'DB_PASSWORD',
  'SLACK_WEBHOOK',
  'LLMOPS_DB_PASSWORD',
  'LLMOPS_SLACK_WEBHOOK',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
] as const;

/** The prefix of the toolkit's own settings in the process environment (see settingFromEnvironment). */
export const PREFIX = 'LLMOPS_';

const optional = (schema: z.ZodType<string>) => z.preprocess((v) => (v === '' ? undefined : v), schema.optional());
/** A whole number written in decimal digits only: '' , '0x50', '1e3', ' 3', '1.5' are refused (no coercion). */
const int = (min: number, max: number, what: string) =>
  z
    .string({ error: `expected ${what}` })
    .refine((v) => v !== '', { error: `is empty: expected ${what} (remove the line to use the default)`, abort: true })
    .refine((v) => /^\d{1,9}$/.test(v), { error: `expected ${what}, written in decimal digits`, abort: true })
    .transform(Number)
    .pipe(
      z
        .number()
        .int()
        .min(min, { error: `expected ${what}` })
        .max(max, { error: `expected ${what}` }),
    );
/** A path: no control characters, at most 1024 characters (existence is checked by the scripts that use it). */
const path = (what: string) =>
  z
    .string()
    .min(1, { error: `expected ${what}` })
    .max(1024, { error: `expected ${what} of at most 1024 characters` })
    .refine((v) => !/[\x00-\x1f\x7f]/.test(v), { error: `must not contain control characters (newline, tab, ...): expected ${what}` });
const name = (what: string, re = /^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$/) => optional(z.string().regex(re, { error: `expected ${what}` }));

/** A container command (MIGRATE_COMMAND, DB_CHECK_COMMAND): words or a JSON array, kept as JSON of its words. */
const containerCommand = () =>
  optional(
    z
      .string()
      .max(4096, { error: 'expected a command of at most 4096 characters' })
      .transform((v, ctx) => {
        const words = commandWords(v);
        if (typeof words === 'string') {
          ctx.addIssue({ code: 'custom', message: words });
          return z.NEVER;
        }
        return JSON.stringify(words);
      }),
  );

/** Keys are the environment variable names, so an issue's path is the variable to name. */
const schema = z
  .object({
    PROJECT_NAME: z
      .string({ error: 'expected a project prefix such as "llmops"' })
      .regex(/^[a-z][a-z0-9-]{1,23}$/, { error: 'expected 2-24 lowercase letters, digits or "-", starting with a letter (e.g. "llmops")' }),
    AWS_REGION: z.string().regex(/^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$/, { error: 'expected an AWS region code such as "us-east-1"' }),
    EXPECTED_ACCOUNT_ID: optional(z.string().regex(/^\d{12}$/, { error: 'expected a 12-digit AWS account id' })),
    ECR_REPOSITORY: name(
      'an ECR repository name of 2-256 characters (lowercase, digits, "-", "_", "/")',
      /^(?=.{2,256}$)[a-z0-9]+(?:[._/-][a-z0-9]+)*$/,
    ),
    ECS_CLUSTER: name('an ECS cluster name (letters, digits, "-", "_")'),
    ECS_SERVICE: name('an ECS service name (letters, digits, "-", "_")'),
    TASK_FAMILY: name('a task definition family (letters, digits, "-", "_")'),
    CONTAINER_NAME: name('a container name (letters, digits, "-", "_")'),
    LOG_GROUP: optional(
      z.string().regex(/^[\w#./-]{1,512}$/, { error: 'expected a CloudWatch log group name such as "/ecs/llmops-task"' }),
    ),
    DB_INSTANCE_ID: name(
      'an RDS identifier: a letter, then lowercase letters, digits or single "-"',
      /^[a-z](?!.*--)[a-z0-9-]{0,62}(?<!-)$/,
    ),
    TARGET_GROUP_NAME: name('a target group name: up to 32 letters, digits or "-"', /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$/),
    SNS_TOPIC_NAME: name('an SNS topic name (letters, digits, "-", "_")'),
    DASHBOARD_NAME: name('a dashboard name (letters, digits, "-", "_")'),
    CPU_ALARM_NAME: name('an alarm name (letters, digits, "-", "_")'),
    SCALING_POLICY_NAME: name('a scaling policy name (letters, digits, "-", "_")'),
    DB_SECRET_NAME: name('a Secrets Manager name such as "llmops/db/password"', /^[A-Za-z0-9/_+=.@-]{1,512}$/),
    DB_APP_SECRET_NAME: name('a Secrets Manager name such as "llmops/db/app"', /^[A-Za-z0-9/_+=.@-]{1,512}$/),
    APP_SECRET_NAME: name('a Secrets Manager name such as "llmops/app/env"', /^[A-Za-z0-9/_+=.@-]{1,512}$/),
    EXECUTION_ROLE_NAME: name('an IAM role name', /^[\w+=,.@-]{1,64}$/),
    CONTAINER_PORT: int(1, 65535, 'a port number from 1 to 65535'),
    TASK_CPU: int(256, 16384, `Fargate cpu units: one of ${Object.keys(FARGATE_SIZES).join(', ')}`),
    TASK_MEMORY: int(512, 122880, 'Fargate memory in MiB, e.g. 1024'),
    DESIRED_COUNT: int(0, 100, 'a whole number of tasks from 0 to 100'),
    HEALTH_PATH: z
      .string()
      .regex(/^\/[\w\-./~%?=&]{0,511}$/, { error: 'expected a URL path of at most 512 characters starting with "/", e.g. "/health"' }),
    BUILD_CONTEXT: path('the path of the app to build, e.g. "."'),
    DOCKERFILE: path('a Dockerfile path relative to BUILD_CONTEXT'),
    PLATFORM: z.enum(['linux/amd64', 'linux/arm64'], {
      error: 'expected linux/amd64 (X86_64 Fargate, the default) or linux/arm64 (ARM64 Fargate, Graviton)',
    }),
    ALLOW_PLAIN_HTTP: z.enum(['true', 'false'], { error: 'expected true or false' }),
    ALARM_EMAIL: optional(z.email({ error: 'expected an e-mail address such as ops@example.com' })),
    DOMAIN_NAME: optional(
      z.string().regex(/^(?=.{1,253}$)(?:(?!-)[a-z0-9-]{1,63}(?<!-)\.)+[a-z]{2,63}$/, {
        error: 'expected a lowercase domain name such as app.example.com',
      }),
    ),
    HOSTED_ZONE_ID: optional(
      z.string().regex(/^[A-Z0-9]{2,32}$/, { error: 'expected a Route53 hosted zone id such as Z0123456789ABCDEFGHIJ' }),
    ),
    ACM_CERTIFICATE_ARN: optional(
      z.string().regex(/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]{36}$/, {
        error: 'expected arn:aws:acm:<region>:<12-digit account>:certificate/<uuid>',
      }),
    ),
    DB_PASSWORD: optional(
      z
        .string()
        .regex(/^[\x21-\x7e]{8,128}$/, { error: 'expected 8-128 printable characters' })
        .refine((v) => !/[/@"]/.test(v), { error: 'must not contain "/", "@" or \'"\' (RDS rejects them)' }),
    ),
    DB_PASSWORD_VERSION: int(1, 1_000_000, 'a whole number from 1: raise it to apply a new DB_PASSWORD'),
    SLACK_WEBHOOK: optional(
      z.string().regex(/^https:\/\/hooks\.slack\.com\/\S+$/, { error: 'expected an https://hooks.slack.com/... URL' }),
    ),
    TF_DIR: path('the Terraform root module directory, e.g. "terraform"'),
    TF_STATE_BUCKET: optional(
      z
        .string()
        .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { error: 'expected an S3 bucket name (3-63 lowercase letters, digits, "." or "-")' }),
    ),
    DEPLOY_TIMEOUT_SECONDS: int(30, 7200, 'seconds from 30 to 7200'),
    MIGRATE_COMMAND: containerCommand(),
    MIGRATE_TIMEOUT_SECONDS: int(30, 7200, 'seconds from 30 to 7200'),
    DB_CHECK_COMMAND: containerCommand(),
  })
  .superRefine((v, ctx) => {
    const memories = FARGATE_SIZES[v.TASK_CPU];
    if (!memories) {
      ctx.addIssue({
        code: 'custom',
        path: ['TASK_CPU'],
        message: `expected one of ${Object.keys(FARGATE_SIZES).join(', ')} (Fargate cpu units)`,
      });
    } else if (!memories.includes(v.TASK_MEMORY)) {
      ctx.addIssue({
        code: 'custom',
        path: ['TASK_MEMORY'],
        message: `is not a valid Fargate size with TASK_CPU=${v.TASK_CPU}: expected one of ${memories.join(', ')}`,
      });
    }
    if (v.DOMAIN_NAME && !v.HOSTED_ZONE_ID) {
      ctx.addIssue({
        code: 'custom',
        path: ['HOSTED_ZONE_ID'],
        message: `is required when DOMAIN_NAME is set: the Route53 hosted zone id that serves ${v.DOMAIN_NAME}`,
      });
    }
    if ((v.ACM_CERTIFICATE_ARN || v.HOSTED_ZONE_ID) && !v.DOMAIN_NAME) {
      const key = v.ACM_CERTIFICATE_ARN ? 'ACM_CERTIFICATE_ARN' : 'HOSTED_ZONE_ID';
      ctx.addIssue({
        code: 'custom',
        path: ['DOMAIN_NAME'],
        message: `is required when ${key} is set: the domain the certificate and records are for`,
      });
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
  PLATFORM: 'linux/amd64',
  ALLOW_PLAIN_HTTP: 'false',
  DB_PASSWORD_VERSION: '1',
  TF_DIR: 'terraform',
  DEPLOY_TIMEOUT_SECONDS: '900',
  MIGRATE_TIMEOUT_SECONDS: '600',
};

/**
 * MIGRATE_COMMAND / DB_CHECK_COMMAND as the container's command: words separated by spaces (`/bin/migrate up`), or a JSON array
 * of strings for anything a word cannot hold (`["sh", "-c", "npm run migrate && echo done"]`). Quotes, `$`
 * and backslashes outside JSON are refused: no shell reads this line, so they would reach the program as
 * they are. Returns the problem as a string.
 */
export function commandWords(value: string): string[] | string {
  const text = value.trim();
  if (text.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return 'is not a valid JSON array: expected ["program", "arg", ...] or words separated by spaces';
    }
    if (!Array.isArray(parsed) || !parsed.length || !parsed.every((w) => typeof w === 'string' && w.length > 0 && w.length <= 1024))
      return 'expected a JSON array of 1 or more non-empty strings, e.g. ["/bin/migrate", "up"]';
    if (parsed.some((w) => /[\x00-\x1f\x7f]/.test(w))) return 'must not contain control characters';
    return parsed as string[];
  }
  if (/["'`$\\]/.test(text))
    return 'contains a quote, "$" or a backslash, which no shell will read here: write it as a JSON array, e.g. ["sh", "-c", "..."]';
  const words = text.split(/\s+/).filter(Boolean);
  if (!words.length) return 'is empty: remove the line, or give the migration command';
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) return 'must not contain control characters';
  return words;
}

export const KNOWN_VARIABLES = Object.keys(schema.shape) as (keyof Raw)[];

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
  /** Serve plain HTTP when there is no certificate (Terraform refuses otherwise). */
  allowPlainHttp: boolean;
  domain?: { name: string; hostedZoneId: string; certificateArn?: string };
  terraform: { dir: string; stateBucket?: string };
  deployTimeoutSeconds: number;
  /** MIGRATE_COMMAND: run once per release as a one-off task before the service update (deploy, bootstrap, npm run migrate). */
  migrate?: { command: string[]; timeoutSeconds: number };
  /** DB_CHECK_COMMAND: doctor runs it as a one-off task to prove the tasks reach the database (exit 0 = connected). */
  dbCheckCommand?: string[];
  secrets: { dbPassword?: string; slackWebhook?: string };
  /** Terraform sends DB_PASSWORD (write-only) again only when this changes. */
  dbPasswordVersion: number;
}

export function maskValue(variable: string, value: string): string {
  if (!(SECRET_VARIABLES as readonly string[]).includes(variable))
    return value.length > 80 ? `${value.slice(0, 60)}…(${value.length} chars)` : value;
  return value.length <= 4 ? '****' : `${value.slice(0, 2)}****(${value.length} chars)`;
}

/**
 * Names other tools read, which a .env may hold and the environment may carry. A name with one of these
 * prefixes that is not known but is within two edits of a known one is reported as a misspelling.
 */
export const AWS_VARIABLES = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_DEFAULT_PROFILE',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_ENDPOINT_URL',
  'AWS_CONFIG_FILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_CA_BUNDLE',
  'AWS_MAX_ATTEMPTS',
  'AWS_RETRY_MODE',
  'AWS_PAGER',
  'AWS_DEFAULT_OUTPUT',
  'AWS_ROLE_ARN',
  'AWS_ROLE_SESSION_NAME',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_STS_REGIONAL_ENDPOINTS',
  'AWS_USE_FIPS_ENDPOINT',
  'AWS_USE_DUALSTACK_ENDPOINT',
  'AWS_SDK_LOAD_CONFIG',
  'AWS_EC2_METADATA_DISABLED',
  'AWS_ACCOUNT_ID',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  'AWS_CREDENTIAL_EXPIRATION',
  'AWS_CLI_AUTO_PROMPT',
  'AWS_CLI_FILE_ENCODING',
  'AWS_DATA_PATH',
  'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS',
  'AWS_METADATA_SERVICE_TIMEOUT',
  'AWS_METADATA_SERVICE_NUM_ATTEMPTS',
  'AWS_REQUEST_CHECKSUM_CALCULATION',
  'AWS_RESPONSE_CHECKSUM_VALIDATION',
  'AWS_SDK_UA_APP_ID',
  'AWS_EXECUTION_ENV',
  'AWS_NODEJS_CONNECTION_REUSE_ENABLED',
  'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED',
  'AWS_ACCOUNT_ID_ENDPOINT_MODE',
];
export const TF_VARIABLES = [
  'TF_LOG',
  'TF_LOG_PATH',
  'TF_LOG_CORE',
  'TF_LOG_PROVIDER',
  'TF_INPUT',
  'TF_IN_AUTOMATION',
  'TF_DATA_DIR',
  'TF_WORKSPACE',
  'TF_PLUGIN_CACHE_DIR',
  'TF_CLI_CONFIG_FILE',
  'TF_IGNORE',
  'TF_APPEND_USER_AGENT',
  'TF_STATE_PERSIST_INTERVAL',
  'TF_REGISTRY_DISCOVERY_RETRY',
  'TF_REGISTRY_CLIENT_TIMEOUT',
  'TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE',
  'TF_CLI_ARGS',
  'TF_ACC',
];
/** Families of names that are open-ended (TF_VAR_x, TF_CLI_ARGS_plan, AWS_ENDPOINT_URL_ECS, ...). */
const OPEN_FAMILIES = /^(TF_VAR_|TF_CLI_ARGS_|TF_TOKEN_|AWS_ENDPOINT_URL_|AWS_LAMBDA_)/;
/** The toolkit's own process variables (not configuration): the env files, the renderer, debug, state and sandbox dirs. */
export const TOOLKIT_VARIABLES = [
  'LLMOPS_ENV_FILE',
  'LLMOPS_ENVIRONMENT',
  'LLMOPS_RENDERER',
  'LLMOPS_DEBUG',
  'LLMOPS_STATE_DIR',
  'LLMOPS_SANDBOX_DIR',
  'LLMOPS_TRACE_ARGV',
];
/** What else a .env may hold, for other tools: Docker, CI, colour, the sandbox's own settings. */
const OTHER_TOOLS = /^(DOCKER_|CI$|GITHUB_|NO_COLOR$|FORCE_COLOR$|SANDBOX_)/;

const SETTING_NAMES = () => KNOWN_VARIABLES as string[];
const prefixed = (k: string) => `${PREFIX}${k}`;
/** AWS_REGION, TF_DIR, TF_STATE_BUCKET: settings whose names already carry a standard prefix are read bare from the environment too. */
const readBare = (k: string) => k.startsWith('AWS_') || k.startsWith('TF_');

/** The known name a misspelt one is closest to, or undefined (also for names that are known). */
export function misspelling(name: string): string | undefined {
  const settings = SETTING_NAMES();
  if (name.startsWith(PREFIX)) {
    if (TOOLKIT_VARIABLES.includes(name) || settings.includes(name.slice(PREFIX.length))) return undefined;
    return closest(name, [...settings.map(prefixed), ...TOOLKIT_VARIABLES], Infinity) ?? '';
  }
  if (name.startsWith('AWS_') || name.startsWith('TF_')) {
    if (OPEN_FAMILIES.test(name) || AWS_VARIABLES.includes(name) || TF_VARIABLES.includes(name) || settings.includes(name))
      return undefined;
    return closest(name, [...AWS_VARIABLES, ...TF_VARIABLES, ...settings.filter(readBare)], 2);
  }
  return undefined;
}

function closest(word: string, candidates: string[], maxDistance: number): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.min(maxDistance, Math.max(3, Math.floor(word.length / 4))) + 1;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

/** Damerau-Levenshtein (optimal string alignment): a swap of two neighbours is one edit (REGOIN -> REGION). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** One env file's variables and the problems of its lines. Problems never quote a value: it may be a secret. */
export interface EnvFile {
  path: string;
  vars: Record<string, string>;
  problems: ConfigProblem[];
}

/**
 * Check a .env text line by line before dotenv parses it: dotenv silently cuts `abc#def` to `abc` and skips
 * lines that are not NAME=value. An unquoted value may carry a comment after white space (`X=1  # note`).
 */
export function envLineProblems(text: string, path: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const lines = text.split(/\r?\n/);
  let open: string | undefined;
  lines.forEach((line, i) => {
    const where = `${path}:${i + 1}`;
    if (open) {
      if (line.includes(open)) open = undefined;
      return;
    }
    const t = line.trim();
    if (!t || t.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=(\s*)(.*)$/.exec(t);
    if (!m) {
      problems.push({ variable: where, message: 'not a NAME=value line (a comment starts with "#")' });
      return;
    }
    const [, key, space, value] = m as unknown as [string, string, string, string];
    const q = value[0];
    if (q === '"' || q === "'" || q === '`') {
      const end = value.indexOf(q, 1);
      if (end < 0) open = q;
      else if (
        value.slice(end + 1).trim() &&
        !value
          .slice(end + 1)
          .trim()
          .startsWith('#')
      ) {
        problems.push({ variable: key, message: `${where}: text after the closing quote; put the whole value inside the quotes` });
      }
      return;
    }
    const hash = value.indexOf('#');
    // `X=1  # note` and `X= # note` are comments; `X=abc#def` and `X=#abc` would silently lose the value
    if (hash >= 0 && (hash > 0 ? !/\s/.test(value[hash - 1]!) : space === '')) {
      problems.push({
        variable: key,
        message: `${where}: unquoted "#" inside the value would cut it there (dotenv reads the rest as a comment); quote the value: ${key}='…#…'`,
      });
    }
  });
  if (open) problems.push({ variable: path, message: `a value opened with ${open} is never closed` });
  return problems;
}

/** Read one env file; a missing, unreadable or non-file path is a problem naming it (never a bare EISDIR). */
export function readEnvFile(path: string, required = true): EnvFile {
  const out: EnvFile = { path, vars: {}, problems: [] };
  const problem = (message: string) => out.problems.push({ variable: 'LLMOPS_ENV_FILE', value: path, message });
  if (!existsSync(path)) {
    if (required) problem('no such file: create it, or fix the path (LLMOPS_ENV_FILE lists env files, comma-separated)');
    return out;
  }
  if (!statSync(path).isFile()) {
    problem('is not a regular file (a directory?): name the env file itself');
    return out;
  }
  try {
    accessSync(path, constants.R_OK);
  } catch {
    problem(`cannot be read by this user: fix its permissions (chmod u+r ${path})`);
    return out;
  }
  const text = readFileSync(path, 'utf8');
  out.problems.push(...envLineProblems(text, path));
  out.vars = dotenv.parse(text);
  return out;
}

function unknownKeyProblems(file: EnvFile): ConfigProblem[] {
  const settings = SETTING_NAMES();
  return Object.keys(file.vars)
    .filter((k) => !settings.includes(k) && !(k.startsWith(PREFIX) && settings.includes(k.slice(PREFIX.length))))
    .filter((k) => !TOOLKIT_VARIABLES.includes(k) && !OTHER_TOOLS.test(k))
    .map((k) => ({
      k,
      guess: k.startsWith(PREFIX) || k.startsWith('AWS_') || k.startsWith('TF_') ? misspelling(k) : (closest(k, settings, Infinity) ?? ''),
    }))
    .filter(({ guess }) => guess !== undefined)
    .map(({ k, guess }) => ({
      variable: k,
      message: `unknown variable in ${file.path}${guess ? `; did you mean ${guess}?` : ''} (see .env.example)`,
    }));
}

/** Misspelt LLMOPS_*, AWS_* and TF_* names in the environment (CONTAINER_NAME and the like are simply not read). */
function environmentProblems(env: NodeJS.ProcessEnv): ConfigProblem[] {
  const problems: ConfigProblem[] = Object.keys(env)
    .map((k) => ({ k, guess: misspelling(k) }))
    .filter(({ guess }) => guess !== undefined)
    .map(({ k, guess }) => ({
      variable: k,
      message: `unknown variable in the environment${guess ? `; did you mean ${guess}?` : ''} (unset it, or see .env.example)`,
    }));
  const e = env.LLMOPS_ENVIRONMENT;
  if (e && !ENVIRONMENT_NAME.test(e))
    problems.push({
      variable: 'LLMOPS_ENVIRONMENT',
      value: e,
      message: 'expected 1-12 lowercase letters or digits, starting with a letter (e.g. staging, production); unset it for a single stack',
    });
  return problems;
}

export interface LoadOptions {
  /** The environment (process.env by default). */
  env?: NodeJS.ProcessEnv;
  /** The env file(s), comma-separated, later ones win; `LLMOPS_ENV_FILE` or ./.env by default. An empty string: none. */
  envFile?: string;
}

/** An environment's name: short, so PROJECT_NAME-ENVIRONMENT-targets stays within AWS's 32 characters. */
export const ENVIRONMENT_NAME = /^[a-z][a-z0-9]{0,11}$/;

/** LLMOPS_ENVIRONMENT when it is a valid name (an invalid one is reported by loadConfig). */
function environmentOf(env: NodeJS.ProcessEnv): string | undefined {
  const e = env.LLMOPS_ENVIRONMENT;
  return e && ENVIRONMENT_NAME.test(e) ? e : undefined;
}

/**
 * The env files in effect: `LLMOPS_ENV_FILE` (comma-separated, later wins) or ./.env; `required` when named
 * explicitly. With an environment, its file `.env.<name>` comes right after `.env` (first when no `.env` is
 * listed, so the sandbox's file still wins over it). Beside an existing `.env` it must exist: a misspelt
 * environment name would otherwise quietly create a stack of its own. Where there is no `.env` (CI, whose
 * settings are the job's environment) it is read when present.
 */
export function envFiles(
  env: NodeJS.ProcessEnv = process.env,
  given?: string,
): { files: string[]; required: boolean; environmentFile?: string; environmentFileRequired?: boolean } {
  const named = given ?? env.LLMOPS_ENV_FILE;
  const files = named === undefined ? [resolve('.env')] : named.split(',').map((f) => (f.trim() ? resolve(f.trim()) : ''));
  const environment = environmentOf(env);
  if (!environment) return { files, required: named !== undefined };
  const at = files.findIndex((f) => f && basename(f) === '.env');
  const environmentFile = at >= 0 ? `${files[at]}.${environment}` : resolve(`.env.${environment}`);
  files.splice(at + 1, 0, environmentFile);
  return { files, required: named !== undefined, environmentFile, environmentFileRequired: at >= 0 && existsSync(files[at]!) };
}

/** Read the env files in effect (later files win) with every problem of theirs. */
export function readEnvFiles(
  env: NodeJS.ProcessEnv = process.env,
  given?: string,
): { vars: Record<string, string>; files: EnvFile[]; problems: ConfigProblem[] } {
  const { files, required, environmentFile, environmentFileRequired } = envFiles(env, given);
  const problems: ConfigProblem[] = [];
  if (required && files.some((f) => !f) && (given ?? env.LLMOPS_ENV_FILE) !== '') {
    problems.push({
      variable: 'LLMOPS_ENV_FILE',
      value: given ?? env.LLMOPS_ENV_FILE,
      message: 'has an empty entry: expected file paths separated by ","',
    });
  }
  const read = files.filter(Boolean).map((f) => {
    if (f !== environmentFile) return readEnvFile(f, required);
    const file = readEnvFile(f, false);
    if (environmentFileRequired && !existsSync(f))
      file.problems.push({
        variable: 'LLMOPS_ENVIRONMENT',
        value: env.LLMOPS_ENVIRONMENT,
        message: `reads ${f}, which does not exist beside ${basename(f, `.${env.LLMOPS_ENVIRONMENT}`)}: create it with the settings that differ in this environment (it may be empty), or check the name`,
      });
    return file;
  });
  for (const f of read) problems.push(...f.problems, ...unknownKeyProblems(f));
  return { vars: mergeEnvFiles(read), files: read, problems };
}

/**
 * The env files' settings, later files winning: a setting is one setting whether a file writes it plainly
 * (BUILD_CONTEXT) or in the toolkit's namespace (LLMOPS_BUILD_CONTEXT), so a later file overrides either form.
 */
export function mergeEnvFiles(files: Pick<EnvFile, 'vars'>[]): Record<string, string> {
  const settings = SETTING_NAMES();
  const merged: Record<string, string> = {};
  for (const file of files) {
    for (const [k, v] of Object.entries(file.vars)) {
      const plain = k.startsWith(PREFIX) && settings.includes(k.slice(PREFIX.length)) ? k.slice(PREFIX.length) : k;
      delete merged[prefixed(plain)];
      merged[plain] = v;
    }
  }
  return merged;
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
 * the SDK see AWS_PROFILE, AWS_ENDPOINT_URL and the like. Precedence as in envFilesWin. The toolkit's own
 * settings are exported only under their LLMOPS_ names (a child never sees a bare CONTAINER_NAME from us).
 */
export function applyEnvFiles(env: NodeJS.ProcessEnv = process.env): void {
  const win = envFilesWin(env);
  const settings = SETTING_NAMES();
  for (const [k, v] of Object.entries(readEnvFiles(env).vars)) {
    const name = settings.includes(k) && !readBare(k) ? prefixed(k) : k;
    if (win || env[name] === undefined) env[name] = v;
  }
}

/** A setting's value in the environment: LLMOPS_<NAME>, or the bare name for AWS_* / TF_* settings. */
function settingFromEnvironment(env: NodeJS.ProcessEnv, k: string): string | undefined {
  return env[prefixed(k)] ?? (readBare(k) ? env[k] : undefined);
}

/** A setting's value in the env files: LLMOPS_<NAME> wins over <NAME> in the same files. */
function settingFromFiles(vars: Record<string, string>, k: string): string | undefined {
  return vars[prefixed(k)] ?? vars[k];
}

/** Load, validate and freeze. Throws ConfigError listing every problem at once. */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const fileRead = readEnvFiles(env, options.envFile);
  const filesWin = envFilesWin(env);
  const merged: Record<string, string | undefined> = { ...DEFAULTS };
  for (const k of SETTING_NAMES()) {
    const fromFile = settingFromFiles(fileRead.vars, k);
    const fromEnv = settingFromEnvironment(env, k);
    const value = filesWin ? (fromFile ?? fromEnv) : (fromEnv ?? fromFile);
    if (value !== undefined) merged[k] = value;
  }
  if (
    settingFromEnvironment(env, 'AWS_REGION') === undefined &&
    settingFromFiles(fileRead.vars, 'AWS_REGION') === undefined &&
    env.AWS_DEFAULT_REGION
  ) {
    merged.AWS_REGION = env.AWS_DEFAULT_REGION;
  }

  const input = Object.fromEntries(KNOWN_VARIABLES.map((k) => [k, merged[k]]));
  const result = schema.safeParse(input);
  const problems = [...fileRead.problems, ...environmentProblems(env)];
  if (!result.success) {
    for (const issue of result.error.issues) {
      const variable = String(issue.path[0] ?? 'config');
      const raw = merged[variable];
      problems.push({ variable, value: raw === undefined ? undefined : maskValue(variable, raw), message: issue.message });
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

/** Bare toolkit names in the environment that are not read (a notice, so an old `export DESIRED_COUNT=3` is not silently lost). */
export function ignoredEnvironment(env: NodeJS.ProcessEnv = process.env): string[] {
  return SETTING_NAMES().filter((k) => !readBare(k) && env[k] !== undefined && env[prefixed(k)] === undefined);
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
    allowPlainHttp: v.ALLOW_PLAIN_HTTP === 'true',
    domain: v.DOMAIN_NAME ? { name: v.DOMAIN_NAME, hostedZoneId: v.HOSTED_ZONE_ID!, certificateArn: v.ACM_CERTIFICATE_ARN } : undefined,
    terraform: { dir: v.TF_DIR, stateBucket: v.TF_STATE_BUCKET },
    deployTimeoutSeconds: v.DEPLOY_TIMEOUT_SECONDS,
    migrate: v.MIGRATE_COMMAND ? { command: JSON.parse(v.MIGRATE_COMMAND), timeoutSeconds: v.MIGRATE_TIMEOUT_SECONDS } : undefined,
    dbCheckCommand: v.DB_CHECK_COMMAND ? JSON.parse(v.DB_CHECK_COMMAND) : undefined,
    secrets: { dbPassword: v.DB_PASSWORD, slackWebhook: v.SLACK_WEBHOOK },
    dbPasswordVersion: v.DB_PASSWORD_VERSION,
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
