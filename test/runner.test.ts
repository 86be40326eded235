import { execFileSync, spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatCommand, quote, Runner, sh, stopCleanlyOnSignals } from '../lib/run.js';
import { fakeBins } from './helpers/fake-bin.js';
import { keptEnv, ROOT } from './helpers/script.js';
import { CommandError, SecretInArgvError } from '../lib/errors.js';
import { DOCKER_DROPPED_HINT } from '../lib/hints.js';

const SECRET = 'canary-S3cret-VALUE';
const NASTY = [
  'plain',
  'with space',
  "it's",
  'dollar $HOME',
  'amp & and',
  'semi;colon',
  'back`tick`',
  'double"quote',
  'glob*?[x]',
  '!bang',
  '=equals',
  '~tilde',
  '#hash',
  '',
  'new\nline',
  'tab\tx',
  '{a,b}',
  'ütf-8 ✓',
  '--flag=value with space',
  'file://a b.json',
];

function recorder() {
  const lines: string[] = [];
  return { lines, echo: (l: string) => lines.push(l) };
}

test("the printed line, fed back to bash, gives the same argv as the runner's own call", async () => {
  const fakes = fakeBins({ tool: '' });
  const bin = join(fakes.dir, 'tool');
  const rec = recorder();
  const runner = new Runner({ echo: rec.echo });
  await runner.run(bin, NASTY);
  const printed = rec.lines[0]!.replace(/^\$ /, '');
  assert.is(printed.split('\n').length, NASTY.filter((a) => a.includes('\n')).length + 1, 'one line except inside quotes');
  execFileSync('bash', ['-c', printed]);
  const shells = ['bash'];
  if (existsSync('/usr/bin/zsh') || existsSync('/bin/zsh')) {
    execFileSync('zsh', ['-c', printed]);
    shells.push('zsh');
  }
  const calls = fakes.calls();
  assert.is(calls.length, 1 + shells.length);
  for (const call of calls.slice(1)) assert.equal(call, calls[0]);
  assert.equal(calls[0]!.slice(1), NASTY);
  if (!shells.includes('zsh')) console.warn('  (zsh not installed: only bash checked)');
});

test('formatCommand leaves plain words bare and quotes the rest', () => {
  assert.is(
    formatCommand('aws', ['ecs', 'update-service', '--cluster', 'llmops-cluster']),
    'aws ecs update-service --cluster llmops-cluster',
  );
  assert.is(formatCommand('docker', ['info', '--format', '{{.ServerVersion}}']), "docker info --format '{{.ServerVersion}}'");
  assert.is(formatCommand('echo', ["it's"]), `echo 'it'\\''s'`);
});

test('dry-run prints the plan and executes nothing', async () => {
  const fakes = fakeBins({ tool: '' });
  const rec = recorder();
  const runner = new Runner({ dryRun: true, echo: rec.echo });
  const r = await runner.run(join(fakes.dir, 'tool'), ['a', 'b c']);
  assert.ok(r.dryRun);
  assert.equal(fakes.calls(), []);
  assert.match(rec.lines[0]!, /^\[dry-run\] \$ .*tool a 'b c'$/);
});

test('a secret never reaches argv: the runner refuses before running', async () => {
  const fakes = fakeBins({ tool: '' });
  const runner = new Runner({ echo: () => {}, secrets: [SECRET] });
  try {
    await runner.run(join(fakes.dir, 'tool'), ['--password', `x${SECRET}x`]);
    assert.unreachable('should refuse');
  } catch (error) {
    assert.instance(error, SecretInArgvError);
    assert.not.match((error as Error).message, SECRET);
  }
  assert.equal(fakes.calls(), []);
});

test('stdin carries the secret; printed command, output and errors are masked', async () => {
  const fakes = fakeBins({ login: 'read -r pw; echo "got $pw"; echo "warn: $pw" >&2; exit 3' });
  const rec = recorder();
  const runner = new Runner({ echo: rec.echo, secrets: [SECRET] });
  const r = await runner.run(join(fakes.dir, 'login'), ['--password-stdin'], { input: `${SECRET}\n`, nothrow: true });
  assert.is(r.exitCode, 3);
  assert.not.match(r.stdout + r.stderr + rec.lines.join('\n'), SECRET);
  assert.match(r.stdout, 'got ***');
  try {
    await runner.run(join(fakes.dir, 'login'), ['--password-stdin'], { input: `${SECRET}\n` });
    assert.unreachable();
  } catch (error) {
    assert.instance(error, CommandError);
    assert.match((error as Error).message, 'warn: ***');
    assert.not.match((error as Error).message, SECRET);
  }
  for (const call of fakes.calls()) assert.not.match(call.join(' '), SECRET);
});

test('a pipe passes a password process to process and masks what it printed', async () => {
  const fakes = fakeBins({
    aws: `echo "${SECRET}"`,
    docker: 'read -r pw; [ "$pw" = "' + SECRET + '" ] && echo "Login Succeeded" || { echo "bad password" >&2; exit 1; }',
  });
  const rec = recorder();
  const runner = new Runner({ echo: rec.echo });
  const r = await runner.runPipeline([
    { bin: join(fakes.dir, 'aws'), args: ['ecr', 'get-login-password'] },
    {
      bin: join(fakes.dir, 'docker'),
      args: ['login', '--username', 'AWS', '--password-stdin', '123456789012.dkr.ecr.us-east-1.amazonaws.com'],
    },
  ]);
  assert.ok(r.ok);
  assert.match(r.stdout, 'Login Succeeded');
  assert.match(rec.lines[0]!, / \| .*docker login --username AWS --password-stdin/);
  // the password went process to process: this program never saw it, and neither argv nor any echo holds it
  assert.not.match(rec.lines.join('\n'), SECRET);
  assert.ok(
    fakes.calls().every((c) => !c.join(' ').includes(SECRET)),
    'the password is in no argv',
  );
});

test("a pipe's printed output is masked when a stage prints a known secret (kills: unmasked pipeline output)", async () => {
  const fakes = fakeBins({ emit: `echo "token ${SECRET}"`, pass: 'cat; echo "again ${0##*/}" >&2' });
  const rec = recorder();
  const runner = new Runner({ echo: rec.echo, secrets: [SECRET] });
  const r = await runner.runPipeline(
    [
      { bin: join(fakes.dir, 'emit'), args: [] },
      { bin: join(fakes.dir, 'pass'), args: [] },
    ],
    { stream: true },
  );
  assert.is(r.stdout.trim(), 'token ***');
  assert.not.match(rec.lines.join('\n') + r.stdout + r.stderr, SECRET);
});

test('streamed output (docker build, terraform apply) is masked line by line (kills: streaming without the mask)', async () => {
  const fakes = fakeBins({ build: `echo "step 1"; echo "ARG password=${SECRET}"; echo "${SECRET}" >&2; echo done` });
  const rec = recorder();
  const runner = new Runner({ echo: rec.echo, secrets: [SECRET] });
  const r = await runner.run(join(fakes.dir, 'build'), [], { stream: true });
  assert.ok(r.ok);
  const streamed = rec.lines.join('\n');
  assert.match(streamed, 'ARG password=***', 'the lines were streamed, masked');
  assert.not.match(streamed, SECRET);
  assert.not.match(r.stdout + r.stderr, SECRET);
});

test('secretOutput: a captured token is masked from then on', async () => {
  const fakes = fakeBins({ token: `echo "${SECRET}"`, show: `echo "token=${SECRET}"` });
  const runner = new Runner({ echo: () => {} });
  await runner.run(join(fakes.dir, 'token'), [], { secretOutput: true });
  const r = await runner.run(join(fakes.dir, 'show'), []);
  assert.is(r.stdout.trim(), 'token=***');
});

test('throttling is retried with backoff; other errors are not', async () => {
  const fakes = fakeBins({});
  const counter = join(fakes.dir, 'count');
  fakes.add(
    'flaky',
    `n=$(( $(cat '${counter}' 2>/dev/null || echo 0) + 1 )); echo $n > '${counter}'; if [ $n -lt 3 ]; then echo "An error occurred (ThrottlingException): Rate exceeded" >&2; exit 254; fi; echo ok`,
  );
  fakes.add('broken', 'echo "An error occurred (ValidationException): bad" >&2; exit 254');
  const rec = recorder();
  const runner = new Runner({ echo: rec.echo, retryBaseMs: 10 });
  const r = await runner.run(join(fakes.dir, 'flaky'), [], { retries: 3 });
  assert.is(r.stdout.trim(), 'ok');
  assert.is(fakes.calls().length, 3);
  assert.is(rec.lines.filter((l) => l.includes('retry')).length, 2);
  await runner.run(join(fakes.dir, 'broken'), [], { retries: 3, nothrow: true });
  assert.is(fakes.calls().filter((c) => c[0] === 'broken').length, 1);
});

test('a non-transient error is not retried on the throwing path either (kills: retry every error)', async () => {
  const fakes = fakeBins({ broken: 'echo "An error occurred (ValidationException): bad" >&2; exit 254' });
  const runner = new Runner({ echo: () => {}, retryBaseMs: 1 });
  const error = await runner.run(join(fakes.dir, 'broken'), [], { retries: 3 }).catch((e) => e);
  assert.instance(error, CommandError);
  assert.is(fakes.calls().length, 1, 'ValidationException was retried');
});

test('the aws CLI is retried 3 times by default, other tools not at all (kills: no default retries for aws)', async () => {
  const fakes = fakeBins({
    aws: 'echo "An error occurred (ThrottlingException): Rate exceeded" >&2; exit 254',
    other: 'echo "An error occurred (ThrottlingException): Rate exceeded" >&2; exit 254',
  });
  const runner = new Runner({ echo: () => {}, retryBaseMs: 1, env: { PATH: `${fakes.dir}:${process.env.PATH}` } });
  await runner.run('aws', ['ecs', 'list-clusters']).catch(() => undefined);
  assert.is(fakes.calls().filter((c) => c[0] === 'aws').length, 4, 'one call and 3 retries');
  await runner.run(join(fakes.dir, 'other'), []).catch(() => undefined);
  assert.is(fakes.calls().filter((c) => c[0] === 'other').length, 1);
});

test('a timeout kills the command and says so', async () => {
  const fakes = fakeBins({ slow: 'read -t 30 x < /dev/zero; sleep 30' });
  const runner = new Runner({ echo: () => {} });
  const started = Date.now();
  try {
    await runner.run(join(fakes.dir, 'slow'), [], { timeoutMs: 300 });
    assert.unreachable();
  } catch (error) {
    assert.instance(error, CommandError);
    assert.is((error as CommandError).exitCode, 124);
    assert.match((error as Error).message, 'timed out');
  }
  assert.ok(Date.now() - started < 10_000);
});

test('a missing tool names it and prints the install command', async () => {
  const runner = new Runner({ echo: () => {}, env: { PATH: mkdtempSync(join(tmpdir(), 'empty-')) } });
  try {
    await runner.run('terraform', ['version']);
    assert.unreachable();
  } catch (error) {
    assert.is((error as CommandError).exitCode, 127);
    assert.match((error as Error).message, 'terraform');
    assert.match((error as Error).message, 'releases.hashicorp.com/terraform');
  }
});

test('known AWS errors come with their fix', async () => {
  const fakes = fakeBins({
    nocreds: 'echo "Unable to locate credentials. You can configure credentials by running \\"aws configure\\"." >&2; exit 253',
    expired:
      'echo "An error occurred (ExpiredTokenException) when calling the DescribeServices operation: The security token included in the request is expired" >&2; exit 254',
    denied:
      'echo "An error occurred (AccessDeniedException) when calling the UpdateService operation: User is not authorized to perform: ecs:UpdateService" >&2; exit 254',
  });
  const runner = new Runner({ echo: () => {} });
  const message = async (bin: string) => (await runner.run(join(fakes.dir, bin), []).catch((e) => e)).message as string;
  assert.match(await message('nocreds'), 'aws configure');
  assert.match(await message('expired'), 'session expired');
  assert.match(await message('denied'), 'lacks a permission');
});

test('a Docker engine that drops the connection mid-build gets its own fix, whatever docker printed; the same EOF from another tool does not', async () => {
  // what docker 28 printed in runs of test/helpers/fault-proxy.ts, depending on when the connection broke
  const seen = [
    'Step 1/4 : FROM node:20-alpine\nunexpected EOF',
    'Step 1/4 : FROM node:20-alpine\nread unix @->/tmp/docker.sock: read: connection reset by peer',
    'Step 1/4 : FROM node:20-alpine\nread unix @->/tmp/docker.sock: use of closed network connection',
    `level=error msg="Can't close tar writer: io: read/write on closed pipe"\nerror during connect: Post "http://%2Ftmp%2Fdocker.sock/v1.41/build": write unix @->/tmp/docker.sock: write: broken pipe`,
  ];
  for (const [i, text] of seen.entries()) {
    const fakes = fakeBins({ docker: 'cat "$(dirname "$0")/said" >&2; exit 1' });
    writeFileSync(join(fakes.dir, 'said'), text);
    const runner = new Runner({ echo: () => {}, env: { PATH: `${fakes.dir}:${process.env.PATH}` } });
    const docker = (await runner.run('docker', ['build', '.']).catch((e) => e)).message as string;
    assert.match(docker, 'fix: the Docker engine dropped the connection mid-way', `case ${i}: ${docker}`);
  }
  const fakes = fakeBins({
    other: 'echo "unexpected EOF" >&2; exit 1',
    docker: 'echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1',
  });
  const runner = new Runner({ echo: () => {}, env: { PATH: `${fakes.dir}:${process.env.PATH}` } });
  const other = (await runner.run(join(fakes.dir, 'other'), []).catch((e) => e)).message as string;
  assert.not.match(other, 'fix:');
  const down = (await runner.run('docker', ['build', '.']).catch((e) => e)).message as string;
  assert.match(down, 'fix: the Docker engine is not running', 'an engine that is not there is not one that dropped');
});

test('AWS_ENDPOINT_URL reaches CLI v2 as --endpoint-url', async () => {
  const fakes = fakeBins({ aws: '' });
  const rec = recorder();
  const runner = new Runner({ echo: rec.echo, env: { PATH: fakes.dir, AWS_ENDPOINT_URL: 'http://127.0.0.1:5000' } });
  await runner.run('aws', ['ecs', 'list-clusters']);
  assert.equal(fakes.calls()[0], ['aws', 'ecs', 'list-clusters', '--endpoint-url', 'http://127.0.0.1:5000']);
});

test('a secret file is 0600 in a private directory and removed afterwards', async () => {
  const runner = new Runner({ echo: () => {} });
  let seen = '';
  const returned = await runner.withSecretFile(SECRET, async (path) => {
    seen = path;
    assert.is(statSync(path).mode & 0o777, 0o600);
    assert.is(statSync(dirname(path)).mode & 0o777, 0o700, 'its directory is private');
    assert.is(readFileSync(path, 'utf8'), SECRET);
    return 'used';
  });
  assert.is(returned, 'used', "the caller's function ran and its value is returned");
  assert.ok(seen, 'a path was given');
  assert.not.ok(existsSync(seen));
  assert.not.ok(existsSync(dirname(seen)), 'the directory is removed too');
  assert.is(runner.mask(`x ${SECRET} y`), 'x *** y');
});

test('an unwritable temp directory gives a clear error and stages nothing', async () => {
  const previous = process.env.TMPDIR; // test/all.ts gives the suite a TMPDIR of its own: put it back
  if (process.getuid?.() === 0) {
    // root ignores directory permissions: use a path that cannot exist instead
    process.env.TMPDIR = '/proc/llmops-no-such-dir';
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'ro-'));
    chmodSync(dir, 0o500);
    process.env.TMPDIR = dir;
  }
  try {
    const e = await new Runner({ echo: () => {} }).withSecretFile(SECRET, async () => 'x').catch((err) => err);
    assert.match(e.message, 'TMPDIR');
    assert.not.match(e.message, SECRET);
  } finally {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
  }
});

test('sh: literal words split on whitespace; each value is one argument, joined to the text it touches', () => {
  const evil = `a b 'c' "d" $(id) ; rm -rf ~ \n`;
  const tag = 'v1';
  assert.equal(sh`aws ecr describe-images --image-ids imageTag=${tag} --repository-name ${evil}`, {
    bin: 'aws',
    args: ['ecr', 'describe-images', '--image-ids', 'imageTag=v1', '--repository-name', evil],
  });
  assert.equal(sh`docker   tag\n  ${'x'}  ${'r'}:${tag}`, { bin: 'docker', args: ['tag', 'x', 'r:v1'] });
  assert.equal(sh`git -C ${''} status`, { bin: 'git', args: ['-C', '', 'status'] });
  assert.equal(sh`aws logs tail g ${['--filter-pattern', 'ERROR x']} ${[]} --region ${'r'}`, {
    bin: 'aws',
    args: ['logs', 'tail', 'g', '--filter-pattern', 'ERROR x', '--region', 'r'],
  });
  assert.equal(sh`terraform ${['-chdir=terraform']} plan -out=tfplan`, {
    bin: 'terraform',
    args: ['-chdir=terraform', 'plan', '-out=tfplan'],
  });
});

test('sh: quotes, escapes and $ in literal text, arrays glued to text, and empty commands are refused', () => {
  assert.throws(() => sh`docker inspect --format '{{.Id}}' x`, /quotes, escapes and \$/);
  assert.throws(() => sh`echo "hi"`, /quotes/);
  assert.throws(() => sh`echo $HOME`, /quotes, escapes and \$/);
  assert.throws(() => sh`echo \${1}`, /quotes, escapes and \$/);
  assert.throws(() => sh`x --a=${['1', '2']}`, /array must stand alone/);
  assert.throws(() => sh`x ${['1']}b`, /array must stand alone/);
  assert.throws(() => sh` ${[]} `, /empty command/);
});

test('sh: what the runner runs and echoes is exactly the argv, read back by bash', async () => {
  const fakes = fakeBins({ tool: '' });
  const rec = recorder();
  const value = `it's "$(echo PWNED)" a b`;
  await new Runner({ echo: rec.echo }).run(sh`${join(fakes.dir, 'tool')} --name ${value} k=${value}`);
  assert.equal(fakes.calls()[0]!.slice(1), ['--name', value, `k=${value}`]);
  const line = rec.lines[0]!.replace(/^\$ /, '');
  const back = execFileSync('bash', ['-c', `printf '%s\\0' ${line}`])
    .toString()
    .split('\0')
    .slice(0, -1);
  assert.equal(back, [join(fakes.dir, 'tool'), '--name', value, `k=${value}`]);
});

test('interleaved: stdout and stderr come back in the order the command wrote them, masked', async () => {
  const fakes = fakeBins({ tool: 'for i in 1 2 3 4 5 6; do echo "out $i"; echo "err $i s3cr3t-value" >&2; done' });
  const r = await new Runner({ echo: () => {}, secrets: ['s3cr3t-value'] }).run(join(fakes.dir, 'tool'), [], { interleaved: true });
  assert.is(r.stdout, [1, 2, 3, 4, 5, 6].map((i) => `out ${i}\nerr ${i} ***\n`).join(''));
});

test('pipes: the failing stage decides the exit code and its stderr is kept; a missing tool is named wherever it is', async () => {
  const runner = new Runner({ echo: () => {} });
  const up = await runner.runPipeline([sh`sh -c ${'echo upstream-says >&2; exit 3'}`, sh`cat`], { nothrow: true });
  assert.equal([up.exitCode, up.ok], [3, false]);
  assert.is(up.stderr, 'upstream-says\n');
  const down = await runner.runPipeline([sh`echo hi`, sh`sh -c ${'cat >/dev/null; echo downstream-says >&2; exit 4'}`], { nothrow: true });
  assert.equal([down.exitCode, down.ok, down.stderr], [4, false, 'downstream-says\n']);
  const both = await runner.runPipeline([sh`sh -c ${'echo one >&2'}`, sh`sh -c ${'echo two >&2'}`], { nothrow: true });
  assert.equal([both.exitCode, both.ok, both.stderr], [0, true, 'one\n\ntwo\n']);
  const first = await runner.runPipeline([sh`no-such-tool-a`, sh`cat`], { nothrow: true });
  assert.equal([first.exitCode, first.stderr], [127, 'no-such-tool-a: not found (spawn ENOENT)']);
  const last = await runner.runPipeline([sh`echo hi`, sh`no-such-tool-b`], { nothrow: true });
  assert.equal([last.exitCode, last.stderr], [127, 'no-such-tool-b: not found (spawn ENOENT)']);
  const error = await runner.runPipeline([sh`echo hi`, sh`no-such-tool-b`]).catch((e) => e);
  assert.instance(error, CommandError);
  assert.is(error.stderrTail, 'no-such-tool-b: not found (spawn ENOENT)');
});

test('results exactly: a dry run, a timeout in whole seconds, JSON of nothing, of a failure, of a dry run', async () => {
  const dry = new Runner({ dryRun: true, echo: () => {} });
  assert.equal(await dry.run(sh`rm -rf /nothing`), {
    command: 'rm -rf /nothing',
    exitCode: 0,
    stdout: '',
    stderr: '',
    ok: true,
    dryRun: true,
  });
  assert.is(await dry.json(sh`aws sts get-caller-identity`), undefined);
  const runner = new Runner({ echo: () => {} });
  const slow = await runner.run(sh`sleep 5`, { nothrow: true, timeoutMs: 600 });
  assert.equal([slow.exitCode, slow.ok], [124, false]);
  assert.is(slow.stderr, '\ntimed out after 1 s');
  assert.equal(await runner.json(sh`true`), {}, 'no output: an empty object');
  assert.is(await runner.json(sh`false`, { nothrow: true }), undefined, 'a failure: nothing');
  assert.equal(await runner.json(sh`echo ${'{"a":1}'}`), { a: 1 });
});

test('masking exactly: values under 4 characters are not secrets; the longest secret first; a captured token trimmed; stdin a secret unless told', async () => {
  const lines: string[] = [];
  const runner = new Runner({ echo: (l) => lines.push(l), secrets: ['abc', 'abcd', 'abcdefgh'] });
  assert.is(runner.mask('abc abcd abcdefgh'), 'abc *** ***');
  runner.addSecret('');
  runner.addSecret(undefined);
  assert.is(runner.mask('x'), 'x');
  await runner.run(sh`printf ${'  tok3n-value\n'}`, { secretOutput: true });
  assert.is(runner.mask('the tok3n-value here'), 'the *** here');
  const piped = await runner.run(sh`cat`, { input: 'pa55word-x' });
  assert.is(piped.stdout, '***');
  const plain = await runner.run(sh`cat`, { input: 'not-a-secret', inputIsSecret: false });
  assert.is(plain.stdout, 'not-a-secret');
  lines.length = 0;
  await runner.run(sh`cat`, { input: 'a\nabcd\nlast-no-newline', inputIsSecret: false, stream: true });
  assert.equal(lines.slice(1), ['  a', '  ***', '  last-no-newline'], 'streamed line by line, the last one without its newline too');
  // a secret on the last line, with no newline after it (the stream's tail, flushed at its end): masked too
  lines.length = 0;
  await runner.run(sh`cat`, { input: 'first\nthe token is abcdefgh', inputIsSecret: false, stream: true });
  assert.equal(lines.slice(1), ['  first', '  the token is ***']);
  // and one written in two pieces with a pause between (two chunks): still one line, masked whole
  const pieces = join(mkdtempSync(join(tmpdir(), 'pieces-')), 'pieces.sh');
  writeFileSync(pieces, "printf 'key abcd'; sleep 0.3; printf 'efgh'");
  lines.length = 0;
  await runner.run(sh`sh ${pieces}`, { stream: true });
  assert.equal(lines.slice(1), ['  key ***']);
});

test('retries: the delay doubles and is said; a transient error is retried even when failures are expected; any aws stage of a pipe gets the default', async () => {
  const fakes = fakeBins({
    flaky: `n=$(cat "$(dirname "$0")/n" 2>/dev/null || echo 0); echo $((n+1)) > "$(dirname "$0")/n"; [ "$n" -ge 2 ] && { echo ok; exit 0; }; echo "Rate exceeded" >&2; exit 1`,
    aws: `n=$(cat "$(dirname "$0")/a" 2>/dev/null || echo 0); echo $((n+1)) > "$(dirname "$0")/a"; [ "$n" -ge 2 ] && { echo ok; exit 0; }; echo "Rate exceeded" >&2; exit 1`,
  });
  const lines: string[] = [];
  const runner = new Runner({ echo: (l) => lines.push(l), retryBaseMs: 3, env: { PATH: `${fakes.dir}:${process.env.PATH}` } });
  const r = await runner.run(sh`flaky`, { nothrow: true, retries: 3 });
  assert.equal([r.ok, r.stdout], [true, 'ok\n']);
  assert.equal(lines.slice(1), ['  (transient error, retry 1/3 in 3 ms)', '  (transient error, retry 2/3 in 6 ms)']);
  const piped = await runner.runPipeline([sh`aws ecr get-login-password`, sh`cat`]);
  assert.is(piped.stdout, 'ok\n', 'the aws stage retried by default');
});

test("a pipe's first output made through the SDK: that command never starts, the next reads it on stdin, it is masked, the whole pipe is printed; a dry run makes nothing", async () => {
  const fakes = fakeBins({ aws: 'echo started >&2; exit 9', login: 'read -r p; echo "got $p"; echo "stderr $p" >&2' });
  const lines: string[] = [];
  const env = { PATH: `${fakes.dir}:${process.env.PATH}`, AWS_ENDPOINT_URL: '' };
  const runner = new Runner({ echo: (l) => lines.push(l), env });
  let made = 0;
  const firstOutput = async () => (made++, 'pa55-from-sdk');
  const r = await runner.runPipeline([sh`aws ecr get-login-password --region r`, sh`login --stdin`], { firstOutput });
  assert.equal([r.ok, r.stdout, made], [true, 'got ***\n', 1]);
  assert.equal(
    fakes.calls().map((c) => c[0]),
    ['login'],
    'the aws CLI was not started',
  );
  assert.equal(lines, ['$ aws ecr get-login-password --region r | login --stdin   # aws ecr get-login-password via the SDK']);
  assert.not.ok(runner.mask('x pa55-from-sdk y').includes('pa55'), 'masked from now on');
  // a failure of the next command names the whole pipe, masked
  const failing = await runner.runPipeline([sh`aws ecr get-login-password`, sh`sh -c ${'read -r p; echo "bad $p" >&2; exit 3'}`], {
    firstOutput,
    nothrow: true,
  });
  assert.equal([failing.ok, failing.exitCode, failing.stderr.trim()], [false, 3, 'bad ***']);
  // an error of the SDK call is the error
  const sdkError = await runner
    .runPipeline([sh`aws ecr get-login-password`, sh`login`], { firstOutput: () => Promise.reject(new Error('denied')) })
    .catch((e) => e);
  assert.is(sdkError.message, 'denied');
  // a dry run prints the pipe and makes nothing
  const dry: string[] = [];
  made = 0;
  await new Runner({ dryRun: true, echo: (l) => dry.push(l), env }).runPipeline([sh`aws ecr get-login-password`, sh`login`], {
    firstOutput,
  });
  assert.equal([dry, made], [['[dry-run] $ aws ecr get-login-password | login   # aws ecr get-login-password via the SDK'], 0]);
});

test('the endpoint goes to aws only, once, never to --version; the signal handlers are removed by the function returned', async () => {
  const fakes = fakeBins({ aws: '', other: '' });
  const runner = new Runner({ echo: () => {}, env: { PATH: fakes.dir, AWS_ENDPOINT_URL: 'http://127.0.0.1:5000' } });
  await runner.run('aws', ['--version']);
  await runner.run('aws', ['s3', 'ls', '--endpoint-url', 'http://other:1']);
  await runner.run('other', ['x']);
  assert.equal(fakes.calls(), [
    ['aws', '--version'],
    ['aws', 's3', 'ls', '--endpoint-url', 'http://other:1'],
    ['other', 'x'],
  ]);
  const before = ['SIGINT', 'SIGTERM', 'exit'].map((e) => process.listenerCount(e));
  const stop = stopCleanlyOnSignals(() => {});
  assert.equal(
    ['SIGINT', 'SIGTERM', 'exit'].map((e) => process.listenerCount(e)),
    before.map((n) => n + 1),
  );
  stop();
  assert.equal(
    ['SIGINT', 'SIGTERM', 'exit'].map((e) => process.listenerCount(e)),
    before,
  );
});

test('what a failure says: terraform lock details whole, else the last 8 lines of stderr, else the last 5 of stdout', async () => {
  const runner = new Runner({ echo: () => {} });
  const lock = await runner
    .run(
      sh`sh -c ${'printf "Error: Error acquiring the state lock\\n\\nLock Info:\\n  ID:        1234\\n  Path:      b/k\\n  Who:       me@host\\n\\nTerraform acquires a lock\\n" >&2; exit 1'}`,
    )
    .catch((e) => e);
  assert.is(lock.stderrTail, 'Error acquiring the state lock\nLock Info:\n  ID:        1234\n  Path:      b/k\n  Who:       me@host');
  const long = await runner.run(sh`sh -c ${'for i in 1 2 3 4 5 6 7 8 9 10; do echo e$i >&2; done; exit 1'}`).catch((e) => e);
  assert.is(long.stderrTail, 'e3\ne4\ne5\ne6\ne7\ne8\ne9\ne10');
  const quiet = await runner.run(sh`sh -c ${'for i in 1 2 3 4 5 6 7; do echo o$i; done; exit 1'}`).catch((e) => e);
  assert.is(quiet.stderrTail, 'o3\no4\no5\no6\no7');
});

test('quote and sh at their edges: the empty word, runs of spaces, a value glued to text, the refusals word for word', () => {
  assert.is(quote(''), "''");
  assert.equal(sh`docker   tag  ${'a b'}   x${'y'}z`, { bin: 'docker', args: ['tag', 'a b', 'xyz'] });
  assert.throws(
    () => sh`echo 'x' ${'y'}`,
    (e: Error) => e.message === "sh: quotes, escapes and $ in the literal text of `echo 'x'` are not shell here; interpolate the value",
  );
  assert.throws(
    () => sh`echo x${['a']} `,
    (e: Error) => e.message === 'sh: an array must stand alone as words in `echo x`',
  );
  assert.throws(
    () => sh`echo ${['a']}x`,
    (e: Error) => e.message === 'sh: an array must stand alone as words in `echo  x`',
  );
  assert.equal(sh`echo ${['a', 'b']}`, { bin: 'echo', args: ['a', 'b'] });
});

/** A process that follows a command with the runner's signal handling, and what it printed. */
function underSignals(command: string, signals: NodeJS.Signals[]): Promise<{ code: number | null; out: string }> {
  const program = `
const { Runner, sh, stopCleanlyOnSignals } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'lib/run.ts')).href)});
stopCleanlyOnSignals((l) => console.log(l));
const runner = new Runner({ echo: (l) => console.log(l) });
try {
  await runner.run(sh\`sh -c \${${JSON.stringify(command)}}\`, { stream: true });
  console.log('finished');
} catch (error) {
  console.log(error.name + ': ' + error.message.split('\\n')[0]);
  const next = await runner.run(sh\`true\`).catch((e) => e);
  console.log('next: ' + next.name + ': ' + next.message + ' [' + next.detail + ']');
  process.exit(9);
}`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', program], {
      cwd: ROOT,
      env: { ...process.env, ...keptEnv() },
    });
    let out = '';
    let sent = 0;
    child.stdout.on('data', (d) => {
      out += d;
      // each signal once the command said READY (its printed command line says RE""ADY)
      while (sent < signals.length && out.split('READY').length - 1 > sent) child.kill(signals[sent++]);
    });
    child.on('exit', (code) => resolve({ code, out }));
  });
}

test('Ctrl-C: the command is asked to stop cleanly once and the script fails as interrupted; a second signal stops at once (130, or 143 for SIGTERM)', async () => {
  const clean = await underSignals('trap "echo stopping; exit 130" INT; echo RE""ADY; while :; do sleep 0.1; done', ['SIGINT']);
  assert.is(clean.code, 9);
  const lines = clean.out.trim().split('\n');
  assert.ok(
    lines.includes(
      `# SIGINT: asking sh -c 'trap "echo stopping; exit 130" INT; echo RE""ADY; while :; do sleep 0.1; done' to stop cleanly; send it again to stop at once`,
    ),
    clean.out,
  );
  assert.ok(lines.includes('  stopping'), 'the command got the SIGINT and stopped itself');
  assert.match(lines.at(-4)!, /^InterruptedError: interrupted \(SIGINT\) while running: sh -c/);
  assert.equal(
    lines.slice(-3),
    ['$ true', 'next: InterruptedError: interrupted (SIGINT) while running: true', '  | not started [not started]'],
    'no command starts after it',
  );

  const twice = await underSignals('trap "echo RE\"\"ADY" INT TERM; echo RE""ADY; while :; do sleep 0.1; done', ['SIGTERM', 'SIGTERM']);
  assert.is(twice.code, 143);
  assert.match(twice.out, '# SIGTERM again: stopping at once');
  const sigint = await underSignals('trap "echo RE\"\"ADY" INT; echo RE""ADY; while :; do sleep 0.1; done', ['SIGINT', 'SIGINT']);
  assert.is(sigint.code, 130);
});

test('more edges: stdin closed unless given, a dry run stages no secret file, the default echo is stderr, nothrow after the last retry, docker anywhere in a pipe gets the dropped-connection fix', async () => {
  const runner = new Runner({ echo: () => {} });
  const cat = await runner.run(sh`cat`, { timeoutMs: 5000 });
  assert.equal([cat.ok, cat.stdout], [true, ''], 'a command reading stdin gets none, it does not wait');
  const dry = new Runner({ dryRun: true, echo: () => {} });
  assert.is(await dry.withSecretFile('s3cret-value', async (p) => p), '<SECRET_FILE>');
  assert.is(dry.mask('s3cret-value'), '***', 'registered as a secret even in a dry run');

  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: unknown) => (written.push(String(chunk)), true)) as any;
  try {
    new Runner({ secrets: ['abcd1234'] }).echo('to stderr abcd1234');
  } finally {
    process.stderr.write = write;
  }
  assert.equal(written, ['to stderr ***\n']);

  const fakes = fakeBins({
    flaky: 'echo "Rate exceeded" >&2; exit 1',
    docker: 'echo "error during connect: unexpected EOF" >&2; exit 1',
  });
  const onPath = new Runner({ echo: () => {}, retryBaseMs: 1, env: { PATH: `${fakes.dir}:${process.env.PATH}` } });
  const exhausted = await onPath.run(sh`flaky`, { nothrow: true, retries: 1 });
  assert.equal([exhausted.ok, fakes.calls().filter((c) => c[0] === 'flaky').length], [false, 2], 'tried twice, then returned');
  const dropped = await onPath.runPipeline([sh`echo token`, sh`docker login --password-stdin x`]).catch((e) => e);
  assert.instance(dropped, CommandError);
  assert.is(dropped.hint, DOCKER_DROPPED_HINT);
});

test("a command as it ran: stdout and stderr apart unless interleaved, whose file is removed; killed by a signal is exit 1; a pipe whose stages both fail gives the last one's code", async () => {
  const runner = new Runner({ echo: () => {} });
  const apart = await runner.run(sh`sh -c ${'echo out; echo err >&2'}`);
  assert.equal([apart.stdout, apart.stderr], ['out\n', 'err\n']);
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = mkdtempSync(join(tmpdir(), 'interleaved-'));
  try {
    const merged = await runner.run(sh`sh -c ${'echo out; echo err >&2'}`, { interleaved: true });
    assert.equal([merged.stdout, merged.stderr], ['out\nerr\n', '']);
    assert.equal(readdirSync(process.env.TMPDIR), [], 'the file both streams went to is removed');
  } finally {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
  }
  const killed = await runner.run(sh`sh -c ${'kill -9 $$'}`, { nothrow: true });
  assert.equal([killed.exitCode, killed.ok], [1, false]);
  const both = await runner.runPipeline([sh`sh -c ${'exit 3'}`, sh`sh -c ${'cat >/dev/null; exit 5'}`], { nothrow: true });
  assert.equal([both.exitCode, both.ok], [5, false]);
});

test('exit 127 names a missing tool only when the output says that tool is not found', async () => {
  const fakes = fakeBins({
    terraform: 'echo "terraform: not found" >&2; exit 127',
    wrapper: 'echo "helper: not found" >&2; exit 127',
    reader: 'echo "open config.json: ENOENT" >&2; exit 1',
  });
  const runner = new Runner({ echo: () => {}, env: { PATH: `${fakes.dir}:${process.env.PATH}` } });
  const missing = await runner.run(sh`terraform version`).catch((e) => e);
  assert.instance(missing, CommandError);
  assert.match(missing.hint ?? '', 'releases.hashicorp.com/terraform', 'terraform named itself as not found');
  const other = await runner.run(sh`wrapper`).catch((e) => e);
  assert.instance(other, CommandError);
  assert.is(other.exitCode, 127);
  assert.not.match(other.hint ?? '', 'install', 'what is missing is not the command run: no install hint for it');
  const notATool = await runner.run(sh`reader`).catch((e) => e);
  assert.instance(notATool, CommandError);
  assert.not.match(notATool.hint ?? '', 'install', 'a missing file is not a missing tool');
});

test("terraform's lock details at the very end of its output, without a last newline, are kept whole", async () => {
  const runner = new Runner({ echo: () => {} });
  const lock = await runner.run(sh`sh -c ${'printf "Lock Info:\\n  ID:        1234\\n  Who:       me@host" >&2; exit 1'}`).catch((e) => e);
  assert.is(lock.stderrTail, 'Error acquiring the state lock\nLock Info:\n  ID:        1234\n  Who:       me@host');
});

test("a runner's default time limit applies to every command that sets none", async () => {
  const runner = new Runner({ echo: () => {}, defaultTimeoutMs: 1000 });
  const started = Date.now();
  const slow = await runner.run(sh`sleep 20`, { nothrow: true });
  assert.equal([slow.exitCode, slow.stderr], [124, '\ntimed out after 1 s']);
  assert.ok(Date.now() - started < 15_000);
});

test.run();
