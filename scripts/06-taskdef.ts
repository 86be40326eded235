// Step 6 — render config/ecs-task-definition.json with the image by digest, the Terraform outputs and secrets by ARN;
// show the diff against the running task definition (ECS defaults filled, so no false diffs); register it with
// release tags (git sha, digest, time); before a release whose tasks hold a new password version of the app's
// own database user (or other grants), create that user or set its password (<family>-db-user, a one-off psql
// task); migrate (MIGRATE_COMMAND); point the service at it. Nothing changed: no new revision.
// Needs:    the image in ECR (step 5), Terraform outputs (step 4)
// Produces: a task definition revision and a new ECS deployment
// Next:     npm run step:7 (verify the deployment)
import { resolveIdentity } from '../lib/aws.js';
import {
  confirm,
  isMain,
  main,
  SCAN_ALLOW_OPTIONS,
  SCAN_ALLOW_REQUIRES,
  scanAllowOf,
  type ScriptContext,
  type ScriptSpec,
} from '../lib/cli.js';
import type { Config } from '../lib/config.js';
import { caBundlePem, DB_USER_TAG, dbUserMarker, dbUserNeeded, dbUserTaskDefinition, setDbUser } from '../lib/dbuser.js';
import { ecrDigest, imageScan, repositoryUrl, type ScanAllow, SEVERITIES } from '../lib/ecr.js';
import { ExitCode, ScriptFailure } from '../lib/errors.js';
import { imageRef, type ImageRef } from '../lib/image.js';
import { migrate, type OneOffResult } from '../lib/oneoff.js';
import { recordSchema } from '../lib/releases.js';
import { newContext, type PipelineStep, runStep } from '../lib/pipeline.js';
import { sh, type Runner } from '../lib/run.js';
import { describeService, describeTaskDefinition, revisionOf } from '../lib/ecs.js';
import { isNative, strategyChange, strategyOf } from '../lib/strategy.js';
import {
  migrationTaskDefinition,
  type Registered,
  releaseTags,
  renderTaskDefinition,
  taskDefinitionDiff,
  templateValues,
} from '../lib/taskdef.js';
import { writeRendered } from '../lib/template.js';
import { terraformOutputs } from '../lib/terraform.js';
import type { Timeline } from '../lib/timeline.js';
import { waitForDeployment } from '../lib/waiter.js';

export const step: PipelineStep = {
  n: 6,
  title: 'Task definition and service',
  async run(ctx, runner, report) {
    // bootstrap and deploy pass what step 5 just learnt; alone, step 6 asks ECR
    const known = ctx.ref && ctx.pushed && !runner.dryRun ? { ref: ctx.ref, digest: ctx.pushed.digest } : undefined;
    const r = (ctx.registered = await releaseTaskDefinition(
      runner,
      ctx.config,
      ctx.yes,
      known,
      ctx.scanAllow,
      ctx.timeline,
      ctx.lock?.take,
    ));
    report(
      runner.dryRun
        ? `(dry run) would register a revision for ${r.image} unless the running one is the same, and update the service`
        : `${r.changed ? '✓ registered' : '✓ unchanged:'} ${r.taskDefinitionArn}\n  image ${r.image}`,
    );
    if (!r.changed) return `${r.taskDefinitionArn.split('/').pop()} already runs this image: no new revision`;
  },
};

export async function releaseTaskDefinition(
  runner: Runner,
  config: Config,
  yes: boolean,
  known?: { ref: ImageRef; digest: string },
  scanAllow?: ScanAllow,
  timeline?: Timeline,
  beforeChange?: () => Promise<void>,
): Promise<Registered> {
  const { cluster, service: serviceName, family } = config.names;
  const identity = await resolveIdentity(runner, config);
  const ref = known?.ref ?? (await imageRef(runner, config));
  const url = repositoryUrl(config, identity.account);
  const digest = runner.dryRun ? '<IMAGE_DIGEST>' : (known?.digest ?? (await ecrDigest(runner, config, ref.tag)));
  if (!digest)
    throw new ScriptFailure(`ECR has no image ${url}:${ref.tag} (the current commit): run \`npm run step:5\` first`, ExitCode.PREFLIGHT);
  const image = `${url}@${digest}`;

  // 1. render the task definition: the image by digest, Terraform's outputs, secrets by ARN
  // 2. what the service runs now, and what would change (the two reads side by side: neither needs the other)
  const [outputs, service] = await Promise.all([terraformOutputs(runner, config, identity.account), describeService(runner, config)]);
  const values = templateValues(config, outputs, image, ref.tag);
  const td = renderTaskDefinition(values);

  if (!service && !runner.dryRun)
    throw new ScriptFailure(`service ${serviceName} is not ACTIVE in cluster ${cluster}: run \`npm run step:4\` first`, ExitCode.PREFLIGHT);
  // DEPLOY_STRATEGY against what the stack was applied for, and what the service lacks of it: before any change
  const strategy = service && !runner.dryRun ? strategyChange(config, outputs, service) : undefined;
  const current = service?.taskDefinition ? await describeTaskDefinition(runner, config, service.taskDefinition) : undefined;
  const diff = taskDefinitionDiff(current, td);

  // 3. register a new revision, tagged with the release, only when something changed (and with the password
  //    version and grants its database user is given in 5)
  const marker = dbUserMarker(config, values);
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
    // the scan gate: an image with findings at or above SCAN_SEVERITY is not registered (unless allowed for its digest)
    const scanStarted = Date.now();
    const scanTags = await scanGate(runner, config, digest, scanAllow);
    timeline?.add('scan gate', scanStarted, Date.now());
    if (!runner.dryRun && !(await confirm(`Register a new revision of ${family} and deploy it to ${serviceName}?`, yes)))
      throw new ScriptFailure('not registered (declined)');
    await beforeChange?.();
    tags = [...releaseTags(ref, digest), ...scanTags, ...(config.dbUser.connectAs === 'app' ? [{ key: DB_USER_TAG, value: marker }] : [])];
    arn = await registerTaskDefinition(runner, config, 'ecs-task-definition.json', { ...td, tags }, '<TASK_DEFINITION_ARN>');
    changed = true;
  } else {
    runner.echo(`# ${service?.taskDefinition} already runs this image and configuration: no new revision`);
  }

  // 4. never stack deployments: let the running one finish (or roll back) first
  const needsCount = !service || service.desiredCount === 0;
  if (needsCount && !changed) await beforeChange?.();
  if ((changed || needsCount) && service?.inProgress && !runner.dryRun) {
    runner.echo(`# deployment ${service.inProgress} is still in progress: waiting for it before starting another`);
    const previous = await waitForDeployment(runner, config);
    runner.echo(`# deployment ${service.inProgress} ended: ${previous.outcome}`);
  }

  // 5. the app's own database user (DB_CONNECT_AS=app): created, or its password and grants set, before any task of
  //    a release whose password version or grants the running release was not given (a first release, a new
  //    db_app_password_version, MIGRATE_COMMAND set or removed), as a one-off task with the migration's role
  if (changed && dbUserNeeded(config, current, marker)) {
    const dbUserStarted = Date.now();
    try {
      const pem = await caBundlePem(runner, config);
      const dbUser = dbUserTaskDefinition(config, values, pem);
      const dbUserArn = await registerTaskDefinition(
        runner,
        config,
        'ecs-db-user-task-definition.json',
        dbUser,
        '<DB_USER_TASK_DEFINITION_ARN>',
      );
      await setDbUser(runner, config, dbUserArn, service?.network);
    } finally {
      timeline?.add('database user', dbUserStarted, Date.now());
    }
  }

  // 6. the migration runs once per release: with the revision just registered, before any task runs it; a
  //    no-op deploy (no new revision) and a rollback (an existing one) never migrate
  let migrated: OneOffResult | undefined;
  if (changed && config.migrate) {
    const migration = migrationTaskDefinition(td, values);
    const migrationArn = await registerTaskDefinition(
      runner,
      config,
      'ecs-migration-task-definition.json',
      { ...migration, tags },
      '<MIGRATION_TASK_DEFINITION_ARN>',
    );
    const migrationStarted = Date.now();
    try {
      migrated = await migrate(runner, config, migrationArn, service?.network);
    } finally {
      timeline?.add('migration', migrationStarted, Date.now());
    }
    // the schema it reported is the database's from now on, whatever becomes of the deploy (rollback checks it)
    if (migrated) await recordSchema(runner, config, identity.account, migrated.logLines, { family, revision: revisionOf(arn) });
  }

  // 7. point the service at the new revision: ECS starts a deployment (step 7 follows it). DEPLOY_STRATEGY goes with
  //    it when the service does not deploy that way yet (the Terraform provider here cannot set it): the whole
  //    deployment configuration, and the load balancer with the second target group and the rule ECS shifts
  if (strategy && !(changed || needsCount))
    runner.echo(`# DEPLOY_STRATEGY=${config.strategy.kind} is not yet the service's: it goes with the next release`);
  const strategyArgs = strategy
    ? [
        '--deployment-configuration',
        JSON.stringify(strategy.deploymentConfiguration),
        '--load-balancers',
        JSON.stringify(strategy.loadBalancers),
      ]
    : [];
  let deploymentId: string | undefined;
  if (changed || runner.dryRun || needsCount) {
    const updated = await runner.json(
      sh`aws ecs update-service --cluster ${cluster} --service ${serviceName} --task-definition ${arn} ${needsCount ? ['--desired-count', String(config.app.desiredCount)] : []} ${changed || needsCount ? strategyArgs : []} --region ${config.region} --output json --query ${'service.deployments[?status==`PRIMARY`] | [0].{id: id, status: status, rolloutState: rolloutState}'}`,
    );
    deploymentId = updated?.id;
    if (deploymentId) runner.echo(`# deployment ${deploymentId} started (${updated.rolloutState})`);
  }
  const ecsStrategy = strategy && (changed || needsCount) ? strategy.strategy : strategyOf(service);
  return {
    taskDefinitionArn: arn,
    revision: revisionOf(arn),
    changed,
    image,
    digest,
    deploymentId,
    migrated,
    ...(isNative(ecsStrategy) ? { strategy: ecsStrategy } : {}),
  };
}

/** Text as an ECS tag value holds it: letters, digits, spaces and _ . : / = + @ - (anything else becomes a space). */
export const tagValue = (text: string) =>
  text
    .replace(/[^\p{L}\p{N} _.:/=+@-]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 256);

/**
 * The image's ECR scan against SCAN_SEVERITY: below it, the release goes on and its tags say what the scan found;
 * at or above it, the release stops here, before anything is registered (exit 1, the findings listed), unless
 * those findings were accepted for this very digest: then the reason goes into the release's tags.
 */
export async function scanGate(
  runner: Runner,
  config: Config,
  digest: string,
  allow?: ScanAllow,
): Promise<{ key: string; value: string }[]> {
  const threshold = config.scan.severity;
  if (threshold === 'off') {
    runner.echo('# scan gate off (SCAN_SEVERITY=off): the image scan is not read');
    return [];
  }
  const scan = await imageScan(runner, config, digest);
  if (runner.dryRun) return [];
  if (scan.status !== 'COMPLETE') {
    runner.echo(`# the scan of ${digest} ended ${scan.status}${scan.description ? ` (${scan.description})` : ''}: no findings to gate on`);
    return [{ key: 'llmops:scan', value: scan.status }];
  }
  const rank = (s: string) => SEVERITIES.indexOf(s as (typeof SEVERITIES)[number]);
  const counts = SEVERITIES.map((s) => [s, scan.findings.filter((f) => f.severity === s).length] as const).filter(([, n]) => n);
  const summary = counts.length ? counts.map(([s, n]) => `${s}=${n}`).join(' ') : 'no findings';
  const tags = [{ key: 'llmops:scan', value: summary }];
  const blocking = scan.findings.filter((f) => rank(f.severity) >= 0 && rank(f.severity) <= rank(threshold));
  if (!blocking.length) {
    runner.echo(`# the scan of ${digest.slice(0, 19)}…: ${summary}; none at or above ${threshold} (SCAN_SEVERITY)`);
    return tags;
  }
  const list = blocking
    .sort((a, b) => rank(a.severity) - rank(b.severity))
    .map((f) => `  ✗ ${f.severity} ${f.name}${f.package ? ` (${f.package})` : ''}`)
    .join('\n');
  if (allow?.digest === digest) {
    runner.echo(`# ${blocking.length} finding(s) at or above ${threshold} accepted for ${digest}: ${allow.reason}\n${list}`);
    return [...tags, { key: 'llmops:scan-allowed', value: tagValue(allow.reason) }];
  }
  throw new ScriptFailure(
    `the image ${config.names.repository}@${digest} has ${blocking.length} finding(s) at or above ${threshold} (SCAN_SEVERITY) in its ECR scan: nothing was registered, the service is unchanged.\n${list}\n` +
      `  fix: rebuild it on patched packages and deploy again; or accept these for this image, with a reason its release keeps: npm run deploy -- --allow-findings ${digest} --reason "<why>"`,
    ExitCode.FAILED,
  );
}

/** register-task-definition of a rendered document (written to the state directory); its new ARN. */
async function registerTaskDefinition(runner: Runner, config: Config, file: string, td: any, placeholder: string): Promise<string> {
  const rendered = writeRendered(runner, file, td);
  const out = await runner.json(
    sh`aws ecs register-task-definition --cli-input-json file://${rendered} --region ${config.region} --output json`,
  );
  return out?.taskDefinition?.taskDefinitionArn ?? placeholder;
}

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'step:6',
  options: SCAN_ALLOW_OPTIONS,
  requires: SCAN_ALLOW_REQUIRES,
  async main({ runner, config, yes, options }: ScriptContext) {
    await runStep(step, { ...newContext(config, runner, yes), scanAllow: scanAllowOf(options) });
    process.stdout.write('Next: npm run step:7\n');
  },
};

if (isMain(import.meta.url)) await main(spec);
