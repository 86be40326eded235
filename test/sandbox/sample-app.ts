// The sandbox's sample app: a FROM scratch image (no base image can be pulled here) running the static
// busybox httpd on port 3000 as a non-root user, serving /health and a version page.
// Variants: `exit` (the container exits at start) and `health` (/health answers 404).
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
  const entrypoint = broken === 'exit' ? '["/bin/busybox", "sh", "-c", "echo starting llmops sample app; echo fatal: DATABASE_URL is not set >&2; exit 3"]' : '["/bin/busybox", "httpd", "-f", "-v", "-p", "3000", "-h", "/www"]';
  writeFileSync(
    join(dir, 'Dockerfile'),
    [
      '# Sample app for the llmops-deploy sandbox: static busybox httpd on :3000, non-root, read-only friendly.',
      'FROM scratch',
      'COPY busybox /bin/busybox',
      'COPY www /www',
      'USER 1000:1000',
      'EXPOSE 3000',
      `ENTRYPOINT ${entrypoint}`,
      '',
    ].join('\n'),
  );
  if (broken === 'health') rmSync(join(dir, 'www', 'health'), { force: true });
  else writeFileSync(join(dir, 'www', 'health'), 'ok\n');
  writeFileSync(join(dir, 'www', 'index.html'), `<h1>llmops sample app</h1><p>version ${version}</p>\n`);
  writeFileSync(join(dir, 'www', 'version'), `${version}\n`);
  writeFileSync(join(dir, '.dockerignore'), '.git\n');
}

function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-C', dir, '-c', 'user.name=llmops sandbox', '-c', 'user.email=sandbox@example.com', ...args], { encoding: 'utf8' }).trim();
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
