# WAFv2 in front of the app: the AWS managed Common and KnownBadInputs rule groups and a per-client-IP rate
# limit, on the ALB and, when CloudFront is on, on the distribution (its rules see the client's IP; the ALB
# then sees only CloudFront's, so its own rate rule is left out there). waf_mode = "count" runs every rule
# without blocking, to watch the dashboard's WAF widget before switching to "block". enable_waf = false
# removes both ACLs (about 5 USD a month each plus 1 USD per rule and 0.60 USD per million requests).
locals {
  waf_managed_groups = { AWSManagedRulesCommonRuleSet = 10, AWSManagedRulesKnownBadInputsRuleSet = 20 }
  waf_rules = {
    alb = merge(
      { for name, priority in local.waf_managed_groups : name => { priority = priority, rate = false } },
      # the ALB's own rate rule is left out only when CloudFront really fronts it (local.cloudfront: a domain and
      # a zone too); enable_cloudfront without a domain serves from the ALB, which then keeps its rate limit
      local.cloudfront ? {} : { rate-limit-per-ip = { priority = 30, rate = true } },
    )
    cdn = merge(
      { for name, priority in local.waf_managed_groups : name => { priority = priority, rate = false } },
      { rate-limit-per-ip = { priority = 30, rate = true } },
    )
  }
  waf_block = var.waf_mode == "block"
}

module "waf_alb" {
  source = "./modules/waf"
  count  = var.enable_waf ? 1 : 0

  name        = "${local.name}-alb"
  description = "Managed rules and a rate limit in front of ${local.name}'s load balancer"
  scope       = "REGIONAL"
  rules       = local.waf_rules.alb
  block       = local.waf_block
  rate_limit  = var.waf_rate_limit

  log_retention_days = var.log_retention_days
}

module "waf_cdn" {
  source    = "./modules/waf"
  count     = var.enable_waf && local.cloudfront ? 1 : 0
  providers = { aws = aws.us_east_1 }

  name        = "${local.name}-cdn"
  description = "Managed rules and a per-client rate limit in front of ${local.name}'s CloudFront distribution"
  scope       = "CLOUDFRONT"
  rules       = local.waf_rules.cdn
  block       = local.waf_block
  rate_limit  = var.waf_rate_limit

  log_retention_days = var.log_retention_days
}

resource "aws_wafv2_web_acl_association" "alb" {
  count = var.enable_waf ? 1 : 0

  resource_arn = aws_lb.this.arn
  web_acl_arn  = module.waf_alb[0].arn
}
