// The cost of the stack and of a change (issue 31): a monthly estimate from config/prices.json, its date and region
// said, and the delta of a change of count, size or database class.
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../lib/config.js';
import { costDelta, formatUsd, loadPrices, monthlyEstimate, runningShape, stackShape, tfVariable } from '../lib/cost.js';
import { estimateReport } from '../scripts/cost.js';

const prices = loadPrices();
const config = (env: Record<string, string> = {}) => loadConfig({ env, envFile: '' });

test('the price table says its date, region and currency, and has every class and platform the defaults use', () => {
  assert.match(prices.date, /^\d{4}-\d{2}-\d{2}$/);
  assert.is(prices.region, 'us-east-1');
  assert.is(prices.currency, 'USD');
  assert.ok(prices.fargate['linux/amd64'] && prices.fargate['linux/arm64']);
  assert.ok(prices.rds.postgresHour[tfVariable(config(), 'db_instance_class', {})!], 'the default class is priced');
});

test('the estimate, line by line: 730 hours of each running thing at the table price; Multi-AZ doubles the database', () => {
  const shape = stackShape(config(), {});
  assert.equal(shape, {
    platform: 'linux/amd64',
    cpu: 512,
    memory: 1024,
    desiredCount: 2,
    dbClass: 'db.t4g.micro',
    dbStorageGb: 20,
    dbMultiAz: false,
    waf: true,
    secrets: 3,
  });
  const e = monthlyEstimate(shape, prices);
  const line = (start: string) => e.lines.find(([k]) => k.startsWith(start))![1];
  assert.is(line('Fargate: 2 × 0.5 vCPU'), Math.round(2 * 0.5 * 0.04048 * 730 * 100) / 100);
  assert.is(line('Fargate: 2 × 1 GB'), Math.round(2 * 1 * 0.004445 * 730 * 100) / 100);
  assert.is(line('RDS db.t4g.micro'), Math.round(0.016 * 730 * 100) / 100);
  assert.is(e.total, Math.round(e.lines.reduce((t, [, v]) => t + v, 0) * 100) / 100);
  const multi = monthlyEstimate({ ...shape, dbMultiAz: true }, prices);
  assert.is(multi.lines.find(([k]) => k.startsWith('RDS db.t4g.micro Multi-AZ'))![1], line('RDS db.t4g.micro') * 2);
  // Graviton costs less; a class the table lacks is said, not priced at zero silently
  assert.ok(monthlyEstimate({ ...shape, platform: 'linux/arm64' }, prices).total < e.total);
  assert.match(
    monthlyEstimate({ ...shape, dbClass: 'db.x2g.16xlarge' }, prices).unknown[0]!,
    'db.x2g.16xlarge is not in config/prices.json',
  );
  // no WAF, no WAF line
  assert.not.ok(monthlyEstimate({ ...shape, waf: false }, prices).lines.some(([k]) => k.startsWith('WAF')));
});

test('every line of the estimate, against a table of round prices: its label and its amount (storage doubled by Multi-AZ too)', () => {
  const table = {
    hoursPerMonth: 100,
    fargate: { 'linux/amd64': { vcpuHour: 0.1, gbHour: 0.01 }, 'linux/arm64': { vcpuHour: 0.08, gbHour: 0.008 } },
    rds: { postgresHour: { 'db.t4g.micro': 0.02 }, storageGbMonth: 0.1, multiAzFactor: 2 },
    alb: { hour: 0.02, lcuHour: 0.01, assumedLcu: 3 },
    natGateway: { hour: 0.05 },
    publicIpv4Hour: 0.005,
    waf: { webAclMonth: 5, ruleMonth: 1, rules: 4 },
    secretsManager: { secretMonth: 0.4 },
  };
  const shape = {
    platform: 'linux/amd64',
    cpu: 2048,
    memory: 4096,
    desiredCount: 3,
    dbClass: 'db.t4g.micro',
    dbStorageGb: 50,
    dbMultiAz: true,
    waf: true,
    secrets: 3,
  };
  const e = monthlyEstimate(shape, table);
  assert.equal(e.lines, [
    ['Fargate: 3 × 2 vCPU', 60],
    ['Fargate: 3 × 4 GB', 12],
    ['RDS db.t4g.micro Multi-AZ', 4],
    ['RDS storage 50 GB', 10],
    ['Application Load Balancer', 5],
    ['NAT gateway', 5],
    ['public IPv4 (2 for the ALB, 1 for NAT)', 1.5],
    ['WAF: 1 web ACL, 4 rules', 9],
    ['Secrets Manager: 3 secrets', 1.2],
  ]);
  assert.is(e.total, 107.7);
  assert.equal(e.unknown, []);
  const single = monthlyEstimate({ ...shape, dbMultiAz: false, waf: false, platform: 'linux/arm64', dbClass: 'db.r7g.large' }, table);
  assert.equal(single.lines.slice(0, 4), [
    ['Fargate: 3 × 2 vCPU', 48],
    ['Fargate: 3 × 4 GB', 9.6],
    ['RDS db.r7g.large', 0],
    ['RDS storage 50 GB', 5],
  ]);
  assert.equal(single.unknown, ['db.r7g.large is not in config/prices.json: the database instance is left out']);
  assert.equal([formatUsd(36.04), formatUsd(-5), formatUsd(0), formatUsd(1234.5)], ['$36.04', '-$5.00', '$0.00', '$1234.50']);
});

test("the running shape: the service's count and its task definition's size and CPU; the rest as wanted", () => {
  const wanted = stackShape(config(), {});
  assert.equal(runningShape(wanted, { desiredCount: 5 }, { cpu: '1024', memory: '3072', runtimePlatform: { cpuArchitecture: 'ARM64' } }), {
    ...wanted,
    desiredCount: 5,
    cpu: 1024,
    memory: 3072,
    platform: 'linux/arm64',
  });
  assert.equal(runningShape(wanted, {}, undefined), { ...wanted, platform: 'linux/amd64' });
  assert.equal(
    runningShape({ ...wanted, platform: 'linux/arm64' }, {}, { runtimePlatform: { cpuArchitecture: 'X86_64' } }).platform,
    'linux/amd64',
  );
  // the Terraform variables that change the bill, from the environment as the next apply sees them
  const env = {
    TF_VAR_db_instance_class: 'db.t4g.small',
    TF_VAR_db_allocated_storage: '100',
    TF_VAR_db_multi_az: 'true',
    TF_VAR_enable_waf: 'false',
  };
  assert.equal((({ dbClass, dbStorageGb, dbMultiAz, waf }) => ({ dbClass, dbStorageGb, dbMultiAz, waf }))(stackShape(config(), env)), {
    dbClass: 'db.t4g.small',
    dbStorageGb: 100,
    dbMultiAz: true,
    waf: false,
  });
});

test('the delta of a change: twice the tasks adds their Fargate hours exactly; nothing changed is zero', () => {
  const before = stackShape(config(), {});
  const after = stackShape(config({ LLMOPS_DESIRED_COUNT: '4' }), {});
  const { changes, delta } = costDelta(before, after, prices);
  assert.equal(changes, ['desiredCount: 2 -> 4']);
  const fargate = (s: typeof before) =>
    monthlyEstimate(s, prices)
      .lines.filter(([k]) => k.startsWith('Fargate'))
      .reduce((t, [, v]) => t + v, 0);
  assert.is(delta, Math.round((fargate(after) - fargate(before)) * 100) / 100);
  assert.is(delta, 36.04, 'two more tasks of 0.5 vCPU and 1 GB: $29.55 + $6.49 a month');
  assert.equal(costDelta(before, before, prices), { changes: [], delta: 0 });
});

test('Terraform variables: TF_VAR_ wins over the default in variables.tf', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cost-tf-'));
  mkdirSync(join(dir, 'terraform'));
  writeFileSync(
    join(dir, 'terraform', 'variables.tf'),
    'variable "db_instance_class" {\n  description = "x"\n  type        = string\n  default     = "db.t4g.small"\n}\n\nvariable "db_multi_az" {\n  type    = bool\n  default = false\n}\n',
  );
  const c = config({ TF_DIR: join(dir, 'terraform') });
  assert.is(tfVariable(c, 'db_instance_class', {}), 'db.t4g.small');
  assert.is(tfVariable(c, 'db_instance_class', { TF_VAR_db_instance_class: 'db.t4g.large' }), 'db.t4g.large');
  assert.is(tfVariable(c, 'db_multi_az', {}), 'false');
  assert.is(tfVariable(c, 'nope', {}), undefined);
  writeFileSync(
    join(dir, 'terraform', 'variables.tf'),
    'variable "db_instance_class" {\n  type = string\n  default   =   "db.t4g.medium"  \n}\n',
  );
  assert.is(tfVariable(c, 'db_instance_class', {}), 'db.t4g.medium', 'spaces around = and after the value');
  writeFileSync(join(dir, 'terraform', 'variables.tf'), 'variable "db_instance_class" {\n  type = string\n}\n');
  assert.is(tfVariable(c, 'db_instance_class', {}), undefined, 'no default');
  const report = estimateReport(config({ LLMOPS_AWS_REGION: 'ap-northeast-2' }), prices);
  assert.match(report[0]!, `on-demand list prices of ${prices.date}, us-east-1, config/prices.json; your region ap-northeast-2 may differ`);
  assert.match(report.at(-1)!, /^ {2}total +\$\d+\.\d\d$/);
});

test.run();
