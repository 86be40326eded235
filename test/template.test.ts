// The JSON templates of config/ (lib/template.ts): placeholders filled by type, every unknown one named,
// a syntax error placed by line and column without quoting the text, and the rendered file written only
// outside a dry run.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UsageError } from '../lib/errors.js';
import { parseJson, renderTemplate, renderTemplateFile, writeRendered } from '../lib/template.js';

const refused = (fn: () => unknown): UsageError => {
  try {
    fn();
  } catch (e) {
    assert.instance(e, UsageError);
    return e as UsageError;
  }
  throw new Error('expected a UsageError');
};

test('a placeholder that is the whole string takes the value and its type; inside a string, its text', () => {
  const out = renderTemplate(
    JSON.stringify({
      port: '${PORT}',
      on: '${ON}',
      name: '${NAME}',
      url: 'http://${HOST}:${PORT}/x',
      list: ['${PORT}', 'a-${NAME}', 7, null, true],
      nested: { deep: { image: '${NAME}:${TAG}' } },
      plain: 'no placeholders, $ and {} alone',
      dollarOnly: '$PORT',
    }),
    { PORT: 3000, ON: true, NAME: 'app', HOST: 'h', TAG: 'abc' },
    'config/x.json',
  );
  assert.equal(out, {
    port: 3000,
    on: true,
    name: 'app',
    url: 'http://h:3000/x',
    list: [3000, 'a-app', 7, null, true],
    nested: { deep: { image: 'app:abc' } },
    plain: 'no placeholders, $ and {} alone',
    dollarOnly: '$PORT',
  });
  // a value of 0, false or '' is a value: it replaces the placeholder
  assert.equal(renderTemplate('{"a": "${Z}", "b": "${F}", "c": "${E}"}', { Z: 0, F: false, E: '' }, 'f'), { a: 0, b: false, c: '' });
});

test('every unknown placeholder is named, each once, with the known ones; none is left in the output', () => {
  const e = refused(() => renderTemplate('{"a": "${NOPE}", "b": "x-${ALSO}-${NOPE}", "c": "${OK}"}', { OK: 1, PORT: 2 }, 'config/t.json'));
  assert.is(e.message, 'config/t.json uses unknown placeholder(s): ${NOPE}, ${ALSO}\n  known: ${OK} ${PORT}');
  assert.match(refused(() => renderTemplate('["${ONLY}"]', {}, 'f')).message, 'f uses unknown placeholder(s): ${ONLY}\n');
  // a name outside [A-Za-z0-9_] is not a placeholder
  assert.equal(renderTemplate('{"a": "${a-b}"}', {}, 'f'), { a: '${a-b}' });
});

test('a syntax error is placed by line and column and never quotes the text; the fix restores the file', () => {
  const secret = 'Leak-Canary-abc';
  const multiLine = `{\n  "a": "${secret}"\n  "b": 2\n}`;
  const e = refused(() => renderTemplate(multiLine, {}, 'config/ecs-task-definition.json'));
  assert.is(
    e.message,
    'config/ecs-task-definition.json is not valid JSON at line 3, column 3 (check quotes, commas and braces; the content is not shown, it may be secret)\n' +
      '  fix: correct the syntax, or restore the file with `git checkout -- config/ecs-task-definition.json`',
  );
  assert.is(refused(() => parseJson('{"a" 1}', 'X', 'do y')).message.split(' (')[0], 'X is not valid JSON at line 1, column 6');
  // an error Node gives without a position: no place, still no text
  const noPlace = refused(() => parseJson(`["${secret}",]`, 'the app env', 'edit it'));
  assert.ok(noPlace.message.startsWith('the app env is not valid JSON (check quotes'), noPlace.message);
  assert.ok(noPlace.message.endsWith('\n  fix: edit it'), noPlace.message);
  assert.not.match(e.message + noPlace.message, secret);
  assert.equal(parseJson('[1, {"a": null}]', 'x', 'y'), [1, { a: null }]);
});

test('renderTemplateFile reads the file and names it in its errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'llmops-template-'));
  const file = join(dir, 't.json');
  writeRendered({ dryRun: false }, file, '{"p": "${P}"}');
  assert.equal(renderTemplateFile(file, { P: 1 }), { p: 1 });
  assert.match(refused(() => renderTemplateFile(file, {})).message, `${file} uses unknown placeholder(s): \${P}`);
});

test('writeRendered: under LLMOPS_STATE_DIR, JSON indented with a final newline, a string as it is; nothing in a dry run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'llmops-state-'));
  const before = process.env.LLMOPS_STATE_DIR;
  process.env.LLMOPS_STATE_DIR = join(dir, 'state');
  try {
    const file = writeRendered({ dryRun: false }, 'sub/task.json', { a: [1] });
    assert.is(file, join(dir, 'state', 'sub', 'task.json'));
    assert.is(readFileSync(file, 'utf8'), '{\n  "a": [\n    1\n  ]\n}\n');
    assert.is(readFileSync(writeRendered({ dryRun: false }, 'raw.txt', 'as is'), 'utf8'), 'as is');
    const dry = writeRendered({ dryRun: true }, 'dry/never.json', { a: 1 });
    assert.is(dry, join(dir, 'state', 'dry', 'never.json'), 'the path is still shown');
    assert.not.ok(existsSync(join(dir, 'state', 'dry')), 'nothing written, not even the directory');
    delete process.env.LLMOPS_STATE_DIR;
    assert.is(writeRendered({ dryRun: true }, 'x.json', {}), join(process.cwd(), '.llmops', 'x.json'), 'by default .llmops/ (git-ignored)');
  } finally {
    if (before === undefined) delete process.env.LLMOPS_STATE_DIR;
    else process.env.LLMOPS_STATE_DIR = before;
  }
});

test.run();
