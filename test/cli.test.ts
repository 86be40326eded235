// The script harness in process, in milliseconds (boundary.test.ts runs every script as a process): --help from
// the header comment, every command-line problem named at once, the paths checked before anything runs,
// runScript's exit codes and what it prints, and how an error is reported.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  confirm,
  FlagProblems,
  helpText,
  integer,
  isMain,
  parseFlags,
  pathProblems,
  reportError,
  runScript,
  scriptHeader,
  type ScriptSpec,
} from '../lib/cli.js';
import { loadConfig } from '../lib/config.js';
import { ExitCode, InterruptedError, ScriptFailure, UsageError } from '../lib/errors.js';
import { Runner } from '../lib/run.js';
import { withEnv } from './helpers/script.js';

/** A script file with a header comment, as scripts/*.ts have. */
function header(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'cli-script-')), 'script.ts');
  writeFileSync(file, `${text}\nexport {};\n`);
  return pathToFileURL(file).href;
}

const HEADER = header(
  [
    "// Scale the service: the guide's update-service --desired-count,",
    '// then wait for it.',
    '// Needs:    the stack (step 4)',
    '// Produces: the service at',
    '//           the given count',
    '// Next:     npm run logs',
  ].join('\n'),
);

const spec = (extra: Partial<ScriptSpec> = {}): ScriptSpec => ({
  command: 'scale',
  header: HEADER,
  options: {
    count: { type: 'string', placeholder: 'N', description: 'tasks to run', parse: integer(0, 10) },
    policy: { type: 'string', description: 'a scaling policy', default: 'cpu' },
    min: { type: 'string', description: 'the fewest tasks' },
    force: { type: 'boolean', short: 'f', description: 'even now' },
  },
  main: async () => ExitCode.OK,
  ...extra,
});

/** What `fn` wrote to stdout and stderr (the notes about this machine's own bare variables left out). */
async function output<T>(fn: () => Promise<T>): Promise<{ value: T; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  const [write, writeErr] = [process.stdout.write, process.stderr.write];
  process.stdout.write = ((chunk: unknown) => ((out.stdout += String(chunk)), true)) as any;
  process.stderr.write = ((chunk: unknown) => ((out.stderr += String(chunk)), true)) as any;
  try {
    const value = await fn();
    const mine = (line: string) => !/^note: \w+ in the environment is not read/.test(line) || line.startsWith('note: DESIRED_COUNT');
    return {
      value,
      stdout: out.stdout,
      stderr: out.stderr
        .split(/(?<=\n)/)
        .filter(mine)
        .join(''),
    };
  } finally {
    process.stdout.write = write;
    process.stderr.write = writeErr;
  }
}

test('--help is the header comment, the options aligned with their defaults, and the exit codes', () => {
  assert.equal(scriptHeader(HEADER), {
    what: "Scale the service: the guide's update-service --desired-count, then wait for it.",
    needs: 'the stack (step 4)',
    produces: 'the service at the given count',
    next: 'npm run logs',
  });
  assert.is(
    helpText(spec({ usage: '[up|down]' })),
    [
      'npm run scale -- [options] [up|down]',
      '',
      "Scale the service: the guide's update-service --desired-count, then wait for it.",
      '',
      'Needs:    the stack (step 4)',
      'Produces: the service at the given count',
      'Next:     npm run logs',
      '',
      'Options:',
      '      --count <N>        tasks to run',
      '      --policy <policy>  a scaling policy (default: cpu)',
      '      --min <min>        the fewest tasks',
      '  -f, --force            even now',
      '  -h, --help             show this help and exit',
      '      --dry-run          print every command in order without running anything',
      '  -y, --yes              no prompts (implied in CI and when not on a TTY)',
      '      --env <name>       one of several environments side by side (staging, production): .env.<name> over .env, names <project>-<name>-* (LLMOPS_ENVIRONMENT)',
      '',
      'Exit codes: 0 ok, 1 failed, 2 bad configuration or flags (nothing run), 3 preflight failed (nothing changed),',
      '            4 deployment rolled back, 5 timed out, 6 another deploy (or terraform run) holds the lock,',
      '            130 interrupted by Ctrl-C (143: SIGTERM) after the running command stopped cleanly.',
      'Configuration comes from .env (plain names) and the environment (as LLMOPS_<NAME>, plus AWS_REGION, TF_DIR, TF_STATE_BUCKET); see .env.example.',
    ].join('\n'),
  );
  const short = header('// Does a thing.\n// Needs: nothing\n// Produces: something');
  assert.is(scriptHeader(short).next, undefined);
  assert.equal(
    helpText(spec({ header: short, options: { quiet: { type: 'boolean', description: 'say less', default: false } } }))
      .split('\n')
      .slice(0, 9),
    [
      'npm run scale -- [options]',
      '',
      'Does a thing.',
      '',
      'Needs:    nothing',
      'Produces: something',
      '',
      'Options:',
      `      --quiet${' '.repeat(7)}say less`,
    ],
    'no usage, no Next: line, and a default of false is not shown',
  );
  for (const broken of [
    '// Only what it does.',
    '// Needs: x\n// Produces: y',
    '// What.\n// Produces: y',
    '#!/bin/sh\n// What.\n// Needs: x\n// Produces: y',
  ]) {
    const file = header(broken);
    assert.throws(
      () => scriptHeader(file),
      (e: Error) => e.message === `${new URL(file).pathname}: the header comment needs what it does, then Needs: and Produces: lines`,
      broken,
    );
  }
});

test('every command-line problem at once, each naming its flag', () => {
  const problems = (argv: string[], extra: Partial<ScriptSpec> = {}) => parseFlags(spec(extra), argv).problems;
  assert.equal(problems(['--count', '3', '--force']), []);
  assert.equal(parseFlags(spec(), ['--count', '3']).values.count, 3, 'parsed by its parser');
  const unknown = problems(['--nope']);
  assert.is(unknown.length, 1);
  assert.match(unknown[0]!, /^Unknown option '--nope'\. /, "node's own words (they vary by Node version)");
  assert.equal(problems(['--count', '3', '--count', '3']), [], 'the same value twice is fine');
  assert.equal(problems(['--count', '3', '--count', '4']), ['--count is given twice with different values: give it once']);
  assert.equal(problems(['--force', '--force']), []);
  assert.equal(problems(['--min', 'a\nb']), [
    '--min: the value must be at most 4096 characters without control characters (newline, tab, ...)',
  ]);
  assert.equal(problems(['--min', 'x'.repeat(4097)]), [
    '--min: the value must be at most 4096 characters without control characters (newline, tab, ...)',
  ]);
  assert.equal(problems(['--min', 'x'.repeat(4096)]), []);
  assert.equal(problems(['--count', '11']), ['--count expects a whole number from 0 to 10, got "11"']);
  assert.equal(problems(['--count', '9'.repeat(70)]), [`--count expects a whole number from 0 to 10, got "${'9'.repeat(60)}…"`]);
  assert.equal(problems(['3']), ['unexpected argument "3" (did you mean --count 3?): values go after their flag']);
  assert.equal(problems(['12']), ['unexpected argument "12" (did you mean --count 12?): values go after their flag']);
  for (const notANumber of ['x3', '3x'])
    assert.equal(problems([notANumber]), [`unexpected argument "${notANumber}": values go after their flag`]);
  // the flag suggested takes a value: the first string option, not the first option
  const booleanFirst = {
    options: { force: { type: 'boolean' as const, description: 'f' }, count: { type: 'string' as const, description: 'c' } },
  };
  assert.equal(problems(['3'], booleanFirst), ['unexpected argument "3" (did you mean --count 3?): values go after their flag']);
  assert.equal(
    problems(['--count', '9'.repeat(60)]),
    [`--count expects a whole number from 0 to 10, got "${'9'.repeat(60)}"`],
    'at 60 characters, not cut',
  );
  assert.equal(problems(['a', 'b']), ['unexpected arguments "a" "b": values go after their flag']);
  assert.equal(problems(['x'], { options: { force: { type: 'boolean', description: 'f' } } }), [
    'unexpected argument "x": values go after their flag',
  ]);
  const positional = { positional: ['up', 'down'], usage: 'up|down' };
  assert.equal(problems([], positional), ['expected one of up, down']);
  assert.equal(problems(['sideways'], positional), ['expected one of up, down, got "sideways"']);
  assert.equal(parseFlags(spec(positional), ['down']).positionals, ['down']);
  assert.equal(problems(['up', '5'], positional), ['unexpected argument "5" (did you mean --count 5?): values go after their flag']);
  assert.equal(problems(['--count', '1', '--policy', 'p'], { conflicts: [['count', 'policy']] }), [
    '--count and --policy cannot be given together: choose one',
  ]);
  assert.equal(problems(['--policy', 'p'], { conflicts: [['count', 'policy']] }), []);
  assert.equal(problems(['--min', '1'], { requires: { min: 'policy' } }), ['--min only applies with --policy']);
  assert.equal(problems(['--min', '1', '--policy', 'p'], { requires: { min: 'policy' } }), []);
  assert.equal(problems(['--count', 'x', '--nope']).length, 1, 'an unknown flag stops the parse: that problem alone');
  assert.equal(problems(['--count', 'x', '--min', '1', '9'], { requires: { min: 'policy' } }).length, 3);

  assert.is(new FlagProblems(['one'], 'scale').message, 'bad command line\n  ✗ one\nRun `npm run scale -- --help` for the options.');
  assert.is(new FlagProblems(['one'], 'scale').name, 'FlagProblems');
  assert.is(
    new FlagProblems(['one', 'two'], 'scale').message,
    'bad command line: 2 problems\n  ✗ one\n  ✗ two\nRun `npm run scale -- --help` for the options.',
  );
});

test('paths checked before anything runs: TF_DIR a directory with *.tf files; the build context and its Dockerfile', () => {
  const root = mkdtempSync(join(tmpdir(), 'cli-paths-'));
  const tf = join(root, 'tf');
  const app = join(root, 'app');
  mkdirSync(tf);
  mkdirSync(app);
  const config = (env: Record<string, string>) => loadConfig({ env: { TF_DIR: tf, LLMOPS_BUILD_CONTEXT: app, ...env }, envFile: '' });
  assert.equal(pathProblems(config({})), [
    { variable: 'TF_DIR', value: tf, message: 'holds no *.tf file: expected the Terraform root module' },
  ]);
  writeFileSync(join(tf, 'README.md'), '');
  assert.equal(pathProblems(config({})).length, 1, 'other files are not Terraform');
  writeFileSync(join(tf, 'main.tf'), '');
  assert.equal(pathProblems(config({})), []);
  assert.equal(pathProblems(config({ TF_DIR: join(root, 'none') })), [
    {
      variable: 'TF_DIR',
      value: join(root, 'none'),
      message: 'no such directory: expected the Terraform root module (the directory with the *.tf files)',
    },
  ]);
  assert.equal(pathProblems(config({ TF_DIR: join(tf, 'main.tf') })), [
    {
      variable: 'TF_DIR',
      value: join(tf, 'main.tf'),
      message: 'is not a directory: expected the Terraform root module (the directory with the *.tf files)',
    },
  ]);
  assert.equal(pathProblems(config({}), ['build']), [
    {
      variable: 'DOCKERFILE',
      value: 'Dockerfile',
      message: `${join(app, 'Dockerfile')} is not a file: expected the Dockerfile, relative to BUILD_CONTEXT`,
    },
  ]);
  mkdirSync(join(app, 'Dockerfile'));
  assert.equal(pathProblems(config({}), ['build']).length, 1, 'a directory is not a Dockerfile');
  writeFileSync(join(app, 'Containerfile'), 'FROM scratch\n');
  assert.equal(pathProblems(config({ LLMOPS_DOCKERFILE: 'Containerfile' }), ['build']), []);
  assert.equal(pathProblems(config({ LLMOPS_BUILD_CONTEXT: join(root, 'gone') }), ['build']), [
    { variable: 'BUILD_CONTEXT', value: join(root, 'gone'), message: 'no such directory: expected the app checkout to build' },
  ]);
  assert.equal(pathProblems(config({ LLMOPS_BUILD_CONTEXT: join(root, 'gone') })), [], 'only a script that builds checks the build');
});

test('runScript: --help and exit 0; bad flags or configuration exit 2 with everything named and nothing run; main gets the context', async () => {
  const tf = mkdtempSync(join(tmpdir(), 'cli-run-'));
  writeFileSync(join(tf, 'main.tf'), '');
  const env = { LLMOPS_ENV_FILE: '', TF_DIR: tf, CI: undefined, LLMOPS_ENVIRONMENT: undefined, DESIRED_COUNT: undefined };
  let ran: any;
  const script = spec({
    main: async (ctx) => {
      ran = ctx;
      return 7;
    },
  });
  await withEnv(env, async () => {
    const help = await output(() => runScript(script, ['--count', '99', '--help']));
    assert.equal([help.value, help.stderr], [ExitCode.OK, '']);
    assert.is(help.stdout, `${helpText(script)}\n`);

    const bad = await output(() => runScript(script, ['--count', '99', 'stray']));
    assert.is(bad.value, ExitCode.USAGE);
    assert.is(
      bad.stderr,
      '✗ bad command line: 2 problems\n  ✗ --count expects a whole number from 0 to 10, got "99"\n  ✗ unexpected argument "stray": values go after their flag\nRun `npm run scale -- --help` for the options.\nNothing was run.\n',
    );
    assert.is(ran, undefined);

    const validated = await output(() => runScript(spec({ validate: (o) => (o.force ? ['--force is not for today'] : []) }), ['-f']));
    assert.is(validated.value, ExitCode.USAGE);
    assert.match(validated.stderr, '  ✗ --force is not for today');

    // validate runs only on good flags and a good configuration (its checks assume both)
    const validating = spec({ validate: () => ['validate ran'] });
    const both = await output(() => runScript(validating, ['--count', '99']));
    assert.not.match(both.stderr, 'validate ran');

    const ok = await output(() => runScript(script, ['--count', '2', '--dry-run', '-y']));
    assert.equal([ok.value, ok.stderr], [7, '']);
    assert.equal([ran.options.count, ran.dryRun, ran.yes, ran.runner.dryRun, ran.positionals], [2, true, true, true, []]);
    assert.is(ran.config.terraform.dir, tf);
  });
  await withEnv({ ...env, TF_DIR: join(tf, 'missing'), LLMOPS_DESIRED_COUNT: 'many' }, async () => {
    const config = await output(() => runScript(script, ['--count', '99']));
    assert.is(config.value, ExitCode.USAGE);
    assert.match(config.stderr, /^✗ Invalid configuration/);
    assert.match(config.stderr, 'DESIRED_COUNT');
    assert.match(config.stderr, '✗ bad command line\n  ✗ --count expects a whole number from 0 to 10, got "99"');
    assert.ok(config.stderr.endsWith('Nothing was run.\n'));
    const alone = await output(() => runScript(spec({ validate: () => ['validate ran'] }), []));
    assert.is(alone.value, ExitCode.USAGE);
    assert.not.match(alone.stderr, 'bad command line', 'a configuration problem alone is not a command-line one');
    assert.not.match(alone.stderr, 'validate ran', 'validate needs a configuration');
    assert.match(alone.stderr, /^✗ Invalid configuration/);
  });
  await withEnv({ ...env, DESIRED_COUNT: '3' }, async () => {
    const noted = await output(() => runScript(spec(), []));
    assert.is(noted.value, ExitCode.OK);
    assert.is(
      noted.stderr,
      'note: DESIRED_COUNT in the environment is not read (the toolkit reads LLMOPS_DESIRED_COUNT; .env may say DESIRED_COUNT)\n',
    );
  });
  await withEnv({ ...env, CI: 'true' }, async () => {
    await output(() => runScript(script, []));
    assert.is(ran.yes, true, 'CI means no prompts');
  });
  await withEnv({ ...env, LLMOPS_ENVIRONMENT: undefined }, async () => {
    writeFileSync(join(tf, '.env'), '');
    writeFileSync(join(tf, '.env.staging'), '');
    await withEnv({ LLMOPS_ENV_FILE: join(tf, '.env') }, async () => {
      await output(() => runScript(script, ['--env', 'staging']));
      assert.is(process.env.LLMOPS_ENVIRONMENT, 'staging', 'for every command it starts');
    });
    assert.is(ran.config.environment, 'staging');
  });
  await withEnv(env, async () => {
    const failed = await output(() =>
      runScript(
        spec({
          main: async () => {
            throw new ScriptFailure('the thing failed', ExitCode.PREFLIGHT);
          },
        }),
        [],
      ),
    );
    assert.equal([failed.value, failed.stderr], [ExitCode.PREFLIGHT, '✗ the thing failed\n']);
  });
});

test('an error reported: expected ones by message; an interrupt with what to rerun; others with their fix; masked; the stack only with LLMOPS_DEBUG', async () => {
  const runner = new Runner({ echo: () => {}, secrets: ['hunter2-secret'] });
  const say = (error: unknown, command?: string, debug?: string) =>
    withEnv({ LLMOPS_DEBUG: debug }, () => output(async () => reportError(error, runner, command)));
  assert.equal(await say(new UsageError('bad hunter2-secret')), { value: ExitCode.USAGE, stdout: '', stderr: '✗ bad ***\n' });
  const stopped = await say(new InterruptedError('SIGINT', 'terraform apply', 'Stopping...'), 'step:4');
  assert.is(stopped.value, ExitCode.INTERRUPTED);
  assert.is(
    stopped.stderr,
    `✗ ${new InterruptedError('SIGINT', 'terraform apply', 'Stopping...').message}\n` +
      '  It was asked to stop cleanly and has stopped (terraform finishes the resource in progress, saves the state and releases its lock).\n' +
      '  rerun: npm run step:4 — every step is safe to rerun and resumes from what exists.\n',
  );
  const before = new InterruptedError('SIGTERM', 'terraform apply', 'not started');
  before.rerun = 'npm run step:3 && npm run step:4';
  const early = await say(before);
  assert.is(early.value, 143);
  assert.is(
    early.stderr,
    `✗ ${before.message}\n  rerun: npm run step:3 && npm run step:4 — every step is safe to rerun and resumes from what exists.\n`,
  );
  const plain = await say(new InterruptedError('SIGINT', 'x', 'not started'));
  assert.match(plain.stderr, '  rerun: the same command — every step');

  const unknown = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5000 hunter2-secret'), { code: 'ECONNREFUSED' });
  const refused = await say(unknown);
  assert.is(refused.value, ExitCode.FAILED);
  const [first, fix, ...rest] = refused.stderr.split('\n');
  assert.is(first, '✗ connect ECONNREFUSED 127.0.0.1:5000 ***');
  assert.match(fix!, /^  fix: /);
  assert.equal(rest, ['']);
  const odd = await say(new Error('nothing anyone knows'));
  assert.is(odd.stderr, '✗ nothing anyone knows\n');
  const debug = await say(new Error('with its stack'), undefined, '1');
  assert.match(debug.stderr, /^✗ with its stack\nError: with its stack\n\s+at /);
  // what was thrown need not be an Error
  assert.equal(await say('a bare string'), { value: ExitCode.FAILED, stdout: '', stderr: '✗ a bare string\n' });
  assert.equal(await say(undefined), { value: ExitCode.FAILED, stdout: '', stderr: '✗ undefined\n' });
  assert.equal(await say(null, undefined, '1'), { value: ExitCode.FAILED, stdout: '', stderr: '✗ null\n' });
});

test('confirm: only "y" or "yes" in any case is yes; anything else, or nothing, is no; --yes asks nothing', async () => {
  const answer = async (text: string | undefined, yes = false) => {
    const input = new PassThrough();
    const asked = output(() => confirm('Apply?', yes, input));
    if (text !== undefined) input.end(`${text}\n`);
    return asked;
  };
  for (const text of ['y', 'Y', 'yes', 'YES', '  yes  ']) {
    const r = await answer(text);
    assert.is(r.value, true, text);
    assert.is(r.stderr, 'Apply? [y/N] ', 'the question on stderr, stdout left to the output');
  }
  for (const text of ['', 'n', 'no', 'yess', 'ay', 'y es', 'yes please'])
    assert.is((await answer(text)).value, false, JSON.stringify(text));
  assert.equal(await answer(undefined, true), { value: true, stdout: '', stderr: '' });
});

test('runScript: main gets yes with --yes, in CI, or without a TTY; on a TTY without either it is asked', async () => {
  const stdin = process.stdin as { isTTY?: boolean };
  const was = stdin.isTTY;
  const yesOf = async (argv: string[], env: Record<string, string | undefined>, tty: boolean) => {
    let seen: boolean | undefined;
    stdin.isTTY = tty;
    try {
      await withEnv({ LLMOPS_ENV_FILE: '', ...env }, () =>
        output(() => runScript(spec({ main: async (ctx: any) => ((seen = ctx.yes), ExitCode.OK) }), argv)),
      );
    } finally {
      stdin.isTTY = was;
    }
    return seen;
  };
  assert.is(await yesOf([], { CI: undefined }, true), false);
  assert.is(await yesOf(['--yes'], { CI: undefined }, true), true);
  assert.is(await yesOf([], { CI: 'true' }, true), true);
  assert.is(await yesOf([], { CI: undefined }, false), true);
});

test('isMain: the script run is the module asking; an import, no script or a path that is gone is not', () => {
  const argv1 = process.argv[1];
  const here = import.meta.url;
  try {
    process.argv[1] = fileURLToPath(here);
    assert.is(isMain(here), true);
    assert.is(isMain(HEADER), false);
    process.argv[1] = join(tmpdir(), 'no-such-dir', 'script.ts');
    assert.is(isMain(here), false);
    process.argv.splice(1);
    assert.is(isMain(here), false);
  } finally {
    process.argv[1] = argv1!;
  }
});

test("every script's help names what each value is (a placeholder of its own, never <value>)", async () => {
  const { readdirSync } = await import('node:fs');
  const dir = fileURLToPath(new URL('../scripts/', import.meta.url));
  let checked = 0;
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const mod = await import(pathToFileURL(join(dir, file)).href);
    if (!mod.spec) continue;
    assert.not.match(helpText(mod.spec), '<value>', file);
    checked++;
  }
  assert.ok(checked >= 25, `${checked} scripts`);
});

test.run();
