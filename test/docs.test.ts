// The documents stay inside the repository and true to it (issue 28): every relative link of every tracked
// Markdown file resolves to a file of the repository (none leaves it), and every `docs/….md` a document or a
// comment cites exists. The README is a start, not a manual: at most about 200 lines, with its sections.
import { execa } from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { modelTable } from './bench/model.js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT } from './helpers/script.js';

const tracked = async (...patterns: string[]) =>
  (await execa('git', ['-C', ROOT, 'ls-files', '--cached', '--others', '--exclude-standard', ...patterns])).stdout
    .split('\n')
    .filter(Boolean);

/** Markdown links `[text](target)`, outside code spans and blocks. */
function links(text: string): string[] {
  const prose = text.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
}

test('every relative link of every Markdown file resolves to a file inside the repository', async () => {
  const broken: string[] = [];
  const files = await tracked('*.md');
  assert.ok(files.length > 30, `${files.length} Markdown files`);
  for (const file of files) {
    for (const target of links(readFileSync(join(ROOT, file), 'utf8'))) {
      if (/^(https?:|mailto:|#)/.test(target)) continue;
      const path = resolve(ROOT, dirname(file), target.split('#')[0]!);
      if (relative(ROOT, path).startsWith('..')) broken.push(`${file}: ${target} leaves the repository`);
      else if (!existsSync(path)) broken.push(`${file}: ${target} does not exist`);
    }
  }
  assert.equal(broken, []);
});

test('every docs/….md a document or a comment cites exists, and nothing cites a file beside the repository', async () => {
  const missing: string[] = [];
  for (const file of await tracked('*.md', '*.ts', '*.tf', '*.py', '*.yml', '*.json', '.ci/run')) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    for (const m of text.matchAll(/(?<![\w/.-])docs\/[\w/.-]+\.md/g)) if (!existsSync(join(ROOT, m[0]))) missing.push(`${file}: ${m[0]}`);
    if (/\.\.\/shared\//.test(text) && file !== 'test/docs.test.ts') missing.push(`${file}: cites ../shared/ (outside the repository)`);
  }
  assert.equal(missing, []);
});

test('the README starts a newcomer: at most about 200 lines, with its sections, and no link out of the repository', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  assert.ok(readme.split('\n').length <= 200, `${readme.split('\n').length} lines`);
  const sections = [...readme.matchAll(/^## (.+)$/gm)].map((m) => m[1]);
  assert.equal(sections, [
    'Set-up on a fresh machine',
    'Getting started',
    'Steps: the guide, section by section',
    'Deploy speed on AWS (modelled)',
    'Exit codes',
    "Troubleshooting the toolkit's own errors",
    'More',
    'Licence',
  ]);
  assert.not.match(readme, /\]\(https?:/, 'a link leaves the repository');
  // the modelled deploy is the model's own output for today's settings (npm run bench:model), not a stale copy
  assert.ok(readme.includes(modelTable()), 'README: paste `npm run bench:model` into "Deploy speed on AWS (modelled)"');
  // the two set-up commands, as .ci/run and the project's CI run them
  assert.match(readme, '| **tests** | `npm ci && npm test` |');
  assert.match(readFileSync(join(ROOT, '.ci/run'), 'utf8'), 'npm test');
});

test('step 3\'s pages keep the guide\'s "what to edit" list: each tfvars variable with the .env setting that sets it', () => {
  const settings: Record<string, string> = {
    db_password: 'DB_PASSWORD',
    alarm_email: 'ALARM_EMAIL',
    domain_name: 'DOMAIN_NAME',
    acm_certificate_arn: 'ACM_CERTIFICATE_ARN',
  };
  for (const lang of ['ko', 'en']) {
    const page = readFileSync(join(ROOT, 'docs', lang, 'step-3-terraform.md'), 'utf8');
    for (const [variable, setting] of Object.entries(settings))
      assert.match(
        page,
        new RegExp(`\\| \`${variable}\` \\| \`${setting}\``),
        `docs/${lang}/step-3-terraform.md: ${variable} -> ${setting}`,
      );
  }
});

test('the Korean pages use one word for each term (the glossary of docs/ko/README.md): 태스크 for a task, 수임 for assuming a role', async () => {
  const misuses: string[] = [];
  const files = (await tracked('docs/ko/*.md')).filter(Boolean);
  assert.ok(files.length >= 18, `${files.length} Korean pages`);
  const glossary = readFileSync(join(ROOT, 'docs/ko/README.md'), 'utf8');
  for (const term of ['태스크(task)', '배포 잠금(deploy lock', '역할\n수임(assume role)'])
    assert.ok(glossary.includes(term), `the glossary defines ${term}`);
  for (const file of files) {
    const prose = readFileSync(join(ROOT, file), 'utf8').replace(/```[\s\S]*?```/g, '');
    for (const [wrong, right] of [
      [/작업 ?정의/, '태스크 정의'],
      [/(중지된|새|최소·최대|원하는) 작업/, '태스크'],
      [/역할을 맡/, '역할을 수임'],
    ] as const)
      if (wrong.test(prose)) misuses.push(`${file}: ${wrong.source} (write ${right})`);
  }
  assert.equal(misuses, []);
});

test.run();
