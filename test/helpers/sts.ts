// A local STS endpoint answering GetCallerIdentity, for unit tests of code that asks who it is (resolveIdentity)
// without the emulator: point AWS_ENDPOINT_URL_STS at `url` (with any access keys) and close it after.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export const TEST_ACCOUNT = '123456789012';

/** Dummy keys for the SDK's signer (the endpoint checks nothing), and no session token from the machine. */
export const TEST_KEYS = { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_SESSION_TOKEN: undefined };

const ANSWER = `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::${TEST_ACCOUNT}:user/test</Arn><UserId>AIDTEST</UserId><Account>${TEST_ACCOUNT}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>`;

export async function stsEndpoint(): Promise<{ url: string; close(): void }> {
  const server = createServer((_, res) => res.writeHead(200, { 'content-type': 'text/xml' }).end(ANSWER));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}
