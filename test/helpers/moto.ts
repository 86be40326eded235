// An AWS emulator (moto) on 127.0.0.1 for tests, with an environment that cannot reach real AWS.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPerCore, MAX_STRETCH } from './script.js';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as any).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export interface Moto {
  url: string;
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** Fake credentials and empty AWS config files: nothing can use a real account by mistake. */
export function isolatedAwsEnv(url: string): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'llmops-awsenv-'));
  writeFileSync(join(dir, 'config'), '');
  writeFileSync(join(dir, 'credentials'), '');
  return {
    AWS_ENDPOINT_URL: url,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing-secret',
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: join(dir, 'config'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

/**
 * One request at a time, as S3 applies a conditional write atomically: moto's threaded server checks a
 * condition and writes in two steps, so concurrent requests could interleave inside it (not in S3).
 */
const SERIAL_SERVER = `
import sys
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
run_simple("127.0.0.1", int(sys.argv[1]), DomainDispatcherApplication(create_backend_app), threaded=False)
`;

/** moto with IAM evaluated on resource ARNs and condition keys for the toolkit's actions (sandbox/iam_enforce.py). */
const IAM_SERVER = (sandboxDir: string) => `
import sys
sys.path.insert(0, ${JSON.stringify(sandboxDir)})
import iam_enforce
iam_enforce.install()
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
run_simple("127.0.0.1", int(sys.argv[1]), DomainDispatcherApplication(create_backend_app), threaded=True)
`;

export async function startMoto(extraEnv: Record<string, string> = {}, options: { serial?: boolean; iam?: boolean } = {}): Promise<Moto> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const [bin, args] = options.serial
    ? ['python3', ['-c', SERIAL_SERVER, String(port)]]
    : options.iam
      ? ['python3', ['-c', IAM_SERVER(join(import.meta.dirname, '..', '..', 'sandbox')), String(port)]]
      : ['moto_server', ['-H', '127.0.0.1', '-p', String(port)]];
  const child: ChildProcess = spawn(bin as string, args as string[], {
    env: { ...process.env, MOTO_IAM_LOAD_MANAGED_POLICIES: 'true', MOTO_ACM_VALIDATION_WAIT: '0', ...extraEnv },
    stdio: 'ignore',
  });
  // waiting is the work here: moto loads AWS's managed policies at start (seconds on an idle machine, far more
  // on a busy one), so the limit is generous and stretches with the load
  const limitMs = 60_000 * Math.min(MAX_STRETCH, loadPerCore());
  const deadline = Date.now() + limitMs;
  for (;;) {
    try {
      const r = await fetch(`${url}/moto-api/`);
      if (r.status < 500) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto_server did not start on ${url} within ${limitMs / 1000} s`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    env: isolatedAwsEnv(url),
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
