output "alb_arn_suffix" {
  description = "ALB ARN suffix, the LoadBalancer dimension of its CloudWatch metrics."
  value       = aws_lb.this.arn_suffix
}

output "alb_dns_name" {
  description = "DNS name of the load balancer (guide step 4)."
  value       = aws_lb.this.dns_name
}

output "alb_security_group_id" {
  description = "Security group of the ALB."
  value       = aws_security_group.alb.id
}

output "alb_zone_id" {
  description = "Canonical hosted zone of the ALB (for Route53 alias records)."
  value       = aws_lb.this.zone_id
}

output "app_secret_arn" {
  description = "ARN of the app's environment secret (JSON)."
  value       = aws_secretsmanager_secret.app_env.arn
}

output "app_url" {
  description = "URL of the app: the domain when set (via CloudFront when enabled), else the ALB."
  value       = local.has_domain ? "https://${var.domain_name}" : "${local.https ? "https" : "http"}://${aws_lb.this.dns_name}"
}

output "certificate_arn" {
  description = "Certificate of the HTTPS listener (empty without one)."
  value       = local.certificate_arn
}

output "cloudfront_domain_name" {
  description = "CloudFront domain (empty when CloudFront is off)."
  value       = local.cloudfront ? aws_cloudfront_distribution.this[0].domain_name : ""
}

output "container_name" {
  description = "Container name in the task definition."
  value       = local.container_name
}

output "container_port" {
  description = "Port the container listens on."
  value       = var.container_port
}

output "dashboard_name" {
  description = "CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "db_app_secret_arn" {
  description = "Secret of the app's database user (JSON: username, password): the service's DATABASE_PASSWORD when migrations run."
  value       = aws_secretsmanager_secret.db_app.arn
}

output "db_app_username" {
  description = "Database user the app connects as (created by the migration)."
  value       = local.db_app_username
}

output "db_name" {
  description = "Name of the application database."
  value       = var.db_name
}

output "db_password_secret_arn" {
  description = "Secret the task reads DATABASE_PASSWORD from (RDS-managed unless db_password was given)."
  value       = local.db_password_secret_arn
}

output "db_security_group_id" {
  description = "Security group of the database."
  value       = aws_security_group.db.id
}

output "db_username" {
  description = "Master user name of the database."
  value       = var.db_username
}

output "ecr_repository_name" {
  description = "ECR repository name."
  value       = aws_ecr_repository.app.name
}

output "ecr_repository_url" {
  description = "ECR repository URL (guide step 4)."
  value       = aws_ecr_repository.app.repository_url
}

output "ecs_cluster_name" {
  description = "ECS cluster name (guide step 4)."
  value       = aws_ecs_cluster.this.name
}

output "ecs_service_name" {
  description = "ECS service name."
  value       = aws_ecs_service.app.name
}

output "execution_role_arn" {
  description = "Task execution role."
  value       = aws_iam_role.execution.arn
}

output "github_deploy_role_arn" {
  description = "Paste into the repository secret AWS_ROLE_TO_ASSUME (empty without github_repository)."
  value       = local.github ? aws_iam_role.github_deploy[0].arn : ""
}

output "github_infra_role_arn" {
  description = "Role for terraform apply from CI (empty unless create_github_infra_role)."
  value       = local.github && var.create_github_infra_role ? aws_iam_role.github_infra[0].arn : ""
}

output "log_group_name" {
  description = "Log group of the tasks."
  value       = aws_cloudwatch_log_group.app.name
}

output "private_subnet_ids" {
  description = "Private subnets of the tasks and the database."
  value       = aws_subnet.private[*].id
}

output "rds_address" {
  description = "Database host name."
  value       = aws_db_instance.this.address
}

output "rds_endpoint" {
  description = "Database endpoint host:port (guide step 4)."
  value       = aws_db_instance.this.endpoint
}

output "rds_identifier" {
  description = "Database instance identifier."
  value       = aws_db_instance.this.identifier
}

output "rds_port" {
  description = "Database port."
  value       = aws_db_instance.this.port
}

output "sns_topic_arn" {
  description = "SNS topic the alarms notify."
  value       = aws_sns_topic.alerts.arn
}

output "target_group_arn" {
  description = "Target group of the service (guide step 7)."
  value       = aws_lb_target_group.app.arn
}

output "task_family" {
  description = "Task definition family."
  value       = aws_ecs_task_definition.app.family
}

output "task_role_arn" {
  description = "Task role (the app's own permissions)."
  value       = aws_iam_role.task.arn
}

output "tasks_security_group_id" {
  description = "Security group of the tasks."
  value       = aws_security_group.tasks.id
}
