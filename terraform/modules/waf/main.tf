# One WAFv2 web ACL: AWS managed rule groups (override: none to block, count to watch) and rate-based rules
# (block or count), each with its CloudWatch metric. Used for the ALB (REGIONAL) and CloudFront (CLOUDFRONT,
# us-east-1 provider) by ../../waf.tf.
terraform {
  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
  }
}

variable "name" {
  type = string
}

variable "description" {
  type = string
}

variable "scope" {
  type = string
}

variable "rules" {
  description = "rule name → { priority, rate }: rate = false is the AWS managed rule group of that name."
  type        = map(object({ priority = number, rate = bool }))
}

variable "block" {
  description = "true blocks what the rules match; false only counts it."
  type        = bool
}

variable "rate_limit" {
  description = "Requests per client IP in any 5 minutes before the rate rule matches."
  type        = number
}

resource "aws_wafv2_web_acl" "this" {
  name        = var.name
  description = var.description
  scope       = var.scope

  default_action {
    allow {}
  }

  dynamic "rule" {
    for_each = var.rules

    content {
      name     = rule.key
      priority = rule.value.priority

      dynamic "override_action" {
        for_each = rule.value.rate ? [] : [1]
        content {
          dynamic "none" {
            for_each = var.block ? [1] : []
            content {}
          }
          dynamic "count" {
            for_each = var.block ? [] : [1]
            content {}
          }
        }
      }

      dynamic "action" {
        for_each = rule.value.rate ? [1] : []
        content {
          dynamic "block" {
            for_each = var.block ? [1] : []
            content {}
          }
          dynamic "count" {
            for_each = var.block ? [] : [1]
            content {}
          }
        }
      }

      statement {
        dynamic "managed_rule_group_statement" {
          for_each = rule.value.rate ? [] : [1]
          content {
            name        = rule.key
            vendor_name = "AWS"
          }
        }
        dynamic "rate_based_statement" {
          for_each = rule.value.rate ? [1] : []
          content {
            limit              = var.rate_limit
            aggregate_key_type = "IP"
          }
        }
      }

      visibility_config {
        cloudwatch_metrics_enabled = true
        metric_name                = rule.key
        sampled_requests_enabled   = true
      }
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = var.name
    sampled_requests_enabled   = true
  }
}

output "arn" {
  value = aws_wafv2_web_acl.this.arn
}

output "name" {
  value = aws_wafv2_web_acl.this.name
}
