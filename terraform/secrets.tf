# The app's environment as one JSON secret (guide: llmops/app/env). Terraform creates it with "{}" and
# never touches its value again: `npm run secrets` sets it, without the value entering argv or the state.

resource "aws_secretsmanager_secret" "app_env" {
  name                    = local.app_secret_name
  description             = "Environment of ${local.service_name} (JSON), read by the task through valueFrom"
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "app_env_initial" {
  secret_id     = aws_secretsmanager_secret.app_env.id
  secret_string = "{}"

  lifecycle {
    ignore_changes = [secret_string]
  }
}

# Only when db_password is given (the guide's way); by default RDS manages the password itself.
resource "aws_secretsmanager_secret" "db_password" {
  count = local.manage_db_secret ? 0 : 1

  name                    = local.db_secret_name
  description             = "Master password of ${local.db_identifier} (from the db_password variable)"
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "db_password" {
  count = local.manage_db_secret ? 0 : 1

  secret_id = aws_secretsmanager_secret.db_password[0].id
  # write-only: the password reaches Secrets Manager, never the state or a plan file
  secret_string_wo         = jsonencode({ username = var.db_username, password = var.db_password })
  secret_string_wo_version = var.db_password_version
}
