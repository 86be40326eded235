// Rewrite the command blocks of the Korean and English runbook (docs/ko, docs/en) from each script's --dry-run
// output, or with --check report every block that no longer matches what the scripts run.
// Needs:    docs/ko/*.md and docs/en/*.md with runbook markers; nothing in AWS (dry runs only)
// Produces: the docs rewritten in place (or, with --check, exit 1 and the stale blocks)
// Next:     git add docs && git commit
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import { ScriptFailure } from '../lib/errors.js';
import {
  inKorean,
  RUNBOOK_SETTINGS,
  runbookBlocks,
  type RunbookBlock,
  type Scratch,
  scratchCheckout,
  scriptOf,
  settingsLine,
  settleCommands,
} from '../lib/runbook.js';
import { sh } from '../lib/run.js';

const ROOT = resolve(import.meta.dirname, '..');

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'runbook',
  options: {
    check: { type: 'boolean', description: 'only compare: exit 1 when a block is stale, naming file, line and command' },
    docs: { type: 'string', placeholder: 'dir', description: 'the docs directory (default: docs/ of this repository)' },
  },
  async main({ runner, options }: ScriptContext) {
    const docs = resolve(options.docs ?? join(ROOT, 'docs'));
    const files = ['ko', 'en'].flatMap((lang) =>
      readdirSync(join(docs, lang))
        .filter((f) => f.endsWith('.md'))
        .map((f) => join(docs, lang, f)),
    );
    const blocks = files.flatMap((file) => runbookBlocks(readFileSync(file, 'utf8')).map((b) => ({ ...b, file })));
    const scratch = scratchCheckout();
    const outputs = new Map<string, string>();
    try {
      // each distinct command once, a few at a time: every dry run is its own node process
      const distinct = [...new Map(blocks.map((b) => [b.key, b])).values()];
      for (let i = 0; i < distinct.length; i += 4) {
        await Promise.all(distinct.slice(i, i + 4).map(async (b) => outputs.set(b.key, await dryRun(runner, b, scratch))));
      }
    } finally {
      rmSync(scratch.dir, { recursive: true, force: true });
    }
    if (runner.dryRun) return;
    const stale: string[] = [];
    for (const file of files) {
      let text = readFileSync(file, 'utf8');
      for (const b of runbookBlocks(text).reverse()) {
        const want = pageBlock(file, b, outputs.get(b.key)!);
        if (b.body === want) continue;
        stale.push(`${relative(process.cwd(), file)}:${b.line}: npm run ${b.command}`);
        text = text.slice(0, b.bodyStart) + want + text.slice(b.bodyEnd);
      }
      if (!options.check) writeFileSync(file, text);
    }
    if (options.check && stale.length) {
      throw new ScriptFailure(
        `${stale.length} runbook block(s) no longer match what the scripts run:\n${stale.map((s) => `  ✗ ${s}`).join('\n')}\n  fix: npm run runbook (and commit docs/)`,
      );
    }
    process.stdout.write(
      options.check
        ? `✓ ${blocks.length} runbook blocks match the scripts' --dry-run output\n`
        : `✓ ${stale.length} of ${blocks.length} runbook blocks rewritten\n`,
    );
  },
};

/** What the page shows: the settings line, then the dry run's commands, commented in the page's language. */
function pageBlock(file: string, block: RunbookBlock, output: string): string {
  const lang = relative(resolve(file, '..', '..'), file).startsWith('ko') ? 'ko' : 'en';
  if (lang === 'en') return `${settingsLine(lang, block.settings)}\n${output}`;
  try {
    return `${settingsLine(lang, block.settings)}\n${inKorean(output)}`;
  } catch (error: any) {
    throw new ScriptFailure(`${relative(process.cwd(), file)}:${block.line}: npm run ${block.command}: ${error.message}`);
  }
}

/** One marker's command with --dry-run, in a clean environment (the guide's defaults plus the marker's settings). */
async function dryRun(runner: ScriptContext['runner'], block: RunbookBlock, scratch: Scratch): Promise<string> {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const script = scriptOf(pkg.scripts, block.name);
  if (!script) throw new ScriptFailure(`runbook marker "npm run ${block.command}": no such npm script in package.json`);
  const env = [
    `PATH=${process.env.PATH}`,
    `HOME=${process.env.HOME}`,
    'LLMOPS_ENV_FILE=',
    `LLMOPS_BUILD_CONTEXT=${scratch.app}`,
    `TF_DIR=${scratch.terraform}`,
    'LLMOPS_RENDERER=simple',
    ...[...RUNBOOK_SETTINGS, ...block.settings].map(([k, v]) => `LLMOPS_${k}=${v}`),
  ];
  runner.echo(
    `# npm run ${block.name} -- ${[...block.args, '--dry-run'].join(' ')}${block.settings.length ? ` with ${block.settings.map(([k, v]) => `${k}=${v}`).join(' ')}` : ''}`,
  );
  const r = await runner
    .withEcho(() => {})
    .run(sh`env -i ${env} ${process.execPath} --import tsx ${script.file} ${script.args} ${block.args} --dry-run`, {
      cwd: ROOT,
      nothrow: true,
      timeoutMs: 120_000,
      interleaved: true,
    });
  if (r.dryRun) return '';
  if (!r.ok)
    throw new ScriptFailure(
      `npm run ${block.command} -- --dry-run failed (exit ${r.exitCode}):\n${r.stdout.trim().split('\n').slice(-6).join('\n')}`,
    );
  return settleCommands(r.stdout, { root: ROOT, app: scratch.app, terraform: scratch.terraform });
}

if (isMain(import.meta.url)) await main(spec);
