// The scan gate (issue 31): an image's ECR scan against SCAN_SEVERITY before its release is registered. The aws
// SDK's endpoint is a fake here; the sandbox's end-to-end file proves it against its ECR (scan on push, IN_PROGRESS, findings).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../lib/config.js';
import { findingsOf, imageScan } from '../lib/ecr.js';
import { ExitCode, ScriptFailure } from '../lib/errors.js';
import { Runner } from '../lib/run.js';
import { scanGate, tagValue } from '../scripts/06-taskdef.js';
import { SCAN_ALLOW_OPTIONS } from '../lib/flags.js';
import { fakeBins } from './helpers/fake-bin.js';
import { AwsError, fakeAws, setEnv, type FakeAws } from './helpers/fake-aws.js';
import { isDeepStrictEqual } from 'node:util';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const finding = (name: string, severity: string, pkg?: string) => ({
  name,
  severity,
  attributes: pkg ? [{ key: 'package_name', value: pkg }] : [],
});

/**
 * ECR's describe-image-scan-findings (through the SDK) answering each of `answers` in turn (the last one repeats),
 * from this file's AWS endpoint; each call recorded in the fakes' log.
 */
const sdk = { answers: [] as (object | 'not-found')[], n: 0, log: undefined as string | undefined };
let endpoint: FakeAws;
let restoreEnv: () => void;
test.before(async () => {
  endpoint = await fakeAws(
    (call) => {
      if (call.name !== 'ecr describe-image-scan-findings') return new AwsError(400, 'Unexpected', call.name);
      if (!isDeepStrictEqual(call.input, { repositoryName: 'llmops-system', imageId: { imageDigest: DIGEST } }))
        return new AwsError(400, 'Unexpected', JSON.stringify(call.input));
      const answer = sdk.answers[Math.min(sdk.n++, sdk.answers.length - 1)]!;
      return answer === 'not-found' ? new AwsError(400, 'ScanNotFoundException', 'Image scan does not exist') : answer;
    },
    () => sdk.log,
  );
  restoreEnv = setEnv(endpoint.env);
});
test.after(() => {
  restoreEnv();
  endpoint.close();
});

function scanning(answers: (object | 'not-found')[]) {
  const fb = fakeBins();
  Object.assign(sdk, { answers, n: 0, log: fb.log });
  const lines: string[] = [];
  const runner = new Runner({ echo: (l) => lines.push(l), env: { PATH: `${fb.dir}:${process.env.PATH}` }, retryBaseMs: 1 });
  return { fb, runner, lines };
}

const complete = (findings: object[]) => ({ imageScanStatus: { status: 'COMPLETE' }, imageScanFindings: { findings } });
const config = (env: Record<string, string> = {}) => loadConfig({ env, envFile: '' });

test('findings at or above SCAN_SEVERITY stop the release (exit 1), each listed most severe first with the allow command', async () => {
  const { runner } = scanning([
    complete([finding('CVE-2', 'HIGH', 'zlib'), finding('CVE-1', 'CRITICAL', 'openssl'), finding('CVE-3', 'LOW')]),
  ]);
  const e = await scanGate(runner, config(), DIGEST).catch((x) => x);
  assert.instance(e, ScriptFailure);
  assert.is(e.exitCode, ExitCode.FAILED);
  assert.match(e.message, `llmops-system@${DIGEST} has 1 finding(s) at or above CRITICAL (SCAN_SEVERITY)`);
  assert.match(e.message, '✗ CRITICAL CVE-1 (openssl)');
  assert.not.match(e.message, 'CVE-2');
  assert.match(e.message, `npm run deploy -- --allow-findings ${DIGEST} --reason "<why>"`);
  // HIGH as the threshold: both, CRITICAL first
  const high = scanning([complete([finding('CVE-2', 'HIGH', 'zlib'), finding('CVE-1', 'CRITICAL', 'openssl')])]);
  const e2 = await scanGate(high.runner, config({ LLMOPS_SCAN_SEVERITY: 'HIGH' }), DIGEST).catch((x) => x);
  assert.match(e2.message, /2 finding\(s\) at or above HIGH[\s\S]*✗ CRITICAL CVE-1 \(openssl\)\n {2}✗ HIGH CVE-2 \(zlib\)/);
});

test('below the threshold the release goes on, its tags saying what the scan found; allowed for this digest, the reason is kept; another digest is not allowed', async () => {
  const found = [finding('CVE-2', 'HIGH'), finding('CVE-3', 'LOW'), finding('CVE-4', 'LOW')];
  const below = scanning([complete(found)]);
  assert.equal(await scanGate(below.runner, config(), DIGEST), [{ key: 'llmops:scan', value: 'HIGH=1 LOW=2' }]);
  const clean = scanning([complete([])]);
  assert.equal(await scanGate(clean.runner, config(), DIGEST), [{ key: 'llmops:scan', value: 'no findings' }]);

  const critical = [finding('CVE-1', 'CRITICAL')];
  const allowed = scanning([complete(critical)]);
  assert.equal(await scanGate(allowed.runner, config(), DIGEST, { digest: DIGEST, reason: 'not reachable (SEC-1)' }), [
    { key: 'llmops:scan', value: 'CRITICAL=1' },
    { key: 'llmops:scan-allowed', value: 'not reachable SEC-1' },
  ]);
  assert.ok(allowed.lines.some((l) => l.includes(`1 finding(s) at or above CRITICAL accepted for ${DIGEST}: not reachable (SEC-1)`)));
  const other = scanning([complete(critical)]);
  const e = await scanGate(other.runner, config(), DIGEST, { digest: `sha256:${'b'.repeat(64)}`, reason: 'another image' }).catch((x) => x);
  assert.instance(e, ScriptFailure, 'an allowance is for its digest only');
});

test('the scan is waited for (not started yet, then in progress); a scan that cannot complete is said, not gated; off reads nothing', async () => {
  const waited = scanning(['not-found', { imageScanStatus: { status: 'IN_PROGRESS' } }, complete([finding('CVE-1', 'CRITICAL')])]);
  const sleeps: number[] = [];
  const scan = await imageScan(waited.runner, config(), DIGEST, async (ms) => void sleeps.push(ms));
  assert.equal(scan.findings, [{ name: 'CVE-1', severity: 'CRITICAL', package: undefined }]);
  assert.equal(sleeps, [500, 750]);
  assert.equal(
    waited.fb.calls().map((c) => c.join(' ')),
    Array(3).fill('aws ecr describe-image-scan-findings'),
  );
  assert.ok(
    waited.lines.every(
      (l) =>
        !l.startsWith('$') ||
        l === `$ aws ecr describe-image-scan-findings --repository-name llmops-system --image-id imageDigest=${DIGEST}   # via the SDK`,
    ),
    waited.lines.join('\n'),
  );

  const unsupported = scanning([
    { imageScanStatus: { status: 'UNSUPPORTED_IMAGE', description: 'The operating system is not supported' } },
  ]);
  assert.equal(await scanGate(unsupported.runner, config(), DIGEST), [{ key: 'llmops:scan', value: 'UNSUPPORTED_IMAGE' }]);
  assert.ok(
    unsupported.lines.some((l) => l.includes('ended UNSUPPORTED_IMAGE (The operating system is not supported): no findings to gate on')),
  );

  const never = scanning(['not-found']);
  const e = await imageScan(never.runner, config({ LLMOPS_SCAN_TIMEOUT_SECONDS: '10' }), DIGEST, async () => {}).catch((x) => x);
  assert.instance(e, ScriptFailure);
  assert.is(e.exitCode, ExitCode.TIMEOUT);
  assert.match(e.message, 'is still NOT_STARTED after 10 s (SCAN_TIMEOUT_SECONDS): nothing was registered');
  assert.match(e.message, 'NOT_STARTED means the repository does not scan on push (terraform/ecr.tf: scan_on_push)');
  assert.is(
    never.fb.calls().length,
    6,
    'asked after 0, 0.5, 1.25, 2.375, 4.063 and 6.595 s of waiting; the next wait (3.798 s) would pass 10 s',
  );

  const off = scanning([complete([finding('CVE-1', 'CRITICAL')])]);
  assert.equal(await scanGate(off.runner, config({ LLMOPS_SCAN_SEVERITY: 'off' }), DIGEST), []);
  assert.equal(off.fb.calls(), [], 'off: the scan is not read');
});

test('the reason: any one line of 8-256 characters on the command line; in the tag, what an ECS tag value holds', () => {
  const parse = SCAN_ALLOW_OPTIONS.reason!.parse!;
  assert.is(parse('accepted (SEC-1), see #42'), 'accepted (SEC-1), see #42');
  assert.throws(() => parse('short'), /8-256 characters on one line/);
  assert.throws(() => parse('two\nlines here'), /8-256 characters on one line/);
  assert.is(tagValue('accepted (SEC-1), see #42 — ok'), 'accepted SEC-1 see 42 ok');
  assert.throws(() => SCAN_ALLOW_OPTIONS['allow-findings']!.parse!('sha256:abc'), /sha256: and 64 hex digits/);
});

test("enhanced scanning's findings (Inspector) are read as well as basic scanning's", () => {
  assert.equal(
    findingsOf({
      imageScanFindings: {
        findings: [finding('CVE-1', 'HIGH', 'zlib')],
        enhancedFindings: [
          {
            title: 'CVE-9 - openssl',
            severity: 'CRITICAL',
            packageVulnerabilityDetails: { vulnerabilityId: 'CVE-9', vulnerablePackages: [{ name: 'openssl' }] },
          },
        ],
      },
    }),
    [
      { name: 'CVE-1', severity: 'HIGH', package: 'zlib' },
      { name: 'CVE-9', severity: 'CRITICAL', package: 'openssl' },
    ],
  );
});

test.run();
