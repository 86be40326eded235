// Diff — what `npm run deploy` (and the next apply) would change, without changing anything: the image (the checkout's
// commit against the running release's), the task definition rendered from .env and the stack's outputs against the
// running one (ECS defaults filled), the Terraform plan by resource (`plan -lock=false` into a plan file of its own),
// the migration that would run, and the monthly cost before and after. Text, --markdown (a pull request's job
// summary) or --json (schema: lib/diff.ts).
// Needs:    a deployed stack (bootstrap); BUILD_CONTEXT's checkout; terraform for the plan (--skip-plan without)
// Produces: the report on stdout (commands on stderr); nothing in AWS, no new revision, no state lock
// Next:     npm run deploy (or npm run step:3 and step:4 for the infrastructure)
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { dbUserMarker, dbUserNeeded } from '../lib/dbuser.js';
import { resolveIdentity } from '../lib/aws.js';
import { isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import type { Config } from '../lib/config.js';
import { loadPrices, runningShape, stackShape } from '../lib/cost.js';
import { buildDiff, formatDiff } from '../lib/diff.js';
import { ecrDigest, repositoryUrl } from '../lib/ecr.js';
import { describeService } from '../lib/ecs.js';
import { imageRef } from '../lib/image.js';
import { type PlanSummary, prepareTfvars, summarizePlan } from '../lib/infra.js';
import { sh, type Runner } from '../lib/run.js';
import { renderTaskDefinition, taskDefinitionDiff, templateValues } from '../lib/taskdef.js';
import { chdir, planFile, terraformEnv, terraformInit, terraformOutputs, tfDir, varFileArgs } from '../lib/terraform.js';

/** The plan of the next apply, read-only: no state lock (-lock=false), its own plan file, removed afterwards. */
async function readOnlyPlan(runner: Runner, config: Config, account: string): Promise<PlanSummary> {
  prepareTfvars(runner, config);
  await terraformInit(runner, config, account);
  const file = `${planFile(config)}-diff`;
  try {
    await runner.run(sh`terraform ${chdir(config)} plan -lock=false -input=false -no-color ${varFileArgs(config)} -out=${file}`, {
      env: terraformEnv(config),
      timeoutMs: 30 * 60_000,
    });
    return summarizePlan(await runner.json(sh`terraform ${chdir(config)} show -json -no-color ${file}`, { env: terraformEnv(config) }));
  } finally {
    rmSync(join(tfDir(config), file), { force: true });
  }
}

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'diff',
  conflicts: [['json', 'markdown']],
  options: {
    json: { type: 'boolean', description: 'the report as JSON (schema: lib/diff.ts)' },
    markdown: { type: 'boolean', description: "the report as Markdown (a pull request's job summary)" },
    'skip-plan': { type: 'boolean', description: 'leave out the Terraform plan (no terraform, no read of the state)' },
  },
  async main({ runner, config, options }: ScriptContext) {
    const identity = await resolveIdentity(runner, config);
    // the image a deploy would run: the checkout's commit, by digest when ECR has it already
    const ref = await imageRef(runner, config);
    const url = repositoryUrl(config, identity.account);
    const digest = await ecrDigest(runner, config, ref.tag);
    const image = digest ? `${url}@${digest}` : `${url}:${ref.tag}`;
    // the task definition step 6 would register, against the one running
    const outputs = await terraformOutputs(runner, config, identity.account);
    const values = templateValues(config, outputs, image, ref.tag);
    const proposed = renderTaskDefinition(values);
    const service = await describeService(runner, config);
    const running = service?.taskDefinition
      ? await runner.json(
          sh`aws ecs describe-task-definition --task-definition ${service.taskDefinition} --include TAGS --region ${config.region} --output json`,
        )
      : undefined;
    const plan = options['skip-plan'] ? { skipped: '--skip-plan' } : await readOnlyPlan(runner, config, identity.account);
    if (runner.dryRun) return;
    const wanted = stackShape(config);
    const report = buildDiff({
      names: config.names,
      environment: config.environment,
      runningTd: running?.taskDefinition,
      runningTags: Object.fromEntries((running?.tags ?? []).map((t: { key: string; value: string }) => [t.key, t.value])),
      image: { ref: `${url}:${ref.tag}`, sha: ref.sha, tag: ref.tag, inEcr: !!digest },
      tdChanges: taskDefinitionDiff(running?.taskDefinition, proposed),
      plan,
      migrateCommand: config.migrate?.command.join(' '),
      dbUser:
        config.dbUser.connectAs === 'app'
          ? { user: String(values.DB_APP_USER), needed: dbUserNeeded(config, running, dbUserMarker(config, values)) }
          : undefined,
      running: service && running ? runningShape(wanted, service, running.taskDefinition) : undefined,
      wanted,
      prices: loadPrices(),
    });
    process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : runner.mask(formatDiff(report, !!options.markdown)));
  },
};

if (isMain(import.meta.url)) await main(spec);
