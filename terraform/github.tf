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
  state_bucket_arn = "arn:${data.aws_partition.current.partition}:s3:::${coalesce(var.state_bucket_name, "${local.name}-tfstate-${local.account_id}")}"
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

data "aws_iam_policy_document" "github_deploy" {
  count = local.github ? 1 : 0

  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # this action has no resource-level permissions
  }

  statement {
    sid = "PushAndReadTheOneRepository"
    actions = [
      "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload", "ecr:DescribeImages",
      "ecr:GetDownloadUrlForLayer", "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart",
    ]
    resources = [aws_ecr_repository.app.arn]
  }

  statement {
    sid       = "TaskDefinitions"
    actions   = ["ecs:DescribeTaskDefinition", "ecs:ListTaskDefinitions", "ecs:RegisterTaskDefinition"]
    resources = ["*"] # these actions have no resource-level permissions
  }

  statement {
    sid       = "TagTheReleaseRecord"
    actions   = ["ecs:TagResource"]
    resources = ["arn:${data.aws_partition.current.partition}:ecs:${var.aws_region}:${local.account_id}:task-definition/${local.task_family}:*"]

    condition {
      test     = "StringEquals"
      variable = "ecs:CreateAction"
      values   = ["RegisterTaskDefinition"]
    }
  }

  statement {
    sid       = "TheOneService"
    actions   = ["ecs:DescribeServices", "ecs:UpdateService"]
    resources = [aws_ecs_service.app.id]
  }

  statement {
    sid       = "FollowTheDeployment"
    actions   = ["ecs:DescribeTasks", "ecs:ListTasks"]
    resources = ["*"]

    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.this.arn]
    }
  }

  statement {
    sid       = "TargetHealth"
    actions   = ["elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth"]
    resources = ["*"] # Describe* actions have no resource-level permissions
  }

  statement {
    sid       = "ReadTheAppLogs"
    actions   = ["logs:FilterLogEvents", "logs:GetLogEvents"]
    resources = ["${aws_cloudwatch_log_group.app.arn}:*"]
  }

  statement {
    sid       = "PassOnlyTheTaskRolesToEcs"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.execution.arn, aws_iam_role.task.arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  statement {
    sid       = "ReadTerraformOutputs"
    actions   = ["s3:GetObject"]
    resources = ["${local.state_bucket_arn}/${local.name}/terraform.tfstate"]
  }

  statement {
    sid       = "ListTheStateBucket"
    actions   = ["s3:ListBucket"]
    resources = [local.state_bucket_arn]
  }
}

resource "aws_iam_role_policy" "github_deploy" {
  count = local.github ? 1 : 0

  name   = "deploy-${local.service_name}"
  role   = aws_iam_role.github_deploy[0].id
  policy = data.aws_iam_policy_document.github_deploy[0].json
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
