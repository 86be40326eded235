// Run the database migration now, as deploy does before it updates the service: the release the service runs (or
// --task-definition family:N) as the migration's task definition (<family>-migrate: the master user's secret and
// the app user's, config/ecs-migration-task-definition.json; registered when it changed) once as a one-off task
// with MIGRATE_COMMAND, in the service's private subnets and security group, under the deploy lock; its log lines
// printed, its exit code this script's. Step 6 creates the app's database user (lib/dbuser.ts); the migration
// gets its name and secret too, for one that still sets them itself.
// Needs:    a deployed service, MIGRATE_COMMAND (e.g. MIGRATE_COMMAND=/bin/migrate in .env)
// Produces: the migrated database (exit 1 when the migration fails, 5 when it times out: the task is stopped)
// Next:     npm run deploy (it migrates each new release itself)
import { resolveIdentity } from '../lib/aws.js';
import { isMain, LOCK_WAIT_OPTION, main, matching, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import type { Config } from '../lib/config.js';
import { underDeployLock } from '../lib/lock.js';
import { migrate } from '../lib/oneoff.js';
import { recordSchema } from '../lib/releases.js';
import { sh, type Runner } from '../lib/run.js';
import { describeService, revisionOf } from '../lib/ecs.js';
import { migrationTaskDefinition, renderTaskDefinition, taskDefinitionDiff, templateValues } from '../lib/taskdef.js';
import { writeRendered } from '../lib/template.js';
import { terraformOutputs } from '../lib/terraform.js';
import { ExitCode, ScriptFailure } from '../lib/errors.js';

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'migrate',
  options: {
    'task-definition': {
      type: 'string',
      placeholder: 'family:revision',
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
      const migrated = await migrate(
        runner,
        config,
        await releaseMigration(runner, config, identity.account, taskDefinition),
        service?.network,
      );
      const family = taskDefinition.split('/').pop()!.split(':')[0]!;
      if (migrated)
        await recordSchema(runner, config, identity.account, migrated.logLines, { family, revision: revisionOf(taskDefinition) });
    });
  },
};

/**
 * The migration's task definition for a release that is already registered (`npm run migrate`): derived from the
 * release as ECS describes it, registered only when it differs from the newest revision of <family>-migrate.
 */
export async function releaseMigration(runner: Runner, config: Config, account: string, release: string): Promise<string> {
  const region = ['--region', config.region, '--output', 'json'];
  const described = await runner.json(sh`aws ecs describe-task-definition --task-definition ${release} --include TAGS ${region}`);
  const outputs = await terraformOutputs(runner, config, account);
  const container = described?.taskDefinition?.containerDefinitions?.find((c: any) => c.name === config.names.container);
  const tags: { key: string; value: string }[] = described?.tags ?? [];
  const tag = tags.find((t) => t.key === 'llmops:image-tag')?.value ?? '<IMAGE_TAG>';
  const values = templateValues(config, outputs, container?.image ?? '<IMAGE>', tag);
  if (!runner.dryRun && !container)
    throw new ScriptFailure(
      `${release} has no container ${config.names.container} (CONTAINER_NAME): nothing to migrate with`,
      ExitCode.PREFLIGHT,
    );
  const migration = migrationTaskDefinition(described?.taskDefinition ?? renderTaskDefinition(values), values);
  const newest = await runner.json(sh`aws ecs describe-task-definition --task-definition ${migration.family} ${region}`, {
    nothrow: true,
  });
  if (newest?.taskDefinition && taskDefinitionDiff(newest.taskDefinition, migration).length === 0) {
    runner.echo(`# ${newest.taskDefinition.taskDefinitionArn.split('/').pop()} already is this release's migration: not registered again`);
    return newest.taskDefinition.taskDefinitionArn;
  }
  const rendered = writeRendered(runner, 'ecs-migration-task-definition.json', { ...migration, tags });
  const out = await runner.json(
    sh`aws ecs register-task-definition --cli-input-json file://${rendered} --region ${config.region} --output json`,
  );
  return out?.taskDefinition?.taskDefinitionArn ?? '<MIGRATION_TASK_DEFINITION_ARN>';
}

if (isMain(import.meta.url)) await main(spec);
