# PostgreSQL in the private subnets: encrypted (CKV_AWS_16), not public (CKV_AWS_17), backups >= 7 days
# (RDS.11), deletion protection (RDS.8), IAM auth (RDS.10), Multi-AZ as a variable (RDS.5), log exports
# (RDS.9), tags copied to snapshots (RDS.17), and a final snapshot on delete. The master password is
# managed by RDS in Secrets Manager unless db_password is given. A parameter group forces TLS on every
# connection (rds.force_ssl); the log groups RDS exports to are managed here, with a retention (CKV_AWS_66).

resource "aws_db_subnet_group" "this" {
  name       = "${local.name}-db"
  subnet_ids = aws_subnet.private[*].id
}

locals {
  db_major       = split(".", var.db_engine_version)[0]
  db_log_exports = ["postgresql", "upgrade"]
}

resource "aws_db_parameter_group" "this" {
  name        = "${local.name}-postgres${local.db_major}"
  family      = "postgres${local.db_major}"
  description = "TLS required for every connection (${local.name})"

  parameter {
    name         = "rds.force_ssl"
    value        = "1"
    apply_method = "pending-reboot"
  }

  lifecycle {
    create_before_destroy = true
  }
}

# Created before the instance, so RDS exports into groups that expire instead of creating its own.
resource "aws_cloudwatch_log_group" "rds" {
  for_each          = toset(local.db_log_exports)
  name              = "/aws/rds/instance/${local.db_identifier}/${each.key}"
  retention_in_days = var.log_retention_days
}

resource "aws_db_instance" "this" {
  identifier     = local.db_identifier
  engine         = "postgres"
  engine_version = var.db_engine_version
  instance_class = var.db_instance_class

  allocated_storage     = var.db_allocated_storage
  max_allocated_storage = var.db_max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true

  db_name                     = var.db_name
  username                    = var.db_username
  manage_master_user_password = local.manage_db_secret ? true : null
  # the master's RDS-managed secret under the same key as the stack's other secrets
  master_user_secret_kms_key_id = local.manage_db_secret ? local.secrets_kms_key_id : null
  # write-only (Terraform 1.11): sent to RDS, never stored in the state or a plan file
  password_wo         = local.manage_db_secret ? null : var.db_password
  password_wo_version = var.db_password_version

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.db.id]
  publicly_accessible    = false
  multi_az               = var.db_multi_az

  backup_retention_period             = var.db_backup_retention_days
  backup_window                       = "03:00-04:00"
  maintenance_window                  = "sun:04:30-sun:05:30"
  copy_tags_to_snapshot               = true
  deletion_protection                 = var.db_deletion_protection
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${local.db_identifier}-final"
  iam_database_authentication_enabled = true
  enabled_cloudwatch_logs_exports     = local.db_log_exports
  parameter_group_name                = aws_db_parameter_group.this.name
  auto_minor_version_upgrade          = true
  apply_immediately                   = false

  depends_on = [aws_cloudwatch_log_group.rds]
}
