# ECS's native deployment strategies (deployment_strategy = blue-green, canary or linear): what they need besides
# the service. The new release starts in the alternate target group; ECS shifts the production listener rule's
# weights to it (all at once, a share first, or step by step), bakes, and stops the old release. The rule starts
# with all traffic on the service's own target group; from then on ECS owns its weights (ignore_changes), and
# which target group serves alternates from one release to the next.
#
# The Terraform AWS provider here (5.100) predates these strategies: it cannot set the service's
# deploymentConfiguration.strategy nor its loadBalancers[].advancedConfiguration. Step 6 sets both through the
# ECS API with the deploy that needs them (scripts/06-taskdef.ts); the provider does not know those fields, so it
# neither shows them as a change nor resets them.

locals {
  native_strategy              = var.deployment_strategy != "rolling"
  alternate_target_group_name  = "${trimsuffix(substr(local.target_group_name, 0, 25), "-")}-alt"
  production_listener_arn      = local.https ? aws_lb_listener.https[0].arn : aws_lb_listener.http.arn
  ecs_infrastructure_role_name = "${local.name}-ecs-infrastructure"
}

resource "aws_lb_target_group" "alternate" {
  count = local.native_strategy ? 1 : 0

  name                 = local.alternate_target_group_name
  port                 = var.container_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = aws_vpc.this.id
  deregistration_delay = 30

  health_check {
    enabled             = true
    path                = var.health_check_path
    protocol            = "HTTP"
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

# The production listener rule: every request the listener serves (behind CloudFront: those with its origin
# header, which replaces the from_cloudfront rule), forwarded by weight to the two target groups
resource "aws_lb_listener_rule" "production" {
  count = local.native_strategy ? 1 : 0

  listener_arn = local.production_listener_arn
  priority     = 1

  dynamic "condition" {
    for_each = local.cloudfront ? [1] : []
    content {
      http_header {
        http_header_name = local.origin_header
        values           = [aws_secretsmanager_secret_version.origin_verify[0].secret_string]
      }
    }
  }

  dynamic "condition" {
    for_each = local.cloudfront ? [] : [1]
    content {
      path_pattern {
        values = ["/*"]
      }
    }
  }

  action {
    type = "forward"
    forward {
      target_group {
        arn    = aws_lb_target_group.app.arn
        weight = 100
      }
      target_group {
        arn    = aws_lb_target_group.alternate[0].arn
        weight = 0
      }
    }
  }

  # ECS moves the weights at every deploy: Terraform must not move them back
  lifecycle {
    ignore_changes = [action]
  }
}

# The role ECS assumes to move the rule's weights and register the tasks (AWS's managed policy for exactly this)
data "aws_iam_policy_document" "ecs_infrastructure_trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "ecs_infrastructure" {
  count = local.native_strategy ? 1 : 0

  name                 = local.ecs_infrastructure_role_name
  path                 = local.role_path
  description          = "ECS shifts ${local.service_name}'s traffic between its two target groups (${var.deployment_strategy} deployments)"
  assume_role_policy   = data.aws_iam_policy_document.ecs_infrastructure_trust.json
  permissions_boundary = local.role_boundary_arn
}

resource "aws_iam_role_policy_attachment" "ecs_infrastructure" {
  count = local.native_strategy ? 1 : 0

  role       = aws_iam_role.ecs_infrastructure[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"
}
