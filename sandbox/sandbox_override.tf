# Written into terraform/ by `npm run sandbox:up` and removed by `sandbox:down`: the provider settings
# the local AWS emulator needs (docs/sandbox.md). Production code never sees this file.
provider "aws" {
  access_key                  = "sandbox"
  secret_key                  = "sandbox-secret-key"
  skip_metadata_api_check     = true
  skip_credentials_validation = true
  max_retries                 = 3
  s3_use_path_style           = true
}

provider "aws" {
  alias                       = "us_east_1"
  access_key                  = "sandbox"
  secret_key                  = "sandbox-secret-key"
  skip_metadata_api_check     = true
  skip_credentials_validation = true
  max_retries                 = 3
  s3_use_path_style           = true
}

terraform {
  backend "s3" {
    use_path_style              = true
    skip_credentials_validation = true
    skip_metadata_api_check     = true
    skip_region_validation      = true
  }
}

# moto drops the description of a security-group rule that references another group or a prefix list
# (the ALB's ingress behind CloudFront): without these,
# every plan would show a change that the emulator, not the code, causes.
resource "aws_vpc_security_group_egress_rule" "alb_to_tasks" {
  lifecycle {
    ignore_changes = [description]
  }
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  lifecycle {
    ignore_changes = [description]
  }
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  lifecycle {
    ignore_changes = [description]
  }
}

resource "aws_vpc_security_group_ingress_rule" "tasks_from_alb" {
  lifecycle {
    ignore_changes = [description]
  }
}

resource "aws_vpc_security_group_egress_rule" "tasks_to_db" {
  lifecycle {
    ignore_changes = [description]
  }
}

resource "aws_vpc_security_group_ingress_rule" "db_from_tasks" {
  lifecycle {
    ignore_changes = [description]
  }
}

# moto does not return a DB parameter group's parameters (rds.force_ssl): without this, every plan would
# add them again.
resource "aws_db_parameter_group" "this" {
  lifecycle {
    ignore_changes = [parameter]
  }
}

# moto returns CloudFront fields the configuration does not set (legacy forwarded_values, the default
# certificate flag): ignored here so a re-plan is empty.
resource "aws_cloudfront_distribution" "this" {
  lifecycle {
    ignore_changes = [default_cache_behavior[0].forwarded_values, viewer_certificate[0].cloudfront_default_certificate]
  }
}
