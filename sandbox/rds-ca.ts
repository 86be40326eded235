// The sandbox's "RDS certificate authority": what AWS's RDS CA bundle is to a real account. One per machine, as the
// real bundle is one for every account: the emulator signs each database's server certificate with it (for the
// database's endpoint name, so verify-full checks the name too), and the sample app carries its certificate at
// DB_CA_BUNDLE, as a real image carries https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem.
// A second, unrelated CA (`foreign`) is the wrong bundle a broken image ships.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export interface SandboxCa {
  dir: string;
  /** The CA's certificate (PEM): the bundle an image carries. */
  cert: string;
  key: string;
}

export function caRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env.LLMOPS_SANDBOX_CA_DIR ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'llmops-sandbox');
}

/**
 * The CA named `name` (made once with openssl; kept): made in a temporary directory and renamed into place, so
 * two sandboxes starting at once both end with the same one.
 */
export function sandboxCa(name: 'rds-ca' | 'foreign-ca' = 'rds-ca', root = caRoot()): SandboxCa {
  const dir = join(root, name);
  const ca = { dir, cert: join(dir, 'ca.pem'), key: join(dir, 'ca.key') };
  if (existsSync(ca.cert) && existsSync(ca.key)) return ca;
  mkdirSync(root, { recursive: true });
  const tmp = mkdtempSync(join(root, `.${name}-`));
  try {
    const subject = name === 'rds-ca' ? '/CN=llmops sandbox RDS root CA' : '/CN=some other CA';
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '3650',
        '-subj',
        subject,
        '-keyout',
        join(tmp, 'ca.key'),
        '-out',
        join(tmp, 'ca.pem'),
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    try {
      renameSync(tmp, dir);
    } catch {
      // another process made it first: theirs is the one (a non-empty directory is never replaced)
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  if (!existsSync(ca.cert)) throw new Error(`could not make the sandbox's CA in ${dirname(ca.cert)}`);
  return ca;
}
