# GitHub Actions deploys with OIDC (no stored keys) and least privilege instead of the guide's
# ec2:*, iam:*, ... on "*". Created only when github_repository is set. Only one GitHub OIDC provider may
# exist per account: set create_github_oidc_provider = false to use the one that already exists.

locals {
  github              = var.github_repository != ""
  github_oidc_url     = "token.actions.githubusercontent.com"
  github_provider_arn = local.github ? (var.create_github_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : "arn:${data.aws_partition.current.partition}:iam::${local.account_id}:oidc-provider/${local.github_oidc_url}") : ""
  github_subjects = concat(
    ["repo:${var.github_repository}:ref:refs/heads/${var.github_branch}"],
    var.github_environment == "" ? [] : ["repo:${var.github_repository}:environment:${var.github_environment}"],
  )
  state_bucket_name = coalesce(var.state_bucket_name, "${local.name}-tfstate-${local.account_id}")
}

resource "aws_iam_openid_connect_provider" "github" {
  count = local.github && var.create_github_oidc_provider ? 1 : 0

  url             = "https://${local.github_oidc_url}"
  client_id_list  = ["sts.amazonaws.com"]
  thumbprint_list = ["6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd"]
}

data "aws_iam_policy_document" "github_trust" {
  count = local.github ? 1 : 0

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.github_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.github_oidc_url}:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.github_oidc_url}:sub"
      values   = local.github_subjects
    }
  }
}

resource "aws_iam_role" "github_deploy" {
  count = local.github ? 1 : 0

  name                 = "${local.name}-github-deploy"
  description          = "GitHub Actions deploys of ${var.github_repository}: push the image, register the task definition, update ${local.service_name}"
  assume_role_policy   = data.aws_iam_policy_document.github_trust[0].json
  max_session_duration = 3600
}

# One source with `npm run iam-policy`: config/iam-deploy-policy.json, rendered with this stack's names.
# It includes the deploy lock (s3 Get/Put/DeleteObject on <project>/locks/*) and reading the outputs.
locals {
  github_deploy_policy = jsonencode(jsondecode(templatefile("${path.module}/../config/iam-deploy-policy.json", {
    AWS_REGION          = var.aws_region
    ACCOUNT_ID          = local.account_id
    ECR_REPOSITORY      = aws_ecr_repository.app.name
    TASK_FAMILY         = local.task_family
    ECS_CLUSTER         = local.cluster_name
    ECS_SERVICE         = local.service_name
    LOG_GROUP           = aws_cloudwatch_log_group.app.name
    EXECUTION_ROLE_NAME = aws_iam_role.execution.name
    TASK_ROLE_NAME      = aws_iam_role.task.name
    STATE_BUCKET        = local.state_bucket_name
    PROJECT_NAME        = local.name
  })))
}

resource "aws_iam_role_policy" "github_deploy" {
  count = local.github ? 1 : 0

  name   = "deploy-${local.service_name}"
  role   = aws_iam_role.github_deploy[0].id
  policy = local.github_deploy_policy
}

# Optional, separate role for `terraform apply` from CI (broad by nature; keep it off unless needed).
resource "aws_iam_role" "github_infra" {
  count = local.github && var.create_github_infra_role ? 1 : 0

  name               = "${local.name}-github-infra"
  description        = "GitHub Actions terraform apply of ${var.github_repository}"
  assume_role_policy = data.aws_iam_policy_document.github_trust[0].json
}

resource "aws_iam_role_policy_attachment" "github_infra" {
  count = local.github && var.create_github_infra_role ? 1 : 0

  role       = aws_iam_role.github_infra[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/PowerUserAccess"
}

data "aws_iam_policy_document" "github_infra_iam" {
  count = local.github && var.create_github_infra_role ? 1 : 0

  statement {
    sid = "ManageOnlyThisProjectsRoles"
    actions = [
      "iam:AttachRolePolicy", "iam:CreateRole", "iam:DeleteRole", "iam:DeleteRolePolicy", "iam:DetachRolePolicy", "iam:GetRole",
      "iam:GetRolePolicy", "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole", "iam:ListRolePolicies", "iam:PassRole",
      "iam:PutRolePolicy", "iam:TagRole", "iam:UntagRole", "iam:UpdateAssumeRolePolicy", "iam:UpdateRole",
    ]
    resources = ["arn:${data.aws_partition.current.partition}:iam::${local.account_id}:role/${local.name}-*"]
  }

  statement {
    sid       = "ReadTheGitHubProvider"
    actions   = ["iam:GetOpenIDConnectProvider"]
    resources = [local.github_provider_arn]
  }
}

resource "aws_iam_role_policy" "github_infra_iam" {
  count = local.github && var.create_github_infra_role ? 1 : 0

  name   = "manage-${local.name}-roles"
  role   = aws_iam_role.github_infra[0].id
  policy = data.aws_iam_policy_document.github_infra_iam[0].json
}
