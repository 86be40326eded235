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

/**
 * What every block's dry run is given besides the marker's own settings: the guide serves plain HTTP (it has no
 * domain), and bootstrap names the one account it may touch (the page shows the guide's <ACCOUNT_ID>). Shown on
 * the block's first line, with the marker's settings, so no setting a block depends on is hidden.
 */
export const RUNBOOK_SETTINGS: [string, string][] = [
  ['ALLOW_PLAIN_HTTP', 'true'],
  ['EXPECTED_ACCOUNT_ID', '123456789012'],
  ['ALARM_EMAIL', 'oncall@your-team.example'],
];

/** The block's first line: the settings its dry run had, in the page's language. */
export function settingsLine(lang: 'ko' | 'en', settings: [string, string][]): string {
  const all = [...RUNBOOK_SETTINGS.filter(([k]) => !settings.some(([s]) => s === k)), ...settings].map(([k, v]) => `${k}=${v}`).join(' ');
  return lang === 'ko' ? `# 아래는 --dry-run 출력 (설정: ${all})` : `# the --dry-run output with ${all}`;
}

/**
 * The scripts' comments in a command block, as a Korean engineer writes them. Every comment a dry run prints
 * needs a line here: a new one without it stops `npm run runbook` (and --check) naming it.
 */
export const KO_COMMENTS: [RegExp, string][] = [
  [/^# via the SDK$/, '# SDK로 호출'],
  [/^# (aws \S+ \S+) via the SDK$/, '# $1 은 SDK로 호출'],
  [/^# polled through the SDK until the deployment is healthy$/, '# 배포가 정상이 될 때까지 SDK로 폴링'],
  [/^# the deploy lock$/, '# 배포 잠금'],
  [/^# wait for (\S+) to answer 200, then:$/, '# $1 이 200으로 응답할 때까지 기다린 다음:'],
  [/^# write (\S+) from the configuration$/, '# 설정으로 $1 작성'],
  [/^# UPSERT the validation CNAME records in HOSTED_ZONE_ID, then: (.+)$/, '# HOSTED_ZONE_ID에 검증용 CNAME 레코드를 UPSERT한 다음: $1'],
  [/^# every few seconds until the task is STOPPED \(at most (\d+) s\):$/, '# 태스크가 STOPPED가 될 때까지 몇 초마다 확인 (최대 $1초):'],
  [/^# \(no command: see the text above\)$/, '# (명령 없음: 위 설명을 보세요)'],
];

/** A block's comments in Korean (a whole-line comment, or one after the command); throws naming any it lacks. */
export function inKorean(body: string): string {
  const missing: string[] = [];
  const lines = body.split('\n').map((line) => {
    const after = line.indexOf('   # ');
    const at = line.startsWith('#') ? 0 : after < 0 ? -1 : after + 3;
    if (at < 0) return line;
    const comment = line.slice(at);
    const rule = KO_COMMENTS.find(([re]) => re.test(comment));
    if (!rule) {
      missing.push(comment);
      return line;
    }
    return line.slice(0, at) + comment.replace(rule[0], rule[1]);
  });
  if (missing.length)
    throw new Error(
      `no Korean for ${missing.length} comment(s) of a runbook block: ${missing.map((m) => JSON.stringify(m)).join(', ')}; add each to KO_COMMENTS in lib/runbook.ts`,
    );
  return lines.join('\n');
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
