terraform {
  required_version = ">= 1.11.0" # write-only arguments (password_wo, secret_string_wo); the S3 backend's use_lockfile needs 1.10

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # Remote state in S3 with native locking (use_lockfile). Bucket, key and region are passed by
  # `npm run step:3` (terraform init -backend-config=...), which creates the bucket if it is missing.
  backend "s3" {}
}
