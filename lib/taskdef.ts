// The task definition as a document: rendered from config/ecs-task-definition.json, checked, the migration's
// overlay, the release tags, and a diff against the running one with ECS defaults filled (no false diffs).
// Step 6 registers it and points the service at it.
import { resolve } from 'node:path';
import type { Config } from './config.js';
import type { OneOffResult } from './oneoff.js';
import { renderTemplateFile } from './template.js';
import type { Outputs } from './terraform.js';
import { cpuArchitecture, type ImageRef } from './image.js';
import { UsageError } from './errors.js';

export const TEMPLATE = resolve(import.meta.dirname, '..', 'config', 'ecs-task-definition.json');
/**
 * What the migration's task definition (family <family>-migrate) changes in the release's: the master user and
 * secret, and the app user's name and secret (step 6 creates that role; a migration may still set it itself).
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
    DB_SSL_MODE: config.dbTls.mode,
    DB_CA_BUNDLE: config.dbTls.caBundle,
  };
}

/**
 * The database user the service connects as: the app's own user (step 6 creates it, or sets its password, before a
 * release that changes DATABASE_CREDENTIAL_VERSION), else with DB_CONNECT_AS=master the master user, as the guide
 * does; and both, for the migration's overlay and the database user's task.
 */
export function databaseUser(config: Config, outputs: Outputs): Record<string, string> {
  const master = { DB_MASTER_USER: outputs.get('db_username'), DB_MASTER_SECRET_ARN: outputs.get('db_password_secret_arn') };
  if (config.dbUser.connectAs === 'master')
    return {
      DB_USER: master.DB_MASTER_USER,
      DB_PASSWORD_SECRET_ARN: master.DB_MASTER_SECRET_ARN,
      DB_CREDENTIAL_VERSION: 'master',
      ...master,
    };
  const app = {
    DB_APP_USER: outputs.get('db_app_username'),
    DB_APP_SECRET_ARN: outputs.get('db_app_secret_arn'),
    // the migration's and the database user's own execution role: the only one that may read the master's secret
    MIGRATION_EXECUTION_ROLE_ARN: outputs.get('migration_execution_role_arn'),
  };
  return {
    DB_USER: app.DB_APP_USER,
    DB_PASSWORD_SECRET_ARN: app.DB_APP_SECRET_ARN,
    // a new password (db_app_password_version) is a new release: its tasks start with it, after step 6 set it
    DB_CREDENTIAL_VERSION: outputs.get('db_app_secret_version'),
    ...master,
    ...app,
  };
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

/** What differs between two task definitions once ECS's defaults are filled on both sides (empty: the same). */
export function taskDefinitionDiff(before: any, after: any): string[] {
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
  /** How ECS deploys it: ROLLING, or BLUE_GREEN, CANARY, LINEAR (step 7 then follows the stages). */
  strategy?: string;
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
