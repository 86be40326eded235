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

variable "log_retention_days" {
  description = "Days CloudWatch keeps the ACL's logs."
  type        = number
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

# WAF.11: every request the ACL sees is logged, to a log group whose name AWS requires to start with
# aws-waf-logs-; the Authorization header and cookies are redacted (they carry credentials)
resource "aws_cloudwatch_log_group" "this" {
  name              = "aws-waf-logs-${var.name}"
  retention_in_days = var.log_retention_days
}

resource "aws_wafv2_web_acl_logging_configuration" "this" {
  resource_arn            = aws_wafv2_web_acl.this.arn
  log_destination_configs = [aws_cloudwatch_log_group.this.arn]

  redacted_fields {
    single_header {
      name = "authorization"
    }
  }

  redacted_fields {
    single_header {
      name = "cookie"
    }
  }
}

output "logging" {
  description = "Where the ACL logs and what it redacts (for terraform test)."
  value = {
    log_group         = aws_cloudwatch_log_group.this.name
    retention_in_days = aws_cloudwatch_log_group.this.retention_in_days
    redacted          = toset(flatten([for f in aws_wafv2_web_acl_logging_configuration.this.redacted_fields : [for h in f.single_header : h.name]]))
  }
}
