// The task definition: rendered from config/ecs-task-definition.json, checked, diffed against the running
// one with ECS defaults filled, tagged with the release, registered, and the service pointed at it.
import { resolve } from 'node:path';
import { resolveIdentity } from './aws.js';
import { confirm } from './cli.js';
import type { Config } from './config.js';
import { describeService } from './service.js';
import { migrate, type OneOffResult } from './oneoff.js';
import { sh, type Runner } from './run.js';
import { renderTemplateFile, writeRendered } from './template.js';
import { type Outputs, terraformOutputs } from './terraform.js';
import { cpuArchitecture, imageRef, type ImageRef } from './image.js';
import { ecrDigest, repositoryUrl } from './ecr.js';
import { waitForDeployment } from './waiter.js';
import { ExitCode, ScriptFailure, UsageError } from './errors.js';

export const TEMPLATE = resolve(import.meta.dirname, '..', 'config', 'ecs-task-definition.json');
/**
 * What the migration's task definition (family <family>-migrate) changes in the release's: the master user and
 * secret, and the app user's name and secret, so the migration can create the app's role or set its password.
 * The service's own task definition reads only the app user's secret.
 */
export const MIGRATION_OVERLAY = resolve(import.meta.dirname, '..', 'config', 'ecs-migration-task-definition.json');

const REGISTER_KEYS = new Set([
  'family',
  'taskRoleArn',
  'executionRoleArn',
  'networkMode',
  'containerDefinitions',
  'volumes',
  'placementConstraints',
  'requiresCompatibilities',
  'cpu',
  'memory',
  'tags',
  'pidMode',
  'ipcMode',
  'proxyConfiguration',
  'inferenceAccelerators',
  'ephemeralStorage',
  'runtimePlatform',
  'enableFaultInjection',
]);
const SECRET_NAME = /PASSWORD|SECRET|TOKEN|PRIVATE_KEY|API_KEY|ACCESS_KEY/i;

export function renderTaskDefinition(values: Record<string, string | number>, file = TEMPLATE): any {
  const td = renderTemplateFile(file, values);
  validateTaskDefinition(td, file);
  // ECS wants environment values as strings; "${CONTAINER_PORT}" alone renders as a number.
  for (const c of td.containerDefinitions) for (const e of c.environment ?? []) if (typeof e.value === 'number') e.value = String(e.value);
  return td;
}

export function validateTaskDefinition(td: any, file: string): void {
  const problems: string[] = [];
  if (!td || typeof td !== 'object' || Array.isArray(td)) problems.push('the top level must be a JSON object');
  else {
    for (const k of Object.keys(td))
      if (!REGISTER_KEYS.has(k)) problems.push(`unknown key "${k}" (register-task-definition accepts: ${[...REGISTER_KEYS].join(', ')})`);
    if (!Array.isArray(td.containerDefinitions) || td.containerDefinitions.length === 0)
      problems.push('"containerDefinitions" must be a non-empty array');
    for (const c of td.containerDefinitions ?? []) {
      if (typeof c?.name !== 'string' || typeof c?.image !== 'string') problems.push('every container needs a string "name" and "image"');
      for (const e of c?.environment ?? []) {
        if (SECRET_NAME.test(e?.name ?? '') && e?.value)
          problems.push(
            `container ${c.name}: environment ${e.name} looks like a secret in plain text; use "secrets": [{ "name": "${e.name}", "valueFrom": "<secret ARN>" }] (ECS.8)`,
          );
      }
      if (c?.privileged === true) problems.push(`container ${c.name}: "privileged": true is not allowed (ECS.4)`);
      for (const pm of c?.portMappings ?? [])
        if (typeof pm?.containerPort !== 'number') problems.push(`container ${c.name}: portMappings[].containerPort must be a number`);
    }
  }
  if (problems.length) throw new UsageError(`${file}: ${problems.length} problem(s)\n${problems.map((p) => `  ✗ ${p}`).join('\n')}`);
}

export function templateValues(config: Config, outputs: Outputs, image: string, tag: string): Record<string, string | number> {
  return {
    TASK_FAMILY: config.names.family,
    TASK_CPU: String(config.app.cpu),
    TASK_MEMORY: String(config.app.memory),
    CPU_ARCHITECTURE: cpuArchitecture(config.app.platform),
    CONTAINER_NAME: config.names.container,
    CONTAINER_PORT: config.app.port,
    HEALTH_PATH: config.app.healthPath,
    LOG_GROUP: config.names.logGroup,
    AWS_REGION: config.region,
    IMAGE: image,
    IMAGE_TAG: tag,
    EXECUTION_ROLE_ARN: outputs.get('execution_role_arn'),
    TASK_ROLE_ARN: outputs.get('task_role_arn'),
    DB_HOST: outputs.get('rds_address'),
    DB_PORT: outputs.get('rds_port'),
    DB_NAME: outputs.get('db_name'),
    ...databaseUser(config, outputs),
    APP_SECRET_ARN: outputs.get('app_secret_arn'),
  };
}

/**
 * The database user the service connects as: the app's own user when a migration runs (it creates that role and
 * sets its password), else the master user, as the guide does; and both, for the migration's overlay.
 */
export function databaseUser(config: Config, outputs: Outputs): Record<string, string> {
  const master = { DB_MASTER_USER: outputs.get('db_username'), DB_MASTER_SECRET_ARN: outputs.get('db_password_secret_arn') };
  if (!config.migrate) return { DB_USER: master.DB_MASTER_USER, DB_PASSWORD_SECRET_ARN: master.DB_MASTER_SECRET_ARN, ...master };
  const app = { DB_APP_USER: outputs.get('db_app_username'), DB_APP_SECRET_ARN: outputs.get('db_app_secret_arn') };
  return { DB_USER: app.DB_APP_USER, DB_PASSWORD_SECRET_ARN: app.DB_APP_SECRET_ARN, ...master, ...app };
}

/** Entries of `environment` / `secrets` by name: the overlay's replace the release's, new ones are added. */
function byName(base: { name: string }[] = [], overlay: { name: string }[] = []): any[] {
  const names = new Set(overlay.map((e) => e.name));
  return [...base.filter((e) => !names.has(e.name)), ...overlay];
}

/**
 * The migration's task definition: the release's (as rendered, or as ECS describes it) with the overlay of
 * config/ecs-migration-task-definition.json: its top-level keys replace the release's, and each of its
 * containers (matched by name) replaces keys and merges environment and secrets by name.
 */
export function migrationTaskDefinition(release: any, values: Record<string, string | number>, file = MIGRATION_OVERLAY): any {
  const overlay = renderTemplateFile(file, values);
  const td: any = Object.fromEntries(Object.entries(release).filter(([k]) => REGISTER_KEYS.has(k) && k !== 'tags'));
  const { containerDefinitions: overlays = [], ...top } = overlay;
  Object.assign(td, top);
  td.containerDefinitions = (release.containerDefinitions ?? []).map((c: any) => {
    const o = overlays.find((x: any) => x.name === c.name);
    if (!o) return c;
    return { ...c, ...o, environment: byName(c.environment, o.environment), secrets: byName(c.secrets, o.secrets) };
  });
  const unmatched = overlays.filter((o: any) => !td.containerDefinitions.some((c: any) => c.name === o.name)).map((o: any) => o.name);
  if (unmatched.length)
    throw new UsageError(
      `${file}: container(s) ${unmatched.join(', ')} not in the task definition (CONTAINER_NAME is ${String(values.CONTAINER_NAME)})`,
    );
  validateTaskDefinition(td, file);
  return td;
}

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
  return registerMigration(runner, config, migration, tags);
}

/** Register the migration's task definition for a release and return its ARN (tags: the release's). */
export async function registerMigration(runner: Runner, config: Config, td: any, tags: { key: string; value: string }[]): Promise<string> {
  return registerTaskDefinition(runner, config, 'ecs-migration-task-definition.json', { ...td, tags }, '<MIGRATION_TASK_DEFINITION_ARN>');
}

/** register-task-definition of a rendered document (written to the state directory); its new ARN. */
async function registerTaskDefinition(runner: Runner, config: Config, file: string, td: any, placeholder: string): Promise<string> {
  const rendered = writeRendered(runner, file, td);
  const out = await runner.json(
    sh`aws ecs register-task-definition --cli-input-json file://${rendered} --region ${config.region} --output json`,
  );
  return out?.taskDefinition?.taskDefinitionArn ?? placeholder;
}

/** What differs between two task definitions once ECS's defaults are filled on both sides (empty: the same). */
function taskDefinitionDiff(before: any, after: any): string[] {
  return diffLines(JSON.stringify(canonicalTaskDefinition(before), null, 2), JSON.stringify(canonicalTaskDefinition(after), null, 2));
}

const RESPONSE_ONLY = [
  'taskDefinitionArn',
  'revision',
  'status',
  'requiresAttributes',
  'compatibilities',
  'registeredAt',
  'registeredBy',
  'deregisteredAt',
  'tags',
];
const DEFAULT_FALSE = new Set(['readOnly', 'privileged', 'configuredAtLaunch', 'interactive', 'pseudoTerminal', 'disableNetworking']);

/** ECS fills defaults on register; fill them on both sides so a diff shows real changes only. */
export function canonicalTaskDefinition(td: any): any {
  const copy = JSON.parse(JSON.stringify(td ?? {}));
  for (const k of RESPONSE_ONLY) delete copy[k];
  for (const c of copy.containerDefinitions ?? []) {
    if (c.essential === true) delete c.essential;
    if (c.cpu === 0) delete c.cpu;
    for (const pm of c.portMappings ?? []) {
      if (pm.protocol === 'tcp') delete pm.protocol;
      if (pm.hostPort === pm.containerPort) delete pm.hostPort;
    }
    for (const key of ['environment', 'secrets'])
      if (Array.isArray(c[key])) c[key].sort((a: any, b: any) => String(a.name).localeCompare(String(b.name)));
  }
  const clean = (v: any, key = ''): any => {
    if (Array.isArray(v)) {
      const a = v.map((x) => clean(x)).filter((x) => x !== undefined);
      return a.length ? a : undefined;
    }
    if (v && typeof v === 'object') {
      const entries = Object.keys(v)
        .sort()
        .map((k) => [k, clean(v[k], k)] as const)
        .filter(([, x]) => x !== undefined);
      return entries.length ? Object.fromEntries(entries) : undefined;
    }
    if (v === null || v === undefined) return undefined;
    if (v === false && DEFAULT_FALSE.has(key)) return undefined;
    return v;
  };
  return clean(copy) ?? {};
}

/** A small line diff (LCS) of two JSON documents, `-` old, `+` new, unchanged lines as context. */
export function diffLines(before: string, after: string, context = 2): string[] {
  const a = before.split('\n');
  const b = after.split('\n');
  const dp = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--)
    for (let j = b.length - 1; j >= 0; j--) dp[i]![j] = a[i] === b[j] ? dp[i + 1]![j + 1]! + 1 : Math.max(dp[i + 1]![j]!, dp[i]![j + 1]!);
  const ops: [' ' | '-' | '+', string][] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) (ops.push([' ', a[i++]!]), j++);
    else if (j < b.length && (i >= a.length || dp[i]![j + 1]! >= dp[i + 1]![j]!)) ops.push(['+', b[j++]!]);
    else ops.push(['-', a[i++]!]);
  }
  const keep = ops.map((op, k) => op[0] !== ' ' || ops.slice(Math.max(0, k - context), k + context + 1).some((o) => o[0] !== ' '));
  const out: string[] = [];
  ops.forEach((op, k) => {
    if (keep[k]) out.push(`${op[0]} ${op[1]}`);
    else if (k === 0 || keep[k - 1]) out.push('  …'); // once for each run of lines left out, the first one included
  });
  return ops.some((o) => o[0] !== ' ') ? out : [];
}

export interface Registered {
  taskDefinitionArn: string;
  revision: number;
  changed: boolean;
  image: string;
  digest: string;
  deploymentId?: string;
  /** The migration's one-off task, when MIGRATE_COMMAND is set and a new revision was registered. */
  migrated?: OneOffResult;
}

export function releaseTags(ref: ImageRef, digest: string): { key: string; value: string }[] {
  return [
    { key: 'llmops:git-sha', value: ref.sha },
    { key: 'llmops:image-tag', value: ref.tag },
    { key: 'llmops:image-digest', value: digest },
    { key: 'llmops:released-at', value: new Date().toISOString() },
    { key: 'llmops:released-by', value: process.env.GITHUB_ACTOR ?? process.env.USER ?? 'unknown' },
  ];
}

export async function releaseTaskDefinition(
  runner: Runner,
  config: Config,
  yes: boolean,
  known?: { ref: ImageRef; digest: string },
): Promise<Registered> {
  const identity = await resolveIdentity(runner, config);
  const ref = known?.ref ?? (await imageRef(runner, config));
  const url = repositoryUrl(config, identity.account);
  // bootstrap/deploy pass what step 5 just learned; alone, step 6 asks ECR
  const digest = runner.dryRun ? '<IMAGE_DIGEST>' : (known?.digest ?? (await ecrDigest(runner, config, ref.tag)));
  if (!digest)
    throw new ScriptFailure(`ECR has no image ${url}:${ref.tag} (the current commit): run \`npm run step:5\` first`, ExitCode.PREFLIGHT);
  const image = `${url}@${digest}`;
  const outputs = await terraformOutputs(runner, config, identity.account);
  const values = templateValues(config, outputs, image, ref.tag);
  const td = renderTaskDefinition(values);

  const service = await describeService(runner, config);
  if (!service && !runner.dryRun)
    throw new ScriptFailure(
      `service ${config.names.service} is not ACTIVE in cluster ${config.names.cluster}: run \`npm run step:4\` first`,
      ExitCode.PREFLIGHT,
    );
  let current: any;
  if (service?.taskDefinition) {
    current = (
      await runner.json(
        sh`aws ecs describe-task-definition --task-definition ${service.taskDefinition} --include TAGS --region ${config.region} --output json`,
      )
    )?.taskDefinition;
  }
  const diff = taskDefinitionDiff(current, td);
  let arn = service?.taskDefinition ?? '<TASK_DEFINITION_ARN>';
  let changed = false;
  let tags: { key: string; value: string }[] = [];
  if (runner.dryRun || diff.length) {
    if (diff.length) {
      const before = current?.containerDefinitions?.[0]?.image;
      runner.echo(
        `Task definition changes against ${service?.taskDefinition ?? 'nothing'}:${before && before !== image ? `\n  image: ${before}\n      -> ${image}` : ''}`,
      );
      for (const line of diff) runner.echo(`  ${line}`);
    }
    if (
      !runner.dryRun &&
      !(await confirm(`Register a new revision of ${config.names.family} and deploy it to ${config.names.service}?`, yes))
    ) {
      throw new ScriptFailure('not registered (declined)');
    }
    tags = releaseTags(ref, digest);
    arn = await registerTaskDefinition(runner, config, 'ecs-task-definition.json', { ...td, tags }, '<TASK_DEFINITION_ARN>');
    changed = true;
  } else {
    runner.echo(`# ${service?.taskDefinition} already runs this image and configuration: no new revision`);
  }
  const needsCount = !service || service.desiredCount === 0;
  let migrated: OneOffResult | undefined;
  if ((changed || needsCount) && service?.inProgress && !runner.dryRun) {
    // never stack deployments: let the running one finish (or roll back) first
    runner.echo(`# deployment ${service.inProgress} is still in progress: waiting for it before starting another`);
    const previous = await waitForDeployment(runner, config);
    runner.echo(`# deployment ${service.inProgress} ended: ${previous.outcome}`);
  }
  // the migration runs once per release: with the revision just registered, before any task runs it; a
  // no-op deploy (no new revision) and a rollback (an existing one) never migrate
  if (changed && config.migrate) {
    const migration = migrationTaskDefinition(td, values);
    migrated = await migrate(runner, config, await registerMigration(runner, config, migration, tags), service?.network);
  }
  let deploymentId: string | undefined;
  if (changed || runner.dryRun || needsCount) {
    const updated = await runner.json(
      sh`aws ecs update-service --cluster ${config.names.cluster} --service ${config.names.service} --task-definition ${arn} ${needsCount ? ['--desired-count', String(config.app.desiredCount)] : []} --region ${config.region} --output json --query ${'service.deployments[?status==`PRIMARY`] | [0].{id: id, status: status, rolloutState: rolloutState}'}`,
    );
    deploymentId = updated?.id;
    if (deploymentId) runner.echo(`# deployment ${deploymentId} started (${updated.rolloutState})`);
  }
  const revision = Number(/:(\d+)$/.exec(arn)?.[1] ?? 0);
  return { taskDefinitionArn: arn, revision, changed, image, digest, deploymentId, migrated };
}
