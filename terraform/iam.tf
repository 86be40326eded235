# Two distinct roles (CKV_AWS_249): the execution role pulls the image, writes logs and reads exactly
# the task's secrets; the task role is what the app itself may do (nothing by default).

data "aws_iam_policy_document" "ecs_tasks_trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${local.name}-ecs-execution"
  path               = local.role_path
  description        = "ECS task execution role of ${local.service_name}: image pull, logs, the task's secrets"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json
  # the most it may ever do, when CI applies this stack as the infra role (github.tf)
  permissions_boundary = local.role_boundary_arn
}

resource "aws_iam_role_policy_attachment" "execution_managed" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

# Under a customer managed key (secrets_kms_key_arn), both execution roles decrypt with it, through Secrets
# Manager only (kms:ViaService): the key cannot be used directly by a task's role
data "aws_iam_policy_document" "decrypt_secrets" {
  count = local.secrets_kms_key_id == null ? 0 : 1
  statement {
    sid       = "DecryptTheSecrets"
    actions   = ["kms:Decrypt"]
    resources = [local.secrets_kms_key_id]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${var.aws_region}.amazonaws.com"]
    }
  }
}

# The service reads the app's environment and the app's own database user; the master's secret only when it
# connects as the master (db_connect_as = master, the guide's way)
data "aws_iam_policy_document" "execution_secrets" {
  source_policy_documents = data.aws_iam_policy_document.decrypt_secrets[*].json
  statement {
    sid       = "ReadTheTaskSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = concat([aws_secretsmanager_secret.app_env.arn, aws_secretsmanager_secret.db_app.arn], var.db_connect_as == "master" ? [local.db_password_secret_arn] : [])
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "read-task-secrets"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution_secrets.json
}

# The migration's own execution role (config/ecs-migration-task-definition.json and
# config/ecs-db-user-task-definition.json name it): the master's secret, to create the app's user and set its
# password (step 6), and the app's user's and environment
resource "aws_iam_role" "migration_execution" {
  name                 = "${local.name}-ecs-migrate-execution"
  path                 = local.role_path
  description          = "ECS task execution role of the ${local.service_name} migration: image pull, logs, the master's and the app user's secrets"
  assume_role_policy   = data.aws_iam_policy_document.ecs_tasks_trust.json
  permissions_boundary = local.role_boundary_arn
}

resource "aws_iam_role_policy_attachment" "migration_execution_managed" {
  role       = aws_iam_role.migration_execution.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "migration_secrets" {
  source_policy_documents = data.aws_iam_policy_document.decrypt_secrets[*].json
  statement {
    sid       = "ReadTheMigrationSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.app_env.arn, local.db_password_secret_arn, aws_secretsmanager_secret.db_app.arn]
  }
}

resource "aws_iam_role_policy" "migration_execution" {
  name   = "read-migration-secrets"
  role   = aws_iam_role.migration_execution.id
  policy = data.aws_iam_policy_document.migration_secrets.json
}

resource "aws_iam_role" "task" {
  name               = "${local.name}-ecs-task"
  path               = local.role_path
  description        = "Role of the ${local.service_name} app itself (add the app's own permissions here)"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json
  # the most it may ever do, when CI applies this stack as the infra role (github.tf)
  permissions_boundary = local.role_boundary_arn
}

# ECS Exec (npm run exec): the SSM agent in each task opens its channels with the task role. Only when
# enable_execute_command is on; the deploy role never gets ecs:ExecuteCommand (people run exec, not CI).
data "aws_iam_policy_document" "task_exec" {
  statement {
    sid = "EcsExecChannels"
    actions = [
      "ssmmessages:CreateControlChannel",
      "ssmmessages:CreateDataChannel",
      "ssmmessages:OpenControlChannel",
      "ssmmessages:OpenDataChannel",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "task_exec" {
  count  = var.enable_execute_command ? 1 : 0
  name   = "ecs-exec"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task_exec.json
}

data "aws_iam_policy_document" "flow_logs_trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }

    # the service acts for this account's flow logs only (no confused deputy)
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${data.aws_partition.current.partition}:ec2:${var.aws_region}:${local.account_id}:vpc-flow-log/*"]
    }
  }
}

resource "aws_iam_role" "flow_logs" {
  name               = "${local.name}-vpc-flow-logs"
  path               = local.role_path
  assume_role_policy = data.aws_iam_policy_document.flow_logs_trust.json
  # the most it may ever do, when CI applies this stack as the infra role (github.tf)
  permissions_boundary = local.role_boundary_arn
}

data "aws_iam_policy_document" "flow_logs" {
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.flow_logs.arn}:*"]
  }
}

resource "aws_iam_role_policy" "flow_logs" {
  name   = "write-flow-logs"
  role   = aws_iam_role.flow_logs.id
  policy = data.aws_iam_policy_document.flow_logs.json
}
