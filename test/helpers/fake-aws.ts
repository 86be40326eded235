// A local AWS endpoint for unit tests of the SDK reads (lib/aws.ts sdkRead): ECS and ECR (JSON protocol), S3
// GetObject and STS GetCallerIdentity, answered by the test's handler. Each request is recorded as the aws CLI call
// it stands for (`ecr describe-images`, `s3 cp`), into a fake CLI's log when one is given, so that `fb.calls()`
// lists the SDK's reads and the CLI's commands in the order they were made.
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TEST_ACCOUNT, TEST_KEYS } from './sts.js';

export interface AwsCall {
  /** `ecs describe-services`, `ecr describe-images`, `s3 cp` */
  name: string;
  input: any;
}

/** An error answer: the HTTP status and the AWS error code the SDK names the error after. */
export class AwsError {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly message = `${code} here`,
  ) {}
}

/** An answer: the response object (JSON), an object's body for S3, an AwsError, or undefined for a 404. */
export type Handler = (call: AwsCall) => unknown | Promise<unknown>;

/**
 * Set `vars` in process.env (undefined deletes) until the returned function puts back what was there: call it in
 * test.after, since uvu runs every file in one process.
 */
export function setEnv(vars: Record<string, string | undefined>): () => void {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  apply(vars);
  return () => apply(saved);
}

export interface FakeAws {
  url: string;
  /** process.env for the SDK to reach it (withEnv), with dummy keys. */
  env: Record<string, string | undefined>;
  calls: AwsCall[];
  close(): void;
}

const kebab = (op: string) => op.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
const SERVICES: Record<string, string> = { AmazonEC2ContainerServiceV20141113: 'ecs', AmazonEC2ContainerRegistry_V20150921: 'ecr' };
const IDENTITY = `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::${TEST_ACCOUNT}:user/test</Arn><UserId>AIDTEST</UserId><Account>${TEST_ACCOUNT}</Account></GetCallerIdentityResult></GetCallerIdentityResponse>`;

/** `log`: a fake CLI's log (FakeBins.log) to record the calls in too, as `aws <service> <operation>` (or where it is now). */
export async function fakeAws(handler: Handler, log?: string | (() => string | undefined)): Promise<FakeAws> {
  const calls: AwsCall[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', async () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      if (!target && /Action=GetCallerIdentity/.test(body)) return res.writeHead(200, { 'content-type': 'text/xml' }).end(IDENTITY);
      const [prefix, op] = target.split('.');
      const path = decodeURIComponent(new URL(req.url!, 'http://x').pathname);
      const call: AwsCall = target
        ? { name: `${SERVICES[prefix!] ?? prefix} ${kebab(op!)}`, input: JSON.parse(body || '{}') }
        : { name: req.method === 'GET' ? 's3 cp' : `s3 ${req.method}`, input: { url: `s3:/${path}` } };
      calls.push(call);
      const file = typeof log === 'function' ? log() : log;
      if (file) appendFileSync(file, `aws\0${call.name.replace(' ', '\0')}\0\x1e`);
      const answer = await handler(call);
      const s3 = !target;
      if (answer instanceof AwsError || answer === undefined) {
        const e = answer ?? new AwsError(404, s3 ? 'NoSuchKey' : 'ResourceNotFoundException');
        if (s3)
          return res
            .writeHead(e.status, { 'content-type': 'application/xml' })
            .end(`<?xml version="1.0"?><Error><Code>${e.code}</Code><Message>${e.message}</Message></Error>`);
        return res
          .writeHead(e.status, { 'content-type': 'application/x-amz-json-1.1' })
          .end(JSON.stringify({ __type: e.code, message: e.message }));
      }
      if (s3)
        return res.writeHead(200, { 'content-type': 'application/json' }).end(typeof answer === 'string' ? answer : JSON.stringify(answer));
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    // per service, not AWS_ENDPOINT_URL: that one the runner would pass on to a fake CLI as --endpoint-url
    env: {
      ...TEST_KEYS,
      AWS_ENDPOINT_URL: undefined,
      ...Object.fromEntries(['ECS', 'ECR', 'S3', 'STS'].map((s) => [`AWS_ENDPOINT_URL_${s}`, url])),
    },
    calls,
    close: () => server.close(),
  };
}
