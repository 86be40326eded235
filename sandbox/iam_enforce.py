"""IAM evaluation with resource ARNs and condition keys, for the actions the deploy toolkit calls.

moto enforces IAM (INITIAL_NO_AUTH_ACTION_COUNT) with real resource ARNs only for S3, IAM, STS and SQS; for
other services every statement is matched against resource "*", its conditions see only sts:ExternalId,
a condition on a missing key holds, an unknown operator is ignored, and an Allow whose condition fails is
an explicit deny. That would prove nothing about a least-privilege policy. install() patches moto so that:

- each request is checked as the AWS request context would have it: the ECS service ARN for
  UpdateService / DescribeServices, `ecs:cluster` for ListTasks / DescribeTasks, the task definition ARN
  for RunTask and the task ARN for StopTask / ExecuteCommand (with `ecs:cluster`), the log group ARN for
  FilterLogEvents / GetLogEvents, the repository ARN for ECR, and the implied authorisations of
  RegisterTaskDefinition: `iam:PassRole` on each role it names with `iam:PassedToService`, and
  `ecs:TagResource` with `ecs:CreateAction` when it carries tags; a TagResource / UntagResource of its own
  names its resource ARN and carries no `ecs:CreateAction`;
- EC2, RDS, ECS and Elastic Load Balancing requests carry `aws:ResourceTag/<key>` (the tags, in moto's
  backend, of the resource they name: a security group, VPC or subnet; a DB instance; a cluster or service;
  a load balancer, target group or listener) and `aws:RequestTag/<key>` (the tags they set), so a statement
  conditioned on a stack's tag means what it says;
- conditions use StringEquals / StringNotEquals / StringLike / ArnEquals / ArnLike / Null; a missing key does
  not hold (but for StringNotEquals, which holds, and Null, which tests it), nor does an unknown operator; a
  statement whose condition does not hold does not apply (neither allows nor denies);
- IAM requests carry the role ARN (also before the role exists), `iam:PermissionsBoundary` and
  `iam:PolicyARN` as AWS sets them, and CreateFlowLogs implies `iam:PassRole` to vpc-flow-logs;
- Secrets Manager requests name the secret's ARN (`secret:<name>-??????` before it exists), so a
  statement scoped to a stack's secrets means what it says; NotResource is evaluated (moto ignores it);
- a role's permissions boundary caps its policies (both must allow);
- AssumeRoleWithWebIdentity checks the role's trust policy against the token's claims (`<issuer>:sub`,
  `<issuer>:aud`; the token is decoded, not verified: the sandbox has no identity provider), so a GitHub
  job's subject that a role does not trust is denied as AWS denies it;
- AccessDenied names the action and the resource.
"""
import base64
import fnmatch
import json

from moto.core.exceptions import AccessDeniedError, JsonRESTError
from moto.iam import access_control as ac
from moto.iam.access_control import IAMPolicy, IAMPolicyStatement, PermissionResult


JSON_SERVICES = {"ecs", "logs", "ecr", "secretsmanager", "ssm"}


def _params(req):
    body = req._body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        parsed = json.loads(body) if body else None  # the JSON protocols; the query ones (IAM, EC2) are in _data
        if isinstance(parsed, dict):
            return parsed
    except ValueError:
        pass
    return {k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in (req._data or {}).items()}


TAGGED_SERVICES = {"ec2", "rds", "ecs", "elasticloadbalancing"}
EC2_IDS = ("GroupId", "VpcId", "SubnetId", "RouteTableId", "InternetGatewayId", "NatGatewayId", "ResourceId.1")
ELB_ARNS = ("LoadBalancerArn", "TargetGroupArn", "ListenerArn", "RuleArn", "ResourceArns.member.1")


def _resource_tags(service, p, account, region):
    """The tags of the resource a request names, as moto's backend holds them: {key: value} ({} when none)."""
    try:
        if service == "ec2":
            from moto.ec2.models import ec2_backends

            rid = next((str(p[k]) for k in EC2_IDS if p.get(k)), None)
            return dict(ec2_backends[account][region].tags.get(rid, {})) if rid else {}
        if service == "rds":
            from moto.rds.models import rds_backends

            arn = p.get("ResourceName") or (p.get("DBInstanceIdentifier") and f"arn:aws:rds:{region}:{account}:db:{p['DBInstanceIdentifier']}")
            tags = rds_backends[account][region].list_tags_for_resource(str(arn)) if arn else []
            return {t["Key"]: t["Value"] for t in tags}
        if service == "ecs":
            from moto.ecs.models import ecs_backends

            backend = ecs_backends[account][region]
            cluster = str(p.get("cluster") or "default").split("/")[-1]
            arn = p.get("resourceArn")
            if not arn and p.get("service"):
                name = str(p["service"]).split("/")[-1]
                arn = next((s.arn for s in backend.services.values() if s.name == name and s.cluster_name == cluster), None)
            if not arn and p.get("cluster"):
                arn = f"arn:aws:ecs:{region}:{account}:cluster/{cluster}"
            tags = backend.list_tags_for_resource(str(arn)) if arn else []
            return {t["key"]: t["value"] for t in tags or []}
        if service == "elasticloadbalancing":
            from moto.elbv2.models import elbv2_backends

            arn = next((str(p[k]) for k in ELB_ARNS if p.get(k)), None)
            return elbv2_backends[account][region].tagging_service.get_tag_dict_for_resource(arn) if arn else {}
    except Exception:  # noqa: BLE001 - not there (yet): no resource tags
        return {}
    return {}


def _request_tags(p):
    """The tags a request sets, in any of the four services' forms: {key: value}."""
    if isinstance(p.get("tags"), list):  # ECS (JSON)
        return {str(t.get("key")): str(t.get("value")) for t in p["tags"] if isinstance(t, dict)}
    out = {}
    for k, v in p.items():
        # EC2: TagSpecification.N.Tag.M.Key and CreateTags' Tag.N.Key; RDS, ELB: Tags.member.N.Key
        if k.endswith(".Key") and (k.startswith("TagSpecification.") or k.startswith("Tag.") or k.startswith("Tags.member.")):
            out[str(v)] = str(p.get(k[: -len("Key")] + "Value", ""))
    return out


def _tag_context(service, p, account, region):
    """aws:ResourceTag/<key> and aws:RequestTag/<key> of a request, as AWS sets them for tag-based access."""
    ctx = {f"aws:ResourceTag/{k}": v for k, v in _resource_tags(service, p, account, region).items()}
    ctx.update({f"aws:RequestTag/{k}": v for k, v in _request_tags(p).items()})
    return ctx


def _checks(req, resource):
    """(action, resource ARN, condition context) triples the request must be allowed; the service's own action
    carries its resource's and its request's tags (EC2, RDS, ECS, ELB)."""
    out = _service_checks(req, resource)
    service = req._action.split(":", 1)[0]
    if service not in TAGGED_SERVICES:
        return out
    tags = _tag_context(service, _params(req), req.account_id, req._region)
    return [(a, r, {**ctx, **tags}) if a.startswith(f"{service}:") else (a, r, ctx) for a, r, ctx in out]


def _service_checks(req, resource):
    """(action, resource ARN, condition context) triples the request must be allowed."""
    service, name = req._action.split(":", 1)
    region, account = req._region, req.account_id
    p = _params(req)
    arn = lambda svc, rest: f"arn:aws:{svc}:{region}:{account}:{rest}"  # noqa: E731
    if service == "monitoring":
        # moto names CloudWatch's actions by its endpoint's prefix; IAM's is cloudwatch (cloudwatch:DescribeAlarms)
        return [(f"cloudwatch:{name}", "*", {})]
    if service == "ecs":
        cluster = str(p.get("cluster") or "default").split("/")[-1]
        ctx = {"ecs:cluster": arn("ecs", f"cluster/{cluster}")}
        if name == "UpdateService":
            out = [(req._action, arn("ecs", f"service/{cluster}/{str(p.get('service')).split('/')[-1]}"), ctx)]
            # the role ECS shifts traffic with (a native deployment strategy) is passed to ECS itself
            for lb in p.get("loadBalancers") or []:
                role = (lb.get("advancedConfiguration") or {}).get("roleArn")
                if role:
                    out.append(("iam:PassRole", role, {"iam:PassedToService": "ecs.amazonaws.com"}))
            return out
        if name == "ListServiceDeployments":
            return [(req._action, arn("ecs", f"service/{cluster}/{str(p.get('service')).split('/')[-1]}"), ctx)]
        if name == "DescribeServiceDeployments":
            return [(req._action, str(a), {}) for a in p.get("serviceDeploymentArns") or ["?"]]
        if name == "StopServiceDeployment":
            return [(req._action, str(p.get("serviceDeploymentArn") or "?"), {})]
        if name == "DescribeServices":
            return [(req._action, arn("ecs", f"service/{cluster}/{str(s).split('/')[-1]}"), ctx) for s in p.get("services") or ["?"]]
        if name in ("ListTasks", "DescribeTasks"):
            return [(req._action, "*", ctx)]
        if name == "RunTask":
            td = str(p.get("taskDefinition") or "")
            td_arn = td if td.startswith("arn:") else arn("ecs", f"task-definition/{td if ':' in td else td + ':0'}")
            out = [(req._action, td_arn, ctx)]
            for o in [(p.get("overrides") or {})]:
                for role in (o.get("executionRoleArn"), o.get("taskRoleArn")):
                    if role:
                        out.append(("iam:PassRole", role, {"iam:PassedToService": "ecs-tasks.amazonaws.com"}))
            return out
        if name == "StopTask":
            return [(req._action, arn("ecs", f"task/{cluster}/{str(p.get('task')).split('/')[-1]}"), ctx)]
        if name == "ExecuteCommand":
            return [(req._action, arn("ecs", f"task/{cluster}/{str(p.get('task')).split('/')[-1]}"), ctx)]
        if name in ("TagResource", "UntagResource"):
            # a tag request of its own: the resource it names, and no ecs:CreateAction (that key is set only
            # when the tags come with the call that creates the resource)
            return [(req._action, str(p.get("resourceArn") or "*"), {})]
        if name == "RegisterTaskDefinition":
            out = [(req._action, "*", {})]
            for role in (p.get("executionRoleArn"), p.get("taskRoleArn")):
                if role:
                    out.append(("iam:PassRole", role, {"iam:PassedToService": "ecs-tasks.amazonaws.com"}))
            if p.get("tags"):
                out.append(("ecs:TagResource", arn("ecs", f"task-definition/{p.get('family')}:1"), {"ecs:CreateAction": "RegisterTaskDefinition"}))
            return out
        return [(req._action, "*", {})]
    if service == "iam":
        return _iam_checks(req, p, account, resource)
    if service == "ec2" and name == "CreateFlowLogs" and p.get("DeliverLogsPermissionArn"):
        passed = ("iam:PassRole", p["DeliverLogsPermissionArn"], {"iam:PassedToService": "vpc-flow-logs.amazonaws.com"})
        return [(req._action, resource, {}), passed]
    if service == "logs" and name in ("FilterLogEvents", "GetLogEvents"):
        stream = p.get("logStreamName") or "*"
        return [(req._action, arn("logs", f"log-group:{p.get('logGroupName')}:log-stream:{stream}"), {})]
    if service == "ecr" and p.get("repositoryName"):
        return [(req._action, arn("ecr", f"repository/{p['repositoryName']}"), {})]
    if service == "secretsmanager" and (p.get("SecretId") or p.get("Name")):
        return [(req._action, _secret_arn(account, region, str(p.get("SecretId") or p.get("Name"))), {})]
    return [(req._action, resource, {})]


def _secret_arn(account, region, secret_id):
    """The secret's ARN as AWS authorises it: the ARN given, the one of the secret with that name, or, before it
    exists, the name with AWS's six-character suffix."""
    if secret_id.startswith("arn:"):
        return secret_id
    from moto.secretsmanager.models import secretsmanager_backends

    try:
        return secretsmanager_backends[account][region].describe_secret(secret_id).arn
    except Exception:  # noqa: BLE001 - not there (yet)
        return f"arn:aws:secretsmanager:{region}:{account}:secret:{secret_id}-XXXXXX"


# IAM actions whose request context carries the role's permissions boundary (iam:PermissionsBoundary):
# the one the request sets, or else the one the role has
BOUNDARY_KEYED = {
    "CreateRole", "PutRolePermissionsBoundary", "DeleteRolePermissionsBoundary",
    "AttachRolePolicy", "DetachRolePolicy", "PutRolePolicy", "DeleteRolePolicy",
}


def _role(account, name):
    from moto.iam.models import iam_backends

    try:
        return iam_backends[account]["aws"].get_role(name)
    except Exception:  # noqa: BLE001 - not there (yet): the request sets what it has
        return None


def _iam_checks(req, p, account, resource):
    """IAM's request context: the role's ARN whether or not it exists yet (moto gives "*" before it does),
    iam:PermissionsBoundary and iam:PolicyARN where AWS sets them, and the implied iam:TagRole of a
    CreateRole with tags; a policy or provider ARN for actions on those."""
    name = req._action.split(":", 1)[1]
    if p.get("RoleName"):
        role = _role(account, p["RoleName"])
        arn = role.arn if role else f"arn:aws:iam::{account}:role{p.get('Path') or '/'}{p['RoleName']}"
        ctx = {}
        if name in BOUNDARY_KEYED:
            boundary = p.get("PermissionsBoundary") if name in ("CreateRole", "PutRolePermissionsBoundary") else None
            boundary = boundary or (role.permissions_boundary_arn if role else None)
            if boundary:
                ctx["iam:PermissionsBoundary"] = boundary
        if p.get("PolicyArn"):
            ctx["iam:PolicyARN"] = p["PolicyArn"]
        out = [(req._action, arn, ctx)]
        if name == "CreateRole" and any(k.startswith("Tags.") for k in p):
            out.append(("iam:TagRole", arn, {}))
        return out
    for key in ("PolicyArn", "OpenIDConnectProviderArn", "PolicySourceArn"):
        if p.get(key):
            return [(req._action, p[key], {})]
    return [(req._action, resource, {})]


def _boundary_of(access_key):
    """The permissions boundary policy of the role behind assumed-role credentials, if it has one."""
    role_name = getattr(access_key, "_owner_role_name", None)
    role = _role(access_key.account_id, role_name) if role_name else None
    if not role or not role.permissions_boundary_arn:
        return None
    return access_key.backend.get_policy(role.permissions_boundary_arn)


def _conditions_hold(statement, context):
    for operator, pairs in (statement.get("Condition") or {}).items():
        for key, expected in pairs.items():
            expected = expected if isinstance(expected, list) else [expected]
            actual = (context or {}).get(key)
            if operator == "Null":
                # "true": the key is absent; "false": it is present
                if (actual is None) != (str(expected[0]).lower() == "true"):
                    return False
                continue
            if operator == "StringNotEquals":
                # a negated operator holds when the key is absent (AWS pairs it with Null for that reason)
                if actual is not None and actual in expected:
                    return False
                continue
            if actual is None:
                return False
            if operator in ("StringEquals", "ArnEquals"):
                ok = actual in expected
            elif operator in ("StringLike", "ArnLike"):
                ok = any(fnmatch.fnmatchcase(actual, e) for e in expected)
            else:
                ok = False
            if not ok:
                return False
    return True


def _resource_matches(patterns, resource):
    """IAM's resource match: `*` any characters, `?` one (moto's own match reads `?` as a regular expression)."""
    return any(fnmatch.fnmatchcase(resource, str(p).replace("[", "[[]")) for p in _listed(patterns))


def _statement_permitted(self, action, resource="*", principal=None, incoming_condition_values=None):
    s = self._statement
    concerned = not self._check_element_matches("NotAction", action) if "NotAction" in s else self._check_element_matches("Action", action)
    if not concerned:
        return PermissionResult.NEUTRAL
    if self.is_unknown_principal(s.get("Principal")):
        return PermissionResult.NEUTRAL
    if principal and not self._check_principal(principal):
        return PermissionResult.DENIED
    if not _conditions_hold(s, incoming_condition_values):
        return PermissionResult.NEUTRAL
    if "NotResource" in s:
        if _resource_matches(s["NotResource"], resource):
            return PermissionResult.NEUTRAL
    elif s.get("Resource") and not _resource_matches(s["Resource"], resource):
        return PermissionResult.NEUTRAL
    return PermissionResult.PERMITTED if s["Effect"] == "Allow" else PermissionResult.DENIED


def _policies_permit(policies, boundary, action, res, context):
    """An explicit Deny in any policy wins; else some Allow must apply, and the boundary (if any) must allow too."""
    permitted = False
    for policy in policies:
        result = IAMPolicy(policy).is_action_permitted(action, res, None, context)
        if result == PermissionResult.DENIED:
            return False
        if result == PermissionResult.PERMITTED:
            permitted = True
    if permitted and boundary is not None:
        # a role's permissions boundary caps what its policies grant: both must allow
        permitted = IAMPolicy(boundary).is_action_permitted(action, res, None, context) == PermissionResult.PERMITTED
    return permitted


def role_permits(account, role_arn, action, resource):
    """Whether the role may `action` on `resource` (its inline and attached policies, capped by its boundary), as
    ECS uses an execution role to read a task's secrets; None when there is no such role."""
    from moto.iam.models import iam_backends

    backend = iam_backends[account]["aws"]
    name = str(role_arn or "").split("/")[-1]
    role = _role(account, name) if name else None
    if role is None or role.arn != role_arn:
        return None
    policies = [backend.get_role_policy(name, p)[1] for p in backend.list_role_policies(name)]
    policies += backend.list_attached_role_policies(name)[0]
    boundary = backend.get_policy(role.permissions_boundary_arn) if role.permissions_boundary_arn else None
    return _policies_permit(policies, boundary, action, resource, {})


def _principal_policies(account, arn):
    """A role's or user's identity policies (inline and attached) and its boundary, as AWS evaluates them."""
    from moto.iam.models import iam_backends

    backend = iam_backends[account]["aws"]
    kind, _, name = arn.split(":", 5)[-1].partition("/")
    name = name.split("/")[-1]
    if kind == "role":
        role = _role(account, name)
        if role is None or role.arn != arn:
            return None
        policies = [backend.get_role_policy(name, p)[1] for p in backend.list_role_policies(name)]
        policies += backend.list_attached_role_policies(name)[0]
        boundary = backend.get_policy(role.permissions_boundary_arn) if role.permissions_boundary_arn else None
        return policies, boundary
    if kind == "user":
        backend.get_user(name)  # raises when there is no such user
        policies = [backend.get_user_policy(name, p) for p in backend.list_user_policies(name)]
        policies += backend.list_attached_user_policies(name)[0]
        return policies, None
    return None


def _decision(policies, boundary, action, resource, context):
    """SimulatePrincipalPolicy's EvalDecision: explicitDeny, allowed or implicitDeny."""
    results = [IAMPolicy(p).is_action_permitted(action, resource, None, context) for p in policies]
    if PermissionResult.DENIED in results:
        return "explicitDeny"
    if PermissionResult.PERMITTED not in results:
        return "implicitDeny"
    if boundary is not None and IAMPolicy(boundary).is_action_permitted(action, resource, None, context) != PermissionResult.PERMITTED:
        return "implicitDeny"
    return "allowed"


def simulate_principal_policy(self):
    """IAM's SimulatePrincipalPolicy, answered by the evaluator that enforces every request here (moto has none):
    each action on each resource, with the context entries given."""
    from moto.core.responses import ActionResult
    from moto.iam.exceptions import NotFoundException

    params = {k: v[0] if isinstance(v, list) and len(v) == 1 else v for k, v in (self.querystring or {}).items()}
    source = params.get("PolicySourceArn", "")
    account = source.split(":")[4] if source.count(":") >= 5 else ""
    found = _principal_policies(account, source) if account else None
    if found is None:
        raise NotFoundException(f"The principal {source} cannot be found.")
    policies, boundary = found
    listed = lambda prefix: [v for k, v in sorted(params.items(), key=lambda kv: int(kv[0].rsplit(".", 1)[-1]) if kv[0].rsplit(".", 1)[-1].isdigit() else 0) if k.startswith(prefix) and k[len(prefix):].isdigit()]
    actions = listed("ActionNames.member.")
    resources = listed("ResourceArns.member.") or ["*"]
    context = {}
    for k, v in params.items():
        if k.startswith("ContextEntries.member.") and k.endswith(".ContextKeyName"):
            base = k[: -len("ContextKeyName")]
            values = [params[x] for x in params if x.startswith(base + "ContextKeyValues.member.")]
            context[v] = values[0] if len(values) == 1 else values
    results = [{"EvalActionName": a, "EvalResourceName": r, "EvalDecision": _decision(policies, boundary, a, r, context),
                "MatchedStatements": [], "MissingContextValues": []} for a in actions for r in resources]
    return ActionResult({"EvaluationResults": results, "IsTruncated": False})


def _check_action_permitted(self, resource):
    if self._action == "sts:GetCallerIdentity":
        return
    policies = self._access_key.collect_policies()
    boundary = _boundary_of(self._access_key)
    for action, res, context in _checks(self, resource):
        permitted = _policies_permit(policies, boundary, action, res, context)
        if self._is_assuming_role_operation(res):
            permitted = permitted and self._check_role_trust_relationship(res)
        if not permitted:
            if self._service == "s3":
                self._raise_access_denied()
            # AWS's own wording, in the service's protocol: JSON services answer AccessDeniedException (400)
            message = f"User: {self._access_key.arn} is not authorized to perform: {action} on resource: {res}"
            if self._service in JSON_SERVICES:
                raise JsonRESTError("AccessDeniedException", message)
            raise AccessDeniedError(user_arn=self._access_key.arn, action=f"{action} on resource: {res}")


def _token_claims(token):
    """A JWT's claims (header.payload.signature), decoded and not verified; {} when it is no JWT."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return claims if isinstance(claims, dict) else {}
    except Exception:  # noqa: BLE001 - not a JWT: no claims, so no condition on them holds
        return {}


def _listed(value):
    return value if isinstance(value, list) else [value]


def web_identity_trusted(trust_policy, token):
    """Whether a role's trust policy lets this token's bearer AssumeRoleWithWebIdentity: an Allow for the action,
    a Federated principal that is the token issuer's provider, and every condition holding on the claims."""
    claims = _token_claims(token)
    issuer = str(claims.get("iss", "")).replace("https://", "")
    context = {f"{issuer}:{k}": str(claims[k]) for k in ("sub", "aud") if k in claims}
    doc = json.loads(trust_policy) if isinstance(trust_policy, str) else trust_policy
    denied = allowed = False
    for s in _listed(doc.get("Statement", [])):
        if not any(fnmatch.fnmatchcase("sts:AssumeRoleWithWebIdentity", a) for a in _listed(s.get("Action", []))):
            continue
        providers = _listed((s.get("Principal") or {}).get("Federated", []))
        if not issuer or not any(str(p).endswith(f":oidc-provider/{issuer}") for p in providers):
            continue
        if _conditions_hold(s, context):
            denied = denied or s.get("Effect") == "Deny"
            allowed = allowed or s.get("Effect") == "Allow"
    return allowed and not denied


def _check_web_identity(original):
    def assume_role_with_web_identity(self):
        from moto.iam.models import iam_backends

        role_arn = self._get_param("RoleArn") or ""
        role = next((r for r in iam_backends[self.current_account]["aws"].roles.values() if r.arn == role_arn), None)
        # a role that does not exist trusts no one (AWS answers AccessDenied too)
        if role is None or not web_identity_trusted(role.assume_role_policy_document, self._get_param("WebIdentityToken") or ""):
            raise AccessDeniedError(user_arn="web identity", action=f"sts:AssumeRoleWithWebIdentity on resource: {role_arn}")
        return original(self)

    return assume_role_with_web_identity


def _access_key_of(response) -> str:
    auth = response.headers.get("Authorization") or ""
    if "Credential=" in auth:
        return auth.split("Credential=", 1)[1].split("/", 1)[0]
    return ""


def install(admin_keys=None):
    """Patch moto's evaluation. With admin_keys (the sandbox): requests signed with one of them, or not
    signed at all, keep full access (bootstrap, terraform apply); every other key is authenticated and
    authorised, always — no INITIAL_NO_AUTH_ACTION_COUNT needed."""
    IAMPolicyStatement.is_action_permitted = _statement_permitted
    from moto.iam.responses import IamResponse

    IamResponse.simulate_principal_policy = simulate_principal_policy
    ac.IAMRequestBase.check_action_permitted = _check_action_permitted
    from moto.sts.responses import TokenResponse

    TokenResponse.assume_role_with_web_identity = _check_web_identity(TokenResponse.assume_role_with_web_identity)
    # moto 5.2 computes S3 signatures from a differently encoded query string when it holds ":" or "/"
    # (terraform's ListObjectsV2 prefix=env:/), answering SignatureDoesNotMatch to a correct request. The
    # key must still exist and its policies still decide; only S3's signature arithmetic is not checked.
    ac.S3IAMRequest.check_signature = lambda self: None
    # The same for the REST protocols of other services (Route 53's GET /2013-04-01/hostedzone/<id>, as
    # terraform reads a zone): moto's arithmetic differs from botocore's and the Go SDK's. The query and
    # JSON protocols (POST /) keep their signatures checked.
    checked = ac.IAMRequest.check_signature

    def check_signature(self):
        if self._path.split("?", 1)[0] in ("", "/"):
            checked(self)

    ac.IAMRequest.check_signature = check_signature
    if admin_keys is None:
        return
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    original = ActionAuthenticatorMixin._authenticate_and_authorize_action
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # moto enforces for every request that reaches it...

    def authorize(self, iam_request_cls, resource="*"):
        key = _access_key_of(self)
        if not key or key in admin_keys:
            return None  # ...and the sandbox's admin (and unsigned internal calls) never reach it
        return original(self, iam_request_cls, resource)

    ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize
