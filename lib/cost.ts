// The stack's monthly cost, estimated from a price table kept in the repository (config/prices.json, with its date
// and region): Fargate vCPU and memory hours at the desired count, the database class and storage, the load
// balancer, the NAT gateway, public IPv4 addresses, WAF and the secrets; and the difference a change makes.
// Usage-based charges (data transfer, requests, logs ingested, CloudFront) are not in it: it says so.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Config } from './config.js';

export const PRICES_FILE = resolve(import.meta.dirname, '..', 'config', 'prices.json');

export type Prices = any;

export function loadPrices(file = PRICES_FILE): Prices {
  return JSON.parse(readFileSync(file, 'utf8'));
}

/** What the estimate depends on: the .env's sizes, and the Terraform variables that change the bill. */
export interface StackShape {
  platform: string;
  cpu: number;
  memory: number;
  desiredCount: number;
  dbClass: string;
  dbStorageGb: number;
  dbMultiAz: boolean;
  waf: boolean;
  secrets: number;
}

/** A Terraform variable as the next apply sees it: TF_VAR_<name>, else its default in variables.tf. */
export function tfVariable(config: Config, name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env[`TF_VAR_${name}`] !== undefined) return env[`TF_VAR_${name}`];
  const text = readFileSync(resolve(config.terraform.dir, 'variables.tf'), 'utf8');
  const block = new RegExp(`variable "${name}" \\{[\\s\\S]*?\\n\\}`).exec(text)?.[0];
  return block ? /\n\s*default\s*=\s*"?([^"\n]*)"?/.exec(block)?.[1]?.trim() : undefined;
}

export function stackShape(config: Config, env: NodeJS.ProcessEnv = process.env): StackShape {
  return {
    platform: config.app.platform,
    cpu: config.app.cpu,
    memory: config.app.memory,
    desiredCount: config.app.desiredCount,
    dbClass: tfVariable(config, 'db_instance_class', env) ?? 'db.t4g.micro',
    dbStorageGb: Number(tfVariable(config, 'db_allocated_storage', env) ?? 20),
    dbMultiAz: tfVariable(config, 'db_multi_az', env) === 'true',
    waf: tfVariable(config, 'enable_waf', env) !== 'false',
    // the app's environment, the app user's, the master's (RDS's own or ours)
    secrets: 3,
  };
}

/** The shape the running service has: its desired count and its task definition's size and CPU; the rest as .env says. */
export function runningShape(wanted: StackShape, service: { desiredCount?: number }, td: any): StackShape {
  return {
    ...wanted,
    desiredCount: service.desiredCount ?? wanted.desiredCount,
    cpu: Number(td?.cpu ?? wanted.cpu),
    memory: Number(td?.memory ?? wanted.memory),
    platform: td?.runtimePlatform?.cpuArchitecture === 'ARM64' ? 'linux/arm64' : 'linux/amd64',
  };
}

export interface Estimate {
  lines: [item: string, usd: number][];
  total: number;
  /** A class the price table does not have: left out, and said. */
  unknown: string[];
}

const round = (n: number) => Math.round(n * 100) / 100;

export function monthlyEstimate(s: StackShape, p: Prices = loadPrices()): Estimate {
  const h = p.hoursPerMonth;
  const fargate = p.fargate[s.platform];
  const unknown: string[] = [];
  const dbHour = p.rds.postgresHour[s.dbClass];
  if (dbHour === undefined)
    unknown.push(`${s.dbClass} is not in ${PRICES_FILE.split('/').slice(-2).join('/')}: the database instance is left out`);
  const az = s.dbMultiAz ? p.rds.multiAzFactor : 1;
  const lines: [string, number][] = [
    [`Fargate: ${s.desiredCount} × ${s.cpu / 1024} vCPU`, s.desiredCount * (s.cpu / 1024) * fargate.vcpuHour * h],
    [`Fargate: ${s.desiredCount} × ${s.memory / 1024} GB`, s.desiredCount * (s.memory / 1024) * fargate.gbHour * h],
    [`RDS ${s.dbClass}${s.dbMultiAz ? ' Multi-AZ' : ''}`, (dbHour ?? 0) * az * h],
    [`RDS storage ${s.dbStorageGb} GB`, s.dbStorageGb * p.rds.storageGbMonth * az],
    ['Application Load Balancer', (p.alb.hour + p.alb.lcuHour * p.alb.assumedLcu) * h],
    ['NAT gateway', p.natGateway.hour * h],
    ['public IPv4 (2 for the ALB, 1 for NAT)', 3 * p.publicIpv4Hour * h],
    ...(s.waf ? [[`WAF: 1 web ACL, ${p.waf.rules} rules`, p.waf.webAclMonth + p.waf.ruleMonth * p.waf.rules] as [string, number]] : []),
    [`Secrets Manager: ${s.secrets} secrets`, s.secrets * p.secretsManager.secretMonth],
  ];
  const rounded = lines.map(([k, v]) => [k, round(v)] as [string, number]);
  return { lines: rounded, total: round(rounded.reduce((t, [, v]) => t + v, 0)), unknown };
}

/** What a change of shape does to the monthly estimate: the lines that differ, and the total's delta. */
export function costDelta(before: StackShape, after: StackShape, p: Prices = loadPrices()): { changes: string[]; delta: number } {
  const a = monthlyEstimate(before, p);
  const b = monthlyEstimate(after, p);
  const changes: string[] = [];
  for (const key of Object.keys(before) as (keyof StackShape)[])
    if (before[key] !== after[key]) changes.push(`${key}: ${String(before[key])} -> ${String(after[key])}`);
  return { changes, delta: round(b.total - a.total) };
}

export const formatUsd = (n: number) => `${n < 0 ? '-' : ''}$${Math.abs(n).toFixed(2)}`;
