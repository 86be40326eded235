// A shell, or one command, in a running task of the service (ECS Exec): checks first what it needs (the
// session-manager-plugin, ECS Exec on the service and in the task, the task role's ssmmessages permissions) and
// names the fix for each, then hands the session to the plugin:
//   aws ecs execute-command --cluster C --task <id> --container <name> --interactive --command "/bin/sh"
// Needs:    a deployed service with TF_VAR_enable_execute_command=true applied (npm run step:4) and tasks
//           started since; the session-manager-plugin; a principal allowed ecs:ExecuteCommand (not the deploy role)
// Produces: the shell (or the command's output and exit code)
// Next:     npm run doctor
import { resolveIdentity } from '../lib/aws.js';
import { isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import type { Config } from '../lib/config.js';
import { matching } from '../lib/flags.js';
import { sh, type Runner } from '../lib/run.js';
import { describeService } from '../lib/ecs.js';
import { ExitCode, ScriptFailure } from '../lib/errors.js';

/** The four ssmmessages actions the agent in the task needs (terraform/iam.tf, task_exec). */
export const EXEC_ACTIONS = [
  'ssmmessages:CreateControlChannel',
  'ssmmessages:CreateDataChannel',
  'ssmmessages:OpenControlChannel',
  'ssmmessages:OpenDataChannel',
];

const ENABLE_FIX =
  'set TF_VAR_enable_execute_command=true in .env and run `npm run step:3 && npm run step:4` (the service and the task role), then `npm run deploy` or `aws ecs update-service --force-new-deployment` so tasks start with the agent';

/** Does a policy document allow every action ECS Exec needs (exactly, by service wildcard, or by *)? */
export function allowsExec(documents: any[]): string[] {
  const allowed = (action: string) =>
    documents.some((doc) =>
      [].concat(doc?.Statement ?? []).some((st: any) => {
        if (st.Effect !== 'Allow') return false;
        return [].concat(st.Action ?? []).some((a: string) => {
          const re = new RegExp(
            `^${a
              .replace(/[.+^${}()|[\]\\]/g, '\\$&')
              .replace(/\*/g, '.*')
              .replace(/\?/g, '.')}$`,
            'i',
          );
          return re.test(action);
        });
      }),
    );
  return EXEC_ACTIONS.filter((a) => !allowed(a));
}

interface Target {
  taskArn: string;
  container: string;
}

/** Every problem at once, each with its fix; the task to open the session in when there is none. */
async function preflight(runner: Runner, config: Config, taskId?: string): Promise<{ problems: string[]; target?: Target }> {
  const problems: string[] = [];
  const region = ['--region', config.region, '--output', 'json'];
  const plugin = await runner.run(sh`sh -c ${'command -v session-manager-plugin'}`, { nothrow: true, readOnly: true });
  if (!plugin.ok)
    problems.push(
      'the session-manager-plugin is not installed: install it (https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html) and make sure it is on PATH',
    );
  const service = await describeService(runner, config);
  if (!service) {
    problems.push(`service ${config.names.service} is not ACTIVE in cluster ${config.names.cluster}: run \`npm run bootstrap\` first`);
    return { problems };
  }
  if (!service.enableExecuteCommand) problems.push(`ECS Exec is off on service ${config.names.service}: ${ENABLE_FIX}`);

  const td = (await runner.json(sh`aws ecs describe-task-definition --task-definition ${service.taskDefinition ?? ''} ${region}`))
    ?.taskDefinition;
  const roleName = String(td?.taskRoleArn ?? '')
    .split('/')
    .pop();
  if (!roleName) problems.push(`task definition ${service.taskDefinition} has no task role: ECS Exec runs with the task role`);
  else {
    const docs: any[] = [];
    const inline = await runner.json(sh`aws iam list-role-policies --role-name ${roleName} ${region}`, { nothrow: true });
    for (const name of (inline?.PolicyNames ?? []) as string[]) {
      const p = await runner.json(sh`aws iam get-role-policy --role-name ${roleName} --policy-name ${name} ${region}`, { nothrow: true });
      const doc = p?.PolicyDocument;
      docs.push(typeof doc === 'string' ? JSON.parse(decodeURIComponent(doc)) : doc);
    }
    const attached = await runner.json(sh`aws iam list-attached-role-policies --role-name ${roleName} ${region}`, { nothrow: true });
    for (const a of (attached?.AttachedPolicies ?? []) as { PolicyArn: string }[]) {
      const meta = await runner.json(sh`aws iam get-policy --policy-arn ${a.PolicyArn} ${region}`, { nothrow: true });
      const version = meta?.Policy?.DefaultVersionId;
      if (!version) continue;
      const v = await runner.json(sh`aws iam get-policy-version --policy-arn ${a.PolicyArn} --version-id ${version} ${region}`, {
        nothrow: true,
      });
      const doc = v?.PolicyVersion?.Document;
      docs.push(typeof doc === 'string' ? JSON.parse(decodeURIComponent(doc)) : doc);
    }
    if (!inline && !attached)
      runner.echo(
        `# could not read the policies of role ${roleName} (no iam:ListRolePolicies): its ssmmessages permissions are not checked`,
      );
    else {
      const missing = allowsExec(docs);
      if (missing.length) problems.push(`task role ${roleName} may not ${missing.join(', ')}: ${ENABLE_FIX}`);
    }
  }

  const listed = taskId
    ? [taskId]
    : ((
        await runner.json(
          sh`aws ecs list-tasks --cluster ${config.names.cluster} --service-name ${config.names.service} --desired-status RUNNING ${region}`,
        )
      )?.taskArns ?? []);
  if (!listed.length) {
    problems.push(`service ${config.names.service} has no running task: \`npm run scale -- --count 1\``);
    return { problems };
  }
  const described = await runner.json(sh`aws ecs describe-tasks --cluster ${config.names.cluster} --tasks ${listed} ${region}`);
  const tasks: any[] = (described?.tasks ?? []).filter((t: any) => t.lastStatus === 'RUNNING');
  const task = tasks.find((t) => t.enableExecuteCommand) ?? tasks[0];
  if (!task) {
    problems.push(
      taskId ? `task ${taskId} is not RUNNING in cluster ${config.names.cluster}` : `no task of ${config.names.service} is RUNNING`,
    );
    return { problems };
  }
  if (!task.enableExecuteCommand)
    problems.push(
      `task ${String(task.taskArn).split('/').pop()} started before ECS Exec was on: \`aws ecs update-service --cluster ${config.names.cluster} --service ${config.names.service} --force-new-deployment\` (or npm run deploy), then try again`,
    );
  const agent = task.containers?.flatMap((c: any) => c.managedAgents ?? []).find((m: any) => m.name === 'ExecuteCommandAgent');
  if (agent && agent.lastStatus !== 'RUNNING')
    problems.push(
      `the ExecuteCommandAgent in the task is ${agent.lastStatus}: wait a few seconds, or check the task role's ssmmessages permissions`,
    );
  return { problems, target: { taskArn: task.taskArn, container: config.names.container } };
}

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'exec',
  options: {
    command: {
      type: 'string',
      placeholder: 'command',
      description: 'the command to run (default: an interactive /bin/sh)',
      parse: matching(/^[^\x00-\x1f\x7f]{1,1024}$/, 'a command line of at most 1024 characters'),
    },
    task: {
      type: 'string',
      placeholder: 'task id',
      description: 'the task id or ARN (default: a running task of the service)',
      parse: matching(
        /^(arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task\/[\w-]+\/)?[0-9a-f-]{32,36}$/,
        'a task id (32 hexadecimal characters) or its ARN',
      ),
    },
  },
  async main({ runner, config, options }: ScriptContext) {
    await resolveIdentity(runner, config);
    const command: string = options.command ?? '/bin/sh';
    const cluster = config.names.cluster;
    if (runner.dryRun) {
      await runner.run(
        sh`aws ecs execute-command --cluster ${cluster} --task ${'<TASK_ID>'} --container ${config.names.container} --interactive --command ${command} --region ${config.region}`,
      );
      return;
    }
    const { problems, target } = await preflight(runner, config, options.task);
    if (problems.length || !target)
      throw new ScriptFailure(`ECS Exec cannot start:\n${problems.map((p) => `  - ${p}`).join('\n')}`, ExitCode.PREFLIGHT);
    const exec = sh`aws ecs execute-command --cluster ${cluster} --task ${target.taskArn.split('/').pop()!} --container ${target.container} --interactive --command ${command} --region ${config.region}`;
    // a shell needs this terminal; one command's output goes through the runner (masked), its exit code ours
    const interactive = options.command === undefined && process.stdin.isTTY;
    const r = await runner.run(exec, interactive ? { terminal: true, nothrow: true } : { stream: true, nothrow: true, retries: 0 });
    return r.exitCode;
  },
};

if (isMain(import.meta.url)) await main(spec);
