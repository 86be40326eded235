// listr2 task lists: the interactive renderer on a TTY, plain lines in CI / non-TTY,
// a duration on every task.
import { isCI } from './flags.js';
import type { Listr, ListrTask, ListrTaskWrapper } from 'listr2';
import type { Runner } from './run.js';

export type Renderer = 'default' | 'simple' | 'silent' | 'verbose';

export function chooseRenderer(stream: NodeJS.WriteStream = process.stdout, env: NodeJS.ProcessEnv = process.env): Renderer {
  if (env.LLMOPS_RENDERER) return env.LLMOPS_RENDERER as Renderer;
  return stream.isTTY && !isCI(env) ? 'default' : 'simple';
}

export interface TaskListOptions<Ctx> {
  concurrent?: boolean;
  exitOnError?: boolean;
  ctx?: Ctx;
  renderer?: Renderer;
}

/** A listr2 list; listr2 is loaded here, when a script first shows one, not when it starts (`--help` never does). */
export async function taskList<Ctx extends object>(
  tasks: ListrTask<Ctx, any, any>[],
  options: TaskListOptions<Ctx> = {},
): Promise<Listr<Ctx, any, any>> {
  const { Listr, PRESET_TIMER } = await import('listr2');
  const renderer = options.renderer ?? chooseRenderer();
  return new Listr<Ctx, any, any>(tasks, {
    concurrent: options.concurrent ?? false,
    exitOnError: options.exitOnError ?? true,
    ctx: options.ctx,
    renderer,
    collectErrors: 'minimal',
    // Ctrl-C is ours (lib/run.ts): the running command stops cleanly first. listr2's own listener would
    // exit at once with 127, leaving terraform's state lock behind.
    registerSignalListeners: false,
    rendererOptions: { timer: PRESET_TIMER, collapseSubtasks: false, collapseErrors: false },
    fallbackRendererOptions: { timer: PRESET_TIMER },
  } as any);
}

/** The runner, echoing into the task's output instead of the terminal the renderer owns. */
export function taskRunner(runner: Runner, task: ListrTaskWrapper<any, any, any>): Runner {
  return runner.withEcho((line) => {
    task.output = line;
  });
}
