// Our own security rules over `terraform show -json` of a plan, one per ANCHORS.md check id. A plan of an
// applied stack has every value known, so the rules read planned_values (and configuration for variable
// defaults). Each rule returns its violations; none means it passes.

type Resource = { address: string; type: string; name: string; values: any };
export interface Rule {
  id: string;
  what: string;
  check(plan: any): string[];
}

export function resources(plan: any): Resource[] {
  const out: Resource[] = [];
  const walk = (mod: any) => {
    for (const r of mod?.resources ?? []) out.push(r);
    for (const c of mod?.child_modules ?? []) walk(c);
  };
  walk(plan?.planned_values?.root_module);
  return out;
}

/** Resources as the configuration writes them (expressions, references), for what planned values cannot show. */
export const configured = (plan: any, type: string): any[] =>
  (plan?.configuration?.root_module?.resources ?? []).filter((r: any) => r.type === type);
const ofType = (plan: any, type: string) => resources(plan).filter((r) => r.type === type);
const one = (v: any) => (Array.isArray(v) ? v[0] : v);
const variableDefault = (plan: any, name: string) => plan?.configuration?.root_module?.variables?.[name]?.default;
const parse = (s: any) => (typeof s === 'string' ? JSON.parse(s) : s);
const containers = (plan: any) =>
  ofType(plan, 'aws_ecs_task_definition').flatMap((td) => parse(td.values.container_definitions).map((c: any) => ({ td: td.address, c })));
const SECRET_NAME = /PASSWORD|SECRET|TOKEN|PRIVATE_KEY|API_KEY|ACCESS_KEY/i;

const wafRules = (acl: Resource): any[] => [].concat(acl.values.rule ?? []);

function every(plan: any, type: string, ok: (v: any) => boolean, why: string): string[] {
  const rs = ofType(plan, type);
  if (!rs.length) return [`no ${type} in the plan`];
  return rs.filter((r) => !ok(r.values)).map((r) => `${r.address}: ${why}`);
}

export const RULES: Rule[] = [
  {
    id: 'CKV_AWS_2/ELB.1',
    what: 'HTTP redirects to HTTPS when a certificate exists',
    check: (p) => {
      const https = ofType(p, 'aws_lb_listener').some((l) => l.values.protocol === 'HTTPS');
      if (!https) return [];
      return ofType(p, 'aws_lb_listener')
        .filter(
          (l) =>
            l.values.protocol === 'HTTP' &&
            !(one(l.values.default_action)?.type === 'redirect' && one(one(l.values.default_action)?.redirect)?.protocol === 'HTTPS'),
        )
        .map((l) => `${l.address}: HTTP does not redirect to HTTPS`);
    },
  },
  {
    id: 'CKV2_AWS_20/ELB.plain-http',
    what: 'no listener forwards plain HTTP to the app unless allow_plain_http opts in',
    check: (p) =>
      p?.variables?.allow_plain_http?.value === true
        ? []
        : ofType(p, 'aws_lb_listener')
            .filter((l) => l.values.protocol === 'HTTP' && one(l.values.default_action)?.type === 'forward')
            .map((l) => `${l.address}: forwards plain HTTP, and allow_plain_http is not set`),
  },
  {
    id: 'ELB.17',
    what: 'HTTPS listeners use a TLS 1.3 policy',
    check: (p) =>
      ofType(p, 'aws_lb_listener')
        .filter((l) => l.values.protocol === 'HTTPS' && !/TLS13/.test(l.values.ssl_policy ?? ''))
        .map((l) => `${l.address}: ssl_policy ${l.values.ssl_policy}`),
  },
  {
    id: 'CKV_AWS_131/ELB.4',
    what: 'ALB drops invalid header fields',
    check: (p) => every(p, 'aws_lb', (v) => v.drop_invalid_header_fields === true, 'drop_invalid_header_fields is off'),
  },
  {
    id: 'CKV_AWS_91/ELB.5',
    what: 'ALB access logs enabled',
    check: (p) => every(p, 'aws_lb', (v) => one(v.access_logs)?.enabled === true && !!one(v.access_logs)?.bucket, 'access logs are off'),
  },
  {
    id: 'ELB.6',
    what: 'ALB deletion protection on by default',
    check: (p) => (variableDefault(p, 'alb_deletion_protection') === true ? [] : ['variable alb_deletion_protection must default to true']),
  },
  {
    id: 'ELB.12',
    what: 'ALB desync mitigation defensive or strictest',
    check: (p) =>
      every(p, 'aws_lb', (v) => ['defensive', 'strictest'].includes(v.desync_mitigation_mode), 'desync_mitigation_mode is monitor'),
  },
  {
    id: 'CKV_AWS_336/ECS.5',
    what: 'containers have a read-only root filesystem',
    check: (p) =>
      containers(p)
        .filter(({ c }) => c.readonlyRootFilesystem !== true)
        .map(({ td, c }) => `${td}: ${c.name} has a writable root filesystem`),
  },
  {
    id: 'ECS.4',
    what: 'containers are not privileged',
    check: (p) =>
      containers(p)
        .filter(({ c }) => c.privileged === true)
        .map(({ td, c }) => `${td}: ${c.name} is privileged`),
  },
  {
    id: 'ECS.20',
    what: 'containers run as a non-root user',
    check: (p) =>
      containers(p)
        .filter(({ c }) => !c.user || /^(root|0)(:|$)/.test(c.user))
        .map(({ td, c }) => `${td}: ${c.name} runs as root`),
  },
  {
    id: 'ECS.9',
    what: 'containers log with awslogs',
    check: (p) =>
      containers(p)
        .filter(({ c }) => c.logConfiguration?.logDriver !== 'awslogs')
        .map(({ td, c }) => `${td}: ${c.name} has no awslogs`),
  },
  {
    id: 'ECS.8',
    what: 'no secret in plain environment; secrets only via valueFrom',
    check: (p) =>
      containers(p).flatMap(({ td, c }) => [
        ...(c.environment ?? [])
          .filter((e: any) => SECRET_NAME.test(e.name))
          .map((e: any) => `${td}: ${c.name} environment ${e.name} looks secret`),
        ...(c.secrets ?? [])
          .filter((s: any) => !/^arn:aws[a-z-]*:(secretsmanager|ssm):/.test(s.valueFrom ?? ''))
          .map((s: any) => `${td}: ${c.name} secret ${s.name} is not an ARN`),
      ]),
  },
  {
    id: 'CKV_AWS_249',
    what: 'execution role differs from the task role',
    check: (p) =>
      every(
        p,
        'aws_ecs_task_definition',
        (v) => !!v.execution_role_arn && v.execution_role_arn !== v.task_role_arn,
        'execution role == task role',
      ),
  },
  {
    id: 'CKV_AWS_333/ECS.2',
    what: 'services assign no public IP',
    check: (p) => every(p, 'aws_ecs_service', (v) => one(v.network_configuration)?.assign_public_ip === false, 'assign_public_ip is on'),
  },
  {
    id: 'ECS.circuit-breaker',
    what: 'services roll back with the circuit breaker',
    check: (p) =>
      every(
        p,
        'aws_ecs_service',
        (v) => one(v.deployment_circuit_breaker)?.enable === true && one(v.deployment_circuit_breaker)?.rollback === true,
        'no circuit breaker with rollback',
      ),
  },
  {
    id: 'CKV_AWS_65/ECS.12',
    what: 'Container Insights on',
    check: (p) =>
      every(
        p,
        'aws_ecs_cluster',
        (v) => (v.setting ?? []).some((s: any) => s.name === 'containerInsights' && ['enabled', 'enhanced'].includes(s.value)),
        'Container Insights off',
      ),
  },
  {
    id: 'CKV_AWS_51/ECR.2',
    what: 'ECR tags immutable',
    check: (p) => every(p, 'aws_ecr_repository', (v) => v.image_tag_mutability === 'IMMUTABLE', 'tags are mutable'),
  },
  {
    id: 'ECR.1',
    what: 'ECR scans on push',
    check: (p) => every(p, 'aws_ecr_repository', (v) => one(v.image_scanning_configuration)?.scan_on_push === true, 'no scan on push'),
  },
  {
    id: 'ECR.3',
    what: 'ECR has a lifecycle policy',
    check: (p) =>
      ofType(p, 'aws_ecr_lifecycle_policy').length >= ofType(p, 'aws_ecr_repository').length
        ? []
        : ['a repository has no lifecycle policy'],
  },
  {
    id: 'CKV_AWS_16',
    what: 'RDS storage encrypted',
    check: (p) => every(p, 'aws_db_instance', (v) => v.storage_encrypted === true, 'not encrypted'),
  },
  {
    id: 'CKV_AWS_17',
    what: 'RDS not public',
    check: (p) => every(p, 'aws_db_instance', (v) => v.publicly_accessible === false, 'publicly accessible'),
  },
  {
    id: 'RDS.11',
    what: 'RDS backups >= 7 days',
    check: (p) => every(p, 'aws_db_instance', (v) => v.backup_retention_period >= 7, 'backups < 7 days'),
  },
  {
    id: 'RDS.8',
    what: 'RDS deletion protection on by default',
    check: (p) => (variableDefault(p, 'db_deletion_protection') === true ? [] : ['variable db_deletion_protection must default to true']),
  },
  {
    id: 'RDS.10',
    what: 'RDS IAM authentication',
    check: (p) => every(p, 'aws_db_instance', (v) => v.iam_database_authentication_enabled === true, 'IAM auth off'),
  },
  {
    id: 'RDS.9',
    what: 'RDS log exports',
    check: (p) =>
      every(p, 'aws_db_instance', (v) => (v.enabled_cloudwatch_logs_exports ?? []).includes('postgresql'), 'no postgresql log export'),
  },
  {
    id: 'RDS.17',
    what: 'RDS copies tags to snapshots',
    check: (p) => every(p, 'aws_db_instance', (v) => v.copy_tags_to_snapshot === true, 'tags not copied to snapshots'),
  },
  {
    id: 'RDS.password',
    what: 'the RDS password is never in the state: managed by RDS, or given through write-only arguments (password_wo, secret_string_wo)',
    check: (p) => [
      ...every(
        p,
        'aws_db_instance',
        (v) => v.manage_master_user_password === true || (!v.password && v.password_wo_version != null),
        'password neither RDS-managed nor write-only',
      ),
      ...ofType(p, 'aws_secretsmanager_secret_version')
        .filter((r) => r.name === 'db_password' && r.values.secret_string)
        .map((r) => `${r.address}: the password in secret_string (state), not secret_string_wo`),
    ],
  },
  {
    id: 'RDS.app-user',
    what: 'the app has a database user of its own: a secret whose generated password is written write-only (secret_string_wo), never the master',
    check: (p) => {
      const app = ofType(p, 'aws_secretsmanager_secret_version').filter((r) => r.name === 'db_app');
      if (!app.length) return ['no aws_secretsmanager_secret_version.db_app: the app would connect as the master user'];
      return app
        .filter((r) => r.values.secret_string || r.values.secret_string_wo_version == null)
        .map((r) => `${r.address}: the app user's password is not write-only (secret_string_wo with a version)`);
    },
  },
  {
    id: 'CKV2_AWS_69/RDS.force-ssl',
    what: 'RDS accepts TLS connections only (a parameter group with rds.force_ssl = 1)',
    // read from the configuration: the emulator returns no parameters, so planned values cannot show them
    check: (p) => {
      const forcing = configured(p, 'aws_db_parameter_group')
        .filter((g) =>
          []
            .concat(g.expressions?.parameter ?? [])
            .some((x: any) => x.name?.constant_value === 'rds.force_ssl' && String(x.value?.constant_value) === '1'),
        )
        .map((g) => g.address);
      const dbs = configured(p, 'aws_db_instance');
      if (!dbs.length) return ['no aws_db_instance in the configuration'];
      return dbs
        .filter(
          (db) =>
            !(db.expressions?.parameter_group_name?.references ?? []).some((r: string) =>
              forcing.some((g) => r === g || r.startsWith(`${g}.`)),
            ),
        )
        .map((db) => `${db.address}: no parameter group forcing TLS`);
    },
  },
  {
    id: 'RDS.log-groups',
    what: 'the log groups RDS exports to are managed, so they have a retention',
    check: (p) =>
      ofType(p, 'aws_db_instance').flatMap((db) =>
        (db.values.enabled_cloudwatch_logs_exports ?? [])
          .filter(
            (e: string) =>
              !ofType(p, 'aws_cloudwatch_log_group').some((g) => g.values.name === `/aws/rds/instance/${db.values.identifier}/${e}`),
          )
          .map(
            (e: string) =>
              `${db.address}: /aws/rds/instance/${db.values.identifier}/${e} is not managed (RDS would create it without a retention)`,
          ),
      ),
  },
  {
    id: 'CKV_AWS_66',
    what: 'log groups have a retention',
    check: (p) => every(p, 'aws_cloudwatch_log_group', (v) => v.retention_in_days > 0, 'no retention'),
  },
  {
    id: 'SNS.encryption',
    what: 'SNS topics encrypted with a CMK',
    check: (p) =>
      every(p, 'aws_sns_topic', (v) => !!v.kms_master_key_id && !/alias\/aws\/sns/.test(v.kms_master_key_id), 'not encrypted with a CMK'),
  },
  {
    id: 'S3.public-access',
    what: 'S3 public access blocked',
    check: (p) =>
      every(
        p,
        'aws_s3_bucket_public_access_block',
        (v) => v.block_public_acls && v.block_public_policy && v.ignore_public_acls && v.restrict_public_buckets,
        'public access not fully blocked',
      ),
  },
  {
    id: 'S3.versioning',
    what: 'S3 versioning on',
    check: (p) => every(p, 'aws_s3_bucket_versioning', (v) => one(v.versioning_configuration)?.status === 'Enabled', 'versioning off'),
  },
  {
    id: 'S3.sse-s3',
    what: 'ALB log bucket encrypted with SSE-S3 (ALB cannot write SSE-KMS)',
    check: (p) =>
      every(
        p,
        'aws_s3_bucket_server_side_encryption_configuration',
        (v) => one(one(v.rule)?.apply_server_side_encryption_by_default)?.sse_algorithm === 'AES256',
        'not SSE-S3',
      ),
  },
  {
    id: 'S3.tls-only',
    what: 'S3 bucket policy denies insecure transport',
    check: (p) =>
      every(
        p,
        'aws_s3_bucket_policy',
        (v) =>
          parse(v.policy).Statement.some(
            (s: any) => s.Effect === 'Deny' && JSON.stringify(s.Condition ?? {}).includes('aws:SecureTransport'),
          ),
        'no TLS-only statement',
      ),
  },
  {
    id: 'S3.lifecycle',
    what: 'S3 lifecycle configured',
    check: (p) =>
      ofType(p, 'aws_s3_bucket_lifecycle_configuration').length >= ofType(p, 'aws_s3_bucket').length
        ? []
        : ['a bucket has no lifecycle configuration'],
  },
  {
    id: 'EC2.6',
    what: 'VPC flow logs',
    check: (p) => (ofType(p, 'aws_flow_log').length >= ofType(p, 'aws_vpc').length ? [] : ['a VPC has no flow log']),
  },
  {
    id: 'EC2.2',
    what: 'default security group allows nothing',
    check: (p) =>
      every(p, 'aws_default_security_group', (v) => !(v.ingress ?? []).length && !(v.egress ?? []).length, 'default SG has rules'),
  },
  {
    id: 'EC2.public-ip',
    what: 'no public IP on launch in any subnet',
    check: (p) => every(p, 'aws_subnet', (v) => v.map_public_ip_on_launch === false, 'map_public_ip_on_launch is on'),
  },
  {
    id: 'DB.sg',
    what: 'the database port is open only to the tasks security group, never to a CIDR',
    check: (p) =>
      ofType(p, 'aws_vpc_security_group_ingress_rule')
        .filter((r) => r.values.from_port <= 5432 && r.values.to_port >= 5432 && (r.values.cidr_ipv4 || r.values.cidr_ipv6))
        .map((r) => `${r.address}: 5432 open to ${r.values.cidr_ipv4 ?? r.values.cidr_ipv6}`),
  },
  {
    id: 'CloudFront.tls',
    what: 'CloudFront redirects to HTTPS with TLSv1.2_2021+',
    check: (p) =>
      ofType(p, 'aws_cloudfront_distribution')
        .filter(
          (d) =>
            one(d.values.default_cache_behavior)?.viewer_protocol_policy !== 'redirect-to-https' ||
            !/TLSv1\.2_2021|TLSv1\.3/.test(one(d.values.viewer_certificate)?.minimum_protocol_version ?? ''),
        )
        .map((d) => `${d.address}: weak viewer settings`),
  },
  {
    id: 'IAM.21/CKV_AWS_286-290,355',
    what: 'no IAM policy allows a "*" or service-wide wildcard action',
    check: (p) =>
      [...ofType(p, 'aws_iam_role_policy'), ...ofType(p, 'aws_iam_policy')].flatMap((r) => {
        const doc = parse(r.values.policy);
        return []
          .concat(doc.Statement ?? [])
          .filter((s: any) => s.Effect !== 'Deny')
          .flatMap((s: any) => [].concat(s.Action ?? []))
          .filter((a: string) => a === '*' || /^[a-z0-9-]+:\*$/.test(a))
          .map((a) => `${r.address}: allows ${a}`);
      }),
  },
  {
    id: 'IAM.confused-deputy',
    what: 'a role an AWS service assumes (VPC flow logs) trusts it only on behalf of this account (aws:SourceAccount)',
    check: (p) =>
      ofType(p, 'aws_iam_role').flatMap((r) =>
        []
          .concat(parse(r.values.assume_role_policy).Statement ?? [])
          .filter((st: any) => [].concat(st.Principal?.Service ?? []).some((svc: string) => svc === 'vpc-flow-logs.amazonaws.com'))
          .filter((st: any) => !st.Condition?.StringEquals?.['aws:SourceAccount'])
          .map(() => `${r.address}: trusts vpc-flow-logs.amazonaws.com without an aws:SourceAccount condition`),
      ),
  },
  {
    id: 'CKV2_AWS_28/WAF.alb',
    what: 'the ALB has a WAFv2 web ACL',
    check: (p) => {
      const acls = ofType(p, 'aws_wafv2_web_acl_association').map((a) => a.values.resource_arn);
      return ofType(p, 'aws_lb')
        .filter((lb) => !acls.includes(lb.values.arn))
        .map((lb) => `${lb.address}: no WAF web ACL`);
    },
  },
  {
    id: 'CKV_AWS_68/WAF.cloudfront',
    what: 'a CloudFront distribution has a WAFv2 web ACL',
    check: (p) =>
      ofType(p, 'aws_cloudfront_distribution')
        .filter((d) => !d.values.web_acl_id)
        .map((d) => `${d.address}: no web_acl_id`),
  },
  {
    id: 'CKV_AWS_192/WAF.managed-rules',
    what: "every web ACL runs AWS's Common and KnownBadInputs (Log4j) managed rule groups",
    check: (p) =>
      ofType(p, 'aws_wafv2_web_acl').flatMap((acl) => {
        const groups = wafRules(acl).flatMap((r: any) => r.statement?.[0]?.managed_rule_group_statement?.map((g: any) => g.name) ?? []);
        return ['AWSManagedRulesCommonRuleSet', 'AWSManagedRulesKnownBadInputsRuleSet']
          .filter((g) => !groups.includes(g))
          .map((g) => `${acl.address}: no ${g}`);
      }),
  },
  {
    id: 'WAF.rate-limit',
    what: "the web ACL that sees the client's address (CloudFront's when it is on, else the ALB's) has a rate-based rule",
    check: (p) => {
      const scope = ofType(p, 'aws_cloudfront_distribution').length ? 'CLOUDFRONT' : 'REGIONAL';
      const acl = ofType(p, 'aws_wafv2_web_acl').find((a) => a.values.scope === scope);
      if (!acl) return [`no ${scope} web ACL`];
      return wafRules(acl).some((r: any) => r.statement?.[0]?.rate_based_statement?.length) ? [] : [`${acl.address}: no rate-based rule`];
    },
  },
  {
    id: 'WAF.alarm',
    what: "an alarm on the ALB web ACL's blocked requests",
    check: (p) => {
      const acl = ofType(p, 'aws_wafv2_web_acl').find((a) => a.values.scope === 'REGIONAL');
      if (!acl) return [];
      const alarmed = ofType(p, 'aws_cloudwatch_metric_alarm').some(
        (a) =>
          a.values.namespace === 'AWS/WAFV2' &&
          a.values.metric_name === 'BlockedRequests' &&
          a.values.dimensions?.WebACL === acl.values.name,
      );
      return alarmed ? [] : [`${acl.address}: no BlockedRequests alarm`];
    },
  },
  {
    id: 'WAF.11',
    what: 'every web ACL logs its requests (to an aws-waf-logs- log group), with the Authorization header and cookies redacted',
    check: (p) =>
      ofType(p, 'aws_wafv2_web_acl').flatMap((acl) => {
        const logging = ofType(p, 'aws_wafv2_web_acl_logging_configuration').find((l) => l.values.resource_arn === acl.values.arn);
        if (!logging) return [`${acl.address}: no logging configuration`];
        const redacted = []
          .concat(logging.values.redacted_fields ?? [])
          .flatMap((f: any) => [].concat(f.single_header ?? []).map((h: any) => h.name));
        return [
          ...([].concat(logging.values.log_destination_configs ?? []).every((d: string) => /:log-group:aws-waf-logs-/.test(d))
            ? []
            : [`${logging.address}: not an aws-waf-logs- log group`]),
          ...['authorization', 'cookie'].filter((h) => !redacted.includes(h)).map((h) => `${logging.address}: ${h} not redacted`),
        ];
      }),
  },
  {
    id: 'CloudFront.5',
    what: "the distribution's access logs are delivered (standard logging v2, to CloudWatch Logs)",
    check: (p) =>
      ofType(p, 'aws_cloudfront_distribution').flatMap((cdn) => {
        const source = ofType(p, 'aws_cloudwatch_log_delivery_source').find(
          (s) => s.values.resource_arn === cdn.values.arn && s.values.log_type === 'ACCESS_LOGS',
        );
        const delivered =
          source && ofType(p, 'aws_cloudwatch_log_delivery').some((d) => d.values.delivery_source_name === source.values.name);
        return delivered ? [] : [`${cdn.address}: no access log delivery`];
      }),
  },
  {
    id: 'CloudFront.security-headers',
    what: 'CloudFront adds the security headers (HSTS, nosniff, frame options) to every response: the managed SecurityHeadersPolicy',
    check: (p) =>
      ofType(p, 'aws_cloudfront_distribution')
        .filter((cdn) => one(cdn.values.default_cache_behavior)?.response_headers_policy_id !== '67f7725c-6f97-4210-82d7-5512b31e9d03')
        .map((cdn) => `${cdn.address}: no security headers policy`),
  },
  {
    id: 'CloudFront.origin-lock',
    what: "behind CloudFront the ALB takes only CloudFront's origin-facing addresses, and forwards only requests with the distribution's secret origin header",
    check: (p) => {
      const cdn = ofType(p, 'aws_cloudfront_distribution')[0];
      if (!cdn) return [];
      const albSg = ofType(p, 'aws_security_group').find((g) => g.name === 'alb')?.values.id;
      const open = ofType(p, 'aws_vpc_security_group_ingress_rule')
        .filter((r) => r.values.security_group_id === albSg && !r.values.prefix_list_id)
        .map((r) => `${r.address}: ALB ingress not from the CloudFront prefix list (${r.values.cidr_ipv4 ?? r.values.cidr_ipv6})`);
      const header = one(one(cdn.values.origin)?.custom_header);
      const https = ofType(p, 'aws_lb_listener').find((l) => l.values.protocol === 'HTTPS');
      const forwards =
        one(https?.values.default_action)?.type === 'forward' ? [`${https!.address}: forwards without the origin header`] : [];
      const guarded = ofType(p, 'aws_lb_listener_rule').some((r) =>
        [].concat(r.values.condition ?? []).some((c: any) => {
          const h = one(c.http_header);
          return header && h?.http_header_name === header.name && h.values?.length === 1 && h.values[0] === header.value;
        }),
      );
      return [...open, ...forwards, ...(guarded ? [] : ["no listener rule requires the distribution's origin header"])];
    },
  },
  {
    id: 'IAM.boundary',
    what: 'when CI may apply (the infra role), every other role carries the permissions boundary, and the infra role creates or changes roles only with it',
    check: (p) => {
      if (!ofType(p, 'aws_iam_role').some((r) => r.name === 'github_infra')) return [];
      const boundary = ofType(p, 'aws_iam_policy').find((r) => r.name === 'role_boundary')?.values.arn;
      if (!boundary) return ['no role_boundary policy beside the infra role'];
      const roles = ofType(p, 'aws_iam_role')
        .filter((r) => r.name !== 'github_infra' && r.values.permissions_boundary !== boundary)
        .map((r) => `${r.address}: no permissions boundary`);
      const writes = /^iam:(CreateRole|PutRolePolicy|AttachRolePolicy|PutRolePermissionsBoundary)$/;
      const infra = ofType(p, 'aws_iam_role_policy').filter((r) => r.name === 'github_infra_iam');
      const unbounded = infra.flatMap((r) =>
        []
          .concat(parse(r.values.policy).Statement ?? [])
          .filter((s: any) => s.Effect !== 'Deny' && [].concat(s.Action ?? []).some((a: string) => writes.test(a)))
          .filter((s: any) => s.Condition?.StringEquals?.['iam:PermissionsBoundary'] !== boundary)
          .map((s: any) => `${r.address}: ${s.Sid ?? '?'} writes roles without the iam:PermissionsBoundary condition`),
      );
      return [...roles, ...unbounded];
    },
  },
  {
    id: 'IAM.stack-tag',
    what: "the infra role never touches an EC2, RDS, ECS or ELB resource tagged as another stack's, nor tags one so; every resource carries its stack's Project tag",
    check: (p) => {
      if (!ofType(p, 'aws_iam_role').some((r) => r.name === 'github_infra')) return [];
      const name = ofType(p, 'aws_iam_role')
        .find((r) => r.name === 'github_infra')!
        .values.name.replace(/-github-infra$/, '');
      const services = ['ec2:*', 'rds:*', 'ecs:*', 'elasticloadbalancing:*'];
      const statements = ofType(p, 'aws_iam_role_policy')
        .filter((r) => r.name === 'github_infra_iam')
        .flatMap((r) => [].concat(parse(r.values.policy).Statement ?? []));
      const guards = (key: string) =>
        statements.some(
          (s: any) =>
            s.Effect === 'Deny' &&
            one(s.Resource) === '*' &&
            services.every((a) => [].concat(s.Action ?? []).includes(a as never)) &&
            String(s.Condition?.Null?.[key]) === 'false' &&
            [].concat(s.Condition?.StringNotEquals?.[key] ?? []).join() === name,
        );
      const missing = ['aws:ResourceTag/Project', 'aws:RequestTag/Project']
        .filter((key) => !guards(key))
        .map((key) => `github_infra_iam: no Deny of ${services.join(', ')} where ${key} is set and is not ${name}`);
      const untagged = resources(p)
        .filter((r) => r.values && 'tags_all' in r.values && r.values.tags_all?.Project !== name)
        .map((r) => `${r.address}: Project tag ${r.values.tags_all?.Project ?? '(none)'} is not the stack's (${name})`);
      return [...missing, ...untagged];
    },
  },
];

export function runRules(plan: any): { id: string; what: string; violations: string[] }[] {
  return RULES.map((r) => ({ id: r.id, what: r.what, violations: r.check(plan) }));
}

// ---- the CI deploy role (issue 7): shared by the Terraform plan and the rendered config/iam-deploy-policy.json

const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** No "*" or service-wide action; iam:PassRole only on named roles, only to ECS tasks (the traffic role: to ECS). */
export function deployPolicyViolations(doc: any): string[] {
  const out: string[] = [];
  for (const s of asArray<any>(doc?.Statement)) {
    if (s.Effect === 'Deny') continue;
    for (const a of asArray<string>(s.Action))
      if (a === '*' || /:\*$/.test(a) || /\*/.test(a.split(':')[1] ?? '')) out.push(`${s.Sid ?? '?'}: action ${a}`);
    if (s.NotAction) out.push(`${s.Sid ?? '?'}: NotAction`);
    if (asArray<string>(s.Action).includes('iam:PassRole')) {
      const resources = asArray<string>(s.Resource);
      if (resources.some((r) => r === '*' || /role\/\*$/.test(r))) out.push(`${s.Sid}: PassRole on ${resources.join(', ')}`);
      const passed = s.Condition?.StringEquals?.['iam:PassedToService'];
      // the role ECS shifts a native strategy's traffic with goes to ECS itself; every other role to ECS tasks only
      const to =
        resources.length && resources.every((r) => /\/[^/]+-ecs-infrastructure$/.test(r)) ? 'ecs.amazonaws.com' : 'ecs-tasks.amazonaws.com';
      if (passed !== to && !(asArray<string>(passed).length && asArray<string>(passed).every((x) => x === to)))
        out.push(`${s.Sid}: PassRole without iam:PassedToService = ${to}`);
      if (!passed) out.push(`${s.Sid}: PassRole without a condition`);
    }
  }
  return out;
}

/** Trust only GitHub's OIDC audience and exactly the given repository subjects (no wildcards). */
export function trustPolicyViolations(doc: any, subjects: string[]): string[] {
  const out: string[] = [];
  for (const s of asArray<any>(doc?.Statement)) {
    const eq = s.Condition?.StringEquals ?? {};
    const sub = asArray<string>(eq['token.actions.githubusercontent.com:sub']);
    if (s.Condition?.StringLike) out.push('StringLike condition (wildcards) in the trust policy');
    if (JSON.stringify(sub.sort()) !== JSON.stringify([...subjects].sort()))
      out.push(`sub is ${JSON.stringify(sub)}, expected ${JSON.stringify(subjects)}`);
    if (asArray<string>(eq['token.actions.githubusercontent.com:aud']).join() !== 'sts.amazonaws.com')
      out.push('aud is not pinned to sts.amazonaws.com');
    if (!asArray<string>(s.Principal?.Federated).some((p) => p.endsWith('oidc-provider/token.actions.githubusercontent.com')))
      out.push('the principal is not the GitHub OIDC provider');
  }
  return out;
}
