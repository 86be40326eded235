# Optional CloudFront in front of the ALB: HTTPS only for viewers (redirect), TLSv1.2_2021, a
# certificate in us-east-1 (provider alias), the ALB as an HTTPS origin.

resource "aws_acm_certificate" "cdn" {
  count    = local.cloudfront ? 1 : 0
  provider = aws.us_east_1

  domain_name       = var.domain_name
  validation_method = "DNS"

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_route53_record" "cdn_cert_validation" {
  for_each = local.cloudfront ? { for o in aws_acm_certificate.cdn[0].domain_validation_options : o.domain_name => o } : {}

  zone_id         = var.hosted_zone_id
  name            = each.value.resource_record_name
  type            = each.value.resource_record_type
  records         = [each.value.resource_record_value]
  ttl             = 60
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "cdn" {
  count    = local.cloudfront ? 1 : 0
  provider = aws.us_east_1

  certificate_arn         = aws_acm_certificate.cdn[0].arn
  validation_record_fqdns = [for r in aws_route53_record.cdn_cert_validation : r.fqdn]
}

# The secret origin header CloudFront adds and the ALB's listener rule requires (alb.tf), kept in Secrets
# Manager. Generated once; rotate it with `aws secretsmanager put-secret-value` and `terraform apply
# -replace=aws_secretsmanager_secret_version.origin_verify[0]` (CloudFront and the rule take the new value).
locals {
  origin_header = "X-Origin-Verify"
}

data "aws_secretsmanager_random_password" "origin_verify" {
  count = local.cloudfront ? 1 : 0

  password_length     = 48
  exclude_punctuation = true
}

resource "aws_secretsmanager_secret" "origin_verify" {
  count = local.cloudfront ? 1 : 0

  name                    = "${local.name}/cdn/origin-verify"
  description             = "The header value CloudFront sends to the ALB (${local.origin_header}); the ALB refuses requests without it"
  recovery_window_in_days = var.secret_recovery_window_days
  kms_key_id              = local.secrets_kms_key_id
}

resource "aws_secretsmanager_secret_version" "origin_verify" {
  count = local.cloudfront ? 1 : 0

  secret_id     = aws_secretsmanager_secret.origin_verify[0].id
  secret_string = data.aws_secretsmanager_random_password.origin_verify[0].random_password

  lifecycle {
    # a new random value is read at every plan: the first one stays until replaced on purpose
    ignore_changes = [secret_string]
  }
}

resource "aws_cloudfront_distribution" "this" {
  count = local.cloudfront ? 1 : 0

  enabled         = true
  comment         = "${local.name} app"
  aliases         = [var.domain_name]
  price_class     = "PriceClass_100"
  is_ipv6_enabled = true
  web_acl_id      = var.enable_waf ? module.waf_cdn[0].arn : null

  origin {
    origin_id   = "alb"
    domain_name = aws_lb.this.dns_name

    custom_header {
      name  = local.origin_header
      value = aws_secretsmanager_secret_version.origin_verify[0].secret_string
    }

    custom_origin_config {
      http_port              = 80
      https_port             = 443
      origin_protocol_policy = local.https ? "https-only" : "http-only"
      origin_ssl_protocols   = ["TLSv1.2"]
    }
  }

  default_cache_behavior {
    target_origin_id       = "alb"
    viewer_protocol_policy = "redirect-to-https"
    allowed_methods        = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
    cached_methods         = ["GET", "HEAD"]
    compress               = true

    # Managed policies: CachingDisabled, AllViewer (the app is dynamic), SecurityHeadersPolicy (HSTS for a year,
    # nosniff, X-Frame-Options SAMEORIGIN, strict-origin-when-cross-origin referrers).
    cache_policy_id            = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
    origin_request_policy_id   = "216adef6-5c7f-47e4-b989-5492eafa07d3"
    response_headers_policy_id = local.security_headers_policy_id
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    acm_certificate_arn      = aws_acm_certificate_validation.cdn[0].certificate_arn
    ssl_support_method       = "sni-only"
    minimum_protocol_version = "TLSv1.2_2021"
  }
}

locals {
  # AWS managed response headers policy "SecurityHeadersPolicy"
  security_headers_policy_id = "67f7725c-6f97-4210-82d7-5512b31e9d03"
}

# Standard logging v2 (CloudFront.5): the distribution's access logs go to CloudWatch Logs in us-east-1, where
# CloudFront delivers them (no S3 bucket, no ACLs), kept log_retention_days like the stack's other logs.
resource "aws_cloudwatch_log_group" "cdn" {
  count    = local.cloudfront ? 1 : 0
  provider = aws.us_east_1

  name              = "/aws/cloudfront/${local.name}"
  retention_in_days = var.log_retention_days
}

resource "aws_cloudwatch_log_delivery_source" "cdn" {
  count    = local.cloudfront ? 1 : 0
  provider = aws.us_east_1

  name         = "${local.name}-cdn-access"
  log_type     = "ACCESS_LOGS"
  resource_arn = aws_cloudfront_distribution.this[0].arn
}

resource "aws_cloudwatch_log_delivery_destination" "cdn" {
  count    = local.cloudfront ? 1 : 0
  provider = aws.us_east_1

  name          = "${local.name}-cdn-access"
  output_format = "json"

  delivery_destination_configuration {
    destination_resource_arn = aws_cloudwatch_log_group.cdn[0].arn
  }
}

resource "aws_cloudwatch_log_delivery" "cdn" {
  count    = local.cloudfront ? 1 : 0
  provider = aws.us_east_1

  delivery_source_name     = aws_cloudwatch_log_delivery_source.cdn[0].name
  delivery_destination_arn = aws_cloudwatch_log_delivery_destination.cdn[0].arn
}
