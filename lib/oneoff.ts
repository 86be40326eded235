// A one-off task: the release's task definition run once with another command (a database migration), in the
// service's private subnets and security group, followed to STOPPED; its log lines printed, its exit code
// the outcome. On a timeout the task is stopped, so nothing keeps running that the caller gave up on.
//   aws ecs run-task --cluster C --task-definition F:N --launch-type FARGATE \
//     --network-configuration file://network.json --overrides file://overrides.json --started-by llmops-migrate
//   aws ecs describe-tasks --cluster C --tasks <arn>          # until lastStatus is STOPPED
//   aws logs get-log-events --log-group-name G --log-stream-name ecs/<container>/<task id> --start-from-head
import type { Config } from './config.js';
import { ExitCode, ScriptFailure } from './errors.js';
import { sh, type Runner } from './run.js';
import { describeService, type ServiceState } from './ecs.js';
import { writeRendered } from './template.js';
import { pollDelayMs } from './waiter.js';

export interface OneOff {
  /** What the task is for, in messages: "migration". */
  what: string;
  taskDefinitionArn: string;
  /** The container's command instead of its task definition's (none: the task definition's own). */
  command?: readonly string[];
  /** The container that runs it and whose log lines are printed (default CONTAINER_NAME). */
  container?: string;
  /** --started-by: how the task is found later in the console and list-tasks. */
  startedBy: string;
  timeoutSeconds: number;
  /** The setting that raises the time limit, named when it runs out (the migration's; the others' are fixed). */
  timeoutSetting?: string;
  /** Where the service's tasks run, when the caller has just described it (else it is described here). */
  network?: ServiceState['network'];
}

export interface OneOffResult {
  taskArn: string;
  exitCode?: number;
  stopCode?: string;
  stoppedReason?: string;
  logLines: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Run the task, wait for it to stop, print its log lines. Throws when it does not start or times out (then it is stopped). */
export async function runOneOff(runner: Runner, config: Config, job: OneOff): Promise<OneOffResult> {
  const region = ['--region', config.region, '--output', 'json'];
  const cluster = config.names.cluster;
  const where = job.network ?? (await describeService(runner, config))?.network;
  if (!runner.dryRun && !where?.subnets.length)
    throw new ScriptFailure(
      `service ${config.names.service} has no awsvpc network configuration to run the ${job.what} in: run \`npm run step:4\` first`,
      ExitCode.PREFLIGHT,
    );
  // (a dry run writes neither file: it prints the commands that name them)
  const network = writeRendered(runner, `${job.startedBy}-network.json`, { awsvpcConfiguration: where });
  const container = job.container ?? config.names.container;
  const overrides = writeRendered(runner, `${job.startedBy}-overrides.json`, {
    containerOverrides: job.command ? [{ name: container, command: [...job.command] }] : [],
  });
  const started = await runner.json(
    sh`aws ecs run-task --cluster ${cluster} --task-definition ${job.taskDefinitionArn} --launch-type FARGATE --network-configuration file://${network} --overrides file://${overrides} --started-by ${job.startedBy} --count 1 ${region}`,
  );
  if (runner.dryRun) {
    runner.echo(`[dry-run] # every few seconds until the task is STOPPED (at most ${job.timeoutSeconds} s):`);
    await runner.run(sh`aws ecs describe-tasks --cluster ${cluster} --tasks ${'<TASK_ARN>'} ${region}`);
    await runner.run(
      sh`aws logs get-log-events --log-group-name ${config.names.logGroup} --log-stream-name ${`ecs/${container}/<TASK_ID>`} --start-from-head ${region}`,
    );
    return { taskArn: '<TASK_ARN>', logLines: [] };
  }
  const failure = started?.failures?.[0];
  const taskArn: string | undefined = started?.tasks?.[0]?.taskArn;
  if (!taskArn)
    throw new ScriptFailure(
      `the ${job.what} task did not start: ${failure ? `${failure.reason} (${failure.arn ?? ''})` : 'run-task returned no task'}`,
    );
  runner.echo(`# ${job.what}: task ${taskArn.split('/').pop()} started; waiting for it to stop (at most ${job.timeoutSeconds} s)`);

  const quiet = runner.withEcho(() => {});
  const describe = () => quiet.json(sh`aws ecs describe-tasks --cluster ${cluster} --tasks ${taskArn} ${region}`);
  runner.echoCommand('aws', ['ecs', 'describe-tasks', '--cluster', cluster, '--tasks', taskArn, ...region], 'until lastStatus is STOPPED');
  const begin = Date.now();
  let task: any;
  for (;;) {
    task = (await describe())?.tasks?.[0];
    if (task?.lastStatus === 'STOPPED') break;
    if (Date.now() - begin > job.timeoutSeconds * 1000) {
      await runner.run(
        sh`aws ecs stop-task --cluster ${cluster} --task ${taskArn} --reason ${`${job.what} timed out after ${job.timeoutSeconds} s`} ${region}`,
      );
      const logLines = await printLogs(runner, config, taskArn, container);
      throw Object.assign(
        new ScriptFailure(
          `the ${job.what} did not finish within ${job.timeoutSeconds} s: the task was stopped${job.timeoutSetting ? ` (raise ${job.timeoutSetting} if it needs longer)` : ''}`,
          ExitCode.TIMEOUT,
        ),
        { logLines },
      );
    }
    await sleep(pollDelayMs(Date.now() - begin));
  }
  const stopped = (task.containers ?? []).find((c: any) => c.name === container) ?? task.containers?.[0];
  const result: OneOffResult = {
    taskArn,
    exitCode: stopped?.exitCode ?? undefined,
    stopCode: task.stopCode,
    stoppedReason: [task.stoppedReason, stopped?.reason].filter(Boolean).join(' — ') || undefined,
    logLines: await printLogs(runner, config, taskArn, container),
  };
  runner.echo(`# ${job.what}: task ${taskArn.split('/').pop()} ${result.exitCode === undefined ? 'stopped' : `exited ${result.exitCode}`}`);
  return result;
}

/** Why a one-off task did not succeed, or undefined when it exited 0. */
export function oneOffFailure(result: OneOffResult): string | undefined {
  if (result.exitCode === 0) return undefined;
  return result.exitCode === undefined
    ? `it stopped before its command ran: ${result.stoppedReason ?? result.stopCode ?? 'unknown reason'}`
    : `it exited with code ${result.exitCode}`;
}

/** The task's log stream (awslogs, prefix "ecs"): each line printed, masked by the runner. */
async function printLogs(runner: Runner, config: Config, taskArn: string, container: string): Promise<string[]> {
  const stream = `ecs/${container}/${taskArn.split('/').pop()}`;
  const out = await runner.json(
    sh`aws logs get-log-events --log-group-name ${config.names.logGroup} --log-stream-name ${stream} --start-from-head --region ${config.region} --output json`,
    { nothrow: true },
  );
  const lines: string[] = ((out?.events ?? []) as { message: string }[]).map((e) => e.message);
  if (!lines.length) runner.echo('  (no log lines: the task wrote nothing, or its log stream could not be read)');
  for (const line of lines) runner.echo(`  | ${line}`);
  return lines;
}

/** The migration: the release's task definition with MIGRATE_COMMAND. */
export async function migrate(
  runner: Runner,
  config: Config,
  taskDefinitionArn: string,
  network?: ServiceState['network'],
): Promise<OneOffResult | undefined> {
  if (!config.migrate) return undefined;
  runner.echo(`# migration: ${config.migrate.command.join(' ')} with ${taskDefinitionArn.split('/').pop()}, before the service is updated`);
  const result = await runOneOff(runner, config, {
    what: 'migration',
    taskDefinitionArn,
    command: config.migrate.command,
    startedBy: 'llmops-migrate',
    timeoutSeconds: config.migrate.timeoutSeconds,
    timeoutSetting: 'MIGRATE_TIMEOUT_SECONDS',
    network,
  });
  const why = runner.dryRun ? undefined : oneOffFailure(result);
  if (why) throw new ScriptFailure(`the migration failed: ${why} (its log lines are above; task ${result.taskArn})`);
  return result;
}
