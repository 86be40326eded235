data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_availability_zones" "available" {
  state = "available"
}

locals {
  name       = var.environment == null ? var.project_name : "${var.project_name}-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  azs        = slice(data.aws_availability_zones.available.names, 0, 2)

  ecr_repository_name = coalesce(var.ecr_repository_name, "${local.name}-system")
  cluster_name        = coalesce(var.ecs_cluster_name, "${local.name}-cluster")
  service_name        = coalesce(var.ecs_service_name, "${local.name}-service")
  task_family         = coalesce(var.task_family, "${local.name}-task")
  container_name      = coalesce(var.container_name, "${local.name}-app")
  log_group_name      = coalesce(var.log_group_name, "/ecs/${local.task_family}")
  db_identifier       = coalesce(var.db_identifier, "${local.name}-db")
  target_group_name   = coalesce(var.target_group_name, "${local.name}-targets")
  sns_topic_name      = coalesce(var.sns_topic_name, "${local.name}-alerts")
  dashboard_name      = coalesce(var.dashboard_name, "${local.name}-dashboard")
  cpu_alarm_name      = coalesce(var.cpu_alarm_name, "${local.name}-high-cpu")
  scaling_policy_name = coalesce(var.scaling_policy_name, "${local.name}-cpu-scaling")
  app_secret_name     = coalesce(var.app_secret_name, "${local.name}/app/env")
  db_secret_name      = coalesce(var.db_secret_name, "${local.name}/db/password")
  db_app_secret_name  = coalesce(var.db_app_secret_name, "${local.name}/db/app")
  db_app_username     = coalesce(var.db_app_username, "${var.db_username}_app")

  has_domain       = var.domain_name != ""
  create_cert      = local.has_domain && var.acm_certificate_arn == "" && var.hosted_zone_id != ""
  certificate_arn  = local.create_cert ? aws_acm_certificate_validation.alb[0].certificate_arn : var.acm_certificate_arn
  https            = var.acm_certificate_arn != "" || local.create_cert
  cloudfront       = local.has_domain && var.enable_cloudfront && var.hosted_zone_id != ""
  manage_db_secret = var.db_password_version == null

  # The secret the task reads the DB password from: RDS-managed, or ours when db_password is given.
  db_password_secret_arn = local.manage_db_secret ? aws_db_instance.this.master_user_secret[0].secret_arn : aws_secretsmanager_secret.db_password[0].arn

  tags = merge({
    Project   = local.name
    ManagedBy = "terraform"
    Source    = "llmops-deploy"
  }, var.environment == null ? {} : { Environment = var.environment }, var.tags)
}
