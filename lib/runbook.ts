// The runbook's command blocks: where they are in a Markdown file, which script and flags each one shows,
// and the commands a script's --dry-run printed, made stable (no machine paths, clocks or process ids).
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export interface RunbookBlock {
  /** `step:5` or `scale -- --count 2`, as written after `npm run`. */
  command: string;
  /** The npm script name and the arguments after `--`. */
  name: string;
  args: string[];
  /** Settings for this block only, as `.env` names: `(DOMAIN_NAME=app.example.com)`. */
  settings: [string, string][];
  /** Blocks with the same key show the same output (computed once). */
  key: string;
  /** 1-based line of the marker. */
  line: number;
  body: string;
  bodyStart: number;
  bodyEnd: number;
}

const MARKER = /<!-- runbook: npm run ([a-z0-9:-]+)((?: --(?: [^\s()]+)+)?)(?: \(([^)]*)\))? -->\n```bash\n([\s\S]*?)```/g;

/** Every `<!-- runbook: npm run … -->` marker followed by its ```bash block. */
export function runbookBlocks(text: string): RunbookBlock[] {
  return [...text.matchAll(MARKER)].map((m) => {
    const name = m[1]!;
    const args = m[2]!.trim().split(/\s+/).filter(Boolean).slice(1);
    const settings = (m[3] ?? '')
      .split(/\s+/)
      .filter(Boolean)
      .map((kv) => {
        const eq = kv.indexOf('=');
        if (!/^[A-Z][A-Z0-9_]*=/.test(kv)) throw new Error(`runbook marker for npm run ${name}: "${kv}" is not NAME=value`);
        return [kv.slice(0, eq), kv.slice(eq + 1)] as [string, string];
      });
    const bodyStart = m.index! + m[0].length - m[4]!.length - 3;
    return {
      command: `${name}${args.length ? ` -- ${args.join(' ')}` : ''}`,
      name,
      args,
      settings,
      key: JSON.stringify([name, args, settings]),
      line: text.slice(0, m.index).split('\n').length,
      body: m[4]!,
      bodyStart,
      bodyEnd: bodyStart + m[4]!.length,
    };
  });
}

/** `"tsx scripts/monitoring.ts dashboard"` → the file and its fixed arguments. */
export function scriptOf(scripts: Record<string, string>, name: string): { file: string; args: string[] } | undefined {
  const m = /^tsx (scripts\/[\w-]+\.ts)((?: [\w-]+)*)$/.exec(scripts[name] ?? '');
  return m ? { file: m[1]!, args: m[2]!.trim().split(' ').filter(Boolean) } : undefined;
}

/**
 * The commands a --dry-run printed (`[dry-run] $ …` and `[dry-run] # …`, inside a task list or not), as
 * pasteable lines, with what differs between machines and runs replaced by a placeholder.
 */
export function settleCommands(output: string, where: { root: string; app: string; terraform?: string }): string {
  const lines: string[] = [];
  for (const raw of output.split('\n')) {
    const at = raw.indexOf('[dry-run] ');
    if (at < 0) continue;
    const line = raw
      .slice(at + '[dry-run] '.length)
      .replace(/^\$ /, '')
      .replaceAll(where.terraform ?? '\0', 'terraform')
      .replaceAll(`${where.app}/`, '../llmops-system/')
      .replaceAll(where.app, '../llmops-system')
      .replaceAll(`${where.root}/`, '')
      .replace(/-smoke-\d+/g, '-smoke-<PID>')
      .replace(/\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z?/g, '<TIME>')
      // a day, but not IAM's policy language version (2012-10-17), which is part of the command
      .replace(/\b(?!2012-10-17\b)\d{4}-\d{2}-\d{2}\b/g, '<DATE>')
      .replace(/\b1\d{12}\b/g, '<EPOCH_MS>');
    lines.push(line);
  }
  return lines.length ? `${lines.join('\n')}\n` : '# (no command: see the text above)\n';
}

const RUNBOOK_ROOT = resolve(import.meta.dirname, '..');

export interface Scratch {
  dir: string;
  app: string;
  terraform: string;
}

/**
 * A stand-in app checkout and a copy of terraform/*.tf without any `.terraform` working state: what a dry run
 * prints must not depend on this machine (an initialised terraform/ would add -reconfigure, for example).
 */
export function scratchCheckout(): Scratch {
  const dir = mkdtempSync(join(tmpdir(), 'llmops-runbook-'));
  const app = join(dir, 'app');
  const terraform = join(dir, 'terraform');
  mkdirSync(app);
  mkdirSync(terraform);
  writeFileSync(join(app, 'Dockerfile'), 'FROM scratch\n');
  for (const f of readdirSync(join(RUNBOOK_ROOT, 'terraform')).filter((f) => f.endsWith('.tf') && !f.endsWith('_override.tf')))
    copyFileSync(join(RUNBOOK_ROOT, 'terraform', f), join(terraform, f));
  cpSync(join(RUNBOOK_ROOT, 'terraform', 'modules'), join(terraform, 'modules'), { recursive: true });
  return { dir, app, terraform };
}
