variable "acm_certificate_arn" {
  description = "ACM certificate for the HTTPS listener (guide: must edit, optional). Empty with a domain_name: one is requested and validated through Route53."
  type        = string
  default     = ""

  validation {
    condition     = var.acm_certificate_arn == "" || can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]{36}$", var.acm_certificate_arn))
    error_message = "acm_certificate_arn must be empty or arn:aws:acm:<region>:<12-digit account>:certificate/<uuid>."
  }
}

variable "alarm_email" {
  description = "E-mail address that receives the alarms (guide: must edit). Empty: no subscription."
  type        = string
  default     = ""

  validation {
    condition     = var.alarm_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be an e-mail address such as ops@example.com."
  }
}

variable "alb_deletion_protection" {
  description = "Protect the load balancer from deletion (ELB.6). Turn off only to destroy the stack."
  type        = bool
  default     = true
}

variable "app_secret_name" {
  description = "Secrets Manager name of the app's environment JSON (required: npm run step:3 passes it from .env, where it defaults to <project>/app/env)."
  type        = string
  nullable    = false
}

variable "autoscaling_cpu_target" {
  description = "Average CPU utilisation (%) the target-tracking policy keeps the service at."
  type        = number
  default     = 70

  validation {
    condition     = var.autoscaling_cpu_target >= 10 && var.autoscaling_cpu_target <= 90
    error_message = "autoscaling_cpu_target must be from 10 to 90 (%)."
  }
}

variable "autoscaling_max_capacity" {
  description = "Upper bound of the service's task count under autoscaling."
  type        = number
  default     = 4

  validation {
    condition     = var.autoscaling_max_capacity >= 1 && var.autoscaling_max_capacity <= 100
    error_message = "autoscaling_max_capacity must be from 1 to 100."
  }
}

variable "autoscaling_min_capacity" {
  description = "Lower bound of the service's task count under autoscaling."
  type        = number
  default     = 1

  validation {
    condition     = var.autoscaling_min_capacity >= 0 && var.autoscaling_min_capacity <= 100
    error_message = "autoscaling_min_capacity must be from 0 to 100."
  }
}

variable "aws_region" {
  description = "Region of the stack (guide: us-east-1)."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must be a region code such as us-east-1."
  }
}

variable "container_name" {
  description = "Container name in the task definition (required: npm run step:3 passes it from .env, where it defaults to <project>-app)."
  type        = string
  nullable    = false
}

variable "container_port" {
  description = "Port the app listens on (guide: 3000)."
  type        = number
  default     = 3000

  validation {
    condition     = var.container_port >= 1 && var.container_port <= 65535 && floor(var.container_port) == var.container_port
    error_message = "container_port must be a whole number from 1 to 65535."
  }
}

variable "container_user" {
  description = "User the container runs as (ECS.20: not root)."
  type        = string
  default     = "1000:1000"

  validation {
    # user or user:group; the user part decides (0:1000 and root:root run as root too)
    condition     = !contains(["root", "0"], split(":", var.container_user)[0]) && can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$", var.container_user))
    error_message = "container_user must not be root (ECS.20): its user part (before \":\") may be neither root nor 0."
  }
}

variable "cpu_alarm_name" {
  description = "Name of the guide's CPU alarm (required: npm run step:3 passes it from .env, where it defaults to <project>-high-cpu)."
  type        = string
  nullable    = false
}

variable "create_github_infra_role" {
  description = "Also create <project>-github-infra for `terraform apply` from CI (PowerUserAccess + this project's roles, each with the <project>-role-boundary permissions boundary)."
  type        = bool
  default     = false
}

variable "create_github_oidc_provider" {
  description = "Create the GitHub OIDC provider. Only one may exist per account: false uses the existing one."
  type        = bool
  default     = true
}

variable "dashboard_name" {
  description = "CloudWatch dashboard name (required: npm run step:3 passes it from .env, where it defaults to <project>-dashboard)."
  type        = string
  nullable    = false
}

variable "db_allocated_storage" {
  description = "Initial RDS storage in GiB (grows automatically up to db_max_allocated_storage)."
  type        = number
  default     = 20

  validation {
    condition     = var.db_allocated_storage >= 20 && var.db_allocated_storage <= 65536
    error_message = "db_allocated_storage must be from 20 to 65536 GiB."
  }
}

variable "db_app_password" {
  description = "Password of the app's database user. Leave null (recommended): one is generated. Like db_password it is ephemeral and reaches Secrets Manager through a write-only argument only; raise db_app_password_version to apply a new one."
  type        = string
  default     = null
  sensitive   = true
  ephemeral   = true

  validation {
    condition     = var.db_app_password == null || can(regex("^[!-~]{16,128}$", var.db_app_password)) && !can(regex("[/@\"'\\\\]", var.db_app_password))
    error_message = "db_app_password must be 16-128 printable characters without /, @, quotes or backslashes (or null: one is generated)."
  }
}

variable "db_app_password_version" {
  description = "Version of the app database user's generated password: raise it (2, 3, …) to store a new one, then deploy: step 6 sets the role's password, then starts tasks that read the new one."
  type        = number
  default     = 1

  validation {
    condition     = var.db_app_password_version >= 1 && floor(var.db_app_password_version) == var.db_app_password_version
    error_message = "db_app_password_version must be a whole number from 1."
  }
}

variable "db_app_secret_name" {
  description = "Secrets Manager name of the app database user's credentials (required: npm run step:3 passes it from .env, where it defaults to <project>/db/app)."
  type        = string
  nullable    = false
}

variable "db_app_username" {
  description = "Database user the app connects as (db_connect_as = app), created by step 6 (default <db_username>_app). Not the master user."
  type        = string
  default     = ""

  validation {
    condition     = var.db_app_username == "" || (can(regex("^[a-zA-Z][a-zA-Z0-9_]{0,62}$", var.db_app_username)) && !contains(["admin", "postgres", "rdsadmin", lower(var.db_username)], lower(var.db_app_username)))
    error_message = "db_app_username must start with a letter, hold letters, digits or _, and be neither a reserved name (admin, postgres, rdsadmin) nor the master user (db_username)."
  }
}

variable "db_backup_retention_days" {
  description = "Days of automated RDS backups (RDS.11: at least 7)."
  type        = number
  default     = 7

  validation {
    condition     = var.db_backup_retention_days >= 7 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days must be from 7 to 35 (RDS.11)."
  }
}

variable "db_deletion_protection" {
  description = "Protect the database from deletion (RDS.8). Turn off only to destroy the stack."
  type        = bool
  default     = true
}

variable "db_engine_version" {
  description = "PostgreSQL major (or major.minor) version: 13 to 17, which RDS supports (the parameter group family follows the major)."
  type        = string
  default     = "16"

  validation {
    condition     = can(regex("^(1[3-7])(\\.[0-9]+)?$", var.db_engine_version))
    error_message = "db_engine_version must be a PostgreSQL major RDS supports, 13 to 17, optionally with a minor (e.g. \"16\" or \"16.4\")."
  }
}

variable "db_identifier" {
  description = "RDS instance identifier (required: npm run step:3 passes it from .env, where it defaults to <project>-db)."
  type        = string
  nullable    = false
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.micro"

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.db_instance_class))
    error_message = "db_instance_class must look like db.t4g.micro."
  }
}

variable "db_max_allocated_storage" {
  description = "Storage autoscaling ceiling in GiB."
  type        = number
  default     = 100
}

variable "db_multi_az" {
  description = "Standby in a second AZ (RDS.5). Doubles the database cost."
  type        = bool
  default     = false
}

variable "db_name" {
  description = "Name of the application database."
  type        = string
  default     = "llmops"

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9_]{0,62}$", var.db_name))
    error_message = "db_name must start with a letter and hold letters, digits or _ (max 63)."
  }
}

variable "db_password" {
  description = "Master password (guide: must edit). Leave null (recommended) and RDS manages it in Secrets Manager. When given, it is ephemeral and reaches RDS and Secrets Manager through write-only arguments only: never the state or a saved plan. Needs db_password_version."
  type        = string
  default     = null
  sensitive   = true
  ephemeral   = true

  validation {
    condition     = var.db_password == null || can(regex("^[!-~]{8,128}$", var.db_password)) && !can(regex("[/@\"]", var.db_password))
    error_message = "db_password must be 8-128 printable characters without /, @ or \" (or null to let RDS manage it)."
  }

  # Without its version a given password would be dropped silently (RDS would manage one instead), and a
  # version without a password would leave RDS with none.
  validation {
    condition     = (var.db_password == null) == (var.db_password_version == null)
    error_message = "db_password and db_password_version go together: with a db_password set db_password_version = 1 (raise it to apply a new password), or leave both unset and RDS manages the password."
  }
}

variable "db_password_version" {
  description = "Set (1, 2, …) when db_password is given: a write-only password is sent again only when this changes, so raise it to apply a new db_password. Null: RDS manages the password."
  type        = number
  default     = null

  validation {
    condition     = var.db_password_version == null || try(var.db_password_version >= 1 && floor(var.db_password_version) == var.db_password_version, false)
    error_message = "db_password_version must be a whole number from 1 (or null when RDS manages the password)."
  }
}

variable "db_secret_name" {
  description = "Secrets Manager name of the DB password when db_password is set (required: npm run step:3 passes it from .env, where it defaults to <project>/db/password)."
  type        = string
  nullable    = false
}

variable "db_username" {
  description = "Master user name."
  type        = string
  default     = "llmops"

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9_]{0,62}$", var.db_username)) && !contains(["admin", "postgres", "rdsadmin"], lower(var.db_username))
    error_message = "db_username must start with a letter, hold letters, digits or _, and not be a reserved name (admin, postgres, rdsadmin)."
  }
}

variable "domain_name" {
  description = "Custom domain for the app (guide: must edit, optional). Needs hosted_zone_id."
  type        = string
  default     = ""

  validation {
    condition     = var.domain_name == "" || can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain_name))
    error_message = "domain_name must be empty or a lowercase domain such as app.example.com."
  }
}

variable "ecr_force_delete" {
  description = "Let `terraform destroy` delete the ECR repository with its images."
  type        = bool
  default     = false
}

variable "ecr_keep_images" {
  description = "Tagged images the ECR lifecycle policy keeps (rollback inventory: keep more than the releases you may roll back to)."
  type        = number
  default     = 30

  validation {
    condition     = var.ecr_keep_images >= 5
    error_message = "ecr_keep_images must be at least 5, or rollback loses its images."
  }
}

variable "ecr_repository_name" {
  description = "ECR repository (required: npm run step:3 passes it from .env, where it defaults to <project>-system, the guide's llmops-system)."
  type        = string
  nullable    = false
}

variable "ecs_cluster_name" {
  description = "ECS cluster (required: npm run step:3 passes it from .env, where it defaults to <project>-cluster)."
  type        = string
  nullable    = false
}

variable "ecs_service_name" {
  description = "ECS service (required: npm run step:3 passes it from .env, where it defaults to <project>-service)."
  type        = string
  nullable    = false
}

variable "enable_autoscaling" {
  description = "Create the Application Auto Scaling target and the CPU target-tracking policy."
  type        = bool
  default     = true
}

variable "allow_plain_http" {
  description = "Serve the app over plain HTTP when there is no certificate (no domain_name, no acm_certificate_arn). Off: such a plan stops and says how to get HTTPS. The sandbox opts in."
  type        = bool
  default     = false
}

variable "deployment_alarms" {
  description = "Roll a deployment back when its targets answer 5xx (5 or more in a minute), fail health checks, or slow down (over 2 s on average for a minute): ECS's deployment alarms, which step 7's bake reads too (monitoring.tf)."
  type        = bool
  default     = true
}

variable "enable_waf" {
  description = "WAFv2 on the ALB (and on CloudFront when it is on): AWS managed Common and KnownBadInputs rules and a per-IP rate limit (waf.tf)."
  type        = bool
  default     = true
}

variable "waf_mode" {
  description = "block: the WAF rules block what they match; count: they only count it (watch the dashboard first, then block)."
  type        = string
  default     = "block"

  validation {
    condition     = contains(["block", "count"], var.waf_mode)
    error_message = "waf_mode must be block or count."
  }
}

variable "waf_rate_limit" {
  description = "Requests one client IP may send in any 5 minutes before the WAF rate rule blocks it."
  type        = number
  default     = 2000

  validation {
    condition     = var.waf_rate_limit >= 10 && var.waf_rate_limit <= 2000000000
    error_message = "waf_rate_limit must be between 10 and 2000000000 requests per 5 minutes."
  }
}

variable "enable_cloudfront" {
  description = "Put CloudFront in front of the ALB (needs domain_name)."
  type        = bool
  default     = false
}

variable "github_branch" {
  description = "The branch whose workflow runs may assume the deploy role."
  type        = string
  default     = "main"
}

variable "github_environment" {
  description = "The GitHub environment the deploy job runs in (.github/workflows/deploy-environment.yml); only its jobs may assume the deploy role (the branch subject is not trusted then: a job naming no environment would skip its reviewers). Null (default): this stack's environment, else production. Empty: no environment, the branch subject alone (then the branch protection rule is what protects the deploy)."
  type        = string
  default     = null
}

variable "github_infra_environment" {
  description = "The GitHub environment whose jobs may assume the infra role (create_github_infra_role); give it required reviewers. Never the deploy job's environment."
  type        = string
  default     = "infra"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+$", var.github_infra_environment))
    error_message = "github_infra_environment must be a GitHub environment name (letters, digits, _ . -)."
  }

  validation {
    condition     = var.github_infra_environment != coalesce(var.github_environment, var.environment, "production")
    error_message = "github_infra_environment must differ from github_environment: the deploy job must never be able to assume the infra role."
  }
}

variable "github_repository" {
  description = "OWNER/REPO allowed to deploy through GitHub OIDC (empty: no GitHub role)."
  type        = string
  default     = ""

  validation {
    condition     = var.github_repository == "" || can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be OWNER/REPO (no wildcards: the trust policy pins it)."
  }
}

variable "health_check_grace_period_seconds" {
  description = "Seconds ECS ignores failing ALB health checks of a new task (app start-up time)."
  type        = number
  default     = 30

  validation {
    condition     = var.health_check_grace_period_seconds >= 0 && var.health_check_grace_period_seconds <= 600
    error_message = "health_check_grace_period_seconds must be from 0 to 600."
  }
}

variable "health_check_path" {
  description = "Path the ALB probes (guide's app: /health)."
  type        = string
  default     = "/health"

  validation {
    condition     = startswith(var.health_check_path, "/")
    error_message = "health_check_path must start with /."
  }
}

variable "hosted_zone_id" {
  description = "Route53 hosted zone serving domain_name."
  type        = string
  default     = ""

  validation {
    condition     = var.hosted_zone_id == "" || can(regex("^[A-Z0-9]{2,32}$", var.hosted_zone_id))
    error_message = "hosted_zone_id must be empty or a zone id such as Z0123456789ABCDEFGHIJ."
  }
}

variable "log_group_name" {
  description = "Log group of the tasks (required: npm run step:3 passes it from .env, where it defaults to /ecs/<task family>)."
  type        = string
  nullable    = false
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps logs (CKV_AWS_66)."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "project_name" {
  description = "Prefix every name derives from (guide: llmops)."
  type        = string
  default     = "llmops"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,23}$", var.project_name))
    error_message = "project_name must be 2-24 lowercase letters, digits or -, starting with a letter."
  }
}

variable "environment" {
  description = "One of several stacks side by side (staging, production): every name becomes <project_name>-<environment>-*. Null: one stack named by project_name alone. The state bucket stays <project_name>-tfstate-<account>."
  type        = string
  default     = null

  validation {
    condition     = var.environment == null || can(regex("^[a-z][a-z0-9]{0,11}$", var.environment))
    error_message = "environment must be 1-12 lowercase letters or digits, starting with a letter (or null for a single stack)."
  }

  validation {
    condition     = var.environment == null || length("${var.project_name}-${coalesce(var.environment, "x")}") <= 24
    error_message = "project_name-environment must be at most 24 characters: AWS limits the names derived from it (target group, load balancer)."
  }
}

variable "scaling_policy_name" {
  description = "Target-tracking policy name (required: npm run step:3 passes it from .env, where it defaults to <project>-cpu-scaling)."
  type        = string
  nullable    = false
}

variable "secret_recovery_window_days" {
  description = "Days a deleted secret can be restored (0 deletes at once: sandbox only)."
  type        = number
  default     = 7

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or from 7 to 30."
  }
}

variable "secrets_kms_key_arn" {
  description = "Customer managed KMS key that encrypts the stack's secrets (the app's environment, the database users' secrets, the origin header). Empty: Secrets Manager's AWS managed key. Its key policy must let this account's IAM policies grant its use; the execution roles get kms:Decrypt through Secrets Manager only."
  type        = string
  default     = ""

  validation {
    condition     = var.secrets_kms_key_arn == "" || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$", var.secrets_kms_key_arn))
    error_message = "secrets_kms_key_arn must be empty or a key ARN: arn:aws:kms:<region>:<12-digit account>:key/<key id> (not an alias)."
  }
}

variable "service_initial_desired_count" {
  description = "Tasks when the service is created. 0: nothing runs until step 6 deploys the first image (the scripts and autoscaling own the count afterwards)."
  type        = number
  default     = 0

  validation {
    condition     = var.service_initial_desired_count >= 0 && var.service_initial_desired_count <= 100
    error_message = "service_initial_desired_count must be from 0 to 100."
  }
}

variable "sns_topic_name" {
  description = "SNS topic the alarms notify (required: npm run step:3 passes it from .env, where it defaults to <project>-alerts)."
  type        = string
  nullable    = false
}

variable "state_bucket_name" {
  description = "The Terraform state bucket the deploy role may read outputs from (default <project>-tfstate-<account>)."
  type        = string
  default     = ""
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}

  validation {
    # the infra role reaches EC2, RDS, ECS and ELB resources by their Project tag (github.tf)
    condition     = !contains([for k in keys(var.tags) : lower(k)], "project")
    error_message = "tags must not set Project: every resource carries Project = <project_name>[-<environment>] (the stack's name), and the infra role reaches only the resources tagged with its own stack's name."
  }
}

variable "target_group_name" {
  description = "ALB target group (required: npm run step:3 passes it from .env, where it defaults to <project>-targets; max 32 characters)."
  type        = string
  nullable    = false

  validation {
    condition     = length(var.target_group_name) <= 32
    error_message = "target_group_name must be at most 32 characters."
  }
}

variable "cpu_architecture" {
  description = "CPU architecture of the tasks: X86_64 (default) or ARM64 (Graviton); the image is built for it (PLATFORM)."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "task_cpu" {
  description = "Fargate CPU units (guide: 512)."
  type        = number
  default     = 512

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.task_cpu)
    error_message = "task_cpu must be a Fargate size: 256, 512, 1024, 2048, 4096, 8192 or 16384."
  }
}

variable "task_family" {
  description = "Task definition family (required: npm run step:3 passes it from .env, where it defaults to <project>-task)."
  type        = string
  nullable    = false
}

variable "task_memory" {
  description = "Fargate memory in MiB (guide: 1024); must be valid for task_cpu (checked by a precondition on the task definition)."
  type        = number
  default     = 1024

  validation {
    condition     = var.task_memory >= 512 && var.task_memory <= 122880
    error_message = "task_memory must be from 512 to 122880 MiB."
  }
}

variable "vpc_cidr" {
  description = "CIDR of the VPC; subnets are carved from it."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) <= 20
    error_message = "vpc_cidr must be a CIDR block of /20 or larger."
  }
}

variable "db_connect_as" {
  description = "Whom the service connects to the database as (npm run step:3 passes DB_CONNECT_AS): app (the default), its own user db_app_username, which step 6 creates or whose password it sets as a one-off task with the migration's execution role, the only role that reads the master user's secret; or master (the guide's way: the service's execution role reads the master's secret)."
  type        = string
  default     = "app"
  validation {
    condition     = contains(["app", "master"], var.db_connect_as)
    error_message = "db_connect_as must be app (the service connects as its own database user) or master (the guide's way)."
  }
}

variable "db_ssl_mode" {
  description = "How the tasks' PostgreSQL clients check the database (PGSSLMODE): verify-full (TLS, the certificate checked against db_ca_bundle and its name against the endpoint), verify-ca, or require (TLS that checks nothing). npm run step:3 passes DB_SSL_MODE."
  type        = string
  default     = "verify-full"
  validation {
    condition     = contains(["verify-full", "verify-ca", "require"], var.db_ssl_mode)
    error_message = "db_ssl_mode must be verify-full, verify-ca or require (the database refuses connections without TLS)."
  }
}

variable "db_ca_bundle" {
  description = "Absolute path, inside the image, of the RDS CA bundle (PGSSLROOTCERT), e.g. from https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem. npm run step:3 passes DB_CA_BUNDLE."
  type        = string
  default     = "/etc/ssl/certs/rds-global-bundle.pem"
  validation {
    condition     = can(regex("^/[A-Za-z0-9_.+/-]{1,1000}$", var.db_ca_bundle))
    error_message = "db_ca_bundle must be an absolute path inside the image, such as /etc/ssl/certs/rds-global-bundle.pem."
  }
}

variable "enable_execute_command" {
  description = "ECS Exec (npm run exec): a shell or one command in a running task. Off by default; on, the task role may open SSM message channels and the service starts its tasks with the agent"
  type        = bool
  default     = false
}

variable "deployment_strategy" {
  description = "How ECS deploys a release: rolling (the default: new tasks replace old ones behind one target group), or one of ECS's native strategies, blue-green, canary or linear: the new release starts in a second target group and ECS shifts the production listener rule's traffic to it (all at once, a share first, or in steps), bakes, then stops the old one (deploy.tf). Step 6 sets the strategy's numbers on the service through the ECS API (CANARY_PERCENT, LINEAR_STEP_PERCENT, TRAFFIC_STEP_MINUTES, BAKE_SECONDS): this provider version cannot."
  type        = string
  default     = "rolling"

  validation {
    condition     = contains(["rolling", "blue-green", "canary", "linear"], var.deployment_strategy)
    error_message = "deployment_strategy must be rolling, blue-green, canary or linear."
  }
}
