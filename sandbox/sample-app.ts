// The sandbox's sample app: a FROM scratch image (no base image can be pulled here) running the static
// busybox httpd on port 3000 as a non-root user, serving /health and a version page.
// Broken variants pass the local smoke test (step 2) and fail only in ECS, as real apps do when their
// cloud environment differs: `exit` exits 3 at start when DATABASE_HOST is set (the task definition sets
// it); `health` answers 404 on /health there.
import { chmodSync, copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';

export type Broken = 'exit' | 'health' | undefined;

const BUSYBOX_CANDIDATES = ['/bin/busybox', '/usr/bin/busybox'];

export function busyboxPath(): string {
  const found = BUSYBOX_CANDIDATES.find((p) => existsSync(p));
  if (!found) throw new Error('busybox not found: install the static build with `apt-get install -y busybox-static`');
  return found;
}

/** Write (or rewrite) the app's files; does not commit. */
export function writeSampleApp(dir: string, version: string, broken?: Broken): void {
  mkdirSync(join(dir, 'www'), { recursive: true });
  if (!existsSync(join(dir, 'busybox'))) {
    copyFileSync(busyboxPath(), join(dir, 'busybox'));
    chmodSync(join(dir, 'busybox'), 0o755);
  }
  const script =
    broken === 'exit'
      ? 'echo starting llmops sample app; if [ -n \\"$DATABASE_HOST\\" ]; then echo fatal: cannot connect to the database at $DATABASE_HOST >&2; exit 3; fi; exec /bin/busybox httpd -f -v -p 3000 -h /www'
      : broken === 'health'
        ? 'echo starting llmops sample app; d=/www; if [ -n \\"$DATABASE_HOST\\" ]; then d=/www-degraded; fi; exec /bin/busybox httpd -f -v -p 3000 -h $d'
        : '';
  const entrypoint = script
    ? `["/bin/busybox", "sh", "-c", "${script}"]`
    : '["/bin/busybox", "httpd", "-f", "-v", "-p", "3000", "-h", "/www"]';
  writeFileSync(
    join(dir, 'Dockerfile'),
    [
      '# Sample app for the llmops-deploy sandbox: static busybox httpd on :3000, non-root, read-only friendly.',
      'FROM scratch',
      'COPY busybox /bin/busybox',
      'COPY www /www',
      'COPY www-degraded /www-degraded',
      'USER 1000:1000',
      'EXPOSE 3000',
      `ENTRYPOINT ${entrypoint}`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'www', 'health'), 'ok\n');
  mkdirSync(join(dir, 'www-degraded'), { recursive: true });
  writeFileSync(join(dir, 'www-degraded', 'index.html'), 'degraded: no /health\n');
  rmSync(join(dir, 'www-degraded', 'health'), { force: true });
  writeFileSync(join(dir, 'www', 'index.html'), `<h1>llmops sample app</h1><p>version ${version}</p>\n`);
  writeFileSync(join(dir, 'www', 'version'), `${version}\n`);
  writeFileSync(join(dir, '.dockerignore'), '.git\n');
}

function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-C', dir, '-c', 'user.name=llmops sandbox', '-c', 'user.email=sandbox@example.com', ...args], {
    encoding: 'utf8',
  }).trim();
}

/** A git checkout of the sample app at `version`, committed: what the guide's step 1 clones. */
export function commitSampleApp(dir: string, version: string, broken?: Broken): string {
  if (!existsSync(join(dir, '.git'))) {
    mkdirSync(dir, { recursive: true });
    git(dir, 'init', '-q', '-b', 'main');
  }
  writeSampleApp(dir, version, broken);
  git(dir, 'add', '-A');
  if (git(dir, 'status', '--porcelain')) git(dir, 'commit', '-q', '-m', `sample app ${version}${broken ? ` (broken: ${broken})` : ''}`);
  return git(dir, 'rev-parse', 'HEAD');
}
