# Alarms to an encrypted SNS topic (its CMK lets CloudWatch publish), the guide's dashboard, and the
# guide's CPU target-tracking policy (llmops-cpu-scaling).

data "aws_iam_policy_document" "alerts_key" {
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchPublishes"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "alerts" {
  description         = "Encrypts the ${local.sns_topic_name} SNS topic"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.alerts_key.json
}

resource "aws_kms_alias" "alerts" {
  name          = "alias/${local.name}-alerts"
  target_key_id = aws_kms_key.alerts.key_id
}

resource "aws_sns_topic" "alerts" {
  name              = local.sns_topic_name
  kms_master_key_id = aws_kms_key.alerts.arn
}

resource "aws_sns_topic_subscription" "email" {
  count = var.alarm_email == "" ? 0 : 1

  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

locals {
  ecs_dimensions = { ClusterName = aws_ecs_cluster.this.name, ServiceName = aws_ecs_service.app.name }
  alarms = merge(local.guide_alarms, var.enable_waf ? {
    waf_blocked = {
      name      = "${local.name}-waf-blocked", description = "The ALB's WAF blocked more than 100 requests in 5 minutes", namespace = "AWS/WAFV2", metric = "BlockedRequests"
      statistic = "Sum", threshold = 100, operator = "GreaterThanThreshold", dimensions = { WebACL = module.waf_alb[0].name, Region = var.aws_region, Rule = "ALL" }
    }
  } : {})
  guide_alarms = {
    ecs_cpu = {
      name      = local.cpu_alarm_name, description = "Alert when CPU exceeds 80%", namespace = "AWS/ECS", metric = "CPUUtilization"
      statistic = "Average", threshold = 80, operator = "GreaterThanThreshold", dimensions = local.ecs_dimensions
    }
    ecs_memory = {
      name      = "${local.name}-high-memory", description = "ECS service memory above 80%", namespace = "AWS/ECS", metric = "MemoryUtilization"
      statistic = "Average", threshold = 80, operator = "GreaterThanThreshold", dimensions = local.ecs_dimensions
    }
    alb_5xx = {
      name      = "${local.name}-alb-5xx", description = "More than 10 HTTP 5xx answers from the targets in 5 minutes", namespace = "AWS/ApplicationELB", metric = "HTTPCode_Target_5XX_Count"
      statistic = "Sum", threshold = 10, operator = "GreaterThanThreshold", dimensions = { LoadBalancer = aws_lb.this.arn_suffix }
    }
    unhealthy_targets = {
      name      = "${local.name}-unhealthy-targets", description = "At least one target failing its health check", namespace = "AWS/ApplicationELB", metric = "UnHealthyHostCount"
      statistic = "Maximum", threshold = 0, operator = "GreaterThanThreshold", dimensions = { LoadBalancer = aws_lb.this.arn_suffix, TargetGroup = aws_lb_target_group.app.arn_suffix }
    }
    rds_cpu = {
      name      = "${local.name}-rds-high-cpu", description = "Database CPU above 80%", namespace = "AWS/RDS", metric = "CPUUtilization"
      statistic = "Average", threshold = 80, operator = "GreaterThanThreshold", dimensions = { DBInstanceIdentifier = aws_db_instance.this.identifier }
    }
    rds_storage = {
      name      = "${local.name}-rds-low-storage", description = "Database free storage below 2 GiB", namespace = "AWS/RDS", metric = "FreeStorageSpace"
      statistic = "Minimum", threshold = 2147483648, operator = "LessThanThreshold", dimensions = { DBInstanceIdentifier = aws_db_instance.this.identifier }
    }
  }
}

# Deployment alarms: the new release's effect on what users see, judged in one minute. ECS watches them during a
# deployment and its bake (ecs.tf, alarms) and rolls back; step 7's bake reads them (cloudwatch describe-alarms).
# Named <name>-deploy-*: the deploy role may read these alone (DescribeTheDeploymentAlarms).
locals {
  alb_target_dimensions = { LoadBalancer = aws_lb.this.arn_suffix, TargetGroup = aws_lb_target_group.app.arn_suffix }
  deployment_alarms = {
    target_5xx = {
      name      = "${local.name}-deploy-5xx", description = "Deployment alarm: 5 or more HTTP 5xx answers from the targets in a minute", metric = "HTTPCode_Target_5XX_Count"
      statistic = "Sum", threshold = 5, operator = "GreaterThanOrEqualToThreshold"
    }
    unhealthy = {
      name      = "${local.name}-deploy-unhealthy", description = "Deployment alarm: a target failing its health checks for a minute", metric = "UnHealthyHostCount"
      statistic = "Maximum", threshold = 1, operator = "GreaterThanOrEqualToThreshold"
    }
    latency = {
      name      = "${local.name}-deploy-latency", description = "Deployment alarm: the targets answer in over 2 s on average for a minute", metric = "TargetResponseTime"
      statistic = "Average", threshold = 2, operator = "GreaterThanThreshold"
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "deployment" {
  for_each = local.deployment_alarms

  alarm_name          = each.value.name
  alarm_description   = each.value.description
  namespace           = "AWS/ApplicationELB"
  metric_name         = each.value.metric
  statistic           = each.value.statistic
  period              = 60
  evaluation_periods  = 1
  threshold           = each.value.threshold
  comparison_operator = each.value.operator
  dimensions          = local.alb_target_dimensions
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
}

# With a native strategy the new release serves from either target group: the same alarms on the alternate one
# (<name>-deploy-5xx-alt, ...), which ECS and the bake read too
resource "aws_cloudwatch_metric_alarm" "deployment_alternate" {
  for_each = local.native_strategy ? local.deployment_alarms : {}

  alarm_name          = "${each.value.name}-alt"
  alarm_description   = "${each.value.description} (the alternate target group)"
  namespace           = "AWS/ApplicationELB"
  metric_name         = each.value.metric
  statistic           = each.value.statistic
  period              = 60
  evaluation_periods  = 1
  threshold           = each.value.threshold
  comparison_operator = each.value.operator
  dimensions          = { LoadBalancer = aws_lb.this.arn_suffix, TargetGroup = aws_lb_target_group.alternate[0].arn_suffix }
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name          = each.value.name
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  statistic           = each.value.statistic
  period              = 300
  evaluation_periods  = 1
  threshold           = each.value.threshold
  comparison_operator = each.value.operator
  dimensions          = each.value.dimensions
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = local.dashboard_name
  dashboard_body = templatefile("${path.module}/../config/dashboard-config.json", {
    region        = var.aws_region
    cluster       = aws_ecs_cluster.this.name
    service       = aws_ecs_service.app.name
    load_balancer = aws_lb.this.arn_suffix
    target_group  = aws_lb_target_group.app.arn_suffix
    db_instance   = aws_db_instance.this.identifier
    waf_acl       = "${local.name}-alb"
  })
}

resource "aws_appautoscaling_target" "ecs" {
  count = var.enable_autoscaling ? 1 : 0

  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.app.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.autoscaling_min_capacity
  max_capacity       = var.autoscaling_max_capacity
}

resource "aws_appautoscaling_policy" "cpu" {
  count = var.enable_autoscaling ? 1 : 0

  name               = local.scaling_policy_name
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.ecs[0].service_namespace
  resource_id        = aws_appautoscaling_target.ecs[0].resource_id
  scalable_dimension = aws_appautoscaling_target.ecs[0].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.autoscaling_cpu_target
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}
