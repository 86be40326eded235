// The settings: every name a .env may hold, its type and range (zod), its default, and which are secrets.
// lib/config.ts turns them into the Config the scripts read; lib/envfiles.ts reads them from files.
import { z } from 'zod';

/** Fargate task sizes: cpu units -> allowed memory (MiB). */

/** Region codes by the names people type for them (a city, a country, the console's name). */
const REGION_NAMES: Record<string, string> = {
  seoul: 'ap-northeast-2',
  서울: 'ap-northeast-2',
  korea: 'ap-northeast-2',
  tokyo: 'ap-northeast-1',
  osaka: 'ap-northeast-3',
  singapore: 'ap-southeast-1',
  sydney: 'ap-southeast-2',
  jakarta: 'ap-southeast-3',
  mumbai: 'ap-south-1',
  hongkong: 'ap-east-1',
  frankfurt: 'eu-central-1',
  ireland: 'eu-west-1',
  london: 'eu-west-2',
  paris: 'eu-west-3',
  stockholm: 'eu-north-1',
  virginia: 'us-east-1',
  northvirginia: 'us-east-1',
  ohio: 'us-east-2',
  california: 'us-west-1',
  oregon: 'us-west-2',
  canada: 'ca-central-1',
  saopaulo: 'sa-east-1',
};

/** `: for Seoul, AWS_REGION=ap-northeast-2` when the value names a region the way people do; else nothing. */
export function regionSuggestion(value: string): string {
  const key = value.toLowerCase().replace(/[^a-z가-힣]/g, '');
  const code = REGION_NAMES[key];
  return code ? `: for ${value.trim()}, AWS_REGION=${code}` : '';
}

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

/** How many of lowercase, uppercase, digits and symbols a value uses. */
export const characterClasses = (v: string) => [/[a-z]/, /[A-Z]/, /\d/, /[^A-Za-z\d]/].filter((re) => re.test(v)).length;

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
export const schema = z
  .object({
    PROJECT_NAME: z
      .string({ error: 'expected a project prefix such as "llmops"' })
      .regex(/^[a-z][a-z0-9-]{1,23}$/, { error: 'expected 2-24 lowercase letters, digits or "-", starting with a letter (e.g. "llmops")' })
      // the names derived from it: an RDS identifier takes no "--" and no "-" at the end, S3 no bucket starting "sthree"
      .refine((v) => !v.includes('--') && !v.endsWith('-'), {
        error: 'must not hold "--" or end with "-": the RDS identifier and bucket names made from it would be refused by AWS',
      })
      .refine((v) => !v.startsWith('sthree') && !v.startsWith('amzn-s3-demo') && !v.startsWith('xn--'), {
        error: 'must not start with "sthree", "amzn-s3-demo" or "xn--": S3 reserves those prefixes for bucket names',
      }),
    AWS_REGION: z.string().regex(/^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$/, {
      error: (issue) => `expected an AWS region code such as "us-east-1"${regionSuggestion(String(issue.input))}`,
    }),
    // a guard: empty is an error, never "no guard" (a CI secret that is missing arrives as "")
    EXPECTED_ACCOUNT_ID: z
      .string()
      .refine((v) => v.trim() !== '', {
        error:
          'is empty, which would turn the account guard off: set the 12-digit account id, or remove the line (and the variable) to run without the guard',
        abort: true,
      })
      .regex(/^\d{12}$/, { error: 'expected a 12-digit AWS account id' })
      .optional(),
    ECR_REPOSITORY: name(
      'an ECR repository name of 2-256 characters (lowercase, digits, "-", "_", "/")',
      /^(?=.{2,256}$)[a-z0-9]+(?:[._/-][a-z0-9]+)*$/,
    ),
    ECS_CLUSTER: name('an ECS cluster name (letters, digits, "-", "_")'),
    ECS_SERVICE: name('an ECS service name (letters, digits, "-", "_")'),
    TASK_FAMILY: name('a task definition family (letters, digits, "-", "_")'),
    CONTAINER_NAME: name('a container name (letters, digits, "-", "_")'),
    LOG_GROUP: optional(
      z.string().regex(/^(?!-)[\w#./-]{1,512}$/, {
        error:
          'expected a CloudWatch log group name such as "/ecs/llmops-task" (not starting with "-", which the aws CLI would read as an option)',
      }),
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
    SECRETS_KMS_KEY_ARN: optional(
      z
        .string()
        .regex(
          /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/,
          {
            error: 'expected arn:aws:kms:<region>:<12-digit account>:key/<key id> (a key ARN, not an alias)',
          },
        ),
    ),
    DB_PASSWORD: optional(
      z
        .string()
        .regex(/^[\x21-\x7e]{8,128}$/, { error: 'expected 8-128 printable characters' })
        .refine((v) => !/[/@"]/.test(v), { error: 'must not contain "/", "@" or \'"\' (RDS rejects them)' })
        .refine((v) => v.length >= 12 && characterClasses(v) >= 3, {
          error:
            'is too weak: use 12 or more characters with three of lowercase, uppercase, digits and symbols (a word such as "terraform" would also be masked in every line that contains it), or leave it unset and RDS manages the password',
        }),
    ),
    DB_PASSWORD_VERSION: int(1, 1_000_000, 'a whole number from 1: raise it to apply a new DB_PASSWORD'),
    SLACK_WEBHOOK: optional(
      z.string().regex(/^https:\/\/hooks\.slack\.com\/\S+$/, { error: 'expected an https://hooks.slack.com/... URL' }),
    ),
    TF_DIR: path('the Terraform root module directory, e.g. "terraform"'),
    TF_STATE_BUCKET: optional(
      z
        .string()
        .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { error: 'expected an S3 bucket name (3-63 lowercase letters, digits, "." or "-")' })
        .superRefine((v, ctx) => {
          const rule = bucketNameRule(v);
          if (rule) ctx.addIssue({ code: 'custom', message: `S3 refuses this bucket name: ${rule}` });
        }),
    ),
    DEPLOY_TIMEOUT_SECONDS: int(30, 7200, 'seconds from 30 to 7200'),
    CRASH_LOOP_TASKS: int(0, 200, 'a number of tasks from 0 (off) to 200'),
    BAKE_SECONDS: int(0, 3600, 'seconds from 0 (no bake) to 3600'),
    DEPLOY_STRATEGY: z.enum(['rolling', 'blue-green', 'canary', 'linear'], {
      error:
        'expected rolling (the default: new tasks replace the old behind one target group), blue-green (all traffic at once to the new release, the old one kept through the bake), canary (CANARY_PERCENT first, the rest after TRAFFIC_STEP_MINUTES) or linear (LINEAR_STEP_PERCENT every TRAFFIC_STEP_MINUTES)',
    }),
    CANARY_PERCENT: int(1, 99, 'a whole percentage of the traffic from 1 to 99'),
    LINEAR_STEP_PERCENT: int(3, 100, 'a whole percentage of the traffic from 3 to 100 (ECS shifts at least 3 % a step)'),
    TRAFFIC_STEP_MINUTES: int(0, 1440, 'minutes from 0 to 1440'),
    MIGRATE_COMMAND: containerCommand(),
    MIGRATE_TIMEOUT_SECONDS: int(30, 7200, 'seconds from 30 to 7200'),
    DB_CHECK_COMMAND: containerCommand(),
    SCAN_SEVERITY: z.enum(['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'INFORMATIONAL', 'off'], {
      error:
        'expected the lowest severity of an image scan finding that stops a release: CRITICAL (the default), HIGH, MEDIUM, LOW, INFORMATIONAL, or off',
    }),
    SCAN_TIMEOUT_SECONDS: int(10, 3600, 'seconds from 10 to 3600'),
    DB_SSL_MODE: z.enum(['verify-full', 'verify-ca', 'require'], {
      error:
        "expected verify-full (the default: TLS, and the server's certificate checked against DB_CA_BUNDLE and its name against the endpoint), verify-ca (the certificate, not the name) or require (TLS that checks nothing: a server that is not the database is not noticed)",
    }),
    DB_CA_BUNDLE: z.string().regex(/^\/[\w.+/-]{1,1000}$/, {
      error: 'expected the absolute path, inside the image, of the RDS CA bundle, e.g. "/etc/ssl/certs/rds-global-bundle.pem"',
    }),
    DB_CONNECT_AS: z.enum(['app', 'master'], {
      error:
        "expected app (the default: the service connects as its own database user, which the toolkit creates, and only the migration's role reads the master's secret) or master (the guide's way: the service connects as the master user)",
    }),
    DB_CLIENT_IMAGE: z.string().regex(/^[a-z0-9][a-z0-9._:/@-]{0,400}$/, {
      error: 'expected an image reference with psql in it, e.g. "public.ecr.aws/docker/library/postgres:15-alpine"',
    }),
    DB_CA_BUNDLE_URL: optional(
      z.string().regex(/^(https:\/\/[\w.-]+(:\d+)?\/[\w.+/%-]*|file:\/\/\/[\w.+/-]+)$/, {
        error:
          "expected the https:// address (or a file:/// path) of the RDS CA bundle the database user's task checks the server with; leave it out for AWS's bundle of AWS_REGION",
      }),
    ),
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
    if (v.DB_CONNECT_AS === 'master' && v.MIGRATE_COMMAND) {
      ctx.addIssue({
        code: 'custom',
        path: ['DB_CONNECT_AS'],
        message:
          'is master while MIGRATE_COMMAND is set: with a migration the service connects as its own user; remove DB_CONNECT_AS=master',
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

export type Raw = z.infer<typeof schema>;

/** Where an image keeps AWS's RDS CA bundle unless DB_CA_BUNDLE says otherwise. */
export const RDS_CA_BUNDLE = '/etc/ssl/certs/rds-global-bundle.pem';

export const DEFAULTS: Record<string, string> = {
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
  CRASH_LOOP_TASKS: '3',
  BAKE_SECONDS: '60',
  DEPLOY_STRATEGY: 'rolling',
  CANARY_PERCENT: '10',
  LINEAR_STEP_PERCENT: '25',
  TRAFFIC_STEP_MINUTES: '1',
  MIGRATE_TIMEOUT_SECONDS: '600',
  SCAN_SEVERITY: 'CRITICAL',
  SCAN_TIMEOUT_SECONDS: '300',
  DB_SSL_MODE: 'verify-full',
  DB_CA_BUNDLE: RDS_CA_BUNDLE,
  DB_CONNECT_AS: 'app',
  DB_CLIENT_IMAGE: 'public.ecr.aws/docker/library/postgres:15-alpine',
};

/** AWS's RDS CA bundle of one region (a few certificates: small enough for a task definition), unless DB_CA_BUNDLE_URL says otherwise. */
export const rdsRegionBundleUrl = (region: string) => `https://truststore.pki.rds.amazonaws.com/${region}/${region}-bundle.pem`;

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
  const operator = words.find((w) => /^(&&|\|\||;|\||&|>>?|<|2>&1)$/.test(w) || /[;|&<>]/.test(w));
  if (operator)
    return `holds "${operator}", which only a shell reads, and none runs this command: write it as a JSON array, e.g. ["sh", "-c", "a && b"], or put the steps in a script`;
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) return 'must not contain control characters';
  return words;
}

/** The S3 bucket naming rule a name breaks (beyond its characters and length), or undefined. */
export function bucketNameRule(name: string): string | undefined {
  if (name.includes('..')) return 'no two adjacent periods';
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return 'not formatted as an IP address';
  if (/\.-|-\./.test(name)) return 'no period next to a hyphen';
  const prefix = ['xn--', 'sthree-', 'amzn-s3-demo-'].find((p) => name.startsWith(p));
  if (prefix) return `no reserved prefix ("${prefix}")`;
  const suffix = ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3'].find((x) => name.endsWith(x));
  if (suffix) return `no reserved suffix ("${suffix}")`;
  return undefined;
}

export const KNOWN_VARIABLES = Object.keys(schema.shape) as (keyof Raw)[];

export function maskValue(variable: string, value: string): string {
  if ((SECRET_VARIABLES as readonly string[]).includes(variable)) return '(hidden)'; // not a character of it, nor its length
  // a quoted value that ran over several lines may hold the lines after it (a password among them): none is shown
  if (/[\r\n]/.test(value)) return `(${value.split(/\r?\n/).length} lines, not shown: a quote opened on this line is closed lines later)`;
  return value.length > 80 ? `${value.slice(0, 60)}…(${value.length} chars)` : value;
}
