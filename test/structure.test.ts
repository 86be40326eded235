// The layout the code promises: a numbered script is one guide step, defined once, holding that step's commands;
// bootstrap and deploy are lists of those steps; any other script is one verb; lib/ is a set of small nouns with
// no import loop, none of which imports the command line; shipped code (lib/, scripts/, sandbox/) imports nothing from
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
import { SUITES } from './mutation.js';

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

/** The numbered step files, `scripts/0N-*.ts`, by step number. */
const stepFiles = tsFiles('scripts').filter((f) => /^scripts\/0[1-8]-[\w-]+\.ts$/.test(f));
/** The scripts that are lists of steps. */
const STEP_LISTS = ['scripts/bootstrap.ts', 'scripts/deploy.ts'];

test('scripts import scripts only as a list of steps: bootstrap and deploy import the numbered step files, nothing else does', () => {
  assert.is(stepFiles.length, 8, 'one file per guide step');
  const bad = tsFiles('scripts')
    .flatMap((f) => importsOf(f))
    .filter((i) => i.to.startsWith('scripts/'))
    .filter((i) => !(STEP_LISTS.includes(i.from) && stepFiles.includes(i.to)));
  assert.equal(
    bad.map((i) => `${i.from} imports ${i.to}`),
    [],
  );
  assert.is(findCycle(shipped.flatMap((f) => importsOf(f)))?.join(' -> '), undefined, 'no import loop anywhere');
});

test('each guide step is defined once, in its numbered file; bootstrap and deploy run those very definitions', async () => {
  const load = async (file: string) => import(pathToFileURL(join(ROOT, file)).href);
  const defined = new Map<number, unknown>();
  for (const file of stepFiles) {
    const { step, spec } = await load(file);
    const n = Number(/scripts\/0(\d)-/.exec(file)![1]);
    assert.is(step?.n, n, `${file} exports its step, number ${n}`);
    assert.is(spec.command, `step:${n}`, `${file} is npm run step:${n}`);
    assert.match(readFileSync(join(ROOT, file), 'utf8'), /runStep\(step, /, `${file}: npm run step:${n} runs the same definition`);
    defined.set(n, step);
  }
  const { STEPS } = await load('scripts/bootstrap.ts');
  const { DEPLOY_STEPS } = await load('scripts/deploy.ts');
  assert.ok(
    STEPS.every((s: unknown, i: number) => s === defined.get(i + 1)),
    'bootstrap: steps 1-8, the objects the step files export',
  );
  assert.equal(
    DEPLOY_STEPS.map((s: { n: number }) => s.n),
    [2, 5, 6, 7],
  );
  assert.ok(
    DEPLOY_STEPS.every((s: { n: number }) => s === defined.get(s.n)),
    'deploy: the objects the step files export',
  );
  // no second definition of a step anywhere else (a `title:` beside an `n:` of 1-8 is one)
  const others = shipped.filter((f) => !stepFiles.includes(f) && /\bn: [1-8],\s*\n\s*title:/.test(readFileSync(join(ROOT, f), 'utf8')));
  assert.equal(others, []);
});

/** Code without its comments, so a command named in a comment is not a command. */
const code = (file: string) =>
  readFileSync(join(ROOT, file), 'utf8')
    .split('\n')
    .filter((l) => !/^\s*(\/\/|\*|\/\*\*)/.test(l))
    .join('\n');

/**
 * Each command of steps 1-8, as it is written (sh`…`), and the files that may write it: its step's file, and
 * a script of another guide section that runs the same verb for its own purpose.
 */
const STEP_COMMANDS: [RegExp, string[]][] = [
  // the sandbox builds and pushes a fixture of its own, its psql image (DB_CLIENT_IMAGE), never the app
  [/sh`docker build /, ['scripts/02-build.ts', 'sandbox/control.ts']],
  [/sh`docker run -d /, ['scripts/02-build.ts']],
  [/sh`aws s3api create-bucket /, ['scripts/03-plan.ts']],
  // destroy plans the destruction; diff plans read-only (-lock=false) into a plan file of its own
  [/sh`terraform \$\{chdir\(config\)\} plan -/, ['scripts/03-plan.ts', 'scripts/destroy.ts', 'scripts/diff.ts']],
  [/sh`terraform \$\{chdir\(config\)\} apply -input=false -no-color \$\{planFile/, ['scripts/04-apply.ts']],
  [/sh`aws ecr get-login-password /, ['scripts/05-push.ts']],
  [/sh`docker tag /, ['scripts/05-push.ts']],
  [/sh`docker push /, ['scripts/05-push.ts', 'sandbox/control.ts']],
  // the migration's own task definition (npm run migrate) registers with a line of its own
  [/sh`aws ecs register-task-definition /, ['scripts/06-taskdef.ts', 'scripts/migrate.ts']],
  // rollback and scale point the service at a revision or a count of their own; step 7 at the one before a crash loop
  [/sh`aws ecs update-service /, ['scripts/06-taskdef.ts', 'scripts/07-verify.ts', 'scripts/rollback.ts', 'scripts/scale.ts']],
  // the certificate's validation records
  [/sh`aws route53 change-resource-record-sets /, ['scripts/08-dns.ts', 'scripts/certificate.ts']],
];

test("each command of steps 1-8 is written once, in its step's file (or as another section's own line in its own script)", () => {
  for (const [command, allowed] of STEP_COMMANDS) {
    const where = shipped.flatMap((f) => Array.from({ length: (code(f).match(new RegExp(command, 'g')) ?? []).length }, () => f));
    assert.equal(where.sort(), [...allowed].sort(), `${command}: written once in each of ${allowed.join(', ')}`);
  }
  // the check can fail: a second copy is found
  assert.is((code('scripts/05-push.ts').match(/sh`docker push /g) ?? []).length, 1);
});

test('mutation testing: every lib module and guide step file has the fast test files that hold its guarantees listed (test/mutation.ts), and each listed file exists', () => {
  const modules = [...tsFiles('lib'), ...stepFiles].sort();
  assert.equal(
    modules.filter((m) => !SUITES[m]),
    [],
    'modules with no test files listed: npm run mutation cannot score them',
  );
  const missing = Object.entries(SUITES).flatMap(([m, suite]) =>
    suite
      .split('|')
      .filter((name) => !tsFiles('test').includes(`test/${name}.test.ts`))
      .map((name) => `${m}: test/${name}.test.ts`),
  );
  assert.equal(missing, []);
  assert.equal(
    Object.keys(SUITES).filter((m) => !modules.includes(m)),
    [],
    'listed modules that no longer exist',
  );
});

test('small files: no TypeScript file of lib/ or scripts/ is over 400 lines', () => {
  const long = [...tsFiles('lib'), ...tsFiles('scripts')]
    .map((f) => [f, readFileSync(join(ROOT, f), 'utf8').trimEnd().split('\n').length] as const)
    .filter(([, lines]) => lines > 400);
  assert.equal(
    long.map(([f, lines]) => `${f}: ${lines} lines`),
    [],
  );
});

test("the command line is the scripts': no lib module but lib/cli.ts imports it or defines a flag", () => {
  const bad = tsFiles('lib')
    .filter((f) => f !== 'lib/cli.ts')
    .flatMap((f) => importsOf(f))
    .filter((i) => i.to === 'lib/cli.ts');
  assert.equal(
    bad.map((i) => `${i.from} imports ${i.to}`),
    [],
  );
  const flags = tsFiles('lib')
    .filter((f) => !['lib/cli.ts', 'lib/flags.ts'].includes(f))
    .filter((f) => /: OptionSpec = \{/.test(readFileSync(join(ROOT, f), 'utf8')));
  assert.equal(flags, []);
});

test('names derived once: Terraform takes every resource name lib/config.ts derives as a required variable, and derives none', async () => {
  const { NAME_VARIABLES } = await import('../lib/infra.js');
  const variables = readFileSync(join(ROOT, 'terraform/variables.tf'), 'utf8');
  const locals = readFileSync(join(ROOT, 'terraform/locals.tf'), 'utf8');
  for (const name of Object.keys(NAME_VARIABLES)) {
    const block = new RegExp(`variable "${name}" \\{([\\s\\S]*?)\\n\\}`).exec(variables)?.[1];
    assert.ok(block, `variables.tf declares ${name}`);
    assert.not.match(block!, /\bdefault\s*=/, `${name} has no default in Terraform`);
    assert.not.match(locals, new RegExp(`coalesce\\(var\\.${name}\\b`), `locals.tf derives no ${name}`);
  }
  const { KNOWN_VARIABLES } = await import('../lib/schema.js');
  for (const [, [, setting]] of Object.entries(NAME_VARIABLES) as [string, [string, string]][])
    assert.ok((KNOWN_VARIABLES as string[]).includes(setting), `${setting} is a setting of .env`);
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
  assert.equal(
    made,
    ['lib/alarms.ts', 'lib/aws.ts', 'lib/ecr.ts', 'lib/ecs.ts'],
    "the clients were found: the bake's alarms, identity and the state bucket's objects, ECR's image and scan, the ECS reader",
  );
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
