# Optional custom domain: ACM certificate with DNS validation (when no acm_certificate_arn is given),
# and a Route53 alias to the ALB or, with enable_cloudfront, to CloudFront.

resource "aws_acm_certificate" "alb" {
  count = local.create_cert ? 1 : 0

  domain_name       = var.domain_name
  validation_method = "DNS"

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_route53_record" "alb_cert_validation" {
  for_each = local.create_cert ? { for o in aws_acm_certificate.alb[0].domain_validation_options : o.domain_name => o } : {}

  zone_id         = var.hosted_zone_id
  name            = each.value.resource_record_name
  type            = each.value.resource_record_type
  records         = [each.value.resource_record_value]
  ttl             = 60
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "alb" {
  count = local.create_cert ? 1 : 0

  certificate_arn         = aws_acm_certificate.alb[0].arn
  validation_record_fqdns = [for r in aws_route53_record.alb_cert_validation : r.fqdn]
}

resource "aws_route53_record" "app" {
  count = local.has_domain ? 1 : 0

  zone_id = var.hosted_zone_id
  name    = var.domain_name
  type    = "A"

  alias {
    name                   = local.cloudfront ? aws_cloudfront_distribution.this[0].domain_name : aws_lb.this.dns_name
    zone_id                = local.cloudfront ? aws_cloudfront_distribution.this[0].hosted_zone_id : aws_lb.this.zone_id
    evaluate_target_health = !local.cloudfront
  }

  lifecycle {
    precondition {
      condition     = var.hosted_zone_id != ""
      error_message = "domain_name is set but hosted_zone_id is empty: set the Route53 hosted zone that serves ${var.domain_name}."
    }
  }
}
