// The layout the code promises: a script is one guide step or one verb and never imports another script;
// lib/ is a set of nouns with no import loop; shipped code (lib/, scripts/, sandbox/) imports nothing from
// test/; every dependency in package.json is used; one formatter's style everywhere. Read from the
// sources, so a change that breaks a rule fails here, naming the file.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { helpText, scriptHeader, type ScriptSpec } from '../lib/cli.js';
import { ROOT } from './helpers/script.js';

interface Import {
  from: string;
  to: string;
  typeOnly: boolean;
}

const tsFiles = (dir: string): string[] =>
  readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );

/** Every static import and re-export of a file, resolved to a path relative to the repository. */
export function importsOf(file: string, text = readFileSync(join(ROOT, file), 'utf8')): Import[] {
  const target = (spec: string) =>
    spec.startsWith('.') ? relative(ROOT, resolve(ROOT, dirname(file), spec)).replace(/\.js$/, '.ts') : spec;
  const statics = text.matchAll(/^(?:import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/gm);
  // `await import('execa')` where a module is loaded on first use; `typeof import(…)` is a type only
  const dynamics = text.matchAll(/(typeof\s+)?\bimport\(\s*['"]([^'"]+)['"]\s*\)/g);
  return [...statics, ...dynamics].map((m) => ({ from: file, to: target(m[2]!), typeOnly: !!m[1] }));
}

/** The first import loop among runtime imports (type-only imports vanish at run time), as a path. */
export function findCycle(edges: Import[]): string[] | undefined {
  const next = new Map<string, string[]>();
  for (const e of edges) if (!e.typeOnly) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const state = new Map<string, 'open' | 'done'>();
  const walk = (node: string, path: string[]): string[] | undefined => {
    if (state.get(node) === 'open') return [...path.slice(path.indexOf(node)), node];
    if (state.get(node) === 'done') return undefined;
    state.set(node, 'open');
    for (const to of next.get(node) ?? []) {
      const cycle = walk(to, [...path, node]);
      if (cycle) return cycle;
    }
    state.set(node, 'done');
    return undefined;
  };
  for (const node of next.keys()) {
    const cycle = walk(node, []);
    if (cycle) return cycle;
  }
  return undefined;
}

const shipped = [...tsFiles('lib'), ...tsFiles('scripts'), ...tsFiles('sandbox')];

test('the import reader and the loop finder work (they can fail)', () => {
  const edges = importsOf(
    'lib/a.ts',
    "import { x } from './b.js';\nimport type { T } from './c.js';\nexport { y } from './d.js';\nimport { z } from 'zod';\n",
  );
  assert.equal(edges, [
    { from: 'lib/a.ts', to: 'lib/b.ts', typeOnly: false },
    { from: 'lib/a.ts', to: 'lib/c.ts', typeOnly: true },
    { from: 'lib/a.ts', to: 'lib/d.ts', typeOnly: false },
    { from: 'lib/a.ts', to: 'zod', typeOnly: false },
  ]);
  assert.equal(
    findCycle([
      { from: 'a', to: 'b', typeOnly: false },
      { from: 'b', to: 'a', typeOnly: false },
    ]),
    ['a', 'b', 'a'],
  );
  assert.is(
    findCycle([
      { from: 'a', to: 'b', typeOnly: false },
      { from: 'b', to: 'a', typeOnly: true },
    ]),
    undefined,
  );
});

test('no script imports another script', () => {
  const bad = tsFiles('scripts')
    .flatMap((f) => importsOf(f))
    .filter((i) => i.to.startsWith('scripts/'));
  assert.equal(
    bad.map((i) => `${i.from} imports ${i.to}`),
    [],
  );
});

test('lib/ has no import loop', () => {
  const cycle = findCycle(tsFiles('lib').flatMap((f) => importsOf(f)));
  assert.is(cycle?.join(' -> '), undefined);
});

test('lib/ never imports a script; shipped code never imports from test/', () => {
  const bad = shipped
    .flatMap((f) => importsOf(f))
    .filter((i) => i.to.startsWith('test/') || (i.from.startsWith('lib/') && i.to.startsWith('scripts/')));
  assert.equal(
    bad.map((i) => `${i.from} imports ${i.to}`),
    [],
  );
});

test('execa, listr2 and the AWS SDK are loaded on first use: no lib module or script imports them at start', () => {
  // a static import loads them in every script, --help and refused input included (npm run bench:startup)
  const eager = [...tsFiles('lib'), ...tsFiles('scripts')].flatMap((from) =>
    [
      ...readFileSync(join(ROOT, from), 'utf8').matchAll(/^import\s+(?!type\s)[^;]*?from\s+['"]((?:execa|listr2|@aws-sdk\/[^'"]+))['"]/gm),
    ].map((m) => ({ from, to: m[1] })),
  );
  assert.equal(
    eager.map((i) => `${i.from} imports ${i.to}`),
    [],
  );
});

test("every AWS SDK client is made with lib/aws.ts's sdkOptions: its time-out fails a call that never gets an answer", () => {
  const made: string[] = [];
  for (const file of shipped) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const clients = [...text.matchAll(/new [\w.]*Client\(([^)]*)\)/g)];
    if (!clients.length) continue;
    made.push(file);
    for (const [call, args] of clients) {
      // made right there, or from a variable that was
      const through = /sdkOptions\(/.test(args!) || new RegExp(`\\b${args!.trim()}\\s*=\\s*sdkOptions\\(`).test(text);
      assert.ok(through, `${file}: ${call} is not made with sdkOptions()`);
    }
  }
  assert.ok(made.length >= 4, `the clients were found (${made.join(', ')})`);
});

test('every dependency in package.json is imported by shipped code (or run as a binary)', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const used = new Set(
    shipped
      .flatMap((f) => importsOf(f))
      .map((i) =>
        i.to
          .split('/')
          .slice(0, i.to.startsWith('@') ? 2 : 1)
          .join('/'),
      ),
  );
  const binaries = new Set(['tsx']); // runs every script: `tsx scripts/…`
  const unused = Object.keys(pkg.dependencies).filter((d) => !used.has(d) && !binaries.has(d));
  assert.equal(unused, []);
});

test('no function name is exported by two lib modules', () => {
  const owners = new Map<string, string[]>();
  for (const file of tsFiles('lib')) {
    for (const m of readFileSync(join(ROOT, file), 'utf8').matchAll(/^export (?:async )?(?:function|const|class) (\w+)/gm))
      owners.set(m[1]!, [...(owners.get(m[1]!) ?? []), file]);
  }
  assert.equal(
    [...owners].filter(([, files]) => files.length > 1).map(([name, files]) => `${name}: ${files.join(', ')}`),
    [],
  );
});

test('every script says what it is once, in its header comment, which --help shows', async () => {
  for (const file of tsFiles('scripts')) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    assert.ok(text.includes('header: import.meta.url'), `${file}: spec.header is import.meta.url`);
    assert.not.match(text, /^\s+(summary|needs|produces):/m, `${file}: what / needs / produces are written once, in the header`);
    const header = scriptHeader(pathToFileURL(join(ROOT, file)).href);
    const { spec } = (await import(pathToFileURL(join(ROOT, file)).href)) as { spec: ScriptSpec };
    const help = helpText(spec);
    for (const line of [header.what, `Needs:    ${header.needs}`, `Produces: ${header.produces}`])
      assert.ok(help.includes(line), `${file}: --help shows ${line.slice(0, 40)}`);
  }
  assert.throws(() => scriptHeader(pathToFileURL(join(ROOT, 'lib/errors.ts')).href), /needs what it does, then Needs: and Produces:/);
});

test('one formatter: every TypeScript, JSON and YAML file is as prettier writes it (npm run format)', async () => {
  const r = await execa(process.execPath, [join(ROOT, 'node_modules/prettier/bin/prettier.cjs'), '--check', '.'], {
    cwd: ROOT,
    reject: false,
    all: true,
  });
  assert.is(r.exitCode, 0, `${r.all}\n  fix: npm run format`);
  assert.match(r.all ?? '', /All matched files use Prettier code style/);
});

test.run();
