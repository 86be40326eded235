# `terraform test` with a mocked provider: no cloud, no emulator. Variable validations reject bad values
# and the plan holds the settings that matter (ANCHORS.md security baseline, deploy speed).

mock_provider "aws" {
  override_during = plan

  mock_data "aws_availability_zones" {
    defaults = { names = ["us-east-1a", "us-east-1b"] }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_data "aws_elb_service_account" {
    defaults = { arn = "arn:aws:iam::127311923021:root" }
  }
  mock_resource "aws_db_instance" {
    defaults = {
      address            = "llmops-db.abc.us-east-1.rds.amazonaws.com"
      port               = 5432
      master_user_secret = [{ secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1-abcdef", kms_key_id = "", secret_status = "active" }]
    }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/mock" }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:llmops/app/env-abcdef" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::llmops-alb-logs-123456789012" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/llmops-task" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000" }
  }
  mock_resource "aws_lb" {
    defaults = { arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/llmops-alb/abc", arn_suffix = "app/llmops-alb/abc", dns_name = "llmops-alb-1.us-east-1.elb.amazonaws.com" }
  }
  mock_resource "aws_lb_target_group" {
    defaults = { arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/llmops-targets/abc", arn_suffix = "targetgroup/llmops-targets/abc" }
  }
  mock_resource "aws_ecr_repository" {
    defaults = { repository_url = "123456789012.dkr.ecr.us-east-1.amazonaws.com/llmops-system" }
  }
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:us-east-1:123456789012:llmops-alerts" }
  }
  mock_resource "aws_ecs_task_definition" {
    defaults = { arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/llmops-task:1" }
  }
  mock_resource "aws_acm_certificate" {
    defaults = {
      arn                       = "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
      domain_validation_options = [{ domain_name = "app.example.com", resource_record_name = "_x.app.example.com", resource_record_type = "CNAME", resource_record_value = "_y.acm-validations.aws" }]
    }
  }
}

mock_provider "aws" {
  alias           = "us_east_1"
  override_during = plan

  mock_resource "aws_acm_certificate" {
    defaults = {
      arn                       = "arn:aws:acm:us-east-1:123456789012:certificate/66666666-2222-3333-4444-555555555555"
      domain_validation_options = [{ domain_name = "app.example.com", resource_record_name = "_x.app.example.com", resource_record_type = "CNAME", resource_record_value = "_y.acm-validations.aws" }]
    }
  }
}

# The resource names are required variables: npm run step:3 passes them from .env (lib/config.ts derives them
# from PROJECT_NAME; Terraform derives none of its own). These are the guide's.
variables {
  alarm_email         = "ops@example.com"
  allow_plain_http    = true
  ecr_repository_name = "llmops-system"
  ecs_cluster_name    = "llmops-cluster"
  ecs_service_name    = "llmops-service"
  task_family         = "llmops-task"
  container_name      = "llmops-app"
  log_group_name      = "/ecs/llmops-task"
  db_identifier       = "llmops-db"
  target_group_name   = "llmops-targets"
  sns_topic_name      = "llmops-alerts"
  dashboard_name      = "llmops-dashboard"
  cpu_alarm_name      = "llmops-high-cpu"
  scaling_policy_name = "llmops-cpu-scaling"
  app_secret_name     = "llmops/app/env"
  db_secret_name      = "llmops/db/password"
  db_app_secret_name  = "llmops/db/app"
}

run "plain_http_needs_opting_in" {
  command = plan

  variables {
    allow_plain_http = false
  }

  expect_failures = [aws_lb_listener.http]
}

run "defaults_are_secure_and_fast" {
  command = plan

  assert {
    condition     = one(aws_ecs_service.app.deployment_circuit_breaker).enable && one(aws_ecs_service.app.deployment_circuit_breaker).rollback
    error_message = "the service needs the circuit breaker with rollback"
  }
  assert {
    condition     = one(aws_ecs_service.app.network_configuration).assign_public_ip == false
    error_message = "tasks must not get public IPs (CKV_AWS_333, ECS.2)"
  }
  assert {
    condition     = aws_db_instance.this.storage_encrypted && !aws_db_instance.this.publicly_accessible && aws_db_instance.this.backup_retention_period >= 7
    error_message = "RDS must be encrypted, private, with >= 7 days of backups"
  }
  assert {
    condition     = aws_db_instance.this.manage_master_user_password == true && aws_db_instance.this.password == null
    error_message = "without db_password, RDS manages the password (never in the state)"
  }
  assert {
    condition     = aws_lb_target_group.app.deregistration_delay == "30" && one(aws_lb_target_group.app.health_check).interval <= 10 && one(aws_lb_target_group.app.health_check).healthy_threshold == 2
    error_message = "deploy speed: drain 30 s, health check every <= 10 s with threshold 2"
  }
  assert {
    condition     = aws_lb.this.drop_invalid_header_fields && aws_lb.this.enable_deletion_protection
    error_message = "ALB must drop invalid headers and be deletion protected by default"
  }
  assert {
    condition     = aws_ecr_repository.app.image_tag_mutability == "IMMUTABLE" && one(aws_ecr_repository.app.image_scanning_configuration).scan_on_push
    error_message = "ECR tags must be immutable and scanned on push"
  }
  assert {
    condition     = length(aws_lb_listener.https) == 0 && one(aws_lb_listener.http.default_action).type == "forward"
    error_message = "without a certificate, opted into plain HTTP: no HTTPS listener and HTTP forwards"
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.app.container_definitions)[0].readonlyRootFilesystem == true && jsondecode(aws_ecs_task_definition.app.container_definitions)[0].user != "root"
    error_message = "read-only root filesystem and a non-root user (ECS.5, ECS.20)"
  }
  assert {
    condition     = aws_iam_role.execution.name != aws_iam_role.task.name
    error_message = "execution role and task role must differ (CKV_AWS_249)"
  }
  assert {
    condition     = aws_secretsmanager_secret_version.db_app.secret_string == null && aws_secretsmanager_secret_version.db_app.secret_string_wo_version == 1
    error_message = "the app database user's password reaches Secrets Manager write-only (never the state)"
  }
  assert {
    condition     = local.db_app_username == "llmops_app" && local.db_app_username != var.db_username
    error_message = "the app has its own database user, not the master"
  }
  assert {
    condition     = one([for p in aws_db_parameter_group.this.parameter : p.value if p.name == "rds.force_ssl"]) == "1" && aws_db_instance.this.parameter_group_name == aws_db_parameter_group.this.name
    error_message = "the database accepts TLS only: its parameter group sets rds.force_ssl = 1 (CKV2_AWS_69)"
  }
  assert {
    condition     = aws_ecs_service.app.enable_execute_command == false && length(aws_iam_role_policy.task_exec) == 0
    error_message = "ECS Exec is off by default: no agent in the tasks, no ssmmessages for the task role"
  }
}

run "ecs_exec_opt_in_gives_the_task_role_the_channels_only" {
  command = plan

  variables {
    enable_execute_command = true
  }

  assert {
    condition     = aws_ecs_service.app.enable_execute_command == true && length(aws_iam_role_policy.task_exec) == 1
    error_message = "enable_execute_command turns ECS Exec on for the service and adds the task role's channel policy"
  }
  assert {
    condition     = aws_iam_role_policy.task_exec[0].role == aws_iam_role.task.id
    error_message = "the channels are the task role's (the agent runs with it), not the execution role's"
  }
}

run "a_certificate_turns_on_https_with_tls13_and_redirects_http" {
  command = plan

  variables {
    domain_name         = "app.example.com"
    hosted_zone_id      = "Z0123456789ABCDEFGHIJ"
    acm_certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
  }

  assert {
    condition     = aws_lb_listener.https[0].ssl_policy == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    error_message = "HTTPS must use the TLS 1.3 policy (ELB.17)"
  }
  assert {
    condition     = one(aws_lb_listener.http.default_action).type == "redirect" && one(one(aws_lb_listener.http.default_action).redirect).protocol == "HTTPS"
    error_message = "HTTP must redirect to HTTPS when a certificate exists (CKV_AWS_2, ELB.1)"
  }
  assert {
    condition     = length(aws_acm_certificate.alb) == 0
    error_message = "a given certificate ARN must not request another certificate"
  }
}

run "a_domain_without_certificate_requests_one" {
  command = plan

  variables {
    domain_name       = "app.example.com"
    hosted_zone_id    = "Z0123456789ABCDEFGHIJ"
    enable_cloudfront = true
  }

  assert {
    condition     = length(aws_acm_certificate.alb) == 1 && aws_acm_certificate.alb[0].validation_method == "DNS"
    error_message = "a domain without a certificate ARN gets a DNS-validated certificate"
  }
  assert {
    condition     = one(aws_cloudfront_distribution.this[0].viewer_certificate).minimum_protocol_version == "TLSv1.2_2021" && one(aws_cloudfront_distribution.this[0].default_cache_behavior).viewer_protocol_policy == "redirect-to-https"
    error_message = "CloudFront must redirect to HTTPS with TLSv1.2_2021"
  }
  assert {
    condition     = one(aws_cloudfront_distribution.this[0].default_cache_behavior).response_headers_policy_id == "67f7725c-6f97-4210-82d7-5512b31e9d03"
    error_message = "CloudFront adds the security headers (HSTS, nosniff, frame options: the managed SecurityHeadersPolicy)"
  }
  assert {
    condition     = aws_cloudwatch_log_delivery_source.cdn[0].log_type == "ACCESS_LOGS" && aws_cloudwatch_log_delivery_destination.cdn[0].output_format == "json" && aws_cloudwatch_log_group.cdn[0].name == "/aws/cloudfront/llmops" && aws_cloudwatch_log_group.cdn[0].retention_in_days == 30
    error_message = "CloudFront.5: the distribution's access logs are delivered (standard logging v2) to a log group with retention"
  }
  assert {
    condition     = length(module.waf_cdn) == 1 && length(module.waf_alb) == 1
    error_message = "with CloudFront in front, both ACLs (and their logging)"
  }
}

run "every_web_acl_logs_its_requests_with_credentials_redacted" {
  command = plan

  assert {
    condition     = module.waf_alb[0].logging.log_group == "aws-waf-logs-llmops-alb" && module.waf_alb[0].logging.retention_in_days == 30 && module.waf_alb[0].logging.redacted == toset(["authorization", "cookie"])
    error_message = "WAF.11: the ALB's ACL logs to aws-waf-logs-<name>, kept like the other logs, with the Authorization header and cookies redacted"
  }
}

run "db_password_variable_still_works" {
  command = plan

  variables {
    db_password         = "a-Strong-passw0rd"
    db_password_version = 1
  }

  assert {
    condition     = aws_db_instance.this.manage_master_user_password == null && length(aws_secretsmanager_secret.db_password) == 1
    error_message = "a db_password goes to RDS and to the llmops/db/password secret"
  }
  assert {
    condition     = aws_db_instance.this.password == null && aws_db_instance.this.password_wo_version == 1 && aws_secretsmanager_secret_version.db_password[0].secret_string == null
    error_message = "the password goes through write-only arguments: no password or secret_string in the plan"
  }
}

run "rejects_a_bad_region" {
  command = plan
  variables {
    aws_region = "us-east"
  }
  expect_failures = [var.aws_region]
}

run "rejects_a_bad_email" {
  command = plan
  variables {
    alarm_email = "ops-at-example.com"
  }
  expect_failures = [var.alarm_email]
}

run "rejects_short_backups" {
  command = plan
  variables {
    db_backup_retention_days = 3
  }
  expect_failures = [var.db_backup_retention_days]
}

run "rejects_a_root_container_user" {
  command = plan
  variables {
    container_user = "root"
  }
  expect_failures = [var.container_user]
}

run "rejects_a_weak_db_password" {
  command = plan
  variables {
    db_password         = "short"
    db_password_version = 1
  }
  expect_failures = [var.db_password]
}

run "rejects_the_master_as_the_app_user" {
  command = plan

  variables {
    db_app_username = "LLMOPS"
  }

  expect_failures = [var.db_app_username]
}

run "rejects_a_weak_app_db_password" {
  command = plan

  variables {
    db_app_password = "short'one"
  }

  expect_failures = [var.db_app_password]
}

run "rejects_a_db_password_without_its_version" {
  command = plan
  variables {
    db_password = "a-Strong-passw0rd"
  }
  expect_failures = [var.db_password]
}

run "rejects_a_db_password_version_without_a_password" {
  command = plan
  variables {
    db_password_version = 1
  }
  expect_failures = [var.db_password]
}

run "rejects_an_invalid_fargate_size" {
  command = plan
  variables {
    task_cpu    = 512
    task_memory = 512
  }
  expect_failures = [aws_ecs_task_definition.app]
}

run "rejects_a_domain_without_zone" {
  command = plan
  variables {
    domain_name = "app.example.com"
  }
  expect_failures = [aws_route53_record.app]
}

run "rejects_a_wildcard_repository" {
  command = plan
  variables {
    github_repository = "acme/*"
  }
  expect_failures = [var.github_repository]
}

run "an_environment_names_everything_apart_but_shares_the_state_bucket" {
  command = plan
  variables {
    project_name        = "hanbit"
    environment         = "staging"
    ecr_repository_name = "hanbit-staging-system"
    ecs_cluster_name    = "hanbit-staging-cluster"
    ecs_service_name    = "hanbit-staging-service"
    task_family         = "hanbit-staging-task"
    container_name      = "hanbit-staging-app"
    log_group_name      = "/ecs/hanbit-staging-task"
    db_identifier       = "hanbit-staging-db"
    target_group_name   = "hanbit-staging-targets"
    sns_topic_name      = "hanbit-staging-alerts"
    dashboard_name      = "hanbit-staging-dashboard"
    cpu_alarm_name      = "hanbit-staging-high-cpu"
    scaling_policy_name = "hanbit-staging-cpu-scaling"
    app_secret_name     = "hanbit-staging/app/env"
    db_secret_name      = "hanbit-staging/db/password"
    db_app_secret_name  = "hanbit-staging/db/app"
  }
  assert {
    condition     = aws_ecs_cluster.this.name == "hanbit-staging-cluster" && aws_lb_target_group.app.name == "hanbit-staging-targets" && aws_db_instance.this.identifier == "hanbit-staging-db"
    error_message = "the names npm run step:3 passes are the resources' names"
  }
  assert {
    condition     = aws_lb.this.name == "hanbit-staging-alb"
    error_message = "the names only Terraform knows are <project>-<environment>-*"
  }
  assert {
    condition     = local.tags.Environment == "staging" && local.tags.Project == "hanbit-staging"
    error_message = "an environment's resources are tagged with it"
  }
  assert {
    condition     = startswith(local.state_bucket_name, "hanbit-tfstate-") && strcontains(local.github_deploy_policy, "hanbit-staging/locks/*") && aws_s3_object.outputs.bucket == local.state_bucket_name && aws_s3_object.outputs.key == "hanbit-staging/outputs.json"
    error_message = "the state bucket is the project's (shared), the lock and outputs keys are the environment's"
  }
  assert {
    condition     = strcontains(local.github_deploy_policy, "hanbit-tfstate-123456789012/hanbit-staging/outputs.json") && !strcontains(local.github_deploy_policy, "terraform.tfstate")
    error_message = "the deploy role reads the published outputs, never the state (which holds every attribute, the origin-verify header among them)"
  }
  assert {
    condition     = alltrue([for r in [aws_iam_role.execution, aws_iam_role.task, aws_iam_role.flow_logs] : r.path == "/hanbit-staging/"]) && local.project_roles == "arn:aws:iam::123456789012:role/hanbit-staging/*"
    error_message = "the stack's roles are on a path of their own: no pattern of one stack names another stack's roles (or any infra role)"
  }
  assert {
    condition     = contains(local.stack_secrets, "arn:aws:secretsmanager:us-east-1:123456789012:secret:hanbit-staging/db/password-??????") && contains(local.stack_objects, "arn:aws:s3:::hanbit-tfstate-123456789012/hanbit-staging/*") && !anytrue([for o in local.stack_objects : strcontains(o, "hanbit-tfstate-123456789012/*")])
    error_message = "the infra role's reach: this stack's secrets and its keys of the shared state bucket"
  }
}

run "rejects_an_environment_too_long_for_aws_names" {
  command = plan
  variables {
    project_name = "a-rather-long-project"
    environment  = "production"
  }
  expect_failures = [var.environment]
}

run "the_deploy_role_trusts_only_the_subject_that_approves" {
  command = plan

  variables {
    github_repository = "acme/app"
    environment       = "staging"
  }

  assert {
    condition     = local.github_trusts["deploy"] == ["repo:acme/app:environment:staging"]
    error_message = "with a GitHub environment the deploy role trusts its subject alone, not the branch (a job naming no environment would skip the reviewers)"
  }
}

run "without_a_github_environment_the_branch_subject_alone" {
  command = plan

  variables {
    github_repository  = "acme/app"
    github_environment = ""
  }

  assert {
    condition     = local.github_trusts["deploy"] == ["repo:acme/app:ref:refs/heads/main"]
    error_message = "a stack that deliberately has no GitHub environment trusts the branch subject alone"
  }
}

run "rejects_a_project_tag_of_its_own" {
  command = plan

  variables {
    tags = { project = "shared" }
  }

  expect_failures = [var.tags]
}

run "every_resource_carries_the_stacks_project_tag_the_infra_role_is_scoped_by" {
  command = plan

  variables {
    github_repository        = "acme/app"
    create_github_infra_role = true
    environment              = "staging"
    tags                     = { team = "web" }
  }

  assert {
    condition     = local.tags.Project == local.name && local.tags.team == "web"
    error_message = "default_tags carry Project = the stack's name beside the extra tags"
  }

  assert {
    condition     = local.stack_tagged_services == ["ec2:*", "rds:*", "ecs:*", "elasticloadbalancing:*"]
    error_message = "the infra role's tag guard covers EC2, RDS, ECS and ELB"
  }
}

run "rejects_root_as_the_user_part_of_user_group" {
  command = plan
  variables {
    container_user = "0:1000"
  }
  expect_failures = [var.container_user]
}

run "rejects_root_root" {
  command = plan
  variables {
    container_user = "root:root"
  }
  expect_failures = [var.container_user]
}

run "enable_cloudfront_without_a_domain_keeps_the_albs_rate_limit" {
  command = plan
  variables {
    enable_cloudfront = true
  }

  assert {
    condition     = !local.cloudfront && contains(keys(local.waf_rules.alb), "rate-limit-per-ip") && length(module.waf_cdn) == 0
    error_message = "without a domain CloudFront is not in front: the ALB serves and keeps its rate rule, and no CloudFront ACL is made for nothing"
  }
}

run "the_tasks_check_the_database_certificate_by_default" {
  command = plan
  assert {
    condition = alltrue([for e in jsondecode(aws_ecs_task_definition.app.container_definitions)[0].environment :
    e.value == { PGSSLMODE = "verify-full", PGSSLROOTCERT = "/etc/ssl/certs/rds-global-bundle.pem" }[e.name] if contains(["PGSSLMODE", "PGSSLROOTCERT"], e.name)])
    error_message = "the tasks connect with verify-full against the RDS CA bundle in the image"
  }
  assert {
    condition     = length([for e in jsondecode(aws_ecs_task_definition.app.container_definitions)[0].environment : e if contains(["PGSSLMODE", "PGSSLROOTCERT"], e.name)]) == 2
    error_message = "both PGSSLMODE and PGSSLROOTCERT are set"
  }
}

run "rejects_tls_that_is_off_or_a_relative_bundle" {
  command = plan
  variables {
    db_ssl_mode  = "disable"
    db_ca_bundle = "certs/rds.pem"
  }
  expect_failures = [var.db_ssl_mode, var.db_ca_bundle]
}

run "a_customer_managed_key_encrypts_every_secret_and_both_execution_roles_decrypt_through_secrets_manager_only" {
  command = plan

  variables {
    secrets_kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/0123abcd-4567-89ef-0123-456789abcdef"
  }

  assert {
    condition     = alltrue([for s in [aws_secretsmanager_secret.app_env, aws_secretsmanager_secret.db_app] : s.kms_key_id == var.secrets_kms_key_arn]) && aws_db_instance.this.master_user_secret_kms_key_id == var.secrets_kms_key_arn
    error_message = "the app's environment, the app user's secret and the RDS-managed master secret are encrypted with secrets_kms_key_arn"
  }
  assert {
    condition     = length(data.aws_iam_policy_document.decrypt_secrets) == 1 && data.aws_iam_policy_document.decrypt_secrets[0].statement[0].actions == toset(["kms:Decrypt"]) && data.aws_iam_policy_document.decrypt_secrets[0].statement[0].resources == toset([var.secrets_kms_key_arn])
    error_message = "one statement: kms:Decrypt on that key alone"
  }
  assert {
    condition     = one(data.aws_iam_policy_document.decrypt_secrets[0].statement[0].condition).variable == "kms:ViaService" && one(data.aws_iam_policy_document.decrypt_secrets[0].statement[0].condition).values == tolist(["secretsmanager.us-east-1.amazonaws.com"])
    error_message = "the key is used through Secrets Manager only (kms:ViaService)"
  }
  assert {
    condition     = alltrue([for d in [data.aws_iam_policy_document.execution_secrets, data.aws_iam_policy_document.migration_secrets] : length(d.source_policy_documents) == 1 && d.source_policy_documents[0] == data.aws_iam_policy_document.decrypt_secrets[0].json])
    error_message = "the service's and the migration's execution roles both carry the statement"
  }
  assert {
    condition     = local.outputs.secrets_kms_key_arn == var.secrets_kms_key_arn
    error_message = "the outputs object names the key, for the preflight"
  }
}

run "without_a_key_the_aws_managed_key_and_no_decrypt_statement" {
  command = plan

  assert {
    condition     = aws_secretsmanager_secret.app_env.kms_key_id == null && length(data.aws_iam_policy_document.decrypt_secrets) == 0 && local.outputs.secrets_kms_key_arn == ""
    error_message = "no secrets_kms_key_arn: Secrets Manager's AWS managed key, no kms statement, an empty output"
  }
}

run "rejects_a_key_alias" {
  command = plan

  variables {
    secrets_kms_key_arn = "arn:aws:kms:us-east-1:123456789012:alias/llmops"
  }

  expect_failures = [var.secrets_kms_key_arn]
}

run "deployment_alarms_roll_a_release_back_on_what_users_see" {
  command = plan

  assert {
    condition     = toset([for a in aws_cloudwatch_metric_alarm.deployment : a.metric_name]) == toset(["HTTPCode_Target_5XX_Count", "UnHealthyHostCount", "TargetResponseTime"])
    error_message = "three deployment alarms: the targets' 5xx, unhealthy targets, latency"
  }
  assert {
    condition     = alltrue([for a in aws_cloudwatch_metric_alarm.deployment : a.period == 60 && a.evaluation_periods == 1 && a.namespace == "AWS/ApplicationELB" && a.treat_missing_data == "notBreaching" && startswith(a.alarm_name, "llmops-deploy-")])
    error_message = "each judged in one minute on the service's target group, named <name>-deploy-* (the deploy role reads those alone)"
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.deployment["target_5xx"].threshold == 5 && aws_cloudwatch_metric_alarm.deployment["target_5xx"].comparison_operator == "GreaterThanOrEqualToThreshold" && aws_cloudwatch_metric_alarm.deployment["target_5xx"].statistic == "Sum"
    error_message = "5 or more 5xx answers in a minute"
  }
  assert {
    condition     = one(aws_ecs_service.app.alarms).enable && one(aws_ecs_service.app.alarms).rollback && length(one(aws_ecs_service.app.alarms).alarm_names) == 3
    error_message = "ECS watches them and rolls back"
  }
}

run "deployment_alarms_can_be_turned_off" {
  command = plan

  variables {
    deployment_alarms = false
  }

  assert {
    condition     = one(aws_ecs_service.app.alarms).enable == false
    error_message = "deployment_alarms = false: ECS ignores the alarms"
  }
}

run "rolling_by_default_needs_no_second_target_group" {
  command = plan

  assert {
    condition     = length(aws_lb_target_group.alternate) == 0 && length(aws_lb_listener_rule.production) == 0 && length(aws_iam_role.ecs_infrastructure) == 0 && length(aws_cloudwatch_metric_alarm.deployment_alternate) == 0
    error_message = "rolling: one target group, no production rule, no role for ECS to shift traffic with"
  }
  assert {
    condition     = local.outputs.deployment_strategy == "rolling" && local.outputs.alternate_target_group_arn == "" && local.outputs.production_listener_rule_arn == "" && local.outputs.ecs_infrastructure_role_arn == ""
    error_message = "the outputs say rolling, and step 6 clears a native strategy from the service"
  }
}

run "canary_adds_the_alternate_target_group_the_production_rule_and_the_role_ecs_shifts_with" {
  command = plan

  variables {
    deployment_strategy = "canary"
  }

  assert {
    condition     = aws_lb_target_group.alternate[0].name == "llmops-targets-alt" && aws_lb_target_group.alternate[0].target_type == "ip" && aws_lb_target_group.alternate[0].deregistration_delay == "30" && one(aws_lb_target_group.alternate[0].health_check).path == "/health" && one(aws_lb_target_group.alternate[0].health_check).healthy_threshold == 2
    error_message = "the alternate target group checks health like the service's own"
  }
  assert {
    condition     = aws_lb_listener_rule.production[0].priority == 1 && one(one(aws_lb_listener_rule.production[0].condition).path_pattern).values == toset(["/*"])
    error_message = "the production rule takes every request the listener serves"
  }
  assert {
    condition     = [for tg in one(one(aws_lb_listener_rule.production[0].action).forward).target_group : tg.weight] == [100, 0] || toset([for tg in one(one(aws_lb_listener_rule.production[0].action).forward).target_group : tg.weight]) == toset([100, 0])
    error_message = "all traffic starts on the service's own target group"
  }
  assert {
    condition     = aws_iam_role.ecs_infrastructure[0].name == "llmops-ecs-infrastructure" && aws_iam_role.ecs_infrastructure[0].path == "/llmops/" && aws_iam_role_policy_attachment.ecs_infrastructure[0].policy_arn == "arn:aws:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"
    error_message = "ECS shifts traffic with AWS's managed policy for load balancers, on the stack's role path"
  }
  assert {
    condition     = length(one(aws_ecs_service.app.alarms).alarm_names) == 6 && contains(one(aws_ecs_service.app.alarms).alarm_names, "llmops-deploy-5xx-alt") && aws_cloudwatch_metric_alarm.deployment_alternate["target_5xx"].dimensions.TargetGroup == aws_lb_target_group.alternate[0].arn_suffix
    error_message = "the deployment alarms watch the alternate target group too: the new release may serve from either"
  }
  assert {
    condition     = local.outputs.deployment_strategy == "canary" && contains(local.stack_roles, "arn:aws:iam::123456789012:role/llmops/llmops-ecs-infrastructure") && contains(local.roles_passed_to, "ecs.amazonaws.com")
    error_message = "the outputs name the strategy; the infra role may create the new role and pass it to ECS only"
  }
}

run "blue_green_and_linear_use_the_same_resources" {
  command = plan

  variables {
    deployment_strategy = "linear"
  }

  assert {
    condition     = length(aws_lb_target_group.alternate) == 1 && length(aws_lb_listener_rule.production) == 1 && length(aws_iam_role.ecs_infrastructure) == 1
    error_message = "linear shifts the same rule's weights"
  }
}

run "blue_green_behind_cloudfront_is_the_origin_header_rule_with_weights" {
  command = plan

  variables {
    deployment_strategy = "blue-green"
    domain_name         = "app.example.com"
    hosted_zone_id      = "Z123"
    enable_cloudfront   = true
  }

  assert {
    condition     = length(aws_lb_listener_rule.from_cloudfront) == 0 && length(aws_lb_listener_rule.production) == 1 && local.https && local.cloudfront
    error_message = "behind CloudFront the production rule replaces the origin-header rule (one rule at priority 1 on the HTTPS listener)"
  }
}

run "rejects_an_unknown_strategy" {
  command = plan

  variables {
    deployment_strategy = "recreate"
  }

  expect_failures = [var.deployment_strategy]
}

run "the_service_connects_as_the_app_user_by_default" {
  command = plan

  assert {
    condition = (
      contains(jsondecode(aws_ecs_task_definition.app.container_definitions)[0].environment, { name = "DATABASE_USER", value = "llmops_app" }) &&
      !strcontains(aws_ecs_task_definition.app.container_definitions, local.db_password_secret_arn)
    )
    error_message = "by default the bootstrap task definition connects as the app's user (db_app_username), never with the master's secret"
  }
}

run "the_guide_s_way_connects_as_the_master" {
  command = plan

  variables {
    db_connect_as = "master"
  }

  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.app.container_definitions)[0].environment, { name = "DATABASE_USER", value = "llmops" }) && strcontains(aws_ecs_task_definition.app.container_definitions, local.db_password_secret_arn)
    error_message = "db_connect_as = master connects as the master user"
  }
}

run "rejects_an_unknown_database_user" {
  command = plan

  variables {
    db_connect_as = "admin"
  }

  expect_failures = [var.db_connect_as]
}
