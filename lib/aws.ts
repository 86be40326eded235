// AWS identity, region and the account guard. Read-only SDK calls (fast: no CLI start-up);
// the SDK honours AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_STS like the CLI does.
import type { Config } from './config.js';
import type { Runner } from './run.js';
import { AccountGuardError, CredentialsError } from './errors.js';
import { hintFor } from './hints.js';

// The SDK warns on every run that releases after Jan 2027 need Node 22; package-lock pins a release
// that supports Node 20, so the warning is noise in every script's output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export interface Identity {
  account: string;
  arn: string;
  region: string;
}

/**
 * Options of every SDK client the toolkit makes: its region, how often a call is tried, and a bound on each
 * try. An endpoint that takes the connection and never answers (a hung proxy or emulator) must fail the call,
 * not hang the script: the SDK only warns when a request passes `requestTimeout` unless
 * `throwOnRequestTimeout` is set.
 */
export function sdkOptions(region: string, maxAttempts: number, timeoutMs = 30_000) {
  return {
    region,
    maxAttempts,
    requestHandler: { requestTimeout: timeoutMs, connectionTimeout: timeoutMs, throwOnRequestTimeout: true },
  };
}

/** The identity, each try bounded like every other SDK call (30 s: 10 s ran out against a busy endpoint, the suite's emulator beside another job). */
export async function getCallerIdentity(region: string, timeoutMs = 30_000): Promise<Identity> {
  // loaded on the first call, not when a script starts (`--help`, a refused input, `--dry-run` never call it)
  const { GetCallerIdentityCommand, STSClient } = await import('@aws-sdk/client-sts');
  const client = new STSClient(sdkOptions(region, 2, timeoutMs));
  try {
    const out = await client.send(new GetCallerIdentityCommand({}));
    return { account: out.Account!, arn: out.Arn!, region };
  } catch (error: any) {
    const text = `${error.name ?? ''}: ${error.message ?? error}`;
    throw new CredentialsError(
      `Cannot read the AWS identity (sts get-caller-identity): ${text}\n  fix: ${hintFor(text) ?? 'check your AWS credentials and network'}`,
    );
  } finally {
    client.destroy();
  }
}

export function assertAccount(config: Pick<Config, 'expectedAccountId'>, identity: Identity): void {
  if (config.expectedAccountId && identity.account !== config.expectedAccountId) {
    throw new AccountGuardError(config.expectedAccountId, identity.account, identity.arn);
  }
}

/**
 * Who are we, and is it the account we may touch? Call before the first mutating command.
 * In dry-run nothing is called: the account is the guide's placeholder.
 */
export async function resolveIdentity(runner: Runner, config: Config): Promise<Identity> {
  if (runner.dryRun) {
    runner.echoCommand('aws', ['sts', 'get-caller-identity'], 'via the SDK');
    return { account: '<ACCOUNT_ID>', arn: '<CALLER_ARN>', region: config.region };
  }
  runner.echoCommand('aws', ['sts', 'get-caller-identity'], 'via the SDK');
  const identity = await getCallerIdentity(config.region);
  assertAccount(config, identity);
  return identity;
}

export function ecrRegistry(account: string, region: string): string {
  return `${account}.dkr.ecr.${region}.amazonaws.com`;
}

/**
 * A read on a deploy's path through the SDK, echoed as the aws CLI line it stands for: whether ECR has the image,
 * what the service runs, the stack's outputs take tens of milliseconds this way, against about a second of CPU
 * for each aws CLI process. The guide's own changes (register-task-definition, update-service) stay aws CLI
 * commands. Undefined in a dry run: nothing is asked.
 */
export async function sdkRead<T>(runner: Runner, cli: string[], call: () => Promise<T>): Promise<T | undefined> {
  runner.echoCommand('aws', cli, 'via the SDK');
  if (runner.dryRun) return undefined;
  return call();
}

/** An SDK error as the aws CLI words it, so a message (and lib/hints.ts) reads the same whichever made the call. */
export const awsErrorText = (error: any): string => `An error occurred (${error?.name ?? 'Error'}): ${error?.message ?? error}`;

// The S3 module is loaded by the first call, not when a script starts (most scripts never read the bucket).
type S3 = typeof import('@aws-sdk/client-s3');

/**
 * Send the S3 command `make` builds and return S3's own time from the answer's Date header (its clock, not
 * ours); `read` consumes a body before the client goes.
 */
export async function s3Send<T>(
  config: Pick<Config, 'region'>,
  make: (s3: S3) => any,
  read?: (out: any) => Promise<T>,
): Promise<{ out: T; serverMs: number }> {
  const s3 = await import('@aws-sdk/client-s3');
  const client = new s3.S3Client({
    ...sdkOptions(config.region, 3),
    forcePathStyle: !!(process.env.AWS_ENDPOINT_URL || process.env.AWS_ENDPOINT_URL_S3),
  });
  let serverMs = Date.now();
  client.middlewareStack.add(
    (next: any) => async (args: any) => {
      const r = await next(args);
      const date = r?.response?.headers?.date;
      if (date && !Number.isNaN(Date.parse(date))) serverMs = Date.parse(date);
      return r;
    },
    { step: 'deserialize', name: 'llmopsServerDate' },
  );
  try {
    const out = await client.send(make(s3));
    return { out: read ? await read(out) : (out as T), serverMs };
  } finally {
    client.destroy();
  }
}
