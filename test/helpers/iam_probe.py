"""The deploy policy against an emulator with IAM enforced (sandbox/iam_enforce.py), through boto3.

argv: endpoint, policy JSON file, names JSON. Sets up the stack the policy names as an admin, then, for the
full policy and for the policy without each statement in turn, makes one representative call per statement
as an IAM user holding only that policy, plus calls the role must never make. Prints JSON:
{"full": {call: "ok" | error}, "without": {sid: {call: ...}}, "never": {call: ...}}.
"""
import json
import re
import sys

import boto3

endpoint, policy_file, names_file = sys.argv[1:4]
policy = json.load(open(policy_file))
n = json.load(open(names_file))
REGION = n["region"]


def client(service, keys):
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint, aws_access_key_id=keys[0], aws_secret_access_key=keys[1])


boot = ("bootstrap", "bootstrap-secret")
iam0 = client("iam", boot)
iam0.create_user(UserName="admin")
iam0.attach_user_policy(UserName="admin", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
k = iam0.create_access_key(UserName="admin")["AccessKey"]
admin = (k["AccessKeyId"], k["SecretAccessKey"])
# from here on, every request is authorised

iam = client("iam", admin)
trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
roles = {r: iam.create_role(RoleName=r, AssumeRolePolicyDocument=trust)["Role"]["Arn"] for r in (n["executionRole"], n["taskRole"], "someone-elses-role")}
ecs = client("ecs", admin)
for cluster in (n["cluster"], "other-cluster"):
    ecs.create_cluster(clusterName=cluster)
td = ecs.register_task_definition(family=n["family"], containerDefinitions=[{"name": "app", "image": "x", "memory": 512}])["taskDefinition"]["taskDefinitionArn"]
migrate_td = ecs.register_task_definition(family=n["family"] + "-migrate", containerDefinitions=[{"name": "app", "image": "x", "memory": 512}])["taskDefinition"]["taskDefinitionArn"]
db_user_td = ecs.register_task_definition(family=n["family"] + "-db-user", containerDefinitions=[{"name": "app", "image": "x", "memory": 512}])["taskDefinition"]["taskDefinitionArn"]
other_td = ecs.register_task_definition(family="other-family", containerDefinitions=[{"name": "app", "image": "x", "memory": 512}])["taskDefinition"]["taskDefinitionArn"]
for cluster, service in ((n["cluster"], n["service"]), (n["cluster"], "other-service"), ("other-cluster", n["service"])):
    ecs.create_service(cluster=cluster, serviceName=service, taskDefinition=td, desiredCount=0)
logs = client("logs", admin)
for group in (n["logGroup"], "/ecs/other-app"):
    logs.create_log_group(logGroupName=group)
ecr = client("ecr", admin)
for repo in (n["repository"], "other-repo"):
    ecr.create_repository(repositoryName=repo)
s3 = client("s3", admin)
s3.create_bucket(Bucket=n["bucket"])
s3.put_object(Bucket=n["bucket"], Key=f"{n['project']}/terraform.tfstate", Body=b"{}")
s3.put_object(Bucket=n["bucket"], Key=f"{n['project']}/outputs.json", Body=b"{}")
client("secretsmanager", admin).create_secret(Name="app/secret", SecretString="s3cret-value")
client("secretsmanager", admin).create_secret(Name=f"{n['project']}/db/password", SecretString='{"password":"m4ster-value"}')
elb = client("elbv2", admin)

users = 0


def principal(doc):
    global users
    users += 1
    name = f"deployer-{users}"
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="deploy", PolicyDocument=json.dumps(doc))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return (key["AccessKeyId"], key["SecretAccessKey"])


def run_task(keys, cluster, task_definition):
    return client("ecs", keys).run_task(cluster=cluster, taskDefinition=task_definition, launchType="FARGATE", count=1, startedBy="llmops-migrate",
                                         overrides={"containerOverrides": [{"name": "app", "command": ["/bin/migrate"]}]})


def register(keys, execution, tags=None):
    kwargs = {"family": n["family"], "executionRoleArn": execution, "taskRoleArn": roles[n["taskRole"]],
              "containerDefinitions": [{"name": "app", "image": "x", "memory": 512}]}
    if tags:
        kwargs["tags"] = tags
    return client("ecs", keys).register_task_definition(**kwargs)


def allowed(call):
    """The call's authorisation, for an action the plain moto here does not implement past its IAM check."""
    try:
        return call()
    except Exception as e:
        code = getattr(e, "response", {}).get("Error", {}).get("Code", "")
        if code in ("AccessDenied", "AccessDeniedException") or "not authorized" in str(e):
            raise
        return None


def traffic_lb(role):
    """A load balancer with the advanced configuration of a native strategy: ECS is passed `role` to shift traffic."""
    return {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/1", "containerName": "app", "containerPort": 80,
            "advancedConfiguration": {"alternateTargetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t-alt/2",
                                      "productionListenerRule": "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/a/1/2/3", "roleArn": role}}


# one representative call per statement of config/iam-deploy-policy.json (its Sid)
CALLS = {
    "EcrLogin": lambda k: client("ecr", k).get_authorization_token(),
    "PushAndReadTheOneRepository": lambda k: client("ecr", k).describe_images(repositoryName=n["repository"]),
    "TaskDefinitions": lambda k: client("ecs", k).list_task_definitions(familyPrefix=n["family"]),
    "TagTheReleaseRecord": lambda k: register(k, roles[n["executionRole"]], tags=[{"key": "llmops:git-sha", "value": "abc"}]),
    "TheOneService": lambda k: client("ecs", k).update_service(cluster=n["cluster"], service=n["service"], desiredCount=0),
    "FollowAndStopTheServiceDeployments": lambda k: allowed(lambda: client("ecs", k).list_service_deployments(cluster=n["cluster"], service=n["service"])),
    "PassTheTrafficRoleToEcs": lambda k: client("ecs", k).update_service(cluster=n["cluster"], service=n["service"], loadBalancers=[traffic_lb(f"arn:aws:iam::123456789012:role/{n['project']}/{n['project']}-ecs-infrastructure")]),
    "FollowTheDeployment": lambda k: client("ecs", k).list_tasks(cluster=n["cluster"], serviceName=n["service"]),
    "TargetHealth": lambda k: client("elbv2", k).describe_target_groups(),
    "ReadTheAppLogs": lambda k: client("logs", k).filter_log_events(logGroupName=n["logGroup"]),
    # step 7's bake reads the service's deployment alarms (lib/alarms.ts)
    "ReadTheDeploymentAlarms": lambda k: client("cloudwatch", k).describe_alarms(AlarmNames=[f"{n['project']}-deploy-5xx"], StateValue="ALARM"),
    "PassOnlyTheTaskRolesToEcs": lambda k: register(k, roles[n["executionRole"]]),
    "ReadTheDeployOutputs": lambda k: client("s3", k).get_object(Bucket=n["bucket"], Key=f"{n['project']}/outputs.json"),
    "ListTheStateBucket": lambda k: client("s3", k).list_objects_v2(Bucket=n["bucket"], MaxKeys=1),
    # the migration's family and the database user's (step 6), both in the service's cluster
    "MigrationTask": lambda k: (run_task(k, n["cluster"], migrate_td), run_task(k, n["cluster"], db_user_td)),
    "TheDeployLock": lambda k: client("s3", k).put_object(Bucket=n["bucket"], Key=f"{n['project']}/locks/{n['service']}.json", Body=b"{}"),
    # the deploy's timeline and outcome beside the state (lib/pipeline.ts, recordRelease), and the database's
    # schema a rollback is checked against (lib/releases.ts)
    "RecordTheRelease": lambda k: client("s3", k).put_object(Bucket=n["bucket"], Key=f"{n['project']}/releases/{n['family']}-1.json", Body=b"{}"),
    # the preflight reads the project's roles to simulate them (lib/preflight.ts)
    "PreflightSimulatesTheDeploy": lambda k: client("iam", k).get_role(RoleName=n["taskRole"]),
}
# what the role must never do
NEVER = {
    "update another service": lambda k: client("ecs", k).update_service(cluster=n["cluster"], service="other-service", desiredCount=0),
    "update the service of another cluster": lambda k: client("ecs", k).update_service(cluster="other-cluster", service=n["service"], desiredCount=0),
    "list the tasks of another cluster": lambda k: client("ecs", k).list_tasks(cluster="other-cluster"),
    "pass another role to ECS": lambda k: register(k, roles["someone-elses-role"]),
    "pass another role to ECS to shift traffic with": lambda k: client("ecs", k).update_service(cluster=n["cluster"], service=n["service"], loadBalancers=[traffic_lb(roles["someone-elses-role"])]),
    "stop another service's deployment": lambda k: client("ecs", k).stop_service_deployment(serviceDeploymentArn=f"arn:aws:ecs:us-east-1:123456789012:service-deployment/{n['cluster']}/other-service/abc", stopType="ROLLBACK"),
    "run another family's task": lambda k: run_task(k, n["cluster"], other_td),
    "run the migration's task in another cluster": lambda k: run_task(k, "other-cluster", migrate_td),
    "run the service's task definition as a one-off (only the migration's family)": lambda k: run_task(k, n["cluster"], td),
    "stop a task of another cluster": lambda k: client("ecs", k).stop_task(cluster="other-cluster", task="0123456789abcdef0123456789abcdef"),
    "open a shell in a task (ECS Exec)": lambda k: client("ecs", k).execute_command(cluster=n["cluster"], task="0123456789abcdef0123456789abcdef", command="/bin/sh", interactive=True),
    "read another app's logs": lambda k: client("logs", k).filter_log_events(logGroupName="/ecs/other-app"),
    "read another repository": lambda k: client("ecr", k).describe_images(repositoryName="other-repo"),
    "write another project's release record": lambda k: client("s3", k).put_object(Bucket=n["bucket"], Key="other-project/releases/x-1.json", Body=b"{}"),
    "read another project's database schema record": lambda k: client("s3", k).get_object(Bucket=n["bucket"], Key="other-project/releases/database-schema.json"),
    "write the Terraform state": lambda k: client("s3", k).put_object(Bucket=n["bucket"], Key=f"{n['project']}/terraform.tfstate", Body=b"{}"),
    "read the Terraform state (every attribute, the origin-verify header among them)": lambda k: client("s3", k).get_object(Bucket=n["bucket"], Key=f"{n['project']}/terraform.tfstate"),
    "read the master database secret's value": lambda k: client("secretsmanager", k).get_secret_value(SecretId=f"{n['project']}/db/password"),
    "re-tag an existing task definition (rewrite the release record rollback reads)": lambda k: client("ecs", k).tag_resource(resourceArn=td, tags=[{"key": "llmops:git-sha", "value": "forged"}]),
    "read a secret's value": lambda k: client("secretsmanager", k).get_secret_value(SecretId="app/secret"),
    "read a role of another project (the preflight reads only the project's)": lambda k: client("iam", k).get_role(RoleName="someone-elses-role"),
    "create an IAM role": lambda k: client("iam", k).create_role(RoleName="escalate", AssumeRolePolicyDocument=trust),
    "change the task roles' policies": lambda k: client("iam", k).put_role_policy(RoleName=n["taskRole"], PolicyName="x", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})),
}


def attempt(fn, keys):
    try:
        fn(keys)
        return "ok"
    except Exception as e:  # botocore ClientError: keep code and message
        err = getattr(e, "response", {}).get("Error", {})
        code, message = err.get("Code", type(e).__name__), err.get("Message", str(e))
        # moto answers a CBOR client (CloudWatch's protocol in botocore) in XML, which botocore leaves unparsed
        xml = re.search(r"<Code>(\w+)</Code><Message>([^<]*)</Message>", message)
        return f"{xml.group(1)}: {xml.group(2)}" if xml else f"{code}: {message}"


full = principal(policy)
out = {"full": {sid: attempt(fn, full) for sid, fn in CALLS.items()}, "never": {what: attempt(fn, full) for what, fn in NEVER.items()}, "without": {}}
for statement in policy["Statement"]:
    keys = principal({**policy, "Statement": [s for s in policy["Statement"] if s is not statement]})
    out["without"][statement["Sid"]] = attempt(CALLS[statement["Sid"]], keys)
print(json.dumps(out))
