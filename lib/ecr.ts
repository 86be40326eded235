// ECR: the repository URL and an image's digest (steps 2, 5 and 6 ask it whether it has an image), and its scan.
// Both reads are bookkeeping on every deploy's path: through the SDK, each echoing its aws CLI line.
import type { ECRClient } from '@aws-sdk/client-ecr';
import { awsErrorText, ecrRegistry, sdkOptions, sdkRead } from './aws.js';
import type { Config } from './config.js';
import type { Runner } from './run.js';
import { ExitCode, ScriptFailure } from './errors.js';

export interface Pushed {
  repositoryUrl: string;
  tag: string;
  digest: string;
  image: string;
  result: 'pushed' | 'already-in-ecr';
}

export function repositoryUrl(config: Config, account: string): string {
  return `${ecrRegistry(account, config.region)}/${config.names.repository}`;
}

/** Findings accepted for one image digest (`--allow-findings <digest> --reason <text>`). */
export interface ScanAllow {
  digest: string;
  reason: string;
}

/** ECR's severities, most severe first. */
export const SEVERITIES = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'INFORMATIONAL', 'UNDEFINED'] as const;

export interface Finding {
  name: string;
  severity: string;
  package?: string;
}

export interface ScanResult {
  /** COMPLETE, or why there are no findings to read (UNSUPPORTED_IMAGE, FAILED, FINDINGS_UNAVAILABLE …). */
  status: string;
  description?: string;
  findings: Finding[];
}

/** The findings of a scan as ECR describes them: basic scanning's `findings`, enhanced scanning's (Inspector). */
export function findingsOf(described: any): Finding[] {
  const f = described?.imageScanFindings ?? {};
  const basic = (f.findings ?? []).map((x: any) => ({
    name: x.name,
    severity: x.severity,
    package: x.attributes?.find((a: any) => a.key === 'package_name')?.value,
  }));
  const enhanced = (f.enhancedFindings ?? []).map((x: any) => ({
    name: x.packageVulnerabilityDetails?.vulnerabilityId ?? x.title,
    severity: x.severity,
    package: x.packageVulnerabilityDetails?.vulnerablePackages?.[0]?.name,
  }));
  return [...basic, ...enhanced];
}

/**
 * The scan of an image (ECR scans on push, ECR.1), polled from every half second up to every 5 s (a read through the
 * SDK costs next to nothing, and each poll missed is waiting) until it is no longer in progress;
 * a scan that has not started yet right after the push is waited for too. Throws (exit 5) when the next wait would
 * go past SCAN_TIMEOUT_SECONDS of waiting.
 */
export async function imageScan(
  runner: Runner,
  config: Config,
  digest: string,
  sleep = (ms: number) => new Promise((r) => setTimeout(r, ms)),
): Promise<ScanResult> {
  let waited = 0;
  const cli = ['ecr', 'describe-image-scan-findings', '--repository-name', config.names.repository, '--image-id', `imageDigest=${digest}`];
  for (let delay = 500; ; delay = Math.min(Math.round(delay * 1.5), 5000)) {
    let described: any;
    try {
      described = await sdkRead(runner, cli, () =>
        withEcr(config, (ecr, client) =>
          client.send(
            new ecr.DescribeImageScanFindingsCommand({ repositoryName: config.names.repository, imageId: { imageDigest: digest } }),
          ),
        ),
      );
      if (runner.dryRun) return { status: 'COMPLETE', findings: [] };
    } catch (error: any) {
      if (error?.name !== 'ScanNotFoundException')
        throw new ScriptFailure(`aws ecr describe-image-scan-findings failed: ${awsErrorText(error)}`);
    }
    const status: string = described?.imageScanStatus?.status ?? 'NOT_STARTED';
    if (status !== 'IN_PROGRESS' && status !== 'PENDING' && status !== 'NOT_STARTED')
      return { status, description: described?.imageScanStatus?.description, findings: findingsOf(described) };
    if (waited + delay > config.scan.timeoutSeconds * 1000)
      throw new ScriptFailure(
        `the scan of ${config.names.repository}@${digest} is still ${status} after ${config.scan.timeoutSeconds} s (SCAN_TIMEOUT_SECONDS): nothing was registered.\n` +
          `  fix: run the deploy again when it completes (aws ecr describe-image-scan-findings --repository-name ${config.names.repository} --image-id imageDigest=${digest}); NOT_STARTED means the repository does not scan on push (terraform/ecr.tf: scan_on_push)`,
        ExitCode.TIMEOUT,
      );
    runner.echo(`# the scan of ${digest.slice(0, 19)}… is ${status}: asking again in ${delay / 1000} s`);
    await sleep(delay);
    waited += delay;
  }
}

/** The digest of `tag` in ECR, or undefined when ECR does not have it. */
export async function ecrDigest(runner: Runner, config: Config, tag: string): Promise<string | undefined> {
  const repositoryName = config.names.repository;
  try {
    const r = await sdkRead(runner, ['ecr', 'describe-images', '--repository-name', repositoryName, '--image-ids', `imageTag=${tag}`], () =>
      withEcr(config, (ecr, client) => client.send(new ecr.DescribeImagesCommand({ repositoryName, imageIds: [{ imageTag: tag }] }))),
    );
    return r?.imageDetails?.[0]?.imageDigest;
  } catch (error: any) {
    if (error?.name === 'ImageNotFoundException') return undefined;
    if (error?.name === 'RepositoryNotFoundException') {
      throw new ScriptFailure(
        `ECR repository ${repositoryName} does not exist in ${config.region}: run \`npm run step:3\` and \`npm run step:4\` first`,
        ExitCode.PREFLIGHT,
      );
    }
    throw new ScriptFailure(`aws ecr describe-images failed: ${awsErrorText(error)}`);
  }
}

/**
 * What `aws ecr get-login-password` prints, through the SDK (no aws CLI start-up on a release's path): the password of
 * GetAuthorizationToken's token, base64 of `AWS:<password>`. Only for a pipe's stdin (Runner: firstOutput).
 */
export async function ecrLoginPassword(config: Config): Promise<string> {
  let token: string | undefined;
  try {
    const out = await withEcr(config, (ecr, client) => client.send(new ecr.GetAuthorizationTokenCommand({})));
    token = out.authorizationData?.[0]?.authorizationToken;
  } catch (error: any) {
    throw new ScriptFailure(`aws ecr get-login-password failed: ${awsErrorText(error)}`);
  }
  const password = token ? Buffer.from(token, 'base64').toString('utf8').replace(/^AWS:/, '') : '';
  if (!password) throw new ScriptFailure('aws ecr get-login-password failed: ECR returned no authorization token');
  return password;
}

/** One call with an ECR client (its module loaded on the first call, not when a script starts). */
async function withEcr<T>(config: Config, call: (ecr: typeof import('@aws-sdk/client-ecr'), client: ECRClient) => Promise<T>): Promise<T> {
  const ecr = await import('@aws-sdk/client-ecr');
  const client = new ecr.ECRClient(sdkOptions(config.region, 3));
  try {
    return await call(ecr, client);
  } finally {
    client.destroy();
  }
}
