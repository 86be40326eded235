# GitHub Actions deploys with OIDC (no stored keys) and least privilege instead of the guide's
# ec2:*, iam:*, ... on "*". Created only when github_repository is set. Only one GitHub OIDC provider may
# exist per account: set create_github_oidc_provider = false to use the one that already exists.

locals {
  github              = var.github_repository != ""
  github_oidc_url     = "token.actions.githubusercontent.com"
  github_provider_arn = local.github ? (var.create_github_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : "arn:${data.aws_partition.current.partition}:iam::${local.account_id}:oidc-provider/${local.github_oidc_url}") : ""
  # the GitHub environment the deploy job runs in: this stack's environment (staging, production) by default
  github_environment = var.github_environment != null ? var.github_environment : coalesce(var.environment, "production")
  # only the subject that approves: with a GitHub environment, its subject alone (a job on the branch that names
  # no environment gets the ref subject, and must not skip the environment's required reviewers); the branch
  # subject only for a stack that deliberately has no environment (github_environment = "")
  github_subjects = local.github_environment == "" ? ["repo:${var.github_repository}:ref:refs/heads/${var.github_branch}"] : ["repo:${var.github_repository}:environment:${local.github_environment}"]
  github_trusts = merge(
    local.github ? { deploy = local.github_subjects } : {},
    # the read-only diff of a pull request (npm run diff): any pull request of the repository
    local.github ? { diff = ["repo:${var.github_repository}:pull_request"] } : {},
    local.github_infra ? { infra = ["repo:${var.github_repository}:environment:${var.github_infra_environment}"] } : {},
  )
  # one per project, shared by its environments (each has its own key, <name>/terraform.tfstate)
  state_bucket_name = coalesce(var.state_bucket_name, "${var.project_name}-tfstate-${local.account_id}")
}

resource "aws_iam_openid_connect_provider" "github" {
  count = local.github && var.create_github_oidc_provider ? 1 : 0

  url             = "https://${local.github_oidc_url}"
  client_id_list  = ["sts.amazonaws.com"]
  thumbprint_list = ["6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd"]
}

# Who may assume each GitHub role: the deploy role its branch and environment, the infra role only its own
# environment (never the deploy job's subjects).
data "aws_iam_policy_document" "github_trust" {
  for_each = local.github_trusts

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
      values   = each.value
    }
  }
}

resource "aws_iam_role" "github_deploy" {
  count = local.github ? 1 : 0

  name                 = "${local.name}-github-deploy"
  path                 = local.role_path
  description          = "GitHub Actions deploys of ${var.github_repository}: push the image, register the task definition, update ${local.service_name}"
  assume_role_policy   = data.aws_iam_policy_document.github_trust["deploy"].json
  max_session_duration = 3600
  permissions_boundary = local.role_boundary_arn
}

# One source with `npm run iam-policy`: config/iam-deploy-policy.json, rendered with this stack's names.
# It includes the deploy lock (s3 Get/Put/DeleteObject on <project>/locks/*) and reading the outputs.
# The diff's read-only policy (config/iam-diff-policy.json, `npm run iam-policy -- --diff`) takes the same names.
locals {
  github_policy_names = {
    AWS_REGION          = var.aws_region
    ACCOUNT_ID          = local.account_id
    ECR_REPOSITORY      = aws_ecr_repository.app.name
    TASK_FAMILY         = local.task_family
    ECS_CLUSTER         = local.cluster_name
    ECS_SERVICE         = local.service_name
    LOG_GROUP           = aws_cloudwatch_log_group.app.name
    EXECUTION_ROLE_NAME = aws_iam_role.execution.name
    MIGRATION_ROLE_NAME = aws_iam_role.migration_execution.name
    TASK_ROLE_NAME      = aws_iam_role.task.name
    STATE_BUCKET        = local.state_bucket_name
    PROJECT_NAME        = local.name
  }
  github_deploy_policy = jsonencode(jsondecode(templatefile("${path.module}/../config/iam-deploy-policy.json", local.github_policy_names)))
  github_diff_policy   = jsonencode(jsondecode(templatefile("${path.module}/../config/iam-diff-policy.json", local.github_policy_names)))
}

# What a pull request may do: `npm run diff -- --skip-plan` (read the outputs, the service, its task definition and
# the repository's images), nothing else: no state, no secret, no write.
resource "aws_iam_role" "github_diff" {
  count = local.github ? 1 : 0

  name                 = "${local.name}-github-diff"
  path                 = local.role_path
  description          = "GitHub Actions pull requests of ${var.github_repository}: read what a deploy of ${local.service_name} would change"
  assume_role_policy   = data.aws_iam_policy_document.github_trust["diff"].json
  max_session_duration = 3600
  permissions_boundary = local.role_boundary_arn
}

resource "aws_iam_role_policy" "github_diff" {
  count = local.github ? 1 : 0

  name   = "diff-${local.service_name}"
  role   = aws_iam_role.github_diff[0].id
  policy = local.github_diff_policy
}

resource "aws_iam_role_policy" "github_deploy" {
  count = local.github ? 1 : 0

  name   = "deploy-${local.service_name}"
  role   = aws_iam_role.github_deploy[0].id
  policy = local.github_deploy_policy
}

# Optional, separate role for `terraform apply` from CI. It may do what PowerUserAccess allows (everything
# but IAM, Organizations and Account) within its own stack, plus create this stack's roles, and no more:
# - the stack's roles are on their own path (/<name>/), apart from every other stack's and from every infra role;
# - it creates exactly the roles this stack defines, each with the permissions boundary below, so no role it makes
#   can do more than the boundary allows (no IAM writes at all): it cannot make itself or anyone an admin;
# - it never changes a role's trust (no IAM condition can limit the principals a trust policy names) and never
#   deletes a role (to create it again with another trust): those are an administrator's applies;
# - it never changes any infra role (of any stack) or the boundary, and never takes a boundary off a role;
# - it passes this stack's roles only to the services that use them (iam:PassedToService);
# - it reaches only this stack's secrets and, in the state bucket, only this stack's keys;
# - it trusts its own GitHub environment (github_infra_environment, e.g. `infra` with required reviewers),
#   never the deploy job's subjects.
# - in EC2, RDS, ECS and Elastic Load Balancing it never touches a resource tagged as another stack's (the
#   `Project` tag every resource of a stack carries, from default_tags) and never tags one as another stack's.
# What stays account-wide (PowerUserAccess): those services' resources that carry no `Project` tag (another
# tool's), the actions AWS authorises without a resource tag (Describe*, List*), and CloudWatch, WAF and
# CloudFront. terraform/README.md lists them.
# The boundary and this role are created by an administrator's first apply; from then on CI applies as it.
locals {
  github_infra      = local.github && var.create_github_infra_role
  role_boundary_arn = local.github_infra ? aws_iam_policy.role_boundary[0].arn : null
  # the stack's roles: on a path of their own, so no pattern of this stack names another stack's roles
  role_path     = "/${local.name}/"
  role_arn      = "arn:${data.aws_partition.current.partition}:iam::${local.account_id}:role"
  project_roles = "${local.role_arn}${local.role_path}*"
  stack_roles = [for r in concat(
    ["${local.name}-ecs-execution", "${local.name}-ecs-migrate-execution", "${local.name}-ecs-task", "${local.name}-vpc-flow-logs"],
    local.github ? ["${local.name}-github-deploy", "${local.name}-github-diff"] : [],
    local.native_strategy ? [local.ecs_infrastructure_role_name] : [],
  ) : "${local.role_arn}${local.role_path}${r}"]
  github_infra_name = "${local.name}-github-infra"
  github_infra_arn  = "${local.role_arn}/${local.github_infra_name}"
  roles_passed_to   = concat(["ecs-tasks.amazonaws.com", "vpc-flow-logs.amazonaws.com"], local.native_strategy ? ["ecs.amazonaws.com"] : [])
  github_infra_never = [
    "iam:AttachRolePolicy", "iam:CreatePolicyVersion", "iam:CreateRole", "iam:DeletePolicy", "iam:DeletePolicyVersion", "iam:DeleteRole",
    "iam:DeleteRolePolicy", "iam:DetachRolePolicy", "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy",
    "iam:SetDefaultPolicyVersion", "iam:TagPolicy", "iam:TagRole", "iam:UntagPolicy", "iam:UntagRole", "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole", "iam:UpdateRoleDescription",
  ]
  # this stack's secrets (AWS adds six characters to a secret's name in its ARN) and RDS's own master secret
  secret_arn = "arn:${data.aws_partition.current.partition}:secretsmanager:${var.aws_region}:${local.account_id}:secret"
  stack_secrets = concat(
    [for n in [local.app_secret_name, local.db_secret_name, local.db_app_secret_name, "${local.name}/cdn/origin-verify"] : "${local.secret_arn}:${n}-??????"],
    ["${local.secret_arn}:rds!*"],
  )
  # the objects this stack's apply reads and writes: its keys in the state bucket and its ALB log bucket
  stack_objects = [
    "arn:${data.aws_partition.current.partition}:s3:::${local.state_bucket_name}/${local.name}/*",
    "arn:${data.aws_partition.current.partition}:s3:::${local.name}-alb-logs-${local.account_id}/*",
  ]
  # the services whose resources the infra role reaches by their stack tag (aws:ResourceTag / aws:RequestTag)
  stack_tagged_services = ["ec2:*", "rds:*", "ecs:*", "elasticloadbalancing:*"]
}

data "aws_iam_policy_document" "role_boundary" {
  count = local.github_infra ? 1 : 0

  statement {
    sid         = "EverythingButIdentityAndAccount"
    not_actions = ["iam:*", "organizations:*", "account:*"]
    resources   = ["*"]
  }

  statement {
    sid       = "PassOnlyThisProjectsRolesToTheirServices"
    actions   = ["iam:PassRole"]
    resources = [local.project_roles]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = local.roles_passed_to
    }
  }
}

resource "aws_iam_policy" "role_boundary" {
  count = local.github_infra ? 1 : 0

  name        = "${local.name}-role-boundary"
  description = "Permissions boundary of every role of ${local.name}: the most any of them may do"
  policy      = data.aws_iam_policy_document.role_boundary[0].json
}

resource "aws_iam_role" "github_infra" {
  count = local.github_infra ? 1 : 0

  name               = local.github_infra_name
  description        = "GitHub Actions terraform apply of ${var.github_repository} (environment ${var.github_infra_environment})"
  assume_role_policy = data.aws_iam_policy_document.github_trust["infra"].json
}

resource "aws_iam_role_policy_attachment" "github_infra" {
  count = local.github_infra ? 1 : 0

  role       = aws_iam_role.github_infra[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/PowerUserAccess"
}

data "aws_iam_policy_document" "github_infra_iam" {
  count = local.github_infra ? 1 : 0

  statement {
    sid       = "CreateExactlyTheStacksRolesWithTheBoundary"
    actions   = ["iam:CreateRole"]
    resources = local.stack_roles

    condition {
      test     = "StringEquals"
      variable = "iam:PermissionsBoundary"
      values   = [local.role_boundary_arn]
    }
  }

  statement {
    sid = "ChangeTheStacksRolePoliciesOnlyWithTheBoundary"
    actions = [
      "iam:AttachRolePolicy", "iam:DeleteRolePolicy", "iam:DetachRolePolicy", "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy",
    ]
    resources = [local.project_roles]

    condition {
      test     = "StringEquals"
      variable = "iam:PermissionsBoundary"
      values   = [local.role_boundary_arn]
    }
  }

  statement {
    sid = "ReadAndTagTheStacksRoles"
    actions = [
      "iam:GetRole", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole", "iam:ListRolePolicies",
      "iam:TagRole", "iam:UntagRole", "iam:UpdateRole", "iam:UpdateRoleDescription",
    ]
    resources = [local.project_roles]
  }

  statement {
    sid       = "PassThisProjectsRolesOnlyToTheirServices"
    actions   = ["iam:PassRole"]
    resources = [local.project_roles]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = local.roles_passed_to
    }
  }

  statement {
    sid       = "ReadItself"
    actions   = ["iam:GetRole", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole", "iam:ListRolePolicies"]
    resources = [local.github_infra_arn]
  }

  statement {
    sid       = "ReadTheBoundary"
    actions   = ["iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyVersions"]
    resources = [local.role_boundary_arn]
  }

  statement {
    sid       = "ReadTheGitHubProvider"
    actions   = ["iam:GetOpenIDConnectProvider"]
    resources = [local.github_provider_arn]
  }

  # no IAM condition limits the principals a trust policy names: a trust is changed, and a role deleted (to be
  # created again with another trust), by an administrator's apply only
  statement {
    sid       = "NeverChangeATrustOrDeleteARole"
    effect    = "Deny"
    actions   = ["iam:UpdateAssumeRolePolicy", "iam:DeleteRole"]
    resources = ["*"]
  }

  statement {
    sid       = "NeverChangeAnyInfraRoleOrTheBoundary"
    effect    = "Deny"
    actions   = local.github_infra_never
    resources = ["${local.role_arn}/*-github-infra", "${local.role_arn}/*/*-github-infra", local.role_boundary_arn]
  }

  statement {
    sid       = "NeverTakeTheBoundaryOff"
    effect    = "Deny"
    actions   = ["iam:DeleteRolePermissionsBoundary"]
    resources = ["*"]
  }

  # PowerUserAccess is account-wide: another stack's secrets and state stay out of reach
  statement {
    sid    = "OnlyThisStacksSecrets"
    effect = "Deny"
    # every action on a secret (GetRandomPassword and ListSecrets name none)
    actions = [
      "secretsmanager:BatchGetSecretValue", "secretsmanager:CancelRotateSecret", "secretsmanager:CreateSecret", "secretsmanager:DeleteResourcePolicy",
      "secretsmanager:DeleteSecret", "secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy", "secretsmanager:GetSecretValue",
      "secretsmanager:ListSecretVersionIds", "secretsmanager:PutResourcePolicy", "secretsmanager:PutSecretValue",
      "secretsmanager:RemoveRegionsFromReplication", "secretsmanager:ReplicateSecretToRegions", "secretsmanager:RestoreSecret",
      "secretsmanager:RotateSecret", "secretsmanager:StopReplicationToReplica", "secretsmanager:TagResource", "secretsmanager:UntagResource",
      "secretsmanager:UpdateSecret", "secretsmanager:UpdateSecretVersionStage", "secretsmanager:ValidateResourcePolicy",
    ]
    not_resources = local.stack_secrets
  }

  statement {
    sid       = "NeverReadRdsManagedSecrets"
    effect    = "Deny"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecret", "secretsmanager:PutResourcePolicy"]
    resources = ["${local.secret_arn}:rds!*"]
  }

  # EC2, RDS, ECS and ELB resources have no per-stack names to scope by; every one a stack creates carries its
  # `Project` tag (default_tags): one tagged as another stack's is out of reach, and none is tagged as another's
  statement {
    sid       = "NeverTouchAnotherStacksResources"
    effect    = "Deny"
    actions   = local.stack_tagged_services
    resources = ["*"]

    condition {
      test     = "Null"
      variable = "aws:ResourceTag/Project"
      values   = ["false"]
    }

    condition {
      test     = "StringNotEquals"
      variable = "aws:ResourceTag/Project"
      values   = [local.name]
    }
  }

  statement {
    sid       = "NeverTagAsAnotherStack"
    effect    = "Deny"
    actions   = local.stack_tagged_services
    resources = ["*"]

    condition {
      test     = "Null"
      variable = "aws:RequestTag/Project"
      values   = ["false"]
    }

    condition {
      test     = "StringNotEquals"
      variable = "aws:RequestTag/Project"
      values   = [local.name]
    }
  }

  statement {
    sid           = "OnlyThisStacksObjects"
    effect        = "Deny"
    actions       = ["s3:GetObject*", "s3:PutObject*", "s3:DeleteObject*", "s3:RestoreObject"]
    not_resources = local.stack_objects
  }
}

resource "aws_iam_role_policy" "github_infra_iam" {
  count = local.github_infra ? 1 : 0

  name   = "manage-${local.name}-roles"
  role   = aws_iam_role.github_infra[0].id
  policy = data.aws_iam_policy_document.github_infra_iam[0].json
}
