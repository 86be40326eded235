// Run the database migration now, as deploy does before it updates the service: the release the service runs (or
// --task-definition family:N) as the migration's task definition (<family>-migrate: the master user's secret and
// the app user's, config/ecs-migration-task-definition.json; registered when it changed) once as a one-off task
// with MIGRATE_COMMAND, in the service's private subnets and security group, under the deploy lock; its log lines
// printed, its exit code this script's. The migration creates the app's database user or sets its password.
// Needs:    a deployed service, MIGRATE_COMMAND (e.g. MIGRATE_COMMAND=/bin/migrate in .env)
// Produces: the migrated database (exit 1 when the migration fails, 5 when it times out: the task is stopped)
// Next:     npm run deploy (it migrates each new release itself)
import { resolveIdentity } from '../lib/aws.js';
import { isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import { matching } from '../lib/flags.js';
import { LOCK_WAIT_OPTION, underDeployLock } from '../lib/lock.js';
import { migrate } from '../lib/oneoff.js';
import { releaseMigration } from '../lib/taskdef.js';
import { describeService } from '../lib/service.js';
import { ExitCode, ScriptFailure } from '../lib/errors.js';

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'migrate',
  options: {
    'task-definition': {
      type: 'string',
      description: 'the release to migrate, family:revision (default: the one the service runs)',
      parse: matching(/^[A-Za-z0-9_-]{1,255}:\d{1,9}$/, 'family:revision, e.g. llmops-task:12'),
    },
    'lock-wait': LOCK_WAIT_OPTION,
  },
  validate: (_options, config) =>
    config.migrate ? [] : ['MIGRATE_COMMAND is not set: put the migration command in .env (e.g. MIGRATE_COMMAND=/bin/migrate)'],
  async main({ runner, config, options }: ScriptContext) {
    const identity = await resolveIdentity(runner, config);
    await underDeployLock(runner, config, options['lock-wait'], 'migrate', async () => {
      const service = await describeService(runner, config);
      const taskDefinition: string | undefined =
        options['task-definition'] ?? service?.taskDefinition ?? (runner.dryRun ? `${config.names.family}:<REVISION>` : undefined);
      if (!taskDefinition)
        throw new ScriptFailure(`service ${config.names.service} is not ACTIVE: run \`npm run bootstrap\` first`, ExitCode.PREFLIGHT);
      await migrate(runner, config, await releaseMigration(runner, config, identity.account, taskDefinition), service?.network);
    });
  },
};

if (isMain(import.meta.url)) await main(spec);
