// terraform/: fmt, validate, `terraform test` with a mocked provider, then the domain + certificate +
// CloudFront variant applied to the AWS emulator: re-plan empty, outputs resolve, our security rules hold
// on the plan JSON, destroy succeeds.
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DB_PASSWORD_CANARY, domainVariant, errors, terraform, tfEnv } from './helpers/domain-variant.js';
import { copyTerraform } from './helpers/sandbox.js';
import { ROOT } from './helpers/script.js';
import { configured, deployPolicyViolations, resources, RULES, runRules, trustPolicyViolations } from './terraform-rules.js';

const work = mkdtempSync(join(tmpdir(), 'llmops-tf-'));

test('terraform fmt -check', async () => {
  const r = await terraform(join(ROOT, 'terraform'), ['fmt', '-check', '-recursive'], tfEnv());
  assert.is(r.exitCode, 0, `unformatted: ${r.all}`);
});

/** validate + `terraform test` (mocked provider) in a copy; started at once so it overlaps the slow apply. */
async function mockedTests() {
  const env = tfEnv();
  const dir = copyTerraform(join(work, 'mocked', 'terraform'));
  cpSync(join(ROOT, 'terraform', 'tests'), join(dir, 'tests'), { recursive: true });
  const init = await terraform(dir, ['init', '-backend=false', '-input=false', '-no-color'], env);
  if (init.exitCode !== 0) return { init, validate: undefined, test: undefined };
  const validate = await terraform(dir, ['validate', '-no-color'], env);
  return { init, validate, test: await terraform(dir, ['test', '-no-color'], env) };
}
const mocked = mockedTests();

// Started at load (uvu imports every file before running any), so its minutes of Terraform provider
// waits overlap the other files of this process, which runs beside the end-to-end one (test/all.ts).
const domain = domainVariant();
let planJson: any;

test('domain + certificate + CloudFront variant: an administrator creates the infra role, which then applies the whole stack with IAM enforced', async () => {
  const d = await domain;
  assert.is(d.bootstrap.exitCode, 0, errors(d.bootstrap.all));
  assert.match(d.bootstrap.all, /aws_iam_policy\.role_boundary\[0\]: Creation complete/);
  assert.is(d.apply.exitCode, 0, errors(d.apply.all));
  assert.match(d.apply.all, /Apply complete! Resources: \d+ added/);
});

test('domain variant: a second plan is empty and the outputs resolve', async () => {
  const d = await domain;
  assert.is(
    d.plan.exitCode,
    0,
    `expected no changes:\n${d.plan.all
      .split('\n')
      .filter((l) => /^\s+[#~+-] /.test(l) || /Error/.test(l))
      .join('\n')
      .slice(0, 4000)}`,
  );
  planJson = d.planJson;
  const outputs = d.outputs;
  assert.is(outputs.app_url.value, 'https://app.example.com');
  assert.match(outputs.certificate_arn.value, /^arn:aws:acm:/);
  assert.ok(outputs.cloudfront_domain_name.value.length > 0, 'CloudFront domain');
  for (const k of [
    'alb_dns_name',
    'ecr_repository_url',
    'rds_endpoint',
    'ecs_cluster_name',
    'ecs_service_name',
    'task_family',
    'log_group_name',
    'target_group_arn',
    'sns_topic_arn',
    'tasks_security_group_id',
    'db_security_group_id',
    'alb_security_group_id',
    'execution_role_arn',
    'task_role_arn',
    'app_secret_arn',
    'db_password_secret_arn',
    'github_deploy_role_arn',
  ]) {
    assert.ok(outputs[k]?.value, `output ${k} resolves`);
  }
  // what a deploy reads instead of the state: every output, as the apply left it
  assert.equal(d.published, Object.fromEntries(Object.entries(outputs).map(([k, v]: [string, any]) => [k, v.value])));
});

test('our security rules hold on the plan JSON, each by its check id', () => {
  const results = runRules(planJson);
  const failed = results.filter((r) => r.violations.length);
  assert.equal(
    failed.map((f) => `${f.id}: ${f.violations.join('; ')}`),
    [],
  );
  assert.ok(results.length >= 35, `${results.length} rules`);
});

test('the GitHub deploy role: trust pinned to the repository, least privilege, PassRole scoped and conditioned', () => {
  const rs = planJson.planned_values.root_module.resources;
  const role = rs.find((r: any) => r.address === 'aws_iam_role.github_deploy[0]');
  const policy = rs.find((r: any) => r.address === 'aws_iam_role_policy.github_deploy[0]');
  assert.ok(role && policy, 'the deploy role and its policy are in the plan');
  assert.equal(
    // the environment's subject alone: a job on main naming no environment must not get production's role
    trustPolicyViolations(JSON.parse(role.values.assume_role_policy), ['repo:acme/llmops-system:environment:production']),
    [],
  );
  assert.equal(deployPolicyViolations(JSON.parse(policy.values.policy)), []);
  assert.ok(rs.some((r: any) => r.type === 'aws_iam_openid_connect_provider'));
  assert.is(planJson.configuration.root_module.variables.create_github_infra_role.default, false, 'the infra role is opt-in');
  // the pull requests' diff role: their subject only, and reads only (npm run diff -- --skip-plan)
  const diffRole = rs.find((r: any) => r.address === 'aws_iam_role.github_diff[0]');
  const diffPolicy = JSON.parse(rs.find((r: any) => r.address === 'aws_iam_role_policy.github_diff[0]').values.policy);
  assert.equal(trustPolicyViolations(JSON.parse(diffRole.values.assume_role_policy), ['repo:acme/llmops-system:pull_request']), []);
  const actions = diffPolicy.Statement.flatMap((st: any) => [st.Action].flat());
  assert.equal(actions.sort(), ['ecr:DescribeImages', 'ecs:DescribeServices', 'ecs:DescribeTaskDefinition', 's3:GetObject']);
  assert.ok(
    diffPolicy.Statement.every(
      (st: any) => st.Effect === 'Allow' && (st.Resource === '*' ? st.Action.join() === 'ecs:DescribeTaskDefinition' : true),
    ),
  );
  assert.match(JSON.stringify(diffPolicy), /outputs\.json/);
  assert.not.match(JSON.stringify(diffPolicy), /terraform\.tfstate|secretsmanager/);
});

test('a DB password of our own reaches Secrets Manager through write-only arguments, and neither the state nor the saved plan', async () => {
  const d = await domain;
  assert.ok(d.state.length > 1000, 'the state was read');
  assert.ok(d.planText.length > 1000, 'the plan was read');
  assert.match(d.dbSecret, DB_PASSWORD_CANARY, 'the password reached the secret');
  assert.not.match(d.state, DB_PASSWORD_CANARY, 'not in the state');
  assert.not.match(d.planText, DB_PASSWORD_CANARY, 'not in the saved plan');
});

test('the infra role: its own trust subject, and it cannot create a role without the boundary, change itself or the boundary', async () => {
  const rs = planJson.planned_values.root_module.resources;
  const role = rs.find((r: any) => r.address === 'aws_iam_role.github_infra[0]');
  assert.equal(trustPolicyViolations(JSON.parse(role.values.assume_role_policy), ['repo:acme/llmops-system:environment:infra']), []);
  const { probes } = await domain;
  const denied = (name: string, action: string) => {
    const p = probes[name]!;
    assert.is.not(p.exitCode, 0, `${name}: allowed`);
    assert.match(p.stderr, /AccessDenied/, `${name}: ${p.stderr}`);
    assert.match(p.stderr, `iam:${action}`, `${name}: names the action`);
  };
  denied('create a role without the boundary', 'CreateRole');
  denied('create a role of another project, with the boundary', 'CreateRole');
  denied("create a role on the stack's path, with the boundary, under a name the stack does not define", 'CreateRole');
  denied('give itself an admin policy', 'PutRolePolicy');
  denied('attach AdministratorAccess to itself', 'AttachRolePolicy');
  denied('change its own trust', 'UpdateAssumeRolePolicy');
  denied('take the boundary off the deploy role', 'DeleteRolePermissionsBoundary');
  denied('rewrite the boundary', 'CreatePolicyVersion');
  // no IAM condition limits the principals of a trust: trusts are changed by an administrator only
  denied('make the deploy role trust another account', 'UpdateAssumeRolePolicy');
  denied('delete the task role (to create it again with another trust)', 'DeleteRole');
  // every infra role, of every stack
  denied("tag another stack's infra role", 'TagRole');
  denied("change another stack's infra role's trust", 'UpdateAssumeRolePolicy');
  const allowed = probes["put a policy on the stack's task role (it has the boundary)"]!;
  assert.is(allowed.exitCode, 0, `a policy on the stack's own role, which has the boundary, is allowed: ${allowed.stderr}`);
});

test("the infra role reaches its own stack only: another stack's secret and state key are denied, its own outputs are not", async () => {
  const { probes } = await domain;
  const secret = probes["read another stack's secret"]!;
  assert.is.not(secret.exitCode, 0, 'read the staging secret');
  assert.match(secret.stderr, /AccessDenied.*secretsmanager:GetSecretValue.*llmops-staging\/db\/password/);
  const state = probes["read another stack's state"]!;
  assert.is.not(state.exitCode, 0, "read staging's state");
  assert.match(state.stderr, /AccessDenied|Forbidden|403/);
  const own = probes["read its own stack's published outputs"]!;
  assert.is(own.exitCode, 0, `its own key (the denial is the scoping's doing): ${own.stderr}`);
});

test("the infra role reaches its own stack's EC2, RDS, ECS and ELB resources only: another stack's, by its Project tag, are denied", async () => {
  const { probes } = await domain;
  const denied: [string, RegExp][] = [
    ["delete another stack's database", /rds:DeleteDBInstance/],
    ["reset another stack's database's master password", /rds:ModifyDBInstance/],
    ["delete another stack's cluster", /ecs:DeleteCluster/],
    ["open another stack's security group", /ec2:AuthorizeSecurityGroupIngress/],
    ["delete another stack's target group", /elasticloadbalancing:DeleteTargetGroup/],
    ["create a security group tagged as another stack's", /ec2:CreateSecurityGroup/],
  ];
  for (const [name, action] of denied) {
    const p = probes[name]!;
    assert.is.not(p.exitCode, 0, `${name}: allowed`);
    assert.match(p.stderr, /AccessDenied|UnauthorizedOperation|not authorized/, name);
    assert.match(p.stderr, action, `${name}: the denial names the action`);
  }
  // the neighbours of the denials: the tag decides, not the action
  for (const name of ["create a security group tagged as its own stack's", "tag its own stack's database"]) {
    assert.is(probes[name]!.exitCode, 0, `${name}: ${probes[name]!.stderr}`);
  }
});

test("by default (db_connect_as = app), only the migration's execution role reads the master's secret; the service's reads the app user's", async () => {
  const { probes } = await domain;
  const denied = probes["the service's execution role reads the master's secret"]!;
  assert.is.not(denied.exitCode, 0, "the service's execution role read the master's secret");
  assert.match(denied.stderr, /AccessDenied.*secretsmanager:GetSecretValue.*llmops\/db\/password/);
  for (const allowed of [
    "the service's execution role reads the app user's secret",
    "the migration's execution role reads the master's secret",
    "the migration's execution role reads the app user's secret",
  ])
    assert.is(probes[allowed]!.exitCode, 0, `${allowed}: ${probes[allowed]!.stderr}`);
});

test("a deploy role trusts its GitHub environment's subject alone: a job on main naming no environment, another environment and a fork are denied", async () => {
  const { probes } = await domain;
  const ok = probes["assume production's deploy role from the production environment"]!;
  assert.is(ok.exitCode, 0, ok.stderr);
  for (const name of [
    "assume production's deploy role from a job on main that names no environment",
    "assume production's deploy role from the staging environment",
    "assume production's deploy role from a fork's production environment",
  ]) {
    const p = probes[name]!;
    assert.is.not(p.exitCode, 0, `${name}: allowed`);
    assert.match(p.stderr, /AccessDenied.*sts:AssumeRoleWithWebIdentity/, `${name}: ${p.stderr}`);
  }
});

/** Each rule id → the smallest change to the applied plan that breaks exactly that rule. */
const all = (plan: any, type: string): any[] =>
  resources(plan)
    .filter((r) => r.type === type)
    .map((r) => r.values);
const first = (plan: any, type: string): any => all(plan, type)[0];
const drop = (plan: any, type: string) => {
  const rs = plan.planned_values.root_module.resources;
  plan.planned_values.root_module.resources = rs.filter((r: any) => r.type !== type);
};
const container = (plan: any, change: (c: any) => void) => {
  const td = first(plan, 'aws_ecs_task_definition');
  const defs = JSON.parse(td.container_definitions);
  change(defs[0]);
  td.container_definitions = JSON.stringify(defs);
};
const BREAKS: Record<string, (plan: any) => void> = {
  'CKV_AWS_2/ELB.1': (p) => (all(p, 'aws_lb_listener').find((l) => l.protocol === 'HTTP').default_action[0].type = 'fixed-response'),
  'ELB.17': (p) => (all(p, 'aws_lb_listener').find((l) => l.protocol === 'HTTPS').ssl_policy = 'ELBSecurityPolicy-2016-08'),
  'CKV_AWS_131/ELB.4': (p) => (first(p, 'aws_lb').drop_invalid_header_fields = false),
  'CKV_AWS_91/ELB.5': (p) => (first(p, 'aws_lb').access_logs[0].enabled = false),
  'ELB.6': (p) => (p.configuration.root_module.variables.alb_deletion_protection.default = false),
  'ELB.12': (p) => (first(p, 'aws_lb').desync_mitigation_mode = 'monitor'),
  'CKV_AWS_336/ECS.5': (p) => container(p, (c) => (c.readonlyRootFilesystem = false)),
  'ECS.4': (p) => container(p, (c) => (c.privileged = true)),
  'ECS.20': (p) => container(p, (c) => (c.user = '0:0')),
  'ECS.9': (p) => container(p, (c) => (c.logConfiguration.logDriver = 'json-file')),
  'ECS.8': (p) => container(p, (c) => c.environment.push({ name: 'DB_PASSWORD', value: 'hunter2' })),
  CKV_AWS_249: (p) => (first(p, 'aws_ecs_task_definition').execution_role_arn = first(p, 'aws_ecs_task_definition').task_role_arn),
  'CKV_AWS_333/ECS.2': (p) => (first(p, 'aws_ecs_service').network_configuration[0].assign_public_ip = true),
  'ECS.circuit-breaker': (p) => (first(p, 'aws_ecs_service').deployment_circuit_breaker[0].rollback = false),
  'CKV_AWS_65/ECS.12': (p) => (first(p, 'aws_ecs_cluster').setting = [{ name: 'containerInsights', value: 'disabled' }]),
  'CKV_AWS_51/ECR.2': (p) => (first(p, 'aws_ecr_repository').image_tag_mutability = 'MUTABLE'),
  'ECR.1': (p) => (first(p, 'aws_ecr_repository').image_scanning_configuration[0].scan_on_push = false),
  'ECR.3': (p) => drop(p, 'aws_ecr_lifecycle_policy'),
  CKV_AWS_16: (p) => (first(p, 'aws_db_instance').storage_encrypted = false),
  CKV_AWS_17: (p) => (first(p, 'aws_db_instance').publicly_accessible = true),
  'RDS.11': (p) => (first(p, 'aws_db_instance').backup_retention_period = 1),
  'RDS.8': (p) => (p.configuration.root_module.variables.db_deletion_protection.default = false),
  'RDS.10': (p) => (first(p, 'aws_db_instance').iam_database_authentication_enabled = false),
  'RDS.9': (p) => (first(p, 'aws_db_instance').enabled_cloudwatch_logs_exports = ['upgrade']),
  'RDS.17': (p) => (first(p, 'aws_db_instance').copy_tags_to_snapshot = false),
  'RDS.password': (p) => (first(p, 'aws_db_instance').password = 'in-the-state'),
  'RDS.app-user': (p) => (resources(p).find((r) => r.address === 'aws_secretsmanager_secret_version.db_app')!.values.secret_string = '{}'),
  'CKV2_AWS_69/RDS.force-ssl': (p) => (configured(p, 'aws_db_parameter_group')[0].expressions.parameter = []),
  'RDS.log-groups': (p) => {
    const rs = p.planned_values.root_module.resources;
    p.planned_values.root_module.resources = rs.filter(
      (r: any) => !(r.type === 'aws_cloudwatch_log_group' && r.values.name.endsWith('/postgresql')),
    );
  },
  CKV_AWS_66: (p) => (first(p, 'aws_cloudwatch_log_group').retention_in_days = 0),
  'SNS.encryption': (p) => (first(p, 'aws_sns_topic').kms_master_key_id = 'alias/aws/sns'),
  'S3.public-access': (p) => (first(p, 'aws_s3_bucket_public_access_block').block_public_policy = false),
  'S3.versioning': (p) => (first(p, 'aws_s3_bucket_versioning').versioning_configuration[0].status = 'Suspended'),
  'S3.sse-s3': (p) =>
    (first(p, 'aws_s3_bucket_server_side_encryption_configuration').rule[0].apply_server_side_encryption_by_default[0].sse_algorithm =
      'aws:kms'),
  'S3.tls-only': (p) =>
    (first(p, 'aws_s3_bucket_policy').policy = JSON.stringify({
      Statement: [
        {
          Effect: 'Allow',
          Principal: { Service: 'logdelivery.elasticloadbalancing.amazonaws.com' },
          Action: 's3:PutObject',
          Resource: '*',
        },
      ],
    })),
  'S3.lifecycle': (p) => drop(p, 'aws_s3_bucket_lifecycle_configuration'),
  'EC2.6': (p) => drop(p, 'aws_flow_log'),
  'EC2.2': (p) => (first(p, 'aws_default_security_group').ingress = [{ from_port: 0, to_port: 0, protocol: '-1', self: true }]),
  'EC2.public-ip': (p) => (first(p, 'aws_subnet').map_public_ip_on_launch = true),
  'DB.sg': (p) => (all(p, 'aws_vpc_security_group_ingress_rule').find((r) => r.from_port === 5432).cidr_ipv4 = '10.0.0.0/8'),
  'CloudFront.tls': (p) => (first(p, 'aws_cloudfront_distribution').default_cache_behavior[0].viewer_protocol_policy = 'allow-all'),
  'IAM.21/CKV_AWS_286-290,355': (p) =>
    (first(p, 'aws_iam_role_policy').policy = JSON.stringify({ Statement: [{ Effect: 'Allow', Action: 'iam:*', Resource: '*' }] })),
  'IAM.confused-deputy': (p) => {
    const role = all(p, 'aws_iam_role').find((r) => r.assume_role_policy.includes('vpc-flow-logs.amazonaws.com'));
    const doc = JSON.parse(role.assume_role_policy);
    for (const st of doc.Statement) delete st.Condition;
    role.assume_role_policy = JSON.stringify(doc);
  },
  'CKV2_AWS_28/WAF.alb': (p) => drop(p, 'aws_wafv2_web_acl_association'),
  'CKV_AWS_68/WAF.cloudfront': (p) => (first(p, 'aws_cloudfront_distribution').web_acl_id = ''),
  'CKV_AWS_192/WAF.managed-rules': (p) => {
    const acl = all(p, 'aws_wafv2_web_acl').find((a) => a.scope === 'REGIONAL');
    acl.rule = acl.rule.filter((r: any) => r.name !== 'AWSManagedRulesKnownBadInputsRuleSet');
  },
  'WAF.rate-limit': (p) => {
    const acl = all(p, 'aws_wafv2_web_acl').find((a) => a.scope === 'CLOUDFRONT');
    acl.rule = acl.rule.filter((r: any) => !r.statement[0].rate_based_statement.length);
  },
  'WAF.alarm': (p) => {
    const alarm = all(p, 'aws_cloudwatch_metric_alarm').find((a) => a.namespace === 'AWS/WAFV2');
    alarm.metric_name = 'AllowedRequests';
  },
  'WAF.11': (p) => {
    const logging = resources(p).find((r) => r.type === 'aws_wafv2_web_acl_logging_configuration')!;
    logging.values.redacted_fields = [];
  },
  'CloudFront.5': (p) => {
    const source = resources(p).find((r) => r.type === 'aws_cloudwatch_log_delivery_source')!;
    source.values.resource_arn = 'arn:aws:cloudfront::123456789012:distribution/OTHER';
  },
  'CloudFront.security-headers': (p) => {
    first(p, 'aws_cloudfront_distribution').default_cache_behavior[0].response_headers_policy_id = null;
  },
  'CloudFront.origin-lock': (p) => {
    const origin = first(p, 'aws_cloudfront_distribution').origin[0];
    origin.custom_header[0].value = 'guessable';
  },
  'CKV2_AWS_20/ELB.plain-http': (p) => {
    const rs = p.planned_values.root_module.resources;
    p.planned_values.root_module.resources = rs.filter((r: any) => !(r.type === 'aws_lb_listener' && r.values.protocol === 'HTTPS'));
    all(p, 'aws_lb_listener').find((l) => l.protocol === 'HTTP').default_action = [{ type: 'forward' }];
  },
  'IAM.boundary': (p) => (all(p, 'aws_iam_role').find((r) => r.name.endsWith('-ecs-task')).permissions_boundary = null),
  'IAM.stack-tag': (p) => {
    const infra = all(p, 'aws_iam_role_policy').find((r) => r.name === 'manage-llmops-roles');
    const doc = JSON.parse(infra.policy);
    doc.Statement = doc.Statement.filter((s: any) => s.Sid !== 'NeverTouchAnotherStacksResources');
    infra.policy = JSON.stringify(doc);
  },
};

test('every rule has its break, and each break fails exactly its rule (table: rule id -> smallest broken plan)', () => {
  assert.equal(Object.keys(BREAKS).sort(), RULES.map((r) => r.id).sort());
  assert.ok(planJson, 'the domain variant planned');
  const wrong: string[] = [];
  for (const rule of RULES) {
    const broken = JSON.parse(JSON.stringify(planJson));
    BREAKS[rule.id]!(broken);
    const failed = runRules(broken)
      .filter((r) => r.violations.length)
      .map((r) => r.id);
    if (failed.length !== 1 || failed[0] !== rule.id) wrong.push(`${rule.id}: its break failed [${failed.join(', ')}]`);
  }
  assert.equal(wrong, []);
});

test('terraform validate and terraform test (mocked provider: validations and key settings)', async () => {
  const r = await mocked;
  assert.is(r.init.exitCode, 0, r.init.all);
  assert.is(r.validate?.exitCode, 0, r.validate?.all);
  assert.is(r.test?.exitCode, 0, r.test?.all);
  assert.match(r.test!.all, /Success! \d+ passed, 0 failed/);
});

test('domain variant: destroy succeeds', async () => {
  const d = await domain;
  assert.is(d.destroy.exitCode, 0, errors(d.destroy.all));
  assert.match(d.destroy.all, /Destroy complete! Resources: \d+ destroyed/);
});

test.run();
