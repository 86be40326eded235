// Set the secrets the deploy workflow needs with the GitHub CLI: AWS_ROLE_TO_ASSUME (the OIDC deploy role) and
// AWS_ACCOUNT_ID (the account guard), as secrets of the GitHub environment with --env staging / production (each
// environment's job reads its own), SLACK_WEBHOOK when configured and, for production (or a stack without
// environments), AWS_DIFF_ROLE_TO_ASSUME (the pull requests' read-only diff role) as the repository's, all on stdin.
// Without gh it prints what to set by hand.
// Needs:    gh (logged in), the deploy role ARN (Terraform output or --role-arn), --repo OWNER/REPO
// Produces: the repository secrets
// Next:     git push origin main; gh run list
import { resolveIdentity } from '../lib/aws.js';
import { isMain, main, matching, type ScriptContext, type ScriptSpec } from '../lib/cli.js';
import { terraformOutputs } from '../lib/terraform.js';
import { ExitCode, ScriptFailure, UsageError } from '../lib/errors.js';
import { installHint } from '../lib/hints.js';
import { sh } from '../lib/run.js';

export const spec: ScriptSpec = {
  header: import.meta.url,
  command: 'github-secrets',
  options: {
    repo: {
      type: 'string',
      placeholder: 'owner/repo',
      description: 'OWNER/REPO (default: the repository gh sees in the current directory)',
      parse: matching(/^[\w.-]{1,100}\/[\w.-]{1,100}$/, 'OWNER/REPO'),
    },
    'role-arn': {
      type: 'string',
      placeholder: 'role ARN',
      description: 'the deploy role (default: terraform output github_deploy_role_arn)',
      parse: matching(
        /^arn:aws[\w-]*:iam::\d{12}:role\/[\w+=,.@\/-]{1,512}$/,
        'an IAM role ARN such as arn:aws:iam::123456789012:role/deploy',
      ),
    },
  },
  async main({ runner, config, options }: ScriptContext) {
    const identity = await resolveIdentity(runner, config);
    const outputs = options['role-arn'] ? undefined : await terraformOutputs(runner, config, identity.account);
    const role: string = options['role-arn'] ?? outputs!.get('github_deploy_role_arn');
    // pull requests compare with the stack a merge reaches last: production's diff role is the repository's
    const diffRole: string | undefined =
      !config.environment || config.environment === 'production' ? outputs?.github_diff_role_arn || undefined : undefined;
    if (!runner.dryRun && !/^arn:aws[a-z-]*:iam::\d{12}:role\/.+/.test(role)) {
      throw new UsageError(
        `no deploy role: set github_repository in Terraform (output github_deploy_role_arn) or pass --role-arn (got "${role}")`,
      );
    }
    const repo = options.repo ? ['--repo', options.repo] : [];
    const gh = await runner.run(sh`gh --version`, { nothrow: true, retries: 0 });
    if (!gh.ok && !gh.dryRun) {
      process.stdout.write(
        `gh is not installed (${installHint('gh')}). Set these by hand in ${config.environment ? `Settings → Environments → ${config.environment} → secrets` : 'Settings → Secrets and variables → Actions'}:\n  secret   AWS_ROLE_TO_ASSUME = ${role}\n${config.secrets.slackWebhook ? '  secret   SLACK_WEBHOOK = (your webhook)\n' : ''}${diffRole ? `  secret   AWS_DIFF_ROLE_TO_ASSUME = ${diffRole} (the repository's)\n` : ''}  secret   AWS_ACCOUNT_ID = ${identity.account}\n  and AWS_REGION: ${config.region} in .github/workflows/deploy-environment.yml\n`,
      );
      return ExitCode.PREFLIGHT;
    }
    // an environment's role and account guard are secrets of its GitHub environment (the job of that name reads
    // them); the webhook is the repository's, shared
    const scope = config.environment ? ['--env', config.environment] : [];
    await runner.run(sh`gh secret set AWS_ROLE_TO_ASSUME ${repo} ${scope}`, { input: role });
    if (config.secrets.slackWebhook) await runner.run(sh`gh secret set SLACK_WEBHOOK ${repo}`, { input: config.secrets.slackWebhook });
    if (diffRole) await runner.run(sh`gh secret set AWS_DIFF_ROLE_TO_ASSUME ${repo}`, { input: diffRole });
    await runner.run(sh`gh secret set AWS_ACCOUNT_ID ${repo} ${scope}`, { input: identity.account });
    if (config.region !== 'us-east-1') runner.echo(`# edit AWS_REGION: ${config.region} in .github/workflows/deploy-environment.yml`);
    if (runner.dryRun) return;
    const list = await runner.run(sh`gh secret list ${repo} ${scope}`, { nothrow: true });
    if (!/AWS_ROLE_TO_ASSUME/.test(list.stdout))
      throw new ScriptFailure('gh did not list AWS_ROLE_TO_ASSUME after setting it: check `gh auth status` and the repository');
    process.stdout.write('✓ secrets set; the next push to main deploys\n');
  },
};

if (isMain(import.meta.url)) await main(spec);
