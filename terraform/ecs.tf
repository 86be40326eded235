# ECS on Fargate: Container Insights (ECS.12), awslogs (ECS.9), read-only root filesystem with a writable
# /tmp (ECS.5), non-root user (ECS.20), secrets only through valueFrom (ECS.8), private subnets without
# public IPs (ECS.2), circuit breaker with rollback. The scripts own the running task definition and the
# desired count (step 6, scale, autoscaling): Terraform ignores both after creation.

resource "aws_ecs_cluster" "this" {
  name = local.cluster_name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_cloudwatch_log_group" "app" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
}

locals {
  container_definition = {
    name                   = local.container_name
    image                  = "${aws_ecr_repository.app.repository_url}:bootstrap"
    essential              = true
    user                   = var.container_user
    readonlyRootFilesystem = true
    privileged             = false
    portMappings           = [{ containerPort = var.container_port, protocol = "tcp", name = "http" }]
    mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    stopTimeout            = 30
    environment = [
      { name = "PORT", value = tostring(var.container_port) },
      { name = "DATABASE_HOST", value = aws_db_instance.this.address },
      { name = "DATABASE_PORT", value = tostring(aws_db_instance.this.port) },
      { name = "DATABASE_NAME", value = var.db_name },
      { name = "DATABASE_USER", value = var.db_connect_as == "master" ? var.db_username : local.db_app_username },
      { name = "PGSSLMODE", value = var.db_ssl_mode },      # the database accepts TLS only (rds.force_ssl); verify-full checks whom it talks to
      { name = "PGSSLROOTCERT", value = var.db_ca_bundle }, # the RDS CA bundle inside the image
    ]
    secrets = [
      { name = "DATABASE_PASSWORD", valueFrom = "${var.db_connect_as == "master" ? local.db_password_secret_arn : aws_secretsmanager_secret.db_app.arn}:password::" },
      { name = "APP_SECRETS", valueFrom = aws_secretsmanager_secret.app_env.arn },
    ]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.app.name
        awslogs-region        = var.aws_region
        awslogs-stream-prefix = "ecs"
      }
    }
  }
}

resource "aws_ecs_task_definition" "app" {
  family                   = local.task_family
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.task_cpu)
  memory                   = tostring(var.task_memory)
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  container_definitions    = jsonencode([local.container_definition])

  volume {
    name = "tmp"
  }

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  lifecycle {
    precondition {
      condition = (
        (var.task_cpu == 256 && contains([512, 1024, 2048], var.task_memory)) ||
        (var.task_cpu == 512 && var.task_memory >= 1024 && var.task_memory <= 4096 && var.task_memory % 1024 == 0) ||
        (var.task_cpu == 1024 && var.task_memory >= 2048 && var.task_memory <= 8192 && var.task_memory % 1024 == 0) ||
        (var.task_cpu == 2048 && var.task_memory >= 4096 && var.task_memory <= 16384 && var.task_memory % 1024 == 0) ||
        (var.task_cpu == 4096 && var.task_memory >= 8192 && var.task_memory <= 30720 && var.task_memory % 1024 == 0) ||
        (var.task_cpu == 8192 && var.task_memory >= 16384 && var.task_memory <= 61440 && var.task_memory % 4096 == 0) ||
        (var.task_cpu == 16384 && var.task_memory >= 32768 && var.task_memory <= 122880 && var.task_memory % 8192 == 0)
      )
      error_message = "task_memory ${var.task_memory} is not a valid Fargate size for task_cpu ${var.task_cpu} (e.g. 512 cpu: 1024-4096 in steps of 1024)."
    }
  }
}

resource "aws_ecs_service" "app" {
  name                              = local.service_name
  cluster                           = aws_ecs_cluster.this.id
  task_definition                   = aws_ecs_task_definition.app.arn
  desired_count                     = var.service_initial_desired_count
  launch_type                       = "FARGATE"
  platform_version                  = "LATEST"
  health_check_grace_period_seconds = var.health_check_grace_period_seconds
  enable_execute_command            = var.enable_execute_command
  propagate_tags                    = "SERVICE"

  # A rolling deploy of one task: start the new one before stopping the old one.
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  # What users see, not only health checks: ECS fails a deployment (and rolls it back) when one of these trips
  # while it runs or during ECS's bake after it; step 7's own bake reads the same alarms (monitoring.tf)
  alarms {
    alarm_names = [for a in concat(values(aws_cloudwatch_metric_alarm.deployment), values(aws_cloudwatch_metric_alarm.deployment_alternate)) : a.alarm_name]
    enable      = var.deployment_alarms
    rollback    = true
  }

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.app.arn
    container_name   = local.container_name
    container_port   = var.container_port
  }

  lifecycle {
    ignore_changes = [task_definition, desired_count]
  }

  depends_on = [aws_lb_listener.http, aws_iam_role_policy.execution]
}
