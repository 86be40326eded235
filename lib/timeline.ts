// A deploy's timeline: its phases with their times (each step, the scan gate and migration inside step 6, the new
// tasks' provisioning, image pull and start, the first and the last healthy target, the old tasks out), recorded
// once and drawn three ways from the same record: a table at the end of the run, a Mermaid gantt in the GitHub job
// summary, and JSON (the release record beside the state, and `npm run bench`'s phase table).

export interface Phase {
  name: string;
  /** Epoch milliseconds. */
  start: number;
  end: number;
  /** What it moved or waited for: bytes pushed, tasks, targets. */
  detail?: string;
}

export class Timeline {
  readonly origin: number;
  readonly phases: Phase[] = [];

  constructor(origin = Date.now()) {
    this.origin = origin;
  }

  /** A phase that has happened; one with no start or a negative length (clocks of two machines) is left out. */
  add(name: string, start: number | undefined, end: number | undefined, detail?: string): void {
    if (start === undefined || end === undefined || !Number.isFinite(start) || !Number.isFinite(end) || end < start) return;
    this.phases.push({ name, start, end, ...(detail ? { detail } : {}) });
  }

  /** In the order they started (a phase inside a step comes after the step). */
  ordered(): Phase[] {
    return [...this.phases].sort((a, b) => a.start - b.start || b.end - a.end);
  }
}

/** What step 7's waiter saw of the new deployment, in epoch milliseconds. */
export interface Milestones {
  /** The deployment's tasks: the first created, the first to begin pulling, the last to finish pulling and to start. */
  created?: number;
  pullStarted?: number;
  pullStopped?: number;
  started?: number;
  /** The poll that first saw one healthy target of the new tasks, all of them, and no other target serving. */
  firstHealthy?: number;
  allHealthy?: number;
  oldOut?: number;
  /** The first poll: a deployment already healthy then was not watched coming up (a steady service checked again). */
  firstLook?: number;
}

/** Step 7's phases: the tasks' provisioning, image pull and start, the health checks, the old tasks leaving. */
export function addVerifyPhases(t: Timeline, m: Milestones | undefined): void {
  // healthy at the first look: its tasks came up before this run, and their times are not this run's phases
  if (!m || (m.allHealthy !== undefined && m.allHealthy === m.firstLook)) return;
  t.add('tasks provisioning', m.created, m.pullStarted);
  t.add('image pull', m.pullStarted, m.pullStopped);
  t.add('container start', m.pullStopped, m.started);
  const first =
    m.firstHealthy !== undefined && m.started !== undefined ? `first healthy after ${seconds(m.firstHealthy - m.started)} s` : undefined;
  t.add('health checks', m.started, m.allHealthy, first);
  t.add('old tasks out', m.allHealthy, m.oldOut);
}

const seconds = (ms: number) => (ms / 1000).toFixed(1);

/** Seconds from the start of the run: phase, from, to, how long, what. */
export function timelineTable(t: Timeline): string[] {
  const rows = t.ordered();
  if (!rows.length) return [];
  const width = Math.max(5, ...rows.map((p) => p.name.length));
  return [
    `  ${'phase'.padEnd(width)}  ${'from'.padStart(7)}  ${'to'.padStart(7)}  ${'took'.padStart(7)}`,
    ...rows.map(
      (p) =>
        `  ${p.name.padEnd(width)}  ${seconds(p.start - t.origin).padStart(7)}  ${seconds(p.end - t.origin).padStart(7)}  ${`${seconds(p.end - p.start)} s`.padStart(7)}${p.detail ? `  ${p.detail}` : ''}`,
    ),
  ];
}

/** Mermaid's gantt, in milliseconds from the start (dateFormat x); a name loses the characters Mermaid reads as syntax. */
export function mermaidGantt(t: Timeline, title = 'Deploy timeline'): string {
  const rows = t.ordered();
  if (!rows.length) return '';
  const label = (s: string) => s.replace(/[:;#]/g, ' ').trim();
  return [
    '```mermaid',
    'gantt',
    `  title ${label(title)}`,
    '  dateFormat x',
    '  axisFormat %M:%S',
    ...rows.map((p, i) => `  ${label(p.name)} : p${i}, ${Math.round(p.start - t.origin)}, ${Math.max(1, Math.round(p.end - t.origin))}`),
    '```',
  ].join('\n');
}

/** The record: the start as ISO time, each phase in seconds from it. */
export function timelineRecord(t: Timeline): { startedAt: string; phases: { name: string; from: number; to: number; detail?: string }[] } {
  const round = (ms: number) => Math.round(ms / 100) / 10;
  return {
    startedAt: new Date(t.origin).toISOString(),
    phases: t.ordered().map((p) => ({
      name: p.name,
      from: round(p.start - t.origin),
      to: round(p.end - t.origin),
      ...(p.detail ? { detail: p.detail } : {}),
    })),
  };
}
