// Scaling: --count N sets the desired count and waits until the tasks are healthy (the step-7 waiter); --policy
// registers the scalable target (--min/--max) and the CPU target-tracking policy from config/scaling-policy.json;
// --show prints the current state. Safe to run twice.
// Needs:    a deployed service
// Produces: the count running, or the llmops-cpu-scaling policy
// Next:     npm run doctor
import { resolve } from 'node:path';
import { resolveIdentity } from '../lib/aws.js';
import { integer, isMain, main, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import type { Config } from '../lib/config.js';
import { sh, type Runner } from '../lib/run.js';
import { renderTemplateFile, writeRendered } from '../lib/template.js';
import { UsageError } from '../lib/errors.js';
import { describeService } from '../lib/ecs.js';
import { formatResult, OUTCOME_EXIT, waitForDeployment } from '../lib/waiter.js';

export const SCALING_TEMPLATE = resolve(import.meta.dirname, '..', 'config', 'scaling-policy.json');

const resourceId = (config: Config) => `service/${config.names.cluster}/${config.names.service}`;

export async function applyPolicy(runner: Runner, config: Config, min: number, max: number, cpuTarget: number): Promise<void> {
  if (min > max) throw new UsageError(`--min (${min}) must not exceed --max (${max})`);
  const policy = renderTemplateFile(SCALING_TEMPLATE, { CPU_TARGET: cpuTarget });
  const file = writeRendered(runner, 'scaling-policy.json', policy);
  const target = [
    '--service-namespace',
    'ecs',
    '--resource-id',
    resourceId(config),
    '--scalable-dimension',
    'ecs:service:DesiredCount',
    '--region',
    config.region,
  ];
  await runner.run(
    sh`aws application-autoscaling register-scalable-target ${target} --min-capacity ${String(min)} --max-capacity ${String(max)}`,
  );
  await runner.run(
    sh`aws application-autoscaling put-scaling-policy --policy-name ${config.names.scalingPolicy} ${target} --policy-type TargetTrackingScaling --target-tracking-scaling-policy-configuration file://${file} --output json --query PolicyARN`,
  );
}

export async function showScaling(runner: Runner, config: Config): Promise<string> {
  const svc = await describeService(runner, config);
  const region = ['--region', config.region, '--output', 'json'];
  const targets = await runner.json(
    sh`aws application-autoscaling describe-scalable-targets --service-namespace ecs --resource-ids ${resourceId(config)} ${region}`,
  );
  const policies = await runner.json(
    sh`aws application-autoscaling describe-scaling-policies --service-namespace ecs --resource-id ${resourceId(config)} ${region}`,
  );
  const t = targets?.ScalableTargets?.[0];
  const lines = [
    `desired count: ${svc?.desiredCount ?? '?'}`,
    t ? `autoscaling: ${t.MinCapacity}-${t.MaxCapacity} tasks` : 'autoscaling: off (no scalable target)',
  ];
  for (const p of policies?.ScalingPolicies ?? [])
    lines.push(
      `policy ${p.PolicyName}: ${p.PolicyType}, target ${p.TargetTrackingScalingPolicyConfiguration?.TargetValue ?? '?'}% ${p.TargetTrackingScalingPolicyConfiguration?.PredefinedMetricSpecification?.PredefinedMetricType ?? ''}`,
    );
  return lines.join('\n');
}

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'scale',
  requires: { min: 'policy', max: 'policy', 'cpu-target': 'policy' },
  validate(options) {
    const problems: string[] = [];
    if (options.count === undefined && !options.policy && !options.show) problems.push('give --count N, --policy or --show');
    if (options.min > options.max) problems.push(`--min (${options.min}) must not exceed --max (${options.max})`);
    return problems;
  },
  options: {
    count: { type: 'string', placeholder: 'N', description: 'set the desired count to N and verify', parse: integer(0, 100) },
    policy: { type: 'boolean', description: 'create or update the CPU target-tracking policy' },
    min: { type: 'string', placeholder: 'N', description: 'autoscaling minimum (with --policy)', default: '1', parse: integer(0, 100) },
    max: { type: 'string', placeholder: 'N', description: 'autoscaling maximum (with --policy)', default: '4', parse: integer(1, 100) },
    'cpu-target': {
      type: 'string',
      placeholder: 'percent',
      description: 'average CPU % to keep (with --policy)',
      default: '70',
      parse: integer(10, 90),
    },
    show: { type: 'boolean', description: 'print desired count, scalable target and policies' },
  },
  async main({ runner, config, options }: ScriptContext) {
    const { count, min, max } = options as { count?: number; min: number; max: number };
    const cpu: number = options['cpu-target'];
    await resolveIdentity(runner, config);
    if (options.policy) await applyPolicy(runner, config, min, max, cpu);
    if (count !== undefined) {
      const svc = await describeService(runner, config);
      if (svc?.desiredCount === count) runner.echo(`# desired count is already ${count}`);
      else
        await runner.run(
          sh`aws ecs update-service --cluster ${config.names.cluster} --service ${config.names.service} --desired-count ${String(count)} --region ${config.region} --output json --query service.desiredCount`,
        );
      const result = await waitForDeployment(runner, config);
      process.stdout.write(`${runner.mask(formatResult(result))}\n`);
      if (result.outcome !== 'ok') return OUTCOME_EXIT[result.outcome];
    }
    if (options.show && !runner.dryRun) process.stdout.write(`${await showScaling(runner, config)}\n`);
  },
};

if (isMain(import.meta.url)) await main(spec);
