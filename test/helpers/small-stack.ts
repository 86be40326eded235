// A small root module of a test's own, run through our steps against the AWS emulator with the same S3 backend
// and native lock file as production: the backend and provider settings, the given resources, and the outputs
// step 4 prints (as constants).
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KEY_OUTPUTS } from '../../lib/infra.js';
import { tfEnv } from './domain-variant.js';
import type { Moto } from './moto.js';
import { ROOT } from './script.js';

function smallStack(resources: string): string {
  return `terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "5.100.0" }
  }
  backend "s3" {
    use_path_style              = true
    skip_credentials_validation = true
    skip_metadata_api_check     = true
    skip_region_validation      = true
  }
}

provider "aws" {
  skip_metadata_api_check     = true
  skip_credentials_validation = true
  s3_use_path_style           = true
}
${resources}${KEY_OUTPUTS.map((o) => `\noutput "${o}" {\n  value = "${o}"\n}\n`).join('')}`;
}

/** The stack written to a directory of its own, and the environment our scripts run it with (against `moto`). */
export function smallStackDir(prefix: string, resources: string, moto: Moto): { dir: string; env: Record<string, string> } {
  const base = mkdtempSync(join(tmpdir(), prefix));
  const dir = join(base, 'terraform');
  mkdirSync(dir);
  writeFileSync(join(dir, 'main.tf'), smallStack(resources));
  copyFileSync(join(ROOT, 'terraform', '.terraform.lock.hcl'), join(dir, '.terraform.lock.hcl'));
  const env = {
    ...moto.env,
    PATH: process.env.PATH!,
    TF_DIR: dir,
    LLMOPS_ALLOW_PLAIN_HTTP: 'true',
    LLMOPS_STATE_DIR: join(base, 'state'),
    TF_CLI_CONFIG_FILE: tfEnv().TF_CLI_CONFIG_FILE!,
  };
  return { dir, env };
}
