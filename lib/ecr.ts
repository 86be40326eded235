// ECR: the repository URL and an image's digest (steps 2, 5 and 6 ask it whether it has an image).
import { ecrRegistry } from './aws.js';
import type { Config } from './config.js';
import { sh, type Runner } from './run.js';
import { ExitCode, ScriptFailure } from './errors.js';

export interface Pushed {
  repositoryUrl: string;
  tag: string;
  digest: string;
  image: string;
  result: 'pushed' | 'already-in-ecr';
}

export function repositoryUrl(config: Config, account: string): string {
  return `${ecrRegistry(account, config.region)}/${config.names.repository}`;
}

/** The digest of `tag` in ECR, or undefined when ECR does not have it. */
export async function ecrDigest(runner: Runner, config: Config, tag: string): Promise<string | undefined> {
  const r = await runner.run(
    sh`aws ecr describe-images --repository-name ${config.names.repository} --image-ids imageTag=${tag} --region ${config.region} --output json`,
    { nothrow: true },
  );
  if (r.dryRun) return undefined;
  if (r.ok) return JSON.parse(r.stdout).imageDetails?.[0]?.imageDigest;
  if (/ImageNotFoundException/.test(r.stderr)) return undefined;
  if (/RepositoryNotFoundException/.test(r.stderr)) {
    throw new ScriptFailure(
      `ECR repository ${config.names.repository} does not exist in ${config.region}: run \`npm run step:3\` and \`npm run step:4\` first`,
      ExitCode.PREFLIGHT,
    );
  }
  throw new ScriptFailure(`aws ecr describe-images failed: ${r.stderr.trim().split('\n').pop()}`);
}
