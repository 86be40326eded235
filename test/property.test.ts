// Property-based tests (fast-check) of the boundary (issue 12), beside the named cases: quoting round-trips
// through bash for any word; integers accept exactly decimal digits in range; ambient variables never change
// the configuration; .env values survive or are refused, never cut; the command line parser never throws.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { integer, parseFlags, type ScriptSpec } from '../lib/cli.js';
import { KNOWN_VARIABLES, PREFIX } from '../lib/schema.js';
import { loadConfig } from '../lib/config.js';
import { misspelling } from '../lib/variables.js';
import { quote } from '../lib/run.js';
import { ConfigError } from '../lib/errors.js';

const SEED = Number(process.env.FC_SEED ?? 20261126);
const defaults = loadConfig({ env: {}, envFile: '' });

test('quote: any word (unicode, quotes, $, `, \\, spaces, newlines) reads back unchanged in bash', () => {
  const piece = fc.oneof(
    fc.constantFrom(...`'"$\`\\ \n\t;&|<>(){}[]*?~!#=%`.split(''), 'é', '한글', '😀', '\u00a0'),
    fc.string({ unit: 'binary', maxLength: 2 }),
  );
  const words = fc.sample(
    fc
      .array(piece, { maxLength: 12 })
      .map((a) => a.join(''))
      .filter((w) => !w.includes('\0')),
    { numRuns: 400, seed: SEED },
  );
  words.push('$HOME', '$(id)', '`id`', "'", '\\', '~', '*', '!x', '');
  const script = words.map((w) => `printf '%s\\0' ${quote(w)}`).join('\n');
  const out = execFileSync('/bin/bash', ['-c', script], { env: { PATH: '/usr/bin:/bin', HOME: '/nonexistent-home' } }).toString('utf8');
  assert.equal(out.split('\0').slice(0, -1), words);
});

test('quote: a word is left bare only when no shell character is in it', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 30 }), (w) => {
      const q = quote(w);
      return q === w ? /^[A-Za-z0-9_\-+/:.,@%][A-Za-z0-9_\-+=/:.,@%]*$/.test(w) : q.startsWith("'") && q.endsWith("'");
    }),
    { seed: SEED, numRuns: 2000 },
  );
});

test('integer flags: accepted exactly when decimal digits within range, and the value is the number written', () => {
  const parse = integer(0, 100);
  fc.assert(
    fc.property(fc.string({ maxLength: 12 }), (s) => {
      let n: number | undefined;
      try {
        n = parse(s);
      } catch {
        return !/^\d{1,9}$/.test(s) || Number(s) > 100;
      }
      return /^\d{1,9}$/.test(s) && n === Number(s) && n >= 0 && n <= 100;
    }),
    { seed: SEED, numRuns: 3000 },
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 100 }), (n) => parse(String(n)) === n),
    { seed: SEED },
  );
});

test('ambient variables never change the configuration: only LLMOPS_<NAME>, AWS_* and TF_* settings are read', () => {
  const settings = KNOWN_VARIABLES as string[];
  const key = fc.oneof(
    fc.constantFrom(...settings.filter((k) => !k.startsWith('AWS_') && !k.startsWith('TF_'))),
    fc.stringMatching(/^[A-Z][A-Z0-9_]{0,20}$/).filter((k) => !/^(AWS_|TF_|LLMOPS_)/.test(k)),
  );
  fc.assert(
    fc.property(fc.dictionary(key, fc.string({ maxLength: 20 }), { maxKeys: 12 }), (env) => {
      const c = loadConfig({ env, envFile: '' });
      return JSON.stringify(c) === JSON.stringify(defaults);
    }),
    { seed: SEED, numRuns: 300 },
  );
});

test('DESIRED_COUNT: any string is accepted exactly when it is 0-100 in decimal digits (no coercion)', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ maxLength: 6 }),
        fc.integer({ min: -5, max: 200 }).map(String),
        fc.constantFrom('0x10', '1e1', ' 3', '3 ', '+3', '3.0', ''),
      ),
      (s) => {
        try {
          return (
            loadConfig({ env: { [`${PREFIX}DESIRED_COUNT`]: s }, envFile: '' }).app.desiredCount === Number(s) &&
            /^\d{1,9}$/.test(s) &&
            Number(s) <= 100
          );
        } catch (error) {
          return error instanceof ConfigError && !(/^\d{1,9}$/.test(s) && Number(s) <= 100);
        }
      },
    ),
    { seed: SEED, numRuns: 1000 },
  );
});

test('.env: a value is read whole or refused, never cut at a "#"', () => {
  const dir = mkdtempSync(join(tmpdir(), 'prop-env-'));
  let i = 0;
  fc.assert(
    fc.property(fc.stringMatching(/^[A-Za-z0-9#!%*+,.:=?^_~-]{1,30}$/), (value) => {
      const file = join(dir, `${i++}.env`);
      writeFileSync(file, `CONTAINER_NAME=${value}\n`);
      try {
        return loadConfig({ env: {}, envFile: file }).names.container === value;
      } catch (error) {
        // refused: an unquoted # (or a name the schema rejects) — never a silent prefix of the value
        return error instanceof ConfigError;
      }
    }),
    { seed: SEED, numRuns: 300 },
  );
});

test('misspellings: known names are never flagged; one edit of a toolkit name is caught with that name', () => {
  for (const k of KNOWN_VARIABLES as string[])
    assert.is(misspelling(k.startsWith('AWS_') || k.startsWith('TF_') ? k : `${PREFIX}${k}`), undefined, k);
  const names = (KNOWN_VARIABLES as string[]).filter((k) => !k.startsWith('AWS_') && !k.startsWith('TF_')).map((k) => `${PREFIX}${k}`);
  fc.assert(
    fc.property(fc.constantFrom(...names), fc.nat(), fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ_'.split('')), (name, at, ch) => {
      const pos = PREFIX.length + (at % (name.length - PREFIX.length));
      const typo = name.slice(0, pos) + ch + name.slice(pos + 1);
      if (names.includes(typo) || typo === name) return true;
      const guess = misspelling(typo);
      return guess !== undefined && guess !== '';
    }),
    { seed: SEED, numRuns: 1000 },
  );
});

const SPEC: ScriptSpec = {
  command: 'x',
  header: import.meta.url,
  conflicts: [['from', 'only']],
  options: {
    from: { type: 'string', description: '', parse: integer(1, 8) },
    only: { type: 'string', description: '' },
    list: { type: 'boolean', description: '' },
  },
  main: async () => undefined,
};

test('the command line parser never throws; any stray word, repeat or conflict is a problem, never ignored', () => {
  const token = fc.oneof(fc.constantFrom('--from', '--only', '--list', '--dry-run', '--yes', '-y', '--nope'), fc.string({ maxLength: 6 }));
  fc.assert(
    fc.property(fc.array(token, { maxLength: 8 }), (argv) => {
      const r = parseFlags(SPEC, argv);
      const positionals = r.positionals.length;
      if (positionals > 0 && r.problems.length === 0) return false; // a stray word was ignored
      if (r.values.from !== undefined && r.values.only !== undefined && r.problems.length === 0) return false;
      if (
        r.problems.length === 0 &&
        r.values.from !== undefined &&
        !(Number.isInteger(r.values.from) && r.values.from >= 1 && r.values.from <= 8)
      )
        return false;
      return true;
    }),
    { seed: SEED, numRuns: 3000 },
  );
});

test.run();
