// The cost of the stack and of a change (issue 31): a monthly estimate from config/prices.json, its date and region
// said, and the delta of a change of count, size or database class.
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../lib/config.js';
import { costDelta, loadPrices, monthlyEstimate, stackShape, tfVariable } from '../lib/cost.js';
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
  const report = estimateReport(config({ LLMOPS_AWS_REGION: 'ap-northeast-2' }), prices);
  assert.match(report[0]!, `on-demand list prices of ${prices.date}, us-east-1, config/prices.json; your region ap-northeast-2 may differ`);
  assert.match(report.at(-1)!, /^ {2}total +\$\d+\.\d\d$/);
});

test.run();
