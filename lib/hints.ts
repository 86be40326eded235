// What a failed command's output means, and the fix to print: known AWS / Docker / Terraform errors,
// the install line for a missing tool, and which errors are worth a retry.
import { RDS_CA_BUNDLE } from './schema.js';

const INSTALL_HINTS: Record<string, string> = {
  aws: 'install AWS CLI v2: curl "https://awscli.amazonaws.com/awscli-exe-linux-x86_64.zip" -o awscliv2.zip && unzip awscliv2.zip && sudo ./aws/install',
  terraform:
    'install Terraform >= 1.11: wget https://releases.hashicorp.com/terraform/1.11.4/terraform_1.11.4_linux_amd64.zip && unzip terraform_1.11.4_linux_amd64.zip && sudo mv terraform /usr/local/bin/',
  docker: 'install Docker: sudo apt-get update && sudo apt-get install -y docker.io',
  git: 'install git: sudo apt-get install -y git',
  gh: 'install the GitHub CLI (optional): see https://cli.github.com (sudo apt install gh)',
};

export function installHint(bin: string): string {
  return INSTALL_HINTS[bin] ?? `install ${bin} and make sure it is on PATH`;
}

const KNOWN_ERRORS: [RegExp, string][] = [
  [
    /Unable to locate credentials|NoCredentialProviders|Could not load credentials/i,
    'no AWS credentials: run `aws configure` (or `aws sso login`), or set AWS_PROFILE / AWS_ACCESS_KEY_ID in .env',
  ],
  // before the expired AWS session: docker's "Your authorization token has expired" is ECR's login, which
  // `aws sso login` does not renew
  [
    /no basic auth credentials|authorization token has expired|denied: .*authoriz/i,
    'docker is not logged in to ECR: rerun step 5, which logs in with `aws ecr get-login-password`',
  ],
  [
    /ExpiredToken|RequestExpired|token included in the request is expired|Token has expired/i,
    'your AWS session expired: refresh it (`aws sso login --profile "$AWS_PROFILE"`) and rerun; the step is safe to rerun',
  ],
  [
    /InvalidClientTokenId|SignatureDoesNotMatch|UnrecognizedClientException/i,
    'the AWS access key is invalid for this account: check AWS_PROFILE / the keys in ~/.aws/credentials',
  ],
  [
    /AccessDenied|UnauthorizedOperation|not authorized to perform/i,
    'the AWS identity lacks a permission named above: grant it (see config/iam-deploy-policy.json for the least-privilege policy)',
  ],
  [
    /Cannot connect to the Docker daemon|error during connect/i,
    'the Docker engine is not running: start it (`sudo systemctl start docker`, or `sudo dockerd &`)',
  ],
  [
    /Error acquiring the state lock/i,
    'another terraform run holds the state lock (above: who, since when): wait for it, or, if that run is dead (killed, crashed), `npm run unlock -- --terraform --force`',
  ],
  [
    /Could not connect to the endpoint URL|EndpointConnectionError|ECONNREFUSED/i,
    'the AWS endpoint is unreachable: check the network, AWS_REGION, and AWS_ENDPOINT_URL if you use the sandbox (`npm run sandbox:status`)',
  ],
  [
    /exceeded the configured \d+ ms requestTimeout/i,
    'the AWS endpoint took the connection but did not answer in time: check the network (a proxy or firewall between), and AWS_ENDPOINT_URL if you use the sandbox (`npm run sandbox:status`)',
  ],
];

/**
 * Docker output when the engine went away mid-command (what docker 28 prints, depending on when the
 * connection broke: while uploading the build context, or while reading the build stream). Only meaningful
 * for docker commands, and checked before the general hints: "error during connect: … write: broken pipe"
 * means the engine answered and then went away, not that it is not running.
 */
export const DOCKER_DROPPED =
  /unexpected EOF|error reading from server: EOF|connection reset by peer|broken pipe|use of closed network connection|read\/write on closed pipe/i;
export const DOCKER_DROPPED_HINT =
  'the Docker engine dropped the connection mid-way (stopped, restarted or out of disk?): check `docker info`, then rerun; nothing was pushed';

export function hintFor(text: string): string | undefined {
  return KNOWN_ERRORS.find(([re]) => re.test(text))?.[1];
}

const TRANSIENT =
  /Throttl|TooManyRequests|RequestLimitExceeded|Rate exceeded|SlowDown|\b429\b|\b503\b|ServiceUnavailable|RequestTimeout|ECONNRESET|ETIMEDOUT|Connection reset|Connection was closed|Read timeout|EndpointConnectionError|Could not connect to the endpoint URL/i;

export function isTransient(text: string): boolean {
  return TRANSIENT.test(text);
}

/** The Dockerfile line that puts AWS's RDS CA bundle (every region's CAs) at `path` (DB_CA_BUNDLE). */
export const caBundleLine = (path = RDS_CA_BUNDLE) =>
  `ADD --chmod=644 https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem ${path}`;
const CA_BUNDLE_LINE = caBundleLine();

/** What a PostgreSQL client's error (libpq's words, as most drivers print them) means for a task on ECS. */
const DATABASE_ERRORS: [RegExp, string][] = [
  [
    /password authentication failed/i,
    "the database refused the password the task got: DATABASE_PASSWORD must come from the DB secret (secrets[].valueFrom in the task definition); after the password changed, restart the tasks: aws ecs update-service --force-new-deployment; the app's own user (db_app_username) gets its password from step 6 before the release that carries it: npm run deploy; a database that lost it (a restored snapshot): raise db_app_password_version (TF_VAR_db_app_password_version), npm run step:3 && npm run step:4, then npm run deploy",
  ],
  [
    /no encryption|SSL off|SSL is not enabled|requires SSL/i,
    'the database requires TLS (rds.force_ssl = 1): connect with PGSSLMODE=verify-full (DB_SSL_MODE, the default) or at least require',
  ],
  [
    /certificate verify failed|self[- ]signed certificate|unable to get local issuer certificate/i,
    `the database's certificate is not signed by a CA in the image's bundle (DB_CA_BUNDLE): the image must carry AWS's RDS CA bundle; add to the Dockerfile \`${CA_BUNDLE_LINE}\`, rebuild and deploy (npm run deploy); DB_SSL_MODE=require connects without checking the server`,
  ],
  [
    /root certificate file "[^"]*" does not exist|could not read root certificate file/i,
    `the image has no CA bundle where PGSSLROOTCERT (DB_CA_BUNDLE) points: add to the Dockerfile \`${CA_BUNDLE_LINE}\`, or set DB_CA_BUNDLE to where the image keeps it; then npm run deploy`,
  ],
  [
    /does not match host name|server certificate for "[^"]*" does not match/i,
    "the database's certificate is for another name: DATABASE_HOST must be the RDS endpoint (terraform output rds_address), not an IP address or a CNAME of it, for verify-full",
  ],
  [
    /could not translate host name|Name or service not known|getaddrinfo|ENOTFOUND/i,
    'DATABASE_HOST does not resolve: it must be the RDS endpoint (terraform output rds_address)',
  ],
  [
    /timed out|timeout expired|Connection refused|could not connect|ECONNREFUSED|ETIMEDOUT/i,
    'no network path to the database: check the tasks -> RDS rule above and that RDS is available',
  ],
  [/database "[^"]*" does not exist/i, 'DATABASE_NAME names no database on the instance: it must be terraform output db_name'],
  [
    /role "[^"]*" does not exist/i,
    "DATABASE_USER is not a user of the database: the master is terraform output db_username; the app's own user (db_app_username) is created by step 6 (npm run deploy); a database that lost it (a restored snapshot): raise db_app_password_version (TF_VAR_db_app_password_version), npm run step:3 && npm run step:4, then npm run deploy",
  ],
];

export function databaseHint(text: string): string | undefined {
  return DATABASE_ERRORS.find(([re]) => re.test(text))?.[1];
}
