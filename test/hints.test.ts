// lib/hints.ts, table by table: each pattern's every alternative, as the tools print it, maps to its own fix;
// what is retried is exactly the transient list; text that only looks alike maps to nothing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { databaseHint, DOCKER_DROPPED, DOCKER_DROPPED_HINT, hintFor, installHint, isTransient } from '../lib/hints.js';

/** [what a tool printed, a phrase of the fix it must get] */
const KNOWN: [string, string][] = [
  ['Unable to locate credentials. You can configure credentials by running "aws configure".', 'no AWS credentials: run `aws configure`'],
  ['NoCredentialProviders: no valid providers in chain', 'AWS_PROFILE / AWS_ACCESS_KEY_ID in .env'],
  ['CredentialsProviderError: Could not load credentials from any providers', 'no AWS credentials'],
  ['An error occurred (ExpiredToken) when calling the PutObject operation', 'your AWS session expired: refresh it'],
  ['An error occurred (RequestExpired) when calling the DescribeServices operation', '`aws sso login --profile "$AWS_PROFILE"`'],
  ['The security token included in the request is expired', 'the step is safe to rerun'],
  ['Error when retrieving token from sso: Token has expired and refresh failed', 'your AWS session expired'],
  ['An error occurred (InvalidClientTokenId) when calling the GetCallerIdentity operation', 'the AWS access key is invalid'],
  [
    'An error occurred (SignatureDoesNotMatch) when calling the ListBuckets operation',
    'check AWS_PROFILE / the keys in ~/.aws/credentials',
  ],
  ['An error occurred (UnrecognizedClientException) when calling the ListClusters operation', 'the AWS access key is invalid'],
  ['An error occurred (AccessDenied) when calling the PutObject operation', 'lacks a permission named above: grant it'],
  ['An error occurred (UnauthorizedOperation) when calling the DescribeVpcs operation', 'config/iam-deploy-policy.json'],
  ['User: arn:aws:sts::1:assumed-role/d/x is not authorized to perform: ecs:RunTask', 'the least-privilege policy'],
  ['Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?', 'the Docker engine is not running'],
  ['error during connect: Get "http://%2Fvar%2Frun%2Fdocker.sock/v1.47/info": dial unix', '`sudo systemctl start docker`'],
  ['Error: Error acquiring the state lock', '`npm run unlock -- --terraform --force`'],
  ['no basic auth credentials', 'docker is not logged in to ECR: rerun step 5'],
  ['denied: Your authorization token has expired. Reauthenticate and try again.', '`aws ecr get-login-password`'],
  ['denied: requested access to the resource is denied, not authorized', 'docker is not logged in to ECR'],
  ['Could not connect to the endpoint URL: "https://ecs.xx-east-9.amazonaws.com/"', 'the AWS endpoint is unreachable'],
  ['EndpointConnectionError', 'AWS_ENDPOINT_URL if you use the sandbox (`npm run sandbox:status`)'],
  ['connect ECONNREFUSED 127.0.0.1:4566', 'check the network, AWS_REGION'],
  [
    'TimeoutError: @smithy/node-http-handler - [ERROR] a request has exceeded the configured 10000 ms requestTimeout.',
    'took the connection but did not answer in time',
  ],
];

/** Each row's text, as printed and in capitals (the patterns ignore case), gets a fix containing its phrase. */
function eachGetsItsFix(table: [string, string][], hint: (text: string) => string | undefined): void {
  for (const [text, fix] of table) {
    assert.ok(hint(text)?.includes(fix), `${text}\n  -> ${hint(text)}\n  expected: ${fix}`);
    assert.ok(hint(text.toUpperCase())?.includes(fix), `case does not matter: ${text.toUpperCase()}`);
  }
}

test('every known error, each way the tools print it, gets its own fix', () => {
  eachGetsItsFix(KNOWN, hintFor);
});

test('text that only looks alike gets no fix', () => {
  for (const text of ['all good', 'credentials rotated', 'a docker image was built', 'the state is locked down', 'token']) {
    assert.is(hintFor(text), undefined, text);
  }
});

test("an error with two known causes gets the first's fix: the order is the table's", () => {
  assert.match(hintFor('ExpiredToken ... AccessDenied')!, 'your AWS session expired');
  assert.match(hintFor('AccessDenied ... ECONNREFUSED')!, 'lacks a permission');
});

const TRANSIENT = [
  'An error occurred (ThrottlingException): Rate exceeded',
  'Throttling: Rate exceeded',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'SlowDown: Please reduce your request rate.',
  'HTTP 429',
  'received 503 from the server',
  'ServiceUnavailable',
  'RequestTimeout: Your socket connection to the server was not read from or written to',
  'read ECONNRESET',
  'connect ETIMEDOUT 1.2.3.4:443',
  'Connection reset by peer',
  'Connection was closed before we received a valid response',
  'Read timeout on endpoint URL',
  'EndpointConnectionError',
  'Could not connect to the endpoint URL: "http://127.0.0.1:4566/"',
];

test('retried: exactly the transient errors, each alternative, in any case', () => {
  for (const text of TRANSIENT) {
    assert.ok(isTransient(text), text);
    assert.ok(isTransient(text.toLowerCase()), text.toLowerCase());
  }
  for (const text of [
    'AccessDenied',
    'ValidationException: bad request',
    'ResourceNotFoundException',
    'exit code 4290', // a number that contains 429
    'port 15030', // and one that contains 503
    '',
  ]) {
    assert.not.ok(isTransient(text), `not retried: ${text}`);
  }
});

test('a missing tool gets its install line; another tool a generic one', () => {
  assert.match(installHint('aws'), 'install AWS CLI v2: curl "https://awscli.amazonaws.com/awscli-exe-linux-x86_64.zip"');
  assert.match(installHint('terraform'), 'install Terraform >= 1.11: wget https://releases.hashicorp.com/terraform/1.11.4/');
  assert.match(installHint('docker'), 'sudo apt-get install -y docker.io');
  assert.match(installHint('git'), 'sudo apt-get install -y git');
  assert.match(installHint('gh'), 'install the GitHub CLI (optional)');
  assert.is(installHint('jq'), 'install jq and make sure it is on PATH');
});

test('the Docker engine dropping a connection mid-way: each way docker prints it, and its fix', () => {
  for (const text of [
    'unexpected EOF',
    'error reading from server: EOF',
    'read: connection reset by peer',
    'write unix @->/var/run/docker.sock: write: broken pipe',
    'use of closed network connection',
    'io: read/write on closed pipe',
  ]) {
    assert.ok(DOCKER_DROPPED.test(text), text);
    assert.ok(DOCKER_DROPPED.test(text.toUpperCase()), text.toUpperCase());
  }
  assert.not.ok(DOCKER_DROPPED.test('Successfully built 0cbd19bb0899'));
  assert.match(DOCKER_DROPPED_HINT, 'the Docker engine dropped the connection mid-way');
  assert.match(DOCKER_DROPPED_HINT, 'nothing was pushed');
});

const DATABASE: [string, string][] = [
  ['FATAL:  password authentication failed for user "app"', 'restart the tasks: aws ecs update-service --force-new-deployment'],
  [
    'FATAL:  password authentication failed for user "llmops_app"',
    "the app's own user (db_app_username) gets its password from step 6 before the release that carries it: npm run deploy",
  ],
  ['pg_hba.conf rejects connection for host "10.0.1.5", user "app", database "app", no encryption', 'PGSSLMODE=verify-full'],
  ['FATAL:  SSL off', 'the database requires TLS (rds.force_ssl = 1)'],
  ['server does not support SSL, but SSL was required: SSL is not enabled on the server', 'PGSSLMODE=verify-full'],
  ['FATAL: this connection requires SSL', 'or at least require'],
  [
    'psql: error: connection to server at "db.x.rds.amazonaws.com" (10.0.2.3), port 5432 failed: SSL error: certificate verify failed',
    'ADD --chmod=644 https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem /etc/ssl/certs/rds-global-bundle.pem',
  ],
  ['SSL error: self-signed certificate in certificate chain', "is not signed by a CA in the image's bundle (DB_CA_BUNDLE)"],
  [
    'connection to server failed: root certificate file "/etc/ssl/certs/rds-global-bundle.pem" does not exist',
    'the image has no CA bundle where PGSSLROOTCERT (DB_CA_BUNDLE) points',
  ],
  ['server certificate for "db.x.rds.amazonaws.com" does not match host name "10.0.2.3"', 'not an IP address or a CNAME'],
  ['could not translate host name "db.example" to address', 'DATABASE_HOST does not resolve'],
  ['Name or service not known', 'terraform output rds_address'],
  ['getaddrinfo EAI_AGAIN db', 'DATABASE_HOST does not resolve'],
  ['getaddrinfo ENOTFOUND db.example', 'rds_address'],
  ['connection to server at "10.0.2.3", port 5432 failed: Connection timed out', 'no network path to the database'],
  ['psql: error: timeout expired', 'check the tasks -> RDS rule above'],
  ['Connection refused\n\tIs the server running on that host', 'no network path'],
  ['could not connect to server', 'no network path'],
  ['connect ECONNREFUSED 10.0.2.3:5432', 'no network path'],
  ['connect ETIMEDOUT 10.0.2.3:5432', 'and that RDS is available'],
  ['FATAL:  database "nope" does not exist', 'DATABASE_NAME names no database on the instance: it must be terraform output db_name'],
  ['FATAL:  role "bob" does not exist', 'DATABASE_USER is not a user of the database: the master is terraform output db_username'],
  [
    'FATAL:  role "llmops_app" does not exist',
    'is created by step 6 (npm run deploy); a database that lost it (a restored snapshot): raise db_app_password_version',
  ],
];

test("a database client's error, each way libpq and drivers print it, gets its own fix", () => {
  eachGetsItsFix(DATABASE, databaseHint);
  for (const text of ['all good', 'connected to llmops as llmops_app', 'database "x" exists', 'role "x" created']) {
    assert.is(databaseHint(text), undefined, text);
  }
});

test.run();
