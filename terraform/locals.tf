data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_availability_zones" "available" {
  state = "available"
}

locals {
  name       = var.environment == null ? var.project_name : "${var.project_name}-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  azs        = slice(data.aws_availability_zones.available.names, 0, 2)

  ecr_repository_name = var.ecr_repository_name
  cluster_name        = var.ecs_cluster_name
  service_name        = var.ecs_service_name
  task_family         = var.task_family
  container_name      = var.container_name
  log_group_name      = var.log_group_name
  db_identifier       = var.db_identifier
  target_group_name   = var.target_group_name
  sns_topic_name      = var.sns_topic_name
  dashboard_name      = var.dashboard_name
  cpu_alarm_name      = var.cpu_alarm_name
  scaling_policy_name = var.scaling_policy_name
  app_secret_name     = var.app_secret_name
  db_secret_name      = var.db_secret_name
  db_app_secret_name  = var.db_app_secret_name
  db_app_username     = coalesce(var.db_app_username, "${var.db_username}_app")

  has_domain       = var.domain_name != ""
  create_cert      = local.has_domain && var.acm_certificate_arn == "" && var.hosted_zone_id != ""
  certificate_arn  = local.create_cert ? aws_acm_certificate_validation.alb[0].certificate_arn : var.acm_certificate_arn
  https            = var.acm_certificate_arn != "" || local.create_cert
  cloudfront       = local.has_domain && var.enable_cloudfront && var.hosted_zone_id != ""
  manage_db_secret = var.db_password_version == null

  # The stack's secrets under a customer managed key, or (null) under Secrets Manager's AWS managed key
  secrets_kms_key_id = var.secrets_kms_key_arn == "" ? null : var.secrets_kms_key_arn

  # The secret the task reads the DB password from: RDS-managed, or ours when db_password is given.
  db_password_secret_arn = local.manage_db_secret ? aws_db_instance.this.master_user_secret[0].secret_arn : aws_secretsmanager_secret.db_password[0].arn

  tags = merge({
    Project   = local.name
    ManagedBy = "terraform"
    Source    = "llmops-deploy"
  }, var.environment == null ? {} : { Environment = var.environment }, var.tags)
}
