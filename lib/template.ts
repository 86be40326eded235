// The JSON templates in config/ (task definition, DNS change, policies): `${NAME}` placeholders filled
// from known values. A string that is exactly `${NAME}` takes the value's type, so ports stay numbers.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UsageError } from './errors.js';

/**
 * JSON.parse whose error never quotes the text: Node's message does ("Unexpected token 'x', "{"KEY":
 * "sec"... is not valid JSON"), and the text may be a secret. Only the line and column are kept.
 */
export function parseJson(text: string, what: string, fix: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error: any) {
    const at = /at position (\d+)/.exec(String(error?.message))?.[1];
    let where = '';
    if (at !== undefined) {
      const before = text.slice(0, Number(at));
      where = ` at line ${before.split('\n').length}, column ${Number(at) - before.lastIndexOf('\n')}`;
    }
    throw new UsageError(
      `${what} is not valid JSON${where} (check quotes, commas and braces; the content is not shown, it may be secret)\n  fix: ${fix}`,
    );
  }
}

export function renderTemplate(text: string, values: Record<string, string | number | boolean>, file: string): any {
  const parsed: any = parseJson(text, file, `correct the syntax, or restore the file with \`git checkout -- ${file}\``);
  const unknown = new Set<string>();
  const fill = (v: any): any => {
    if (typeof v === 'string') {
      const whole = /^\$\{([A-Za-z0-9_]+)\}$/.exec(v);
      if (whole) {
        if (!(whole[1]! in values)) unknown.add(whole[1]!);
        return values[whole[1]!] ?? v;
      }
      return v.replace(/\$\{([A-Za-z0-9_]+)\}/g, (m, k) => (k in values ? String(values[k]) : (unknown.add(k), m)));
    }
    if (Array.isArray(v)) return v.map(fill);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fill(x)]));
    return v;
  };
  const out = fill(parsed);
  if (unknown.size) {
    throw new UsageError(
      `${file} uses unknown placeholder(s): ${[...unknown].map((k) => `\${${k}}`).join(', ')}\n  known: ${Object.keys(values)
        .map((k) => `\${${k}}`)
        .join(' ')}`,
    );
  }
  return out;
}

export function renderTemplateFile(file: string, values: Record<string, string | number | boolean>): any {
  return renderTemplate(readFileSync(file, 'utf8'), values, file);
}

/**
 * Write a rendered document where `file://` arguments can point at it (LLMOPS_STATE_DIR, default
 * .llmops/, git-ignored) and return its path. In dry-run nothing is written; the path is still shown.
 */
export function writeRendered(runner: { dryRun: boolean }, name: string, content: unknown): string {
  const file = resolve(process.env.LLMOPS_STATE_DIR ?? '.llmops', name);
  if (!runner.dryRun) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, typeof content === 'string' ? content : `${JSON.stringify(content, null, 2)}\n`);
  }
  return file;
}
