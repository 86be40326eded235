# The app's environment as one JSON secret (guide: llmops/app/env). Terraform creates it with "{}" and
# never touches its value again: `npm run secrets` sets it, without the value entering argv or the state.

resource "aws_secretsmanager_secret" "app_env" {
  name                    = local.app_secret_name
  description             = "Environment of ${local.service_name} (JSON), read by the task through valueFrom"
  recovery_window_in_days = var.secret_recovery_window_days
  kms_key_id              = local.secrets_kms_key_id
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
  kms_key_id              = local.secrets_kms_key_id
}

resource "aws_secretsmanager_secret_version" "db_password" {
  count = local.manage_db_secret ? 0 : 1

  secret_id = aws_secretsmanager_secret.db_password[0].id
  # write-only: the password reaches Secrets Manager, never the state or a plan file
  secret_string_wo         = jsonencode({ username = var.db_username, password = var.db_password })
  secret_string_wo_version = var.db_password_version
}

# The app's own database user (not the master): its name and a generated password, stored through a write-only
# argument, so the password is in neither the state nor a saved plan. The service's task definition reads only
# this secret; the database user's one-off task (<family>-db-user, step 6) reads it and the master secret, and
# creates the role or sets its password (docs/operations.md: "The app's database user"). Raise
# db_app_password_version to store a new password, then deploy: step 6 sets it, then restarts the tasks.
# The password is two UUIDs (uuid() draws from crypto/rand: 244 random bits, hex only, so safe in any
# connection string). Not the ephemeral aws_secretsmanager_random_password: mocked providers cannot open
# ephemeral resources (Terraform 1.11), so `terraform test` could not plan this file at all.
resource "aws_secretsmanager_secret" "db_app" {
  name                    = local.db_app_secret_name
  description             = "Database user ${local.db_app_username} of ${local.service_name} (JSON: username, password), set by step 6"
  recovery_window_in_days = var.secret_recovery_window_days
  kms_key_id              = local.secrets_kms_key_id
}

resource "aws_secretsmanager_secret_version" "db_app" {
  secret_id = aws_secretsmanager_secret.db_app.id
  secret_string_wo = jsonencode({
    username = local.db_app_username
    password = coalesce(var.db_app_password, replace("${uuid()}${uuid()}", "-", ""))
  })
  secret_string_wo_version = var.db_app_password_version
}
