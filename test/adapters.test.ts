// The toolkit's adapters to the CLIs and the SDK, in seconds, on canned answers (the end-to-end and Terraform
// files prove them against the sandbox): ECR's digest and push, Route 53's alias record and CloudFront's status,
// the ECS service as described and the newest revisions, Terraform's backend, init and outputs, task lists.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig, type Config } from '../lib/config.js';
import { pointDomain, step as dnsStep } from '../scripts/08-dns.js';
import { ecrDigest, repositoryUrl } from '../lib/ecr.js';
import { pushImage, step as pushStep } from '../scripts/05-push.js';
import { newContext } from '../lib/pipeline.js';
import { ExitCode, ScriptFailure } from '../lib/errors.js';
import { Runner } from '../lib/run.js';
import {
  type Clients,
  describeService,
  describeTaskDefinition,
  healthUrl,
  lastLogLines,
  loadSdk,
  newestRevisions,
  privateIp,
  revisionOf,
  runningTasksOf,
  serviceOf,
  stoppedTasksOf,
  targetHealth,
} from '../lib/ecs.js';
import { chooseRenderer, taskList, taskRunner } from '../lib/tasks.js';
import {
  backendConfig,
  backendFor,
  chdir,
  dataDir,
  describeBackend,
  initializedBackend,
  needsInit,
  planFile,
  stateBucket,
  stateKey,
  terraformEnv,
  terraformInit,
  terraformOutputs,
  tfDir,
  varFile,
  varFileArgs,
} from '../lib/terraform.js';
import { fakeBins, type FakeBins } from './helpers/fake-bin.js';
import { withEnv } from './helpers/script.js';
import { stsEndpoint } from './helpers/sts.js';
import { AwsError, fakeAws, setEnv, type FakeAws } from './helpers/fake-aws.js';

process.env.LLMOPS_STATE_DIR = mkdtempSync(join(tmpdir(), 'adapters-state-'));
const ACCOUNT = '123456789012';
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const KEYS = {
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
  AWS_SESSION_TOKEN: undefined,
};

const configOf = (env: Record<string, string> = {}) => loadConfig({ env, envFile: '' });

/**
 * The SDK's endpoint for every test here: ECR's describe-images as `sdk.ecr` says (a digest, none, not found, no
 * repository, denied; `later`: found the second time), ECS's describe-services answering `sdk.service`, S3 objects
 * from `sdk.objects` (an AwsError fails the read). Each call is recorded in the log of the fake CLIs the last
 * runnerOn was given, so callsOf lists both in order.
 */
const sdk = {
  ecr: 'found',
  service: {} as unknown,
  objects: {} as Record<string, unknown>,
  log: undefined as string | undefined,
  asked: 0,
  /** ECR's GetAuthorizationToken: a token, denied, or no authorization data. */
  token: 'ok' as 'ok' | 'denied' | 'empty',
};
let endpoint: FakeAws;
let restoreEnv: () => void;
test.before(async () => {
  endpoint = await fakeAws(
    (call) => {
      if (call.name === 'ecr describe-images') {
        const mode = sdk.ecr === 'later' ? (sdk.asked++ ? 'found' : 'missing') : sdk.ecr;
        if (!isDeepStrictEqual(call.input, { repositoryName: 'llmops-system', imageIds: [{ imageTag: 'abc123' }] }))
          return new AwsError(400, 'Unexpected', JSON.stringify(call.input));
        if (mode === 'found') return { imageDetails: [{ imageDigest: DIGEST }] };
        if (mode === 'empty') return { imageDetails: [] };
        if (mode === 'bare') return {};
        if (mode === 'missing') return new AwsError(400, 'ImageNotFoundException', 'not found');
        if (mode === 'norepo') return new AwsError(400, 'RepositoryNotFoundException', 'no repo');
        return new AwsError(400, 'AccessDeniedException', 'not allowed');
      }
      if (call.name === 'ecs describe-services') {
        if (!isDeepStrictEqual(call.input, { cluster: 'llmops-cluster', services: ['llmops-service'] }))
          return new AwsError(400, 'Unexpected', JSON.stringify(call.input));
        return sdk.service;
      }
      if (call.name === 'ecr get-authorization-token') {
        if (sdk.token === 'denied') return new AwsError(400, 'AccessDeniedException', 'not allowed: ecr:GetAuthorizationToken');
        if (sdk.token === 'empty') return { authorizationData: [] };
        return { authorizationData: [{ authorizationToken: Buffer.from('AWS:s3cr3t-ecr-token').toString('base64') }] };
      }
      if (call.name === 's3 cp') return sdk.objects[call.input.url];
      return new AwsError(400, 'Unexpected', call.name);
    },
    () => sdk.log,
  );
  restoreEnv = setEnv(endpoint.env);
});
test.after(() => {
  restoreEnv();
  endpoint.close();
});

/** A runner on a private PATH of fake CLIs, recording what it echoes (FAKE_ECR: what ECR says, see `sdk`). */
function runnerOn(fb: FakeBins, env: Record<string, string> = {}, dryRun = false) {
  const lines: string[] = [];
  sdk.log = fb.log;
  sdk.asked = 0;
  sdk.token = 'ok';
  if (env.FAKE_ECR) sdk.ecr = env.FAKE_ECR;
  const outputs = `s3://llmops-tfstate-${ACCOUNT}/llmops/outputs.json`;
  sdk.objects = env.FAKE_PUBLISHED_ERROR
    ? { [outputs]: new AwsError(403, 'AccessDenied', env.FAKE_PUBLISHED_ERROR) }
    : env.FAKE_PUBLISHED
      ? { [outputs]: env.FAKE_PUBLISHED }
      : {};
  const runner = new Runner({
    dryRun,
    echo: (l) => lines.push(l),
    // '': no endpoint whatever the process has (undefined would fall back to process.env)
    env: {
      PATH: `${fb.dir}:${process.env.PATH}`,
      AWS_ENDPOINT_URL: '',
      ...env,
    },
    retryBaseMs: 1,
  });
  return { runner, lines };
}

const callsOf = (fb: FakeBins, bin: string) =>
  fb
    .calls()
    .filter((c) => c[0] === bin)
    .map((c) => c.slice(1).join(' '));

async function listening(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A fake ECS endpoint in the SDK's JSON protocol: each request's action and input go to `answer`, whose object is the
 *  answer (a `{ status, body }` of its own for an error). */
function ecsServer(answer: (action: string, input: any) => any): Server {
  return createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const out = answer(String(req.headers['x-amz-target']).split('.').pop()!, JSON.parse(body || '{}'));
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      if (out?.status) return res.writeHead(out.status).end(JSON.stringify(out.body));
      res.end(JSON.stringify(out));
    });
  });
}

// --- ECR ---------------------------------------------------------------------------------------------------

/** aws: describe-images as FAKE_ECR says (a digest, not found, no repository, denied; `later`: found the second time). */
function fakeEcr(platform = 'linux/amd64') {
  return fakeBins({
    aws: `case "$1 $2" in
  "ecr describe-images")
    [ "$*" = "ecr describe-images --repository-name llmops-system --image-ids imageTag=abc123 --region us-east-1 --output json" ] || { echo "unexpected: $*" >&2; exit 9; }
    state="$(dirname "$0")/described"
    if [ "$FAKE_ECR" = later ] && [ ! -e "$state" ]; then touch "$state"; FAKE_ECR=missing; elif [ "$FAKE_ECR" = later ]; then FAKE_ECR=found; fi
    case "$FAKE_ECR" in
      found) echo '{"imageDetails":[{"imageDigest":"${DIGEST}"}]}';;
      empty) echo '{"imageDetails":[]}';;
      bare) echo '{}';;
      missing) echo "An error occurred (ImageNotFoundException) when calling the DescribeImages operation: not found" >&2; exit 254;;
      norepo) echo "An error occurred (RepositoryNotFoundException) when calling the DescribeImages operation: no repo" >&2; exit 254;;
      *) printf 'warning: something\\nAn error occurred (AccessDeniedException): not allowed\\n' >&2; exit 254;;
    esac;;
  *) echo "unexpected: $*" >&2; exit 9;;
esac`,
    docker: `case "$1" in
  image) ${platform ? `echo "${platform}"` : 'echo "Error: No such image" >&2; exit 1'};;
  login) read -r password; [ "$password" = s3cr3t-ecr-token ] || exit 7; echo "Login Succeeded";;
  tag) ;;
  push)
    if [ "$FAKE_PUSH" = flaky ] && [ ! -e "$(dirname "$0")/pushed" ]; then touch "$(dirname "$0")/pushed"; echo "received unexpected HTTP status: 503 Service Unavailable" >&2; exit 1; fi
    echo "The push refers to repository [$2]"; [ "$FAKE_PUSH" = nodigest ] || echo "abc123: digest: ${DIGEST} size: 1234";;
  *) echo "unexpected: $*" >&2; exit 9;;
esac`,
  });
}

const ref = { tag: 'abc123', local: 'llmops-system:abc123' } as any;
const url = `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/llmops-system`;

test("ECR: the repository URL; an image's digest, or undefined when ECR has no such tag; a missing repository or another error says so", async () => {
  const config = configOf();
  assert.is(repositoryUrl(config, ACCOUNT), url);
  assert.is(
    repositoryUrl(configOf({ LLMOPS_PROJECT_NAME: 'shop' }), '210987654321'),
    '210987654321.dkr.ecr.us-east-1.amazonaws.com/shop-system',
  );
  const fb = fakeEcr();
  assert.is(await ecrDigest(runnerOn(fb, { FAKE_ECR: 'found' }).runner, config, 'abc123'), DIGEST);
  assert.is(await ecrDigest(runnerOn(fb, { FAKE_ECR: 'empty' }).runner, config, 'abc123'), undefined, 'no image details');
  assert.is(await ecrDigest(runnerOn(fb, { FAKE_ECR: 'bare' }).runner, config, 'abc123'), undefined, 'none at all');
  assert.is(await ecrDigest(runnerOn(fb, { FAKE_ECR: 'missing' }).runner, config, 'abc123'), undefined);
  const norepo = await ecrDigest(runnerOn(fb, { FAKE_ECR: 'norepo' }).runner, config, 'abc123').catch((e) => e);
  assert.instance(norepo, ScriptFailure);
  assert.is(norepo.exitCode, ExitCode.PREFLIGHT);
  assert.is(norepo.message, 'ECR repository llmops-system does not exist in us-east-1: run `npm run step:3` and `npm run step:4` first');
  const denied = await ecrDigest(runnerOn(fb, { FAKE_ECR: 'denied' }).runner, config, 'abc123').catch((e) => e);
  assert.instance(denied, ScriptFailure);
  assert.is(denied.exitCode, ExitCode.FAILED);
  assert.is(denied.message, 'aws ecr describe-images failed: An error occurred (AccessDeniedException): not allowed');
  const dry = runnerOn(fb, {}, true);
  const before = fb.calls().length;
  assert.is(await ecrDigest(dry.runner, config, 'abc123'), undefined);
  assert.is(fb.calls().length, before, 'a dry run calls nothing');
  assert.is(dry.lines.length, 1);
  assert.match(dry.lines[0] ?? '', '[dry-run] $ aws ecr describe-images --repository-name llmops-system --image-ids imageTag=abc123');
});

test('ECR push: skipped when the tag is there; login on stdin, tag, push, the digest from the push', async () => {
  const config = configOf();
  const given = fakeEcr();
  const known = runnerOn(given);
  assert.equal(await pushImage(known.runner, config, ref, ACCOUNT, DIGEST), {
    repositoryUrl: url,
    tag: 'abc123',
    digest: DIGEST,
    image: `${url}@${DIGEST}`,
    result: 'already-in-ecr',
  });
  assert.equal(given.calls(), [], 'a digest the caller read is not asked again');
  assert.equal(known.lines, [`# ${url}:abc123 is already in ECR (${DIGEST}): push skipped`]);

  // a release's deploy lock is taken before the push (recorded among the calls), never for an image ECR has
  const take = (fb: FakeBins) => async () => appendFileSync(fb.log, 'LOCK\0take\0\x1e');
  const there = fakeEcr();
  const skipped = await pushImage(runnerOn(there, { FAKE_ECR: 'found' }).runner, config, ref, ACCOUNT, undefined, undefined, take(there));
  assert.is(skipped.result, 'already-in-ecr');
  assert.equal(callsOf(there, 'docker'), [], 'nothing pushed');
  assert.equal(callsOf(there, 'LOCK'), [], 'no lock taken');

  const fb = fakeEcr();
  const { runner, lines } = runnerOn(fb, { FAKE_ECR: 'missing' });
  assert.equal(await pushImage(runner, config, ref, ACCOUNT, undefined, undefined, take(fb)), {
    repositoryUrl: url,
    tag: 'abc123',
    digest: DIGEST,
    image: `${url}@${DIGEST}`,
    result: 'pushed',
  });
  assert.equal(callsOf(fb, 'docker'), [
    'image inspect --format {{.Os}}/{{.Architecture}} llmops-system:abc123',
    `login --username AWS --password-stdin ${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`,
    `tag llmops-system:abc123 ${url}:abc123`,
    `push ${url}:abc123`,
  ]);
  // the login password through the SDK (no aws CLI started), then on docker login's stdin (the fake docker checks it)
  assert.equal(callsOf(fb, 'aws'), ['ecr describe-images', 'ecr get-authorization-token']);
  assert.ok(
    lines.includes(
      `$ aws ecr get-login-password --region us-east-1 | docker login --username AWS --password-stdin ${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com   # aws ecr get-login-password via the SDK`,
    ),
    lines.join('\n'),
  );
  // looked at, checked, locked, then logged in and pushed
  const order = fb.calls().map((c) => c.slice(0, 2).join(' '));
  assert.equal(order, ['aws ecr', 'docker image', 'LOCK take', 'aws ecr', 'docker login', 'docker tag', 'docker push']);
  assert.ok(lines.includes(`  The push refers to repository [${url}:abc123]`), "the push's output is streamed as it comes");
  assert.not.ok(lines.join('\n').includes('s3cr3t-ecr-token'), 'the login password is never printed');
});

test('step 5, the definition: what it pushed or found, reported with the digest; a skip reason only for an image ECR had', async () => {
  const config = configOf();
  const stepOn = async (env: Record<string, string>, inEcr?: string) => {
    const { runner } = runnerOn(fakeEcr(), env);
    const ctx = newContext(config, runner, true);
    ctx.identity = {
      account: ACCOUNT,
      arn: `arn:aws:iam::${ACCOUNT}:user/ci`,
      region: 'us-east-1',
    };
    ctx.ref = ref;
    ctx.inEcr = inEcr;
    const reported: string[] = [];
    const skipped = await pushStep.run(ctx, runner, (t) => reported.push(t));
    return { skipped, reported, pushed: ctx.pushed };
  };
  const pushed = await stepOn({ FAKE_ECR: 'missing' });
  assert.equal(pushed, {
    skipped: undefined,
    reported: [`✓ ${url}:abc123 pushed\n  digest ${DIGEST}`],
    pushed: {
      repositoryUrl: url,
      tag: 'abc123',
      digest: DIGEST,
      image: `${url}@${DIGEST}`,
      result: 'pushed',
    },
  });
  const there = await stepOn({}, DIGEST);
  assert.equal(
    [there.skipped, there.reported],
    [`abc123 is already in ECR (${DIGEST.slice(0, 19)}…)`, [`✓ ${url}:abc123 already in ECR\n  digest ${DIGEST}`]],
  );
});

test('ECR push: the digest read back when the push does not print it; refused without the local image or for the wrong platform; a dry run pushes nothing', async () => {
  const config = configOf();
  const fb = fakeEcr();
  const pushed = await pushImage(runnerOn(fb, { FAKE_ECR: 'later', FAKE_PUSH: 'nodigest' }).runner, config, ref, ACCOUNT);
  assert.is(pushed.digest, DIGEST);
  assert.is(callsOf(fb, 'aws').filter((c) => c.startsWith('ecr describe-images')).length, 2, 'asked again after the push');

  const flaky = fakeEcr();
  const retried = runnerOn(flaky, { FAKE_ECR: 'missing', FAKE_PUSH: 'flaky' });
  assert.is(
    (await pushImage(retried.runner, config, ref, ACCOUNT)).digest,
    DIGEST,
    'a push that failed on a transient error is tried again',
  );
  assert.is(callsOf(flaky, 'docker').filter((c) => c.startsWith('push')).length, 2);

  const lost = await pushImage(runnerOn(fakeEcr(), { FAKE_ECR: 'missing', FAKE_PUSH: 'nodigest' }).runner, config, ref, ACCOUNT).catch(
    (e) => e,
  );
  assert.instance(lost, ScriptFailure);
  assert.is(lost.message, `pushed ${url}:abc123 but could not read its digest`);

  const none = fakeEcr('');
  const missing = await pushImage(runnerOn(none, { FAKE_ECR: 'missing' }).runner, config, ref, ACCOUNT).catch((e) => e);
  assert.instance(missing, ScriptFailure);
  assert.is(missing.exitCode, ExitCode.PREFLIGHT);
  assert.is(
    missing.message,
    'the local image llmops-system:abc123 does not exist: run `npm run step:2` first (it builds the image of the current commit)',
  );
  assert.equal(callsOf(none, 'docker').length, 1, 'nothing pushed');

  const arm = fakeEcr('linux/arm64');
  const wrong = await pushImage(runnerOn(arm, { FAKE_ECR: 'missing' }).runner, config, ref, ACCOUNT).catch((e) => e);
  assert.instance(wrong, ScriptFailure);
  assert.is(wrong.exitCode, ExitCode.PREFLIGHT);
  assert.is(
    wrong.message,
    'the local image llmops-system:abc123 is linux/arm64, but the tasks run linux/amd64 (PLATFORM; runtimePlatform X86_64): nothing was pushed.\n' +
      '  fix: rebuild it for the tasks with `npm run step:2` (docker build --platform linux/amd64), or set PLATFORM=linux/arm64 to run the tasks on ARM64 Fargate',
  );
  assert.equal(callsOf(arm, 'docker').length, 1, 'nothing pushed');

  const dryBins = fakeEcr();
  const dry = runnerOn(dryBins, {}, true);
  assert.equal(await pushImage(dry.runner, config, ref, ACCOUNT), {
    repositoryUrl: url,
    tag: 'abc123',
    digest: '<IMAGE_DIGEST>',
    image: `${url}@<IMAGE_DIGEST>`,
    result: 'pushed',
  });
  assert.equal(dryBins.calls(), []);
  assert.ok(dry.lines.some((l) => l.includes(`docker push ${url}:abc123`)));
});

test('ECR login: a denied or empty authorization token fails naming the call, and nothing is logged in, tagged or pushed', async () => {
  const config = configOf();
  for (const [token, message] of [
    ['denied', 'aws ecr get-login-password failed: An error occurred (AccessDeniedException): not allowed: ecr:GetAuthorizationToken'],
    ['empty', 'aws ecr get-login-password failed: ECR returned no authorization token'],
  ] as const) {
    const fb = fakeEcr();
    const { runner } = runnerOn(fb, { FAKE_ECR: 'missing' });
    sdk.token = token;
    const failed = await pushImage(runner, config, ref, ACCOUNT).catch((e) => e);
    assert.instance(failed, ScriptFailure, token);
    assert.is(failed.message, message);
    assert.equal(
      callsOf(fb, 'docker'),
      ['image inspect --format {{.Os}}/{{.Architecture}} llmops-system:abc123'],
      `${token}: nothing pushed`,
    );
  }
});

// --- the ECS service ---------------------------------------------------------------------------------------

/** describe-services answering `answer`: the CLI's (doctor) and the SDK's (describeService). */
function fakeService(answer: object) {
  sdk.service = answer;
  return fakeBins({
    aws: `[ "$*" = "ecs describe-services --cluster llmops-cluster --services llmops-service --region us-east-1 --output json" ] || { echo "unexpected: $*" >&2; exit 9; }
echo '${JSON.stringify(answer)}'`,
  });
}

test("the ECS service as doctor reads it: all of describe-services' first service; none, or a failed call, is undefined; describeService's call fails loudly", async () => {
  const config = configOf();
  const raw = { status: 'DRAINING', desiredCount: 3, runningCount: 1, deployments: [] };
  assert.equal(await serviceOf(runnerOn(fakeService({ services: [raw] })).runner, config), raw);
  assert.is(await serviceOf(runnerOn(fakeService({})).runner, config), undefined);
  const broken = fakeBins({ aws: 'echo "An error occurred (AccessDeniedException): no" >&2; exit 254' });
  assert.is(await serviceOf(runnerOn(broken).runner, config), undefined, 'doctor reports a service it cannot read');
  sdk.service = new AwsError(400, 'AccessDeniedException', 'no');
  const error = await describeService(runnerOn(broken).runner, config).catch((e) => e);
  assert.instance(error, Error);
  assert.is(error.message, 'aws ecs describe-services failed: An error occurred (AccessDeniedException): no');
});

test('the ECS service: undefined unless ACTIVE; the rollout in progress only while it has tasks to place; its network; ECS Exec only when on', async () => {
  const config = configOf();
  const described = (answer: object) => describeService(runnerOn(fakeService(answer)).runner, config);
  assert.is(await described({ services: [] }), undefined);
  assert.is(await described({}), undefined, 'no services at all');
  assert.equal(
    await described({ services: [{ status: 'ACTIVE', desiredCount: 1 }] }),
    {
      taskDefinition: undefined,
      desiredCount: 1,
      status: 'ACTIVE',
      inProgress: undefined,
      network: undefined,
      enableExecuteCommand: false,
    },
    'no deployments listed',
  );
  const noPrimary = await described({
    services: [
      {
        status: 'ACTIVE',
        desiredCount: 1,
        deployments: [{ id: 'x', status: 'ACTIVE', rolloutState: 'IN_PROGRESS' }],
      },
    ],
  });
  assert.is(noPrimary?.inProgress, undefined, 'only the primary deployment is the rollout');
  assert.is(await described({ services: [{ status: 'INACTIVE', desiredCount: 1 }] }), undefined);
  const deployments = [
    { id: 'ecs-svc/old', status: 'ACTIVE', rolloutState: 'COMPLETED' },
    { id: 'ecs-svc/new', status: 'PRIMARY', rolloutState: 'IN_PROGRESS' },
  ];
  const vpc = { subnets: ['subnet-a'], securityGroups: ['sg-1'] };
  assert.equal(
    await described({
      services: [
        {
          status: 'ACTIVE',
          desiredCount: 2,
          taskDefinition: 'arn:td:7',
          deployments,
          networkConfiguration: { awsvpcConfiguration: vpc },
          enableExecuteCommand: true,
        },
      ],
    }),
    {
      taskDefinition: 'arn:td:7',
      desiredCount: 2,
      status: 'ACTIVE',
      inProgress: 'ecs-svc/new',
      network: {
        subnets: ['subnet-a'],
        securityGroups: ['sg-1'],
        assignPublicIp: 'DISABLED',
      },
      enableExecuteCommand: true,
    },
  );
  const scaledToZero = await described({
    services: [
      {
        status: 'ACTIVE',
        desiredCount: 0,
        deployments,
        enableExecuteCommand: 'yes',
      },
    ],
  });
  assert.equal(scaledToZero, {
    taskDefinition: undefined,
    desiredCount: 0,
    status: 'ACTIVE',
    inProgress: undefined,
    network: undefined,
    enableExecuteCommand: false,
  });
  const settled = await described({
    services: [
      {
        status: 'ACTIVE',
        desiredCount: 1,
        deployments: [{ id: 'ecs-svc/new', status: 'PRIMARY', rolloutState: 'COMPLETED' }],
        networkConfiguration: {
          awsvpcConfiguration: { assignPublicIp: 'ENABLED' },
        },
      },
    ],
  });
  assert.is(settled?.inProgress, undefined);
  assert.equal(settled?.network, {
    subnets: [],
    securityGroups: [],
    assignPublicIp: 'ENABLED',
  });
});

test('the newest revisions: echoed as the CLI commands they stand for; through the SDK, newest first, only the family, each with its tags', async () => {
  const config = configOf();
  const dry = new Runner({ dryRun: true, echo: () => {} });
  const echoed: string[] = [];
  assert.equal(
    await newestRevisions(
      dry.withEcho((l) => echoed.push(l)),
      config,
      3,
    ),
    [],
  );
  assert.equal(echoed, [
    '[dry-run] $ aws ecs list-task-definitions --family-prefix llmops-task --sort DESC   # via the SDK',
    "[dry-run] $ aws ecs describe-task-definition --task-definition 'llmops-task:<N>' --include TAGS   # via the SDK, the newest 3",
  ]);

  const arn = (family: string, n: number) => `arn:aws:ecs:us-east-1:${ACCOUNT}:task-definition/${family}:${n}`;
  const asked: string[] = [];
  let fail = false;
  const ecs = ecsServer((action, input) => {
    asked.push(`${action} ${input.familyPrefix ?? input.taskDefinition} ${input.sort ?? (input.include ?? []).join(',')}`);
    if (fail) return { status: 400, body: { __type: 'ClientException', message: 'no such family' } };
    if (action === 'ListTaskDefinitions') {
      // unsorted, and another family whose name starts with this one's
      return {
        taskDefinitionArns: [
          arn('llmops-task', 9),
          arn('llmops-task-old', 12),
          arn('llmops-task', 10),
          arn('llmops-task', 2),
          arn('llmops-task', 8),
        ],
      };
    }
    const n = Number(String(input.taskDefinition).split(':').pop());
    return {
      taskDefinition: { taskDefinitionArn: input.taskDefinition, revision: n },
      ...(n === 10 ? { tags: [{ key: 'commit', value: 'abc' }] } : {}),
    };
  });
  const endpoint = await listening(ecs);
  try {
    const lines: string[] = [];
    const live = new Runner({ echo: (l) => lines.push(l) });
    const revisions = await withEnv({ ...KEYS, AWS_ENDPOINT_URL_ECS: endpoint }, () => newestRevisions(live, config, 3));
    assert.equal(
      revisions.map((r) => [r.arn, r.taskDefinition?.revision, r.tags]),
      [
        [arn('llmops-task', 10), 10, [{ key: 'commit', value: 'abc' }]],
        [arn('llmops-task', 9), 9, []],
        [arn('llmops-task', 8), 8, []],
      ],
    );
    assert.equal(asked.slice(0, 1), ['ListTaskDefinitions llmops-task DESC']);
    assert.equal(asked.slice(1).sort(), [10, 8, 9].map((n) => `DescribeTaskDefinition ${arn('llmops-task', n)} TAGS`).sort());
    assert.equal(lines, [
      '$ aws ecs list-task-definitions --family-prefix llmops-task --sort DESC   # via the SDK',
      "$ aws ecs describe-task-definition --task-definition 'llmops-task:<N>' --include TAGS   # via the SDK, the newest 3",
    ]);
    fail = true;
    const error = await withEnv({ ...KEYS, AWS_ENDPOINT_URL_ECS: endpoint }, () => newestRevisions(live, config, 3)).catch((e) => e);
    assert.is(
      error.message,
      'listing the revisions of llmops-task (ecs list-task-definitions, describe-task-definition): ClientException: no such family',
    );
  } finally {
    ecs.close();
  }
});

test('the newest revisions: the one asked for (`also`) is kept however old; an empty family lists nothing', async () => {
  const config = configOf();
  const arn = (n: number) => `arn:aws:ecs:us-east-1:${ACCOUNT}:task-definition/llmops-task:${n}`;
  let listed: string[] | undefined = [arn(3), arn(1), arn(2)];
  const ecs = ecsServer((action, input) =>
    action === 'ListTaskDefinitions'
      ? listed
        ? { taskDefinitionArns: listed }
        : {}
      : { taskDefinition: { taskDefinitionArn: input.taskDefinition } },
  );
  const endpoint = await listening(ecs);
  try {
    const live = new Runner({ echo: () => {} });
    const kept = await withEnv({ ...KEYS, AWS_ENDPOINT_URL_ECS: endpoint }, () => newestRevisions(live, config, 1, 1));
    assert.equal(
      kept.map((r) => r.arn),
      [arn(3), arn(1)],
    );
    listed = undefined;
    assert.equal(await withEnv({ ...KEYS, AWS_ENDPOINT_URL_ECS: endpoint }, () => newestRevisions(live, config, 3)), []);
  } finally {
    ecs.close();
  }
});

test('a task definition with its tags (describe-task-definition --include TAGS through the SDK); none tagged, no tags; a failure names the call', async () => {
  const config = configOf();
  let answer: any = { taskDefinition: { family: 'llmops-task', revision: 4 }, tags: [{ key: 'llmops:commit', value: 'abc' }] };
  const asked: any[] = [];
  const ecs = ecsServer((_action, input) => {
    asked.push(input);
    return answer === 'fail'
      ? { status: 400, body: { __type: 'ClientException', message: 'Unable to describe task definition.' } }
      : answer;
  });
  const endpoint = await listening(ecs);
  try {
    const lines: string[] = [];
    const live = new Runner({ echo: (l) => lines.push(l) });
    const read = () => withEnv({ ...KEYS, AWS_ENDPOINT_URL_ECS: endpoint }, () => describeTaskDefinition(live, config, 'llmops-task:4'));
    assert.equal(await read(), { family: 'llmops-task', revision: 4, tags: [{ key: 'llmops:commit', value: 'abc' }] });
    assert.equal(asked[0], { taskDefinition: 'llmops-task:4', include: ['TAGS'] });
    assert.equal(lines, ['$ aws ecs describe-task-definition --task-definition llmops-task:4 --include TAGS   # via the SDK']);
    answer = { taskDefinition: { family: 'llmops-task', revision: 4 } };
    assert.equal(await read(), { family: 'llmops-task', revision: 4, tags: [] });
    answer = {};
    assert.is(await read(), undefined);
    answer = 'fail';
    const error = await read().catch((e) => e);
    assert.is(
      error.message,
      'aws ecs describe-task-definition failed: An error occurred (ClientException): Unable to describe task definition.',
    );
  } finally {
    ecs.close();
  }
  assert.is(revisionOf('arn:aws:ecs:us-east-1:1:task-definition/llmops-task:12'), 12);
  assert.is(revisionOf('llmops-task'), 0);
});

/** ECS, ELB and CloudWatch Logs answering from a table of canned answers, each request recorded. */
test.before(async () => {
  await loadSdk(); // the readers build their commands from the SDK modules, loaded on first use
});

function cannedClients(answers: Record<string, (input: any) => any>): { clients: Clients; asked: [string, any][] } {
  const asked: [string, any][] = [];
  const client = {
    send: async (command: any) => {
      const name = command.constructor.name;
      asked.push([name, command.input]);
      const answer = answers[name];
      if (!answer) throw new Error(`unexpected ${name}`);
      return answer(command.input);
    },
    destroy() {},
  } as any;
  return { clients: { ecs: client, elb: client, logs: client }, asked };
}

test("a deployment's tasks: running ones still meant to run, stopped ones once each; nothing described when none is listed; a task's private IP from either field", async () => {
  const config = configOf();
  const task = (id: string, extra: any) => ({ taskArn: `arn:aws:ecs:us-east-1:${ACCOUNT}:task/llmops-cluster/${id}`, ...extra });
  const running = [
    task('r1', { desiredStatus: 'RUNNING', lastStatus: 'RUNNING' }),
    task('r2', { desiredStatus: 'STOPPED', lastStatus: 'RUNNING' }),
  ];
  const stopped = [
    task('s1', { desiredStatus: 'STOPPED', lastStatus: 'STOPPED' }),
    task('s2', { desiredStatus: 'STOPPED', lastStatus: 'DEPROVISIONING' }),
  ];
  const { clients, asked } = cannedClients({
    ListTasksCommand: (i) => ({ taskArns: (i.desiredStatus === 'RUNNING' ? running : stopped).map((t) => t.taskArn) }),
    DescribeTasksCommand: (i) => ({ tasks: [...running, ...stopped].filter((t) => i.tasks.includes(t.taskArn)) }),
  });
  assert.equal(
    (await runningTasksOf(clients, config, 'ecs-svc/9')).map((t) => t.taskArn!.split('/').pop()),
    ['r1'],
  );
  assert.equal(asked[0], ['ListTasksCommand', { cluster: 'llmops-cluster', startedBy: 'ecs-svc/9', desiredStatus: 'RUNNING' }]);
  assert.equal(asked[1]![1], { cluster: 'llmops-cluster', tasks: running.map((t) => t.taskArn) });
  const seen = new Set<string>();
  assert.equal(
    (await stoppedTasksOf(clients, config, 'ecs-svc/9', seen)).map((t) => t.taskArn!.split('/').pop()),
    ['s1'],
  );
  assert.equal(await stoppedTasksOf(clients, config, 'ecs-svc/9', seen), [], 'each stopped task once');
  const none = cannedClients({ ListTasksCommand: () => ({}) });
  assert.equal(await runningTasksOf(none.clients, config, 'ecs-svc/9'), []);
  assert.equal(
    none.asked.map(([n]) => n),
    ['ListTasksCommand'],
    'nothing to describe',
  );
  assert.is(privateIp({ containers: [{ networkInterfaces: [{ privateIpv4Address: '10.0.1.7' }] }] } as any), '10.0.1.7');
  assert.is(
    privateIp({
      attachments: [
        {
          details: [
            { name: 'subnetId', value: 's' },
            { name: 'privateIPv4Address', value: '10.0.2.8' },
          ],
        },
      ],
    } as any),
    '10.0.2.8',
  );
  assert.is(privateIp({ containers: [{}], attachments: [{}] } as any), undefined);
  assert.is(privateIp({} as any), undefined);
});

test("the health URL: DOMAIN_NAME's over HTTPS, else the load balancer's DNS name found from the service's target group; none when any link is missing", async () => {
  const svc = { loadBalancers: [{ targetGroupArn: 'tg-1' }] } as any;
  const lbArn = 'arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/llmops-alb/1';
  const world = (groups: any, lbs: any) =>
    cannedClients({ DescribeTargetGroupsCommand: () => groups, DescribeLoadBalancersCommand: () => lbs });
  const full = world({ TargetGroups: [{ LoadBalancerArns: [lbArn] }] }, { LoadBalancers: [{ DNSName: 'llmops-alb-1.elb.amazonaws.com' }] });
  assert.is(await healthUrl(full.clients, configOf(), svc), 'http://llmops-alb-1.elb.amazonaws.com/health');
  assert.equal(full.asked, [
    ['DescribeTargetGroupsCommand', { TargetGroupArns: ['tg-1'] }],
    ['DescribeLoadBalancersCommand', { LoadBalancerArns: [lbArn] }],
  ]);
  assert.is(
    await healthUrl(full.clients, configOf({ LLMOPS_DOMAIN_NAME: 'app.example.com', LLMOPS_HOSTED_ZONE_ID: 'Z123' }), svc),
    'https://app.example.com/health',
  );
  assert.is(await healthUrl(full.clients, configOf(), {} as any), undefined, 'no load balancer');
  assert.is(await healthUrl(world({ TargetGroups: [{}] }, {}).clients, configOf(), svc), undefined, 'a target group in no load balancer');
  assert.is(await healthUrl(world({}, {}).clients, configOf(), svc), undefined, 'no such target group');
  assert.is(
    await healthUrl(world({ TargetGroups: [{ LoadBalancerArns: [lbArn] }] }, { LoadBalancers: [{}] }).clients, configOf(), svc),
    undefined,
  );
  const health = cannedClients({
    DescribeTargetHealthCommand: (i) => ({ TargetHealthDescriptions: [{ Target: { Id: i.TargetGroupArn } }] }),
  });
  assert.equal(await targetHealth(health.clients, 'tg-9'), [{ Target: { Id: 'tg-9' } }]);
  assert.equal(await targetHealth(cannedClients({ DescribeTargetHealthCommand: () => ({}) }).clients, 'tg-9'), []);
});

test("a stopped task's last log lines: from the awslogs stream its task definition names (prefix/container/task id), newest last; none for another log driver or a failed read", async () => {
  const config = configOf();
  const task = { taskArn: `arn:aws:ecs:us-east-1:${ACCOUNT}:task/llmops-cluster/abc123`, taskDefinitionArn: 'llmops-task:4' } as any;
  const logged = (logConfiguration: any) =>
    cannedClients({
      DescribeTaskDefinitionCommand: () => ({ taskDefinition: { containerDefinitions: [{ name: 'llmops-app', logConfiguration }] } }),
      GetLogEventsCommand: () => ({ events: [{ message: 'listening on 3000' }, {}, { message: 'exit 3' }] }),
    });
  const own = logged({ logDriver: 'awslogs', options: { 'awslogs-group': '/ecs/other', 'awslogs-stream-prefix': 'app' } });
  assert.equal(await lastLogLines(own.clients, config, task, 5), ['listening on 3000', '', 'exit 3']);
  assert.equal(own.asked[0], ['DescribeTaskDefinitionCommand', { taskDefinition: 'llmops-task:4' }]);
  assert.equal(own.asked[1], [
    'GetLogEventsCommand',
    { logGroupName: '/ecs/other', logStreamName: 'app/llmops-app/abc123', limit: 5, startFromHead: false },
  ]);
  const defaults = logged({ logDriver: 'awslogs' });
  await lastLogLines(defaults.clients, config, task);
  assert.equal(defaults.asked[1]![1], {
    logGroupName: config.names.logGroup,
    logStreamName: 'ecs/llmops-app/abc123',
    limit: 15,
    startFromHead: false,
  });
  const other = logged({ logDriver: 'fluentd', options: { 'awslogs-group': '/ecs/other' } });
  assert.equal(await lastLogLines(other.clients, config, task), []);
  assert.equal(other.asked.length, 1, 'no log read without awslogs');
  assert.equal(await lastLogLines(logged(undefined).clients, config, task), []);
  const failing = cannedClients({ DescribeTaskDefinitionCommand: () => Promise.reject(new Error('AccessDenied')) });
  assert.equal(await lastLogLines(failing.clients, config, task), []);
  const empty = cannedClients({
    DescribeTaskDefinitionCommand: () => ({
      taskDefinition: { containerDefinitions: [{ name: 'x', logConfiguration: { logDriver: 'awslogs' } }] },
    }),
    GetLogEventsCommand: () => ({}),
  });
  assert.equal(await lastLogLines(empty.clients, config, task), []);
});

// --- Terraform ---------------------------------------------------------------------------------------------

function tfConfig(env: Record<string, string> = {}): Config {
  const dir = mkdtempSync(join(tmpdir(), 'adapters-tf-'));
  return configOf({ TF_DIR: dir, ...env });
}

test("Terraform's names: directory, -chdir, state bucket and key, data directory, plan file, variables file, backend settings", () => {
  const config = tfConfig();
  const dir = tfDir(config);
  assert.is(chdir(config), `-chdir=${dir}`, 'outside the working directory: the absolute path');
  assert.is(chdir(configOf({ TF_DIR: join(process.cwd(), 'terraform') })), '-chdir=terraform', 'inside it: relative');
  assert.is(chdir(configOf({ TF_DIR: process.cwd() })), '-chdir=.');
  assert.is(stateBucket(config, ACCOUNT), `llmops-tfstate-${ACCOUNT}`);
  assert.is(stateBucket(tfConfig({ TF_STATE_BUCKET: 'my-state' }), ACCOUNT), 'my-state');
  assert.is(stateKey(config), 'llmops/terraform.tfstate');
  assert.is(dataDir(config), join(dir, '.terraform'));
  assert.is(planFile(config), 'tfplan');
  assert.is(varFile(config), 'llmops.tfvars.json');
  assert.equal(varFileArgs(config), ['-var-file=llmops.tfvars.json']);
  writeFileSync(join(dir, 'terraform.tfvars'), 'app_port = 3000\n');
  assert.is(varFile(config), 'llmops.tfvars.json', 'beside your own terraform.tfvars too: it holds the names');
  assert.equal(varFileArgs(config), ['-var-file=llmops.tfvars.json']);
  assert.equal(backendConfig(config, ACCOUNT), [
    `-backend-config=bucket=llmops-tfstate-${ACCOUNT}`,
    '-backend-config=key=llmops/terraform.tfstate',
    '-backend-config=region=us-east-1',
    '-backend-config=use_lockfile=true',
    '-backend-config=encrypt=true',
  ]);
  assert.equal(terraformEnv(config), { TF_IN_AUTOMATION: '1', TF_INPUT: '0' });
  const secret = tfConfig({
    LLMOPS_DB_PASSWORD: 'pw-0123456789',
    LLMOPS_DB_PASSWORD_VERSION: '3',
  });
  assert.equal(terraformEnv(secret), {
    TF_IN_AUTOMATION: '1',
    TF_INPUT: '0',
    TF_VAR_db_password: 'pw-0123456789',
    TF_VAR_db_password_version: '3',
  });
});

test("Terraform's environments: each its own key, data directory, plan file and variables file", () => {
  const dir = mkdtempSync(join(tmpdir(), 'adapters-env-'));
  writeFileSync(join(dir, '.env'), '');
  writeFileSync(join(dir, '.env.staging'), '');
  const config = loadConfig({
    env: { TF_DIR: dir, LLMOPS_ENVIRONMENT: 'staging' },
    envFile: join(dir, '.env'),
  });
  assert.is(config.environment, 'staging');
  assert.is(stateKey(config), 'llmops-staging/terraform.tfstate');
  assert.is(stateBucket(config, ACCOUNT), `llmops-tfstate-${ACCOUNT}`, 'one bucket per project and account');
  assert.is(dataDir(config), join(dir, '.terraform-staging'));
  assert.is(planFile(config), 'tfplan-staging');
  assert.is(varFile(config), 'llmops-staging.tfvars.json');
  assert.equal(terraformEnv(config), {
    TF_IN_AUTOMATION: '1',
    TF_INPUT: '0',
    TF_DATA_DIR: join(dir, '.terraform-staging'),
  });
});

test("Terraform's backend: where the state lives, the endpoint that serves it, what the working directory was initialised for", async () => {
  const config = tfConfig();
  const at = (endpoint: Record<string, string | undefined>) => withEnv(endpoint, async () => backendFor(config, ACCOUNT));
  const base = {
    bucket: `llmops-tfstate-${ACCOUNT}`,
    key: 'llmops/terraform.tfstate',
    region: 'us-east-1',
  };
  assert.equal(await at({ AWS_ENDPOINT_URL: undefined, AWS_ENDPOINT_URL_S3: undefined }), { ...base, endpoint: 'aws' });
  assert.equal(
    await at({
      AWS_ENDPOINT_URL: 'http://a:1',
      AWS_ENDPOINT_URL_S3: undefined,
    }),
    { ...base, endpoint: 'http://a:1' },
  );
  assert.equal(
    await at({
      AWS_ENDPOINT_URL: 'http://a:1',
      AWS_ENDPOINT_URL_S3: 'http://s3:2',
    }),
    { ...base, endpoint: 'http://s3:2' },
  );
  assert.is(describeBackend({ ...base, endpoint: 'aws' }), `s3://llmops-tfstate-${ACCOUNT}/llmops/terraform.tfstate (us-east-1)`);
  assert.is(
    describeBackend({ ...base, endpoint: 'http://s3:2' }),
    `s3://llmops-tfstate-${ACCOUNT}/llmops/terraform.tfstate (us-east-1, endpoint http://s3:2)`,
  );

  await withEnv({ AWS_ENDPOINT_URL: undefined, AWS_ENDPOINT_URL_S3: undefined }, async () => {
    assert.is(initializedBackend(config), undefined, 'never initialised');
    assert.ok(needsInit(config, ACCOUNT));
    mkdirSync(dataDir(config), { recursive: true });
    // initialised by hand, before the toolkit's record: what terraform recorded, the endpoint unknown
    writeFileSync(join(dataDir(config), 'terraform.tfstate'), JSON.stringify({ backend: { config: base } }));
    assert.equal(initializedBackend(config), {
      ...base,
      endpoint: 'unknown',
    });
    assert.ok(needsInit(config, ACCOUNT), 'an unknown endpoint is initialised again');
    for (const recorded of [{ backend: {} }, {}, null]) {
      writeFileSync(join(dataDir(config), 'terraform.tfstate'), JSON.stringify(recorded));
      assert.equal(initializedBackend(config), { bucket: '', key: '', region: '', endpoint: 'unknown' }, JSON.stringify(recorded));
    }
    writeFileSync(join(dataDir(config), 'llmops-backend.json'), JSON.stringify({ ...base, endpoint: 'aws' }));
    assert.equal(initializedBackend(config), { ...base, endpoint: 'aws' }, "the toolkit's record first");
    assert.not.ok(needsInit(config, ACCOUNT));
    for (const other of [{ bucket: 'x' }, { key: 'x' }, { region: 'eu-west-1' }, { endpoint: 'http://s3:2' }]) {
      writeFileSync(join(dataDir(config), 'llmops-backend.json'), JSON.stringify({ ...base, endpoint: 'aws', ...other }));
      assert.ok(needsInit(config, ACCOUNT), JSON.stringify(other));
    }
  });
});

/** terraform: init as FAKE_INIT says (ok, `changed` the first time, `fails`), output -json from FAKE_OUTPUTS. */
function fakeTerraform() {
  return fakeBins({
    terraform: `[ "$TF_IN_AUTOMATION $TF_INPUT" = "1 0" ] || { echo "not run with terraformEnv()" >&2; exit 8; }
dir="\${1#-chdir=}"; shift
case "$1" in
  init)
    state="$(dirname "$0")/inits"; echo x >> "$state"
    if [ "$FAKE_INIT" = changed ] && [ "$(wc -l < "$state")" = 1 ]; then echo "Error: Backend configuration changed" >&2; exit 1; fi
    if [ "$FAKE_INIT" = fails ]; then echo "Error: Failed to get existing workspaces: AccessDenied" >&2; exit 1; fi
    mkdir -p "\${TF_DATA_DIR:-$dir/.terraform}"; echo "Terraform has been successfully initialized!";;
  output) echo "$FAKE_OUTPUTS";;
  *) echo "unexpected: $*" >&2; exit 9;;
esac`,
    // the outputs the stack published: FAKE_PUBLISHED, else a 404 (or FAKE_PUBLISHED_ERROR) as the CLI says it
    aws: `[ "$1 $2" = "s3 cp" ] || { echo "unexpected: $*" >&2; exit 9; }
if [ -n "$FAKE_PUBLISHED" ]; then echo "$FAKE_PUBLISHED"; exit 0; fi
echo "\${FAKE_PUBLISHED_ERROR:-fatal error: An error occurred (404) when calling the HeadObject operation: Key \"$3\" does not exist}" >&2; exit 1`,
  });
}

test('terraform init: for this backend; once more with -reconfigure when only its settings changed; a moved backend says so; the record written', async () => {
  await withEnv({ AWS_ENDPOINT_URL: undefined, AWS_ENDPOINT_URL_S3: undefined }, async () => {
    const config = tfConfig();
    const fb = fakeTerraform();
    const { runner, lines } = runnerOn(fb);
    await terraformInit(runner, config, ACCOUNT);
    const init = `init -input=false -no-color ${backendConfig(config, ACCOUNT).join(' ')}`;
    assert.equal(callsOf(fb, 'terraform'), [`-chdir=${tfDir(config)} ${init}`]);
    assert.equal(JSON.parse(readFileSync(join(dataDir(config), 'llmops-backend.json'), 'utf8')), backendFor(config, ACCOUNT));
    assert.not.ok(needsInit(config, ACCOUNT));
    assert.equal(
      lines.filter((l) => l.startsWith('#')),
      [],
    );

    // the same location, other settings: once more with -reconfigure
    const changed = fakeTerraform();
    const again = runnerOn(changed, { FAKE_INIT: 'changed' });
    await terraformInit(again.runner, config, ACCOUNT);
    assert.equal(callsOf(changed, 'terraform'), [
      `-chdir=${tfDir(config)} ${init}`,
      `-chdir=${tfDir(config)} init -input=false -no-color -reconfigure ${backendConfig(config, ACCOUNT).join(' ')}`,
    ]);
    assert.ok(again.lines.includes('# the backend settings changed but the state location did not: re-initialising with -reconfigure'));

    // another account: said, and -reconfigure at once
    const moved = fakeTerraform();
    const other = runnerOn(moved);
    await terraformInit(other.runner, config, '210987654321');
    assert.equal(callsOf(moved, 'terraform'), [
      `-chdir=${tfDir(config)} init -input=false -no-color -reconfigure ${backendConfig(config, '210987654321').join(' ')}`,
    ]);
    assert.ok(
      other.lines.includes(
        `# ${relative(process.cwd(), tfDir(config))} was initialised for s3://llmops-tfstate-${ACCOUNT}/llmops/terraform.tfstate (us-east-1); this run uses s3://llmops-tfstate-210987654321/llmops/terraform.tfstate (us-east-1): re-initialising with -reconfigure (the other state stays where it is; nothing is migrated)`,
      ),
      other.lines.join('\n'),
    );
    assert.is(initializedBackend(config)?.bucket, 'llmops-tfstate-210987654321');

    // a moved backend whose init says its configuration changed: already -reconfigure, so that is the failure
    const movedChanged = fakeTerraform();
    const error1 = await terraformInit(runnerOn(movedChanged, { FAKE_INIT: 'changed' }).runner, config, ACCOUNT).catch((e) => e);
    assert.match(error1.message, 'Backend configuration changed');
    assert.is(callsOf(movedChanged, 'terraform').length, 1, 'not tried again');

    // any other failure is the failure, once (init's own retry aside)
    const failing = fakeTerraform();
    const fresh = tfConfig();
    const error = await terraformInit(runnerOn(failing, { FAKE_INIT: 'fails' }).runner, fresh, ACCOUNT).catch((e) => e);
    assert.match(error.message, 'AccessDenied');
    assert.not.ok(callsOf(failing, 'terraform').some((c) => c.includes('-reconfigure')));
    assert.is(initializedBackend(fresh), undefined, 'no record of a failed init');

    // a dry run writes no record
    const dryConfig = tfConfig();
    await terraformInit(runnerOn(fakeTerraform(), {}, true).runner, dryConfig, ACCOUNT);
    assert.is(initializedBackend(dryConfig), undefined);
  });
});

test('terraform outputs: the object the stack published, read with the CLI, and no terraform; values flattened, JSON for the rest; a missing one names the fix', async () => {
  await withEnv({ AWS_ENDPOINT_URL: undefined }, async () => {
    const config = tfConfig();
    const fb = fakeTerraform();
    const published = JSON.stringify({ alb_dns_name: 'alb.example', private_subnets: ['a', 'b'], nothing: null });
    const { runner } = runnerOn(fb, { FAKE_PUBLISHED: published });
    const out = await terraformOutputs(runner, config, ACCOUNT);
    assert.is(out.get('alb_dns_name'), 'alb.example');
    assert.is(out.get('private_subnets'), '["a","b"]');
    assert.equal(out.private_subnets, ['a', 'b']);
    for (const name of ['nothing', 'ecr_repository_url']) {
      assert.throws(
        () => out.get(name),
        (e: Error) =>
          e.message === `terraform output ${name} is missing: run \`npm run step:3\` and \`npm run step:4\` (terraform apply) first`,
      );
    }
    assert.equal(endpoint.calls.at(-1), { name: 's3 cp', input: { url: `s3://llmops-tfstate-${ACCOUNT}/llmops/outputs.json` } });
    assert.equal(callsOf(fb, 'aws'), ['s3 cp'], 'one read, through the SDK');
    assert.equal(callsOf(fb, 'terraform'), [], 'a deploy never reads the state');
  });
});

test('terraform outputs: a stack applied before it published them falls back to terraform output (initialised first, once); no access to the object is the failure, named with the statement', async () => {
  await withEnv({ AWS_ENDPOINT_URL: undefined }, async () => {
    const config = tfConfig();
    const fb = fakeTerraform();
    const outputs = JSON.stringify({ alb_dns_name: { value: 'alb.example' }, private_subnets: { value: ['a', 'b'] } });
    const { runner, lines } = runnerOn(fb, { FAKE_OUTPUTS: outputs });
    const out = await terraformOutputs(runner, config, ACCOUNT);
    assert.is(out.get('alb_dns_name'), 'alb.example');
    assert.is(out.get('private_subnets'), '["a","b"]');
    assert.ok(
      lines.includes('# llmops/outputs.json is not there yet (the stack was applied before Terraform published it): terraform output'),
    );
    assert.equal(
      callsOf(fb, 'terraform').map((c) => c.split(' ')[1]),
      ['init', 'output'],
    );
    assert.is(callsOf(fb, 'terraform')[1], `-chdir=${tfDir(config)} output -json -no-color`);
    await terraformOutputs(runner, config, ACCOUNT);
    assert.equal(
      callsOf(fb, 'terraform').map((c) => c.split(' ')[1]),
      ['init', 'output', 'output'],
      'initialised once',
    );

    const denied = fakeTerraform();
    const error = await terraformOutputs(runnerOn(denied, { FAKE_PUBLISHED_ERROR: 'Forbidden' }).runner, config, ACCOUNT).catch((e) => e);
    assert.match(
      error.message,
      `cannot read the stack's outputs s3://llmops-tfstate-${ACCOUNT}/llmops/outputs.json: An error occurred (AccessDenied): Forbidden`,
    );
    assert.match(error.message, 'ReadTheDeployOutputs of config/iam-deploy-policy.json');
    assert.equal(callsOf(denied, 'terraform'), [], 'not the state instead');
  });
});

test('terraform outputs: a dry run prints the read and gives placeholders', async () => {
  await withEnv({ AWS_ENDPOINT_URL: undefined }, async () => {
    const config = tfConfig();
    const dryBins = fakeTerraform();
    const dry = runnerOn(dryBins, {}, true);
    const asked = endpoint.calls.length;
    const placeholders = await terraformOutputs(dry.runner, config, ACCOUNT);
    assert.is(placeholders.get('alb_dns_name'), '<ALB_DNS_NAME>');
    assert.equal(dryBins.calls(), []);
    assert.equal(dry.lines, [
      `[dry-run] $ aws s3 cp s3://llmops-tfstate-${ACCOUNT}/llmops/outputs.json - --region us-east-1   # via the SDK`,
    ]);
    assert.is(endpoint.calls.length, asked, 'asked nothing');
  });
});

// --- Route 53 ----------------------------------------------------------------------------------------------

/** aws: the record set FAKE_RECORD, the change, CloudFront's distributions FAKE_DISTS. */
function fakeRoute53() {
  return fakeBins({
    aws: `case "$1 $2" in
  "route53 list-resource-record-sets")
    [ "$*" = "route53 list-resource-record-sets --hosted-zone-id Z123 --start-record-name app.example.com --start-record-type A --max-items 1 --output json" ] || { echo "unexpected: $*" >&2; exit 9; }
    echo "$FAKE_RECORD";;
  "route53 change-resource-record-sets")
    [ "$3 $4 $5" = "--hosted-zone-id Z123 --change-batch" ] || exit 9
    cp "\${6#file://}" "$(dirname "$0")/change.json"; echo '{"ChangeInfo":{"Status":"PENDING"}}';;
  "cloudfront list-distributions") echo "$FAKE_DISTS";;
  "s3 cp") echo "fatal error: An error occurred (404) when calling the HeadObject operation: Key does not exist" >&2; exit 1;;
  *) echo "unexpected: $*" >&2; exit 9;;
esac`,
    terraform: `case "$2" in init) mkdir -p "\${1#-chdir=}/.terraform";; output) echo "$FAKE_OUTPUTS";; esac`,
  });
}

test('Route 53: nothing without DOMAIN_NAME; the alias to the load balancer or CloudFront; no change when it already points there; CloudFront status', async () => {
  const none = runnerOn(fakeRoute53());
  assert.is(await pointDomain(none.runner, configOf()), 'skipped');
  assert.equal(none.lines, ['# DOMAIN_NAME is not set: nothing to do (the app answers on the ALB DNS name)']);

  const sts = await stsEndpoint();
  const endpoint = sts.url;
  try {
    await withEnv(
      {
        ...KEYS,
        AWS_ENDPOINT_URL: undefined,
        AWS_ENDPOINT_URL_STS: endpoint,
      },
      async () => {
        const config = tfConfig({
          LLMOPS_DOMAIN_NAME: 'app.example.com',
          LLMOPS_HOSTED_ZONE_ID: 'Z123',
        });
        // CloudFront off: its output is empty
        const alb = {
          alb_dns_name: { value: 'llmops-alb-1.us-east-1.elb.amazonaws.com' },
          alb_zone_id: { value: 'Z35SXDOTRQ7X7K' },
          cloudfront_domain_name: { value: '' },
        };
        const dists = (status: string) =>
          JSON.stringify({
            DistributionList: {
              Items: [
                {
                  Id: 'E1',
                  DomainName: 'd1.cloudfront.net',
                  Status: status,
                  Aliases: { Items: ['App.Example.com.'] },
                },
                {
                  Id: 'E2',
                  DomainName: 'd2.cloudfront.net',
                  Status: 'Deployed',
                  Aliases: { Items: ['other.example.com'] },
                },
                {
                  Id: 'E3',
                  DomainName: 'd3.cloudfront.net',
                  Status: 'Deployed',
                },
              ],
            },
          });

        // a record pointing elsewhere: changed to the load balancer, whose health is evaluated
        const fb = fakeRoute53();
        const elsewhere = JSON.stringify({
          ResourceRecordSets: [
            {
              Name: 'app.example.com.',
              Type: 'A',
              AliasTarget: { DNSName: 'old.elb.amazonaws.com.' },
            },
          ],
        });
        const { runner, lines } = runnerOn(fb, {
          FAKE_OUTPUTS: JSON.stringify(alb),
          FAKE_RECORD: elsewhere,
          FAKE_DISTS: dists('InProgress'),
        });
        assert.is(await pointDomain(runner, config), 'updated');
        const change = JSON.parse(readFileSync(join(fb.dir, 'change.json'), 'utf8'));
        assert.equal(change.Changes[0].ResourceRecordSet, {
          Name: 'app.example.com',
          Type: 'A',
          AliasTarget: {
            HostedZoneId: 'Z35SXDOTRQ7X7K',
            DNSName: 'llmops-alb-1.us-east-1.elb.amazonaws.com',
            EvaluateTargetHealth: true,
          },
        });
        assert.equal(
          lines.filter((l) => l.startsWith('# CloudFront')),
          ['# CloudFront E1 (d1.cloudfront.net): InProgress — changes take up to 15 minutes to reach every edge'],
        );

        // already there (names compared without case or the final dot): no change
        const same = fakeRoute53();
        const there = JSON.stringify({
          ResourceRecordSets: [
            {
              Name: 'APP.example.com.',
              Type: 'A',
              AliasTarget: {
                DNSName: 'LLMOPS-alb-1.us-east-1.elb.amazonaws.com.',
              },
            },
          ],
        });
        const unchanged = runnerOn(same, {
          FAKE_OUTPUTS: JSON.stringify(alb),
          FAKE_RECORD: there,
          FAKE_DISTS: dists('Deployed'),
        });
        assert.is(await pointDomain(unchanged.runner, config), 'unchanged');
        assert.not.ok(callsOf(same, 'aws').some((c) => c.startsWith('route53 change-resource-record-sets')));
        assert.ok(unchanged.lines.includes('# app.example.com already points at llmops-alb-1.us-east-1.elb.amazonaws.com: no change'));
        assert.ok(unchanged.lines.includes('# CloudFront E1 (d1.cloudfront.net): Deployed'));

        // step 8, the definition: what it did, reported; a skip reason only when there was nothing to do
        const stepOn = async (env: Record<string, string>, cfg: Config) => {
          const r = runnerOn(fakeRoute53(), env);
          const reported: string[] = [];
          const skipped = await dnsStep.run(newContext(cfg, r.runner, true), r.runner, (t) => reported.push(t));
          return [skipped, reported];
        };
        const outputs = JSON.stringify(alb);
        assert.equal(await stepOn({ FAKE_OUTPUTS: outputs, FAKE_RECORD: '{}', FAKE_DISTS: '{}' }, config), [
          undefined,
          ['✓ app.example.com: updated'],
        ]);
        assert.equal(await stepOn({ FAKE_OUTPUTS: outputs, FAKE_RECORD: there, FAKE_DISTS: '{}' }, config), [
          'app.example.com already points at the app',
          ['✓ app.example.com: unchanged'],
        ]);
        assert.equal(await stepOn({}, configOf()), ['DOMAIN_NAME is not set', []]);

        // the next record in the zone, or another type, is not this one
        for (const record of [
          {
            Name: 'apps.example.com.',
            Type: 'A',
            AliasTarget: {
              DNSName: 'llmops-alb-1.us-east-1.elb.amazonaws.com',
            },
          },
          {
            Name: 'app.example.com.',
            Type: 'AAAA',
            AliasTarget: {
              DNSName: 'llmops-alb-1.us-east-1.elb.amazonaws.com',
            },
          },
        ]) {
          const next = fakeRoute53();
          const r = runnerOn(next, {
            FAKE_OUTPUTS: JSON.stringify(alb),
            FAKE_RECORD: JSON.stringify({ ResourceRecordSets: [record] }),
            FAKE_DISTS: '{}',
          });
          await pointDomain(r.runner, config);
          assert.ok(
            callsOf(next, 'aws').some((c) => c.startsWith('route53 change-resource-record-sets')),
            JSON.stringify(record),
          );
        }

        // no record yet, a plain A record without an alias, no distributions at all: changed
        for (const [answer, dists] of [
          ['{}', ''],
          [
            JSON.stringify({
              ResourceRecordSets: [
                {
                  Name: 'app.example.com.',
                  Type: 'A',
                  ResourceRecords: [{ Value: '192.0.2.1' }],
                },
              ],
            }),
            '{}',
          ],
        ]) {
          const plain = fakeRoute53();
          const r = runnerOn(plain, {
            FAKE_OUTPUTS: JSON.stringify(alb),
            FAKE_RECORD: answer!,
            FAKE_DISTS: dists!,
          });
          assert.is(await pointDomain(r.runner, config), 'updated', answer);
          assert.ok(
            callsOf(plain, 'aws').some((c) => c.startsWith('route53 change-resource-record-sets')),
            answer,
          );
        }

        // a dry run: the commands, the load balancer's placeholders, nothing called
        const dryBins = fakeRoute53();
        const dry = runnerOn(dryBins, {}, true);
        assert.is(await pointDomain(dry.runner, config), 'updated');
        assert.equal(callsOf(dryBins, 'aws'), []);
        assert.ok(dry.lines.some((l) => l.startsWith('[dry-run] $ aws route53 change-resource-record-sets --hosted-zone-id Z123')));

        // with CloudFront in front: the alias goes to CloudFront's zone, health not evaluated
        const cdn = fakeRoute53();
        const withCdn = {
          ...alb,
          cloudfront_domain_name: { value: 'd1.cloudfront.net' },
        };
        const r = runnerOn(cdn, {
          FAKE_OUTPUTS: JSON.stringify(withCdn),
          FAKE_RECORD: '{"ResourceRecordSets":[]}',
          FAKE_DISTS: '{}',
        });
        assert.is(await pointDomain(r.runner, config), 'updated');
        assert.equal(JSON.parse(readFileSync(join(cdn.dir, 'change.json'), 'utf8')).Changes[0].ResourceRecordSet.AliasTarget, {
          HostedZoneId: 'Z2FDTNDATAQYW2',
          DNSName: 'd1.cloudfront.net',
          EvaluateTargetHealth: false,
        });
      },
    );
  } finally {
    sts.close();
  }
});

// --- task lists --------------------------------------------------------------------------------------------

test('task lists: the renderer (LLMOPS_RENDERER, else interactive only on a terminal outside CI); one after another, stopping at an error; echo into the task', async () => {
  const tty = { isTTY: true } as NodeJS.WriteStream;
  const pipe = { isTTY: false } as NodeJS.WriteStream;
  assert.is(chooseRenderer(tty, {}), 'default');
  assert.is(chooseRenderer(tty, { CI: 'true' }), 'simple');
  assert.is(chooseRenderer(pipe, {}), 'simple');
  assert.is(chooseRenderer(pipe, { LLMOPS_RENDERER: 'verbose' }), 'verbose');
  assert.is(chooseRenderer(tty, { LLMOPS_RENDERER: 'silent', CI: 'true' }), 'silent');

  const order: string[] = [];
  const slow = (name: string, ms: number) => ({
    title: name,
    task: () => new Promise<void>((r) => setTimeout(() => (order.push(name), r()), ms)),
  });
  await (await taskList([slow('a', 30), slow('b', 1)], { renderer: 'silent' })).run();
  assert.equal(order, ['a', 'b'], 'one after another');
  order.length = 0;
  await (
    await taskList([slow('a', 30), slow('b', 1)], {
      renderer: 'silent',
      concurrent: true,
    })
  ).run();
  assert.equal(order, ['b', 'a'], 'side by side when asked');

  const ran: string[] = [];
  const failing = await taskList(
    [
      { title: 'fails', task: () => Promise.reject(new Error('boom')) },
      { title: 'after', task: () => void ran.push('after') },
    ],
    { renderer: 'silent' },
  );
  const error = await failing.run().catch((e) => e);
  assert.is(error.message, 'boom');
  assert.equal(ran, [], 'stops at the first error');
  const going = await taskList(
    [
      { title: 'fails', task: () => Promise.reject(new Error('boom')) },
      { title: 'after', task: () => void ran.push('after') },
    ],
    { renderer: 'silent', exitOnError: false },
  );
  await going.run();
  assert.equal(ran, ['after']);
  assert.is((failing as any).options.registerSignalListeners, false, "Ctrl-C is the runner's, not listr2's");

  assert.is((failing as any).options.renderer, 'silent');
  await withEnv({ LLMOPS_RENDERER: 'verbose' }, async () => {
    assert.is(((await taskList([])) as any).options.renderer, 'verbose', 'chosen when not given');
  });

  const ctx = await (
    await taskList<{ n: number }>([{ title: 'n', task: (c) => void (c.n += 1) }], { renderer: 'silent', ctx: { n: 1 } })
  ).run();
  assert.is(ctx.n, 2);

  const outputs: string[] = [];
  const task = {
    set output(line: string) {
      outputs.push(line);
    },
  } as any;
  const runner = new Runner({
    secrets: ['hunter22'],
    echo: () => assert.unreachable('echoes into the task only'),
  });
  taskRunner(runner, task).echo('password is hunter22');
  assert.equal(outputs, ['password is ***']);
});

test.run();
