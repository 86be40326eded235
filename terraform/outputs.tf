# Every output, once: the values are in local.outputs, which the stack also publishes beside its state as
# <name>/outputs.json (aws_s3_object.outputs). Deploys read that object (lib/terraform.ts) and never the state,
# which holds every attribute of every resource (the origin-verify header among them): the deploy role may read
# the object only (config/iam-deploy-policy.json, ReadTheDeployOutputs).

locals {
  outputs = {
    alb_arn_suffix               = aws_lb.this.arn_suffix
    alb_dns_name                 = aws_lb.this.dns_name
    alb_security_group_id        = aws_security_group.alb.id
    alb_zone_id                  = aws_lb.this.zone_id
    alternate_target_group_arn   = local.native_strategy ? aws_lb_target_group.alternate[0].arn : ""
    app_secret_arn               = aws_secretsmanager_secret.app_env.arn
    app_url                      = local.has_domain ? "https://${var.domain_name}" : "${local.https ? "https" : "http"}://${aws_lb.this.dns_name}"
    certificate_arn              = local.certificate_arn
    cloudfront_domain_name       = local.cloudfront ? aws_cloudfront_distribution.this[0].domain_name : ""
    container_name               = local.container_name
    container_port               = var.container_port
    dashboard_name               = aws_cloudwatch_dashboard.this.dashboard_name
    db_app_secret_arn            = aws_secretsmanager_secret.db_app.arn
    db_app_secret_version        = aws_secretsmanager_secret_version.db_app.version_id
    db_app_username              = local.db_app_username
    db_name                      = var.db_name
    db_password_secret_arn       = local.db_password_secret_arn
    db_security_group_id         = aws_security_group.db.id
    db_username                  = var.db_username
    deployment_strategy          = var.deployment_strategy
    ecr_repository_name          = aws_ecr_repository.app.name
    ecr_repository_url           = aws_ecr_repository.app.repository_url
    ecs_cluster_name             = aws_ecs_cluster.this.name
    ecs_infrastructure_role_arn  = local.native_strategy ? aws_iam_role.ecs_infrastructure[0].arn : ""
    ecs_service_name             = aws_ecs_service.app.name
    execution_role_arn           = aws_iam_role.execution.arn
    migration_execution_role_arn = aws_iam_role.migration_execution.arn
    github_deploy_role_arn       = local.github ? aws_iam_role.github_deploy[0].arn : ""
    github_infra_role_arn        = local.github && var.create_github_infra_role ? aws_iam_role.github_infra[0].arn : ""
    github_diff_role_arn         = local.github ? aws_iam_role.github_diff[0].arn : ""
    log_group_name               = aws_cloudwatch_log_group.app.name
    private_subnet_ids           = aws_subnet.private[*].id
    production_listener_rule_arn = local.native_strategy ? aws_lb_listener_rule.production[0].arn : ""
    rds_address                  = aws_db_instance.this.address
    rds_endpoint                 = aws_db_instance.this.endpoint
    rds_identifier               = aws_db_instance.this.identifier
    rds_port                     = aws_db_instance.this.port
    secrets_kms_key_arn          = var.secrets_kms_key_arn
    sns_topic_arn                = aws_sns_topic.alerts.arn
    target_group_arn             = aws_lb_target_group.app.arn
    task_family                  = aws_ecs_task_definition.app.family
    task_role_arn                = aws_iam_role.task.arn
    tasks_security_group_id      = aws_security_group.tasks.id
  }
}

resource "aws_s3_object" "outputs" {
  bucket       = local.state_bucket_name
  key          = "${local.name}/outputs.json"
  content      = jsonencode(local.outputs)
  content_type = "application/json"
}

output "alb_arn_suffix" {
  description = "ALB ARN suffix, the LoadBalancer dimension of its CloudWatch metrics."
  value       = local.outputs.alb_arn_suffix
}

output "alb_dns_name" {
  description = "DNS name of the load balancer (guide step 4)."
  value       = local.outputs.alb_dns_name
}

output "alb_security_group_id" {
  description = "Security group of the ALB."
  value       = local.outputs.alb_security_group_id
}

output "alb_zone_id" {
  description = "Canonical hosted zone of the ALB (for Route53 alias records)."
  value       = local.outputs.alb_zone_id
}

output "alternate_target_group_arn" {
  description = "The second target group of a native deployment strategy (deploy.tf); empty when rolling."
  value       = local.outputs.alternate_target_group_arn
}

output "app_secret_arn" {
  description = "ARN of the app's environment secret (JSON)."
  value       = local.outputs.app_secret_arn
}

output "app_url" {
  description = "URL of the app: the domain when set (via CloudFront when enabled), else the ALB."
  value       = local.outputs.app_url
}

output "certificate_arn" {
  description = "Certificate of the HTTPS listener (empty without one)."
  value       = local.outputs.certificate_arn
}

output "cloudfront_domain_name" {
  description = "CloudFront domain (empty when CloudFront is off)."
  value       = local.outputs.cloudfront_domain_name
}

output "container_name" {
  description = "Container name in the task definition."
  value       = local.outputs.container_name
}

output "container_port" {
  description = "Port the container listens on."
  value       = local.outputs.container_port
}

output "dashboard_name" {
  description = "CloudWatch dashboard."
  value       = local.outputs.dashboard_name
}

output "db_app_secret_arn" {
  description = "Secret of the app's database user (JSON: username, password): the service's DATABASE_PASSWORD unless it connects as the master (db_connect_as)."
  value       = local.outputs.db_app_secret_arn
}

output "db_app_secret_version" {
  description = "Version id of the app user's password in its secret: step 6 sets the role's password when the service's differs (DATABASE_CREDENTIAL_VERSION)."
  value       = local.outputs.db_app_secret_version
}

output "db_app_username" {
  description = "Database user the app connects as (created by step 6)."
  value       = local.outputs.db_app_username
}

output "db_name" {
  description = "Name of the application database."
  value       = local.outputs.db_name
}

output "db_password_secret_arn" {
  description = "Secret the task reads DATABASE_PASSWORD from (RDS-managed unless db_password was given)."
  value       = local.outputs.db_password_secret_arn
}

output "db_security_group_id" {
  description = "Security group of the database."
  value       = local.outputs.db_security_group_id
}

output "db_username" {
  description = "Master user name of the database."
  value       = local.outputs.db_username
}

output "deployment_strategy" {
  description = "rolling, blue-green, canary or linear (deployment_strategy): step 6 sets it on the service."
  value       = local.outputs.deployment_strategy
}

output "ecr_repository_name" {
  description = "ECR repository name."
  value       = local.outputs.ecr_repository_name
}

output "ecr_repository_url" {
  description = "ECR repository URL (guide step 4)."
  value       = local.outputs.ecr_repository_url
}

output "ecs_cluster_name" {
  description = "ECS cluster name (guide step 4)."
  value       = local.outputs.ecs_cluster_name
}

output "ecs_infrastructure_role_arn" {
  description = "The role ECS assumes to shift traffic in a native deployment strategy; empty when rolling."
  value       = local.outputs.ecs_infrastructure_role_arn
}

output "ecs_service_name" {
  description = "ECS service name."
  value       = local.outputs.ecs_service_name
}

output "execution_role_arn" {
  description = "Task execution role."
  value       = local.outputs.execution_role_arn
}

output "migration_execution_role_arn" {
  description = "Task execution role of the migration and of the database user's task (the only one that reads the master's secret unless the service connects as the master)."
  value       = local.outputs.migration_execution_role_arn
}

output "github_deploy_role_arn" {
  description = "Paste into the repository secret AWS_ROLE_TO_ASSUME (empty without github_repository)."
  value       = local.outputs.github_deploy_role_arn
}

output "github_diff_role_arn" {
  description = "Paste into the repository secret AWS_DIFF_ROLE_TO_ASSUME: pull requests read what a deploy would change (empty without github_repository)."
  value       = local.outputs.github_diff_role_arn
}

output "github_infra_role_arn" {
  description = "Role for terraform apply from CI (empty unless create_github_infra_role)."
  value       = local.outputs.github_infra_role_arn
}

output "log_group_name" {
  description = "Log group of the tasks."
  value       = local.outputs.log_group_name
}

output "private_subnet_ids" {
  description = "Private subnets of the tasks and the database."
  value       = local.outputs.private_subnet_ids
}

output "production_listener_rule_arn" {
  description = "The listener rule whose weights ECS shifts in a native deployment strategy; empty when rolling."
  value       = local.outputs.production_listener_rule_arn
}

output "rds_address" {
  description = "Database host name."
  value       = local.outputs.rds_address
}

output "rds_endpoint" {
  description = "Database endpoint host:port (guide step 4)."
  value       = local.outputs.rds_endpoint
}

output "rds_identifier" {
  description = "Database instance identifier."
  value       = local.outputs.rds_identifier
}

output "rds_port" {
  description = "Database port."
  value       = local.outputs.rds_port
}

output "secrets_kms_key_arn" {
  description = "Customer managed KMS key of the stack's secrets; empty: the AWS managed key. The preflight asks IAM whether the execution roles may decrypt with it."
  value       = local.outputs.secrets_kms_key_arn
}

output "sns_topic_arn" {
  description = "SNS topic the alarms notify."
  value       = local.outputs.sns_topic_arn
}

output "target_group_arn" {
  description = "Target group of the service (guide step 7)."
  value       = local.outputs.target_group_arn
}

output "task_family" {
  description = "Task definition family."
  value       = local.outputs.task_family
}

output "task_role_arn" {
  description = "Task role (the app's own permissions)."
  value       = local.outputs.task_role_arn
}

output "tasks_security_group_id" {
  description = "Security group of the tasks."
  value       = local.outputs.tasks_security_group_id
}
