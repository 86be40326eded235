#!/usr/bin/env python3
"""The sandbox's AWS emulator: moto, extended so that ECS behaves like ECS for what the toolkit reads.

Plain moto never runs a task (docs/sandbox.md). This process runs moto's
own HTTP server in-process (ThreadedMotoServer) and drives its backend objects from a controller thread:

- create-service / update-service start a new PRIMARY deployment (old one ACTIVE) with rolloutState
  IN_PROGRESS -> COMPLETED; deploymentConfiguration, healthCheckGracePeriodSeconds and friends are kept;
- each task runs for real as a local container from the image in the local registry (docker CLI), with
  its environment and secrets (from moto's Secrets Manager, passed by name, never in argv), published on a
  loopback port; the target group's health check path is probed and target health goes
  initial -> healthy / unhealthy with ELB's reason codes, then draining on deregistration;
- a missing image -> STOPPED, CannotPullContainerError; an exited container -> EssentialContainerExited
  with its exit code; failed health checks -> stopped by the scheduler; with the circuit breaker on, the
  deployment goes FAILED and (rollback) a new deployment of the last completed task definition starts;
- container stdout/stderr go to the awslogs group/stream of the task definition;
- pushes to the local registry appear in moto's ECR (describe-images) with the registry's digest;
- the ALB's DNS name answers HTTP on a loopback address and forwards to a healthy task;
- /etc/hosts gets one marked block (registry host, ALB names) that is removed on exit;
- run-task runs a one-off task for real (command override, exit code, logs); stop-task stops it;
  execute-command answers with a session for the session-manager-plugin (sandbox/session-manager-plugin
  stands in for it and runs the command with `docker exec`);
- each RDS instance is a real PostgreSQL server (Debian's binaries, in a container of its own) answering
  under the instance's endpoint name for the task containers, with the master user, password (the
  RDS-managed secret or the one given) and database the stack created, TLS required (rds.force_ssl).

Timings are real ECS/ELB settings multiplied by --time-scale (0.1: a 10 s health check interval is 1 s).
Only loopback addresses are ever bound.
"""
from __future__ import annotations

import argparse
import base64
import fnmatch
import http.client
import json
import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
import traceback
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Settings moto reads at import time (docs/sandbox.md): managed IAM policies such as
# AmazonECSTaskExecutionRolePolicy exist, ACM certificates validate at once.
os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
os.environ.setdefault("MOTO_ACM_VALIDATION_WAIT", "0")

from moto.core.utils import utcnow  # noqa: E402
from moto.ecs import models as ecs_models
from moto.ecs.models import EC2ContainerServiceBackend, Task, ecs_backends
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.cloudwatch.models import cloudwatch_backends
from moto.ecr.models import ecr_backends
from moto.elbv2 import models as elbv2_models
from moto.elbv2.models import elbv2_backends
from moto.logs.models import logs_backends
from moto.secretsmanager.models import secretsmanager_backends
from moto.server import ThreadedMotoServer

def hosts_markers() -> tuple[str, str]:
    # One block per sandbox instance, so a test sandbox never touches a developer's.
    return (f"# llmops-sandbox begin {ARGS.instance} (managed by sandbox/emulator.py; removed by sandbox:down)", f"# llmops-sandbox end {ARGS.instance}")
LABEL = "llmops-sandbox"

ARGS: argparse.Namespace
LOCK = threading.RLock()
STOPPING = threading.Event()


def log(msg: str) -> None:
    sys.stderr.write(f"{time.strftime('%H:%M:%S')} emulator: {msg}\n")
    sys.stderr.flush()


def scaled(seconds: float) -> float:
    return max(0.2, float(seconds) * ARGS.time_scale)


def docker(*args: str, env: dict | None = None, timeout: float | None = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, env=env)


def each_backend(backend_dict):
    for account_id, regions in list(dict.items(backend_dict)):
        for region, backend in list(dict.items(regions)):
            yield account_id, region, backend


# ---------------------------------------------------------------------------------------------
# ECS: deployments


def add_event(service, message: str) -> None:
    if service is None:  # a one-off task has no service to report to
        return
    events = getattr(service, "events", None)
    if events is None:
        service.events = events = []
    events.insert(0, {"id": str(uuid.uuid4()), "createdAt": utcnow(), "message": f"(service {service.name}) {message}"})
    del events[100:]


def start_deployment(service, task_definition_arn: str, why: str = "") -> dict:
    dep_id = f"ecs-svc/{random.randint(10**18, 10**19 - 1)}"
    now = utcnow()
    for d in service.deployments:
        if d["status"] == "PRIMARY":
            d["status"] = "ACTIVE"
            d["updatedAt"] = now
    dep = {
        "id": dep_id,
        "status": "PRIMARY",
        "taskDefinition": task_definition_arn,
        "desiredCount": service.desired_count,
        "pendingCount": 0,
        "runningCount": 0,
        "failedTasks": 0,
        "createdAt": now,
        "updatedAt": now,
        "launchType": service.launch_type or "FARGATE",
        "platformVersion": "1.4.0",
        "platformFamily": "Linux",
        "networkConfiguration": service.network_configuration or None,
        "rolloutState": "IN_PROGRESS",
        "rolloutStateReason": "ECS deployment in progress.",
    }
    previous = next((d for d in service.deployments if d is not dep and d["status"] == "ACTIVE"), None)
    service.deployments.insert(0, dep)
    service.task_definition = task_definition_arn
    add_event(service, f"started deployment {dep_id}{why}.")
    record_service_deployment(service, dep, previous)
    return dep


DEFAULT_DEPLOYMENT_CONFIGURATION = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
}

_orig_create_service = EC2ContainerServiceBackend.create_service


def create_service(self, *args, **kwargs):
    service = _orig_create_service(self, *args, **kwargs)
    with LOCK:
        service.running_count = 0
        service.pending_count = 0
        service.deployments = []
        service.events = []
        service.deployment_configuration = json.loads(json.dumps(DEFAULT_DEPLOYMENT_CONFIGURATION))
        service.last_completed_task_definition = None
        if service.task_definition:
            start_deployment(service, service.task_definition)
    return service


def update_service(self, props: dict):
    cluster_str = props.pop("cluster", "default")
    td = props.pop("task_definition", None)
    name = props.pop("service").split("/")[-1]
    force = props.pop("force_new_deployment", False)
    service = self._get_service(cluster_str, name)
    with LOCK:
        for key, value in props.items():
            if value is not None:
                setattr(service, key, value)
        new_td = self.describe_task_definition(td).arn if td else None
        primary = service.deployments[0] if service.deployments else None
        if (new_td and (primary is None or new_td != primary["taskDefinition"])) or (force and (new_td or service.task_definition)):
            start_deployment(service, new_td or service.task_definition, " (forced)" if force and not new_td else "")
        elif primary is not None and props.get("desired_count") is not None:
            primary["desiredCount"] = service.desired_count
            primary["updatedAt"] = utcnow()
            if primary["rolloutState"] == "COMPLETED" and task_counts(primary)[0] != service.desired_count:
                add_event(service, f"desired count changed to {service.desired_count}.")
    return service


_orig_resp_create_service = EC2ContainerServiceResponse.create_service


def resp_create_service(self):
    result = _orig_resp_create_service(self)
    service = self.ecs_backend._get_service(self._get_param("cluster", "default"), self._get_param("serviceName"))
    with LOCK:
        for param, attr in [
            ("deploymentConfiguration", "deployment_configuration"),
            ("healthCheckGracePeriodSeconds", "health_check_grace_period_seconds"),
            ("enableExecuteCommand", "enable_execute_command"),
            ("availabilityZoneRebalancing", "availability_zone_rebalancing"),
            ("enableECSManagedTags", "enable_ecs_managed_tags"),
        ]:
            value = self._get_param(param)
            if value is not None:
                if attr == "deployment_configuration":
                    merged = json.loads(json.dumps(DEFAULT_DEPLOYMENT_CONFIGURATION))
                    merged.update(value)
                    value = merged
                setattr(service, attr, value)
    return result


_orig_list_tasks = EC2ContainerServiceBackend.list_tasks


def list_tasks(self, cluster_str=None, container_instance=None, family=None, started_by=None, service_name=None, desiredStatus=None):
    # Real ECS lists RUNNING tasks unless asked otherwise, and filters by service.
    tasks = _orig_list_tasks(self, cluster_str, container_instance, family, started_by, None, desiredStatus or "RUNNING")
    if service_name:
        tasks = [t for t in tasks if t.group == f"service:{service_name.split('/')[-1]}"]
    return tasks


def patch_moto() -> None:
    # ECR's scan on push, as record_push saw it: IN_PROGRESS, then the findings the image declares
    from moto.ecr.models import ECRBackend

    if not getattr(ECRBackend, "_sandbox_scans", False):
        original_findings = ECRBackend.describe_image_scan_findings

        def describe_image_scan_findings(self, registry_id, repository_name, image_id):
            repo = self._get_repository(repository_name, registry_id)
            image = repo._get_image(image_id.get("imageTag"), image_id.get("imageDigest"))
            return scan_findings_answer(repository_name, repo.registry_id, image) or original_findings(self, registry_id, repository_name, image_id)

        ECRBackend.describe_image_scan_findings = describe_image_scan_findings
        ECRBackend._sandbox_scans = True
    # moto 5.2.1 builds an awsvpc task's ENI attachment from eni.private_dns_name, which its
    # NetworkInterface lacks: every awsvpc task creation would raise AttributeError.
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface

    if not hasattr(NetworkInterface, "private_dns_name"):
        NetworkInterface.private_dns_name = None  # a class default; moto sets it per instance in DNS-enabled VPCs
    # moto 5.2.1 gives every DB instance the same DbiResourceId (a constant), and the Terraform provider reads
    # an instance back by that id: with two stacks' databases in one sandbox (staging beside production) it
    # finds two and reports "couldn't find resource". RDS gives each its own.
    from moto.rds.models import DBInstance

    if not getattr(DBInstance, "_sandbox_unique_id", False):
        original_init = DBInstance.__init__

        def init_with_unique_id(self, *args, **kwargs):
            original_init(self, *args, **kwargs)
            self.dbi_resource_id = "db-" + uuid.uuid4().hex[:26].upper()

        DBInstance.__init__ = init_with_unique_id
        DBInstance._sandbox_unique_id = True
    # moto 5.2.1 writes a distribution's ARN without the empty region field (arn:aws:cloudfront:<account>:…);
    # AWS's is arn:aws:cloudfront::<account>:distribution/<id>, and the Terraform provider refuses the other
    # (a log delivery source names the distribution by it)
    from moto.cloudfront.models import Distribution

    if not getattr(Distribution, "_sandbox_arn", False):
        original_distribution_init = Distribution.__init__

        def init_with_aws_arn(self, account_id, region_name, config):
            original_distribution_init(self, account_id, region_name, config)
            self.arn = self.arn.replace(f":cloudfront:{account_id}:", f":cloudfront::{account_id}:")

        Distribution.__init__ = init_with_aws_arn
        Distribution._sandbox_arn = True
    EC2ContainerServiceBackend.create_service = create_service
    EC2ContainerServiceBackend.update_service = update_service
    EC2ContainerServiceBackend.list_tasks = list_tasks
    EC2ContainerServiceBackend.run_task = run_task
    EC2ContainerServiceBackend.stop_task = stop_task
    EC2ContainerServiceResponse.execute_command = resp_execute_command
    EC2ContainerServiceResponse.create_service = resp_create_service
    EC2ContainerServiceResponse.list_service_deployments = resp_list_service_deployments
    EC2ContainerServiceResponse.describe_service_deployments = resp_describe_service_deployments
    EC2ContainerServiceResponse.stop_service_deployment = resp_stop_service_deployment
    elbv2_models.FakeTargetGroup.health_for = target_health_for


# ---------------------------------------------------------------------------------------------
# ELB target health, decided by real HTTP probes


HEALTH: dict[tuple[str, str], dict] = {}  # (target group arn, target id) -> {state, reason, description}


def target_health_for(self, target, ec2_backend):
    tid = target["Id"]
    h = HEALTH.get((self.arn, tid))
    port = target.get("Port", self.port)
    if h is None:
        if tid in self.targets:
            return elbv2_models.FakeHealthStatus(tid, port, self.health_check_port, "initial", "Elb.RegistrationInProgress", "Target registration is in progress")
        return elbv2_models.FakeHealthStatus(tid, port, self.health_check_port, "unused", "Target.NotRegistered", "Target is not registered to the target group")
    return elbv2_models.FakeHealthStatus(tid, port, self.health_check_port, h["state"], h.get("reason"), h.get("description"))


def find_target_group(arn: str):
    for _, _, backend in each_backend(elbv2_backends):
        tg = backend.target_groups.get(arn)
        if tg is not None:
            return tg
    return None


def matcher_ok(tg, status: int) -> bool:
    spec = str((getattr(tg, "matcher", None) or {}).get("HttpCode", "200"))
    for part in spec.split(","):
        part = part.strip()
        if "-" in part:
            lo, hi = part.split("-", 1)
            if int(lo) <= status <= int(hi):
                return True
        elif part and int(part) == status:
            return True
    return False


# ---------------------------------------------------------------------------------------------
# Tasks that run for real


class SandboxTask:
    def __init__(self, backend, cluster, service, deployment, task: Task, td, overrides: dict | None = None):
        self.backend = backend
        self.cluster = cluster
        self.service = service  # None for a one-off task (run-task)
        self.deployment_id = deployment["id"] if deployment else None
        self.task = task
        self.td = td
        self.container_def = next((c for c in td.container_definitions if c.get("essential", True)), td.container_definitions[0])
        # run-task --overrides: a container's command and environment replace or extend the definition's
        for o in (overrides or {}).get("containerOverrides") or []:
            if o.get("name") == self.container_def.get("name"):
                cd = dict(self.container_def)
                if o.get("command") is not None:
                    cd["command"] = o["command"]
                if o.get("environment"):
                    names = {e["name"] for e in o["environment"]}
                    cd["environment"] = [e for e in cd.get("environment") or [] if e["name"] not in names] + o["environment"]
                self.container_def = cd
        self.log_follower: threading.Thread | None = None
        # ECS Exec works in a task started while the service had it on (run-task: its own flag)
        self.exec_enabled = bool(getattr(service, "enable_execute_command", False)) if service is not None else False
        task.enable_execute_command = self.exec_enabled
        self.container_id: str | None = None
        self.host_port: int | None = None
        self.ip = unique_ip(self.private_ip())
        self.set_private_ip(self.ip)
        self.healthy = False
        self.failed = False  # stopped because it failed (counts for the circuit breaker)
        self.stopping = False
        self.registered: list[tuple[str, int]] = []  # (target group arn, port)
        self.started = time.time()

    @property
    def id(self) -> str:
        return self.task.id

    def private_ip(self) -> str:
        for att in self.task.attachments:
            for d in att.get("details", []):
                if d["name"] == "privateIPv4Address":
                    return d["value"]
        return f"10.0.{random.randint(0, 255)}.{random.randint(2, 254)}"

    def set_private_ip(self, ip: str) -> None:
        for att in self.task.attachments:
            for d in att.get("details", []):
                if d["name"] == "privateIPv4Address":
                    d["value"] = ip

    def set_container(self, **fields) -> None:
        c = self.task.containers[0]
        for k, v in fields.items():
            c[k] = v

    # -- lifecycle ------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self.launch()
        except Exception as e:  # any unexpected error stops the task visibly, never silently
            traceback.print_exc()
            self.stop("TaskFailedToStart", f"SandboxError: {e}", failed=True)

    def launch(self) -> None:
        cd = self.container_def
        image = cd.get("image", "")
        self.task.last_status = "PENDING"
        env = dict(os.environ)
        env_names: list[str] = []
        for item in cd.get("environment") or []:
            env[item["name"]] = str(item["value"])
            env_names.append(item["name"])
        try:
            for item in cd.get("secrets") or []:
                env[item["name"]] = self.resolve_secret(item["valueFrom"])
                env_names.append(item["name"])
        except Exception as e:
            self.stop("TaskFailedToStart", f"ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): {e}", failed=True)
            return
        log_target = self.log_target()
        if log_target is None:
            return
        self.task.pull_started_at = utcnow()
        pull = docker("pull", image, timeout=120)
        if pull.returncode != 0:
            last = (pull.stderr or pull.stdout).strip().splitlines()[-1:] or ["unknown error"]
            self.stop("TaskFailedToStart", f"CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref {image}: {last[0]}", failed=True)
            return
        self.task.pull_stopped_at = utcnow()
        digest = docker("image", "inspect", "--format", "{{index .RepoDigests 0}}", image).stdout.strip()
        if "@" in digest:
            self.set_container(imageDigest=digest.split("@", 1)[1])
        port = self.container_port()
        args = ["run", "-d", "--name", f"{LABEL}-{self.id[:12]}", "--label", f"{LABEL}={ARGS.instance}", "--label", f"{LABEL}.task={self.task.task_arn}"]
        if port:
            args += ["-p", f"127.0.0.1::{port}"]
        for name in env_names:
            args += ["-e", name]  # value comes from this process's environment: never in argv
        for host, ip in database_hosts(self.task.region_name):
            args += ["--add-host", f"{host}:{ip}"]  # the VPC's DNS: the RDS endpoint resolves to its server
        if cd.get("readonlyRootFilesystem"):
            args += ["--read-only"]
        if cd.get("user"):
            args += ["--user", str(cd["user"])]
        memory = cd.get("memory") or self.td.memory
        if memory:
            args += ["--memory", f"{int(memory)}m"]
        for mp in cd.get("mountPoints") or []:
            if mp.get("containerPath"):
                args += ["--tmpfs", f"{mp['containerPath']}:rw,mode=1777"]
        if cd.get("entryPoint"):
            args += ["--entrypoint", cd["entryPoint"][0]]
        args.append(image)
        if cd.get("entryPoint"):
            args += cd["entryPoint"][1:]
        args += [str(a) for a in (cd.get("command") or [])]
        run = docker(*args, env=env)
        if run.returncode != 0:
            self.stop("TaskFailedToStart", f"CannotStartContainerError: {run.stderr.strip()[-300:]}", failed=True)
            return
        self.container_id = run.stdout.strip()
        if port:
            mapping = docker("port", self.container_id, f"{port}/tcp").stdout.strip().splitlines()
            if mapping:
                self.host_port = int(mapping[0].rsplit(":", 1)[1])
        self.task.started_at = utcnow()
        self.task.last_status = "RUNNING"
        self.set_container(lastStatus="RUNNING", runtimeId=self.container_id)
        add_event(self.service, f"has started 1 tasks: (task {self.id}).")
        self.log_follower = threading.Thread(target=self.follow_logs, args=(log_target,), daemon=True)
        self.log_follower.start()
        threading.Thread(target=self.watch_exit, daemon=True).start()
        self.register_targets()

    def container_port(self) -> int | None:
        for pm in self.container_def.get("portMappings") or []:
            return int(pm.get("containerPort"))
        return None

    def check_execution_role(self, secret_arn: str) -> None:
        """ECS reads a task's secrets as its execution role: a role that may not read this one fails the task as
        ECS fails it. A task definition naming no role the emulator knows (a unit test's) is not checked."""
        import iam_enforce

        role = getattr(self.td, "execution_role_arn", None)
        if role and iam_enforce.role_permits(self.backend.account_id, role, "secretsmanager:GetSecretValue", secret_arn) is False:
            session = f"arn:aws:sts::{self.backend.account_id}:assumed-role/{role.split('/')[-1]}/{self.id}"
            raise RuntimeError(
                f"AccessDeniedException: User: {session} is not authorized to perform: secretsmanager:GetSecretValue on resource: {secret_arn} "
                "because no identity-based policy allows the secretsmanager:GetSecretValue action"
            )

    def resolve_secret(self, value_from: str) -> str:
        parts = value_from.split(":")
        # arn:aws:secretsmanager:region:account:secret:name-suffix[:json-key:version-stage:version-id]
        if value_from.startswith("arn:") and len(parts) >= 7:
            secret_id = ":".join(parts[:7])
            json_key = parts[7] if len(parts) > 7 else ""
        else:
            secret_id, json_key = value_from, ""
        region = parts[3] if value_from.startswith("arn:") else self.task.region_name
        backend = secretsmanager_backends[self.backend.account_id][region]
        try:
            value = backend.get_secret_value(secret_id, None, None)
        except Exception:
            raise RuntimeError(f"failed to fetch secret {value_from} from secrets manager: ResourceNotFoundException: Secrets Manager can't find the specified secret.")
        self.check_execution_role(value.get("ARN") if isinstance(value, dict) else getattr(value, "arn", secret_id))
        text = value.get("SecretString") if isinstance(value, dict) else getattr(value, "secret_string", None)
        if text is None:
            raise RuntimeError(f"secret {value_from} has no string value")
        if json_key:
            try:
                return str(json.loads(text)[json_key])
            except Exception:
                raise RuntimeError(f"retrieved secret from Secrets Manager did not contain json key {json_key}")
        return text

    def log_target(self):
        lc = self.container_def.get("logConfiguration") or {}
        if lc.get("logDriver") != "awslogs":
            return ("", "")
        opts = lc.get("options") or {}
        group = opts.get("awslogs-group", "")
        region = opts.get("awslogs-region", self.task.region_name)
        stream = f"{opts.get('awslogs-stream-prefix', 'ecs')}/{self.container_def.get('name')}/{self.id}"
        logs = logs_backends[self.backend.account_id][region]
        if group not in logs.groups:
            if str(opts.get("awslogs-create-group", "")).lower() == "true":
                logs.create_log_group(group, {})
            else:
                self.stop("TaskFailedToStart", "ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: failed to create Cloudwatch log stream: ResourceNotFoundException: The specified log group does not exist. : exit status 1", failed=True)
                return None
        if stream not in logs.groups[group].streams:
            logs.create_log_stream(group, stream)
        return (region, group, stream)

    def follow_logs(self, target) -> None:
        if len(target) < 3 or not self.container_id:
            return
        region, group, stream = target
        logs = logs_backends[self.backend.account_id][region]
        proc = subprocess.Popen(["docker", "logs", "-f", self.container_id], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:  # type: ignore[union-attr]
            try:
                logs.put_log_events(group, stream, [{"timestamp": int(time.time() * 1000), "message": line.rstrip("\n")}])
            except Exception:
                pass

    def watch_exit(self) -> None:
        res = docker("wait", self.container_id or "", timeout=None)
        if self.stopping:
            return
        code = int(res.stdout.strip() or "1")
        state = json.loads(docker("inspect", "--format", "{{json .State}}", self.container_id or "").stdout or "{}")
        reason = "OutOfMemoryError: Container killed due to memory usage" if state.get("OOMKilled") else None
        self.set_container(lastStatus="STOPPED", exitCode=code, **({"reason": reason} if reason else {}))
        self.stop("EssentialContainerExited", "Essential container in task exited", failed=True, container_already_stopped=True)

    def register_targets(self) -> None:
        lbs = (self.service.load_balancers or []) if self.service is not None else []
        if not lbs:
            self.healthy = True
            return
        native = NATIVE.get(self.deployment_id or "")
        for lb in lbs:
            tg = find_target_group(native["new_tg"] if native else lb.get("targetGroupArn", ""))
            if tg is None:
                continue
            port = int(lb.get("containerPort") or self.container_port() or tg.port)
            with LOCK:
                tg.register([{"Id": self.ip, "Port": port}])
                HEALTH[(tg.arn, self.ip)] = {"state": "initial", "reason": "Elb.RegistrationInProgress", "description": "Target registration is in progress"}
            self.registered.append((tg.arn, port))
            add_event(self.service, f"registered 1 targets in (target-group {tg.arn})")
            threading.Thread(target=self.probe, args=(tg,), daemon=True).start()

    def probe(self, tg) -> None:
        interval = scaled(int(tg.health_check_interval_seconds or 30))
        # intervals scale, the probe's own timeout does not go below 2 s: a busy CI machine must not turn a
        # slow answer into a false Target.Timeout
        timeout = max(2.0, scaled(int(tg.health_check_timeout_seconds or 5)))
        healthy_n = int(tg.healthy_threshold_count or 5)
        unhealthy_n = int(tg.unhealthy_threshold_count or 2)
        grace = scaled(int(getattr(self.service, "health_check_grace_period_seconds", 0) or 0))
        ok_run = bad_run = 0
        while not self.stopping and not STOPPING.is_set():
            time.sleep(interval)
            if self.stopping:
                return
            # read each time: modify-target-group changes the path (and the doctor test relies on it)
            state, reason, description = self.check_once(tg, tg.health_check_path or "/", timeout)
            if state == "healthy":
                ok_run, bad_run = ok_run + 1, 0
            else:
                ok_run, bad_run = 0, bad_run + 1
            key = (tg.arn, self.ip)
            if ok_run >= healthy_n and HEALTH.get(key, {}).get("state") != "healthy":
                HEALTH[key] = {"state": "healthy"}
                self.healthy = True
            elif bad_run >= unhealthy_n:
                HEALTH[key] = {"state": "unhealthy", "reason": reason, "description": description}
                self.healthy = False
                if time.time() - self.started >= grace:
                    # ELB reports the target unhealthy for a while before ECS replaces it: long enough to be
                    # seen by a tool polling every few seconds (at 2 s, a poll as long as the replacement cycle
                    # could miss it every time)
                    time.sleep(max(interval * unhealthy_n, 5.0))
                    add_event(self.service, f"has stopped 1 running tasks: (task {self.id}). Task failed ELB health checks in (target-group {tg.arn}).")
                    self.stop("ServiceSchedulerInitiated", f"Task failed ELB health checks in (target-group {tg.arn})", failed=True)
                    return

    def check_once(self, tg, path: str, timeout: float):
        if not self.host_port:
            return ("unhealthy", "Target.FailedHealthChecks", "Health checks failed")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.host_port, timeout=timeout)
            conn.request("GET", path, headers={"User-Agent": "ELB-HealthChecker/2.0"})
            status = conn.getresponse().status
            conn.close()
        except (TimeoutError, OSError) as e:
            if isinstance(e, TimeoutError) or "timed out" in str(e):
                return ("unhealthy", "Target.Timeout", "Request timed out")
            return ("unhealthy", "Target.FailedHealthChecks", "Health checks failed")
        if matcher_ok(tg, status):
            return ("healthy", None, None)
        return ("unhealthy", "Target.ResponseCodeMismatch", f"Health checks failed with these codes: [{status}]")

    def stop(self, stop_code: str, reason: str, failed: bool = False, container_already_stopped: bool = False) -> None:
        """Stop the task as ECS does: deregister (draining for the deregistration delay), then stop."""
        with LOCK:
            if self.stopping:
                return
            self.stopping = True
            self.failed = failed
            self.task.desired_status = "STOPPED"
            self.task.stop_code = stop_code
            self.task.stopped_reason = reason
            self.task.last_status = "DEACTIVATING" if self.registered else "STOPPING"
            self.task.stopping_at = utcnow()
        if failed and self.service is not None:
            with LOCK:
                for d in self.service.deployments:
                    if d["id"] == self.deployment_id:
                        d["failedTasks"] = d.get("failedTasks", 0) + 1
        threading.Thread(target=self._drain_and_stop, args=(container_already_stopped,), daemon=True).start()

    def _drain_and_stop(self, container_already_stopped: bool) -> None:
        delay = 0.0
        for arn, port in self.registered:
            tg = find_target_group(arn)
            if tg is None:
                continue
            HEALTH[(arn, self.ip)] = {"state": "draining", "reason": "Target.DeregistrationInProgress", "description": "Target deregistration is in progress"}
            delay = max(delay, scaled(int(tg.attributes.get("deregistration_delay.timeout_seconds", 300))))
        if delay and not container_already_stopped:
            time.sleep(delay)
        for arn, port in self.registered:
            tg = find_target_group(arn)
            if tg is not None:
                with LOCK:
                    tg.targets.pop(self.ip, None)
            HEALTH.pop((arn, self.ip), None)
        if self.container_id and not container_already_stopped:
            stop_timeout = int(self.container_def.get("stopTimeout") or 30)
            docker("stop", "-t", str(max(1, int(scaled(stop_timeout)))), self.container_id, timeout=120)
            code = docker("inspect", "--format", "{{.State.ExitCode}}", self.container_id).stdout.strip()
            self.set_container(lastStatus="STOPPED", exitCode=int(code or 0))
        elif not self.container_id:
            self.set_container(lastStatus="STOPPED")
        if self.log_follower is not None:
            self.log_follower.join(timeout=5)  # the log lines are in CloudWatch by the time the task is STOPPED
        self.task.last_status = "STOPPED"
        release_ip(self.ip)
        self.task.stopped_at = utcnow()
        self.task.execution_stopped_at = utcnow()
        if self.container_id:
            time.sleep(1)  # let the log follower read the last lines
            docker("rm", "-f", self.container_id, timeout=60)


TASKS: dict[str, SandboxTask] = {}  # task arn -> SandboxTask


IPS_IN_USE: set[str] = set()  # private IPs of tasks that have not STOPPED


def unique_ip(ip: str) -> str:
    """Reserve a private IP no task that has not STOPPED holds (release_ip gives it back). moto draws an ENI's
    address at random from its subnet (a /20 here), so over a suite's hundred tasks two live ones can meet; ELB
    target health is keyed by (target group, IP), so a stopping task's deregistration would remove the new one's.
    On a clash: another free host of the same /24."""
    with LOCK:
        if ip in IPS_IN_USE:
            prefix = ip.rsplit(".", 1)[0]
            free = [f"{prefix}.{n}" for n in range(4, 255) if f"{prefix}.{n}" not in IPS_IN_USE]
            ip = random.choice(free) if free else ip
        IPS_IN_USE.add(ip)
        return ip


def release_ip(ip: str) -> None:
    with LOCK:
        IPS_IN_USE.discard(ip)


def launch_task(backend, cluster, service, deployment) -> SandboxTask:
    td = backend.describe_task_definition(deployment["taskDefinition"])
    task = Task(
        cluster,
        td,
        None,
        None,
        backend,
        group=f"service:{service.name}",
        launch_type=service.launch_type or "FARGATE",
        started_by=deployment["id"],
        networking_configuration=service.network_configuration or None,
        platform_version="1.4.0",
    )
    task.advance = lambda: None  # moto's state manager would walk RUNNING -> DEACTIVATING on describe-tasks
    task.last_status = "PROVISIONING"
    task.created_at = utcnow()
    task.availability_zone = f"{task.region_name}a"
    task.cpu = td.cpu
    task.memory = td.memory
    new_task_containers(task, td)
    backend.tasks.setdefault(cluster.name, {})[task.task_arn] = task
    st = SandboxTask(backend, cluster, service, deployment, task, td)
    task.containers[0]["networkInterfaces"] = [{"attachmentId": str(uuid.uuid4()), "privateIpv4Address": st.ip}]
    TASKS[task.task_arn] = st
    threading.Thread(target=st.run, daemon=True).start()
    return st


def new_task_containers(task: Task, td) -> dict:
    cd = next((c for c in td.container_definitions if c.get("essential", True)), td.container_definitions[0])
    task.containers = [{
        "containerArn": f"{task.task_arn.replace(':task/', ':container/')}/{uuid.uuid4()}",
        "taskArn": task.task_arn,
        "name": cd.get("name"),
        "image": cd.get("image"),
        "lastStatus": "PENDING",
        "networkInterfaces": [],
        "healthStatus": "UNKNOWN",
        "cpu": str(cd.get("cpu", 0)),
    }]
    return cd


def run_task(self, cluster_str, task_definition_str, count, overrides, started_by, tags, launch_type, networking_configuration=None, group=None, platform_version=None):
    """run-task: each task runs for real as a container, like a service's (a migration, a one-off command).
    moto's own run_task needs a memory size on every container (task-level memory is what Fargate uses)."""
    cluster = self._get_cluster(cluster_str)
    td = self.describe_task_definition(task_definition_str)
    tasks = []
    for _ in range(count or 1):
        task = Task(
            cluster,
            td,
            None,
            None,
            self,
            group=group or f"family:{td.family}",
            overrides=overrides or {},
            started_by=started_by or "",
            tags=tags or [],
            launch_type=launch_type or "FARGATE",
            networking_configuration=networking_configuration or None,
            platform_version=platform_version or "1.4.0",
        )
        task.advance = lambda: None
        task.last_status = "PROVISIONING"
        task.desired_status = "RUNNING"
        task.created_at = utcnow()
        task.availability_zone = f"{task.region_name}a"
        task.cpu, task.memory = td.cpu, td.memory
        new_task_containers(task, td)
        self.tasks.setdefault(cluster.name, {})[task.task_arn] = task
        st = SandboxTask(self, cluster, None, None, task, td, overrides)
        task.containers[0]["networkInterfaces"] = [{"attachmentId": str(uuid.uuid4()), "privateIpv4Address": st.ip}]
        TASKS[task.task_arn] = st
        log(f"run-task {task.task_arn} ({td.family}:{td.revision}) started by {started_by or '-'}")
        threading.Thread(target=st.run, daemon=True).start()
        tasks.append(task)
    return tasks


_orig_stop_task = EC2ContainerServiceBackend.stop_task


def stop_task(self, cluster_str: str, task_str: str, reason: str):
    arn = next((a for a in TASKS if a == task_str or a.endswith("/" + task_str)), None)
    if arn is None:
        return _orig_stop_task(self, cluster_str, task_str, reason)
    st = TASKS[arn]
    st.stop("UserInitiated", reason or "Task stopped by user")
    return st.task


def resp_execute_command(self):
    """ECS Exec: the session the CLI hands to the session-manager-plugin. The task must have been started
    with execute command enabled (the service's setting when the task started), as on AWS."""
    from moto.core.responses import ActionResult
    from moto.ecs.exceptions import InvalidParameterException

    task_arn = str(self._get_param("task"))
    arn = next((a for a in TASKS if a == task_arn or a.endswith("/" + task_arn)), None)
    st = TASKS.get(arn) if arn else None
    if st is None or st.task.last_status != "RUNNING":
        raise InvalidParameterException(f"The specified task is not running: {task_arn}")
    if not st.exec_enabled:
        raise InvalidParameterException(
            "The execute command failed because execute command was not enabled when the task was run or the execute command agent isn't running. Wait and try again or run a new task with execute command enabled and try again."
        )
    session_id = f"ecs-execute-command-{uuid.uuid4().hex[:17]}"
    region = st.task.region_name
    log(f"execute-command {st.task.task_arn}: session {session_id} ({self._get_param('command')!r})")
    return ActionResult({
        "clusterArn": st.cluster.arn,
        "containerArn": st.task.containers[0]["containerArn"],
        "containerName": st.container_def.get("name"),
        "interactive": bool(self._get_param("interactive")),
        "session": {
            "sessionId": session_id,
            "streamUrl": f"wss://ssmmessages.{region}.amazonaws.com/v1/data-channel/{session_id}?role=publish_subscribe&cell-number=sandbox",
            # opaque on AWS; here it carries the command to the stand-in plugin (sandbox/bin/session-manager-plugin)
            "tokenValue": "sandbox." + base64.b64encode(json.dumps({"command": self._get_param("command"), "nonce": uuid.uuid4().hex}).encode()).decode(),
        },
        "taskArn": st.task.task_arn,
    })


def deployment_tasks(dep_id: str) -> list[SandboxTask]:
    return [t for t in TASKS.values() if t.deployment_id == dep_id]


def task_counts(dep: dict) -> tuple[int, int]:
    """(running, pending) tasks of a deployment that are not stopping."""
    live = [t for t in deployment_tasks(dep["id"]) if not t.stopping]
    running = sum(1 for t in live if t.task.last_status == "RUNNING")
    return running, len(live) - running


def circuit_breaker_threshold(desired: int) -> int:
    return min(200, max(3, math.ceil(0.5 * desired)))


def reconcile_service(backend, cluster, service) -> None:
    if service.status != "ACTIVE" or not service.deployments:
        for dep in service.deployments:
            for t in deployment_tasks(dep["id"]):
                if not t.stopping:
                    t.stop("ServiceSchedulerInitiated", "Scaling activity initiated by (deployment %s)" % dep["id"])
        return
    primary = service.deployments[0]
    primary["desiredCount"] = service.desired_count
    settle_service_deployments(service)
    if primary["id"] in NATIVE and NATIVE[primary["id"]]["stage"] != "DONE":
        reconcile_native(backend, cluster, service, primary, NATIVE[primary["id"]])
        return
    dc = getattr(service, "deployment_configuration", None) or DEFAULT_DEPLOYMENT_CONFIGURATION
    cb = dc.get("deploymentCircuitBreaker") or {}
    live = [t for t in deployment_tasks(primary["id"]) if not t.stopping]

    if primary["rolloutState"] == "IN_PROGRESS" and cb.get("enable") and primary.get("failedTasks", 0) >= circuit_breaker_threshold(service.desired_count):
        primary["rolloutState"] = "FAILED"
        primary["rolloutStateReason"] = "ECS deployment circuit breaker: tasks failed to start."
        primary["updatedAt"] = utcnow()
        add_event(service, f"(deployment {primary['id']}) deployment failed: tasks failed to start.")
        previous = getattr(service, "last_completed_task_definition", None)
        log(f"circuit breaker: {service.name} deployment {primary['id']} FAILED after {primary.get('failedTasks')} failed tasks; rollback={cb.get('rollback')} to {previous}")
        if cb.get("rollback") and previous:
            for t in live:
                t.stop("ServiceSchedulerInitiated", f"Scaling activity initiated by (deployment {primary['id']})")
            dep = start_deployment(service, previous, f" (rolling back from {primary['id']})")
            add_event(service, f"rolling back to deployment {dep['id']}.")
        return

    if primary["rolloutState"] != "FAILED":
        # launch up to the desired count, stop extras (newest first)
        missing = service.desired_count - len(live)
        for _ in range(max(0, missing)):
            launch_task(backend, cluster, service, primary)
        for t in sorted(live, key=lambda x: -x.started)[: max(0, -missing)]:
            t.stop("ServiceSchedulerInitiated", f"Scaling activity initiated by (deployment {primary['id']})")

    running, pending = task_counts(primary)
    primary["runningCount"], primary["pendingCount"] = running, pending
    live = [t for t in deployment_tasks(primary["id"]) if not t.stopping]
    all_healthy = len(live) == service.desired_count and all(t.task.last_status == "RUNNING" and t.healthy for t in live)
    if primary["rolloutState"] == "IN_PROGRESS" and all_healthy:
        primary["rolloutState"] = "COMPLETED"
        primary["rolloutStateReason"] = f"ECS deployment {primary['id']} completed."
        primary["updatedAt"] = utcnow()
        service.last_completed_task_definition = primary["taskDefinition"]
        add_event(service, f"deployment {primary['id']} deployment completed.")
        for old in service.deployments[1:]:
            for t in deployment_tasks(old["id"]):
                if not t.stopping:
                    t.stop("ServiceSchedulerInitiated", f"Scaling activity initiated by (deployment {primary['id']})")

    # retire old deployments whose tasks are gone, once the primary is done
    if primary["rolloutState"] in ("COMPLETED", "FAILED") and primary["rolloutState"] == "COMPLETED":
        for old in list(service.deployments[1:]):
            if all(t.task.last_status == "STOPPED" for t in deployment_tasks(old["id"])):
                service.deployments.remove(old)
                if len(service.deployments) == 1 and running == service.desired_count:
                    add_event(service, "has reached a steady state.")
    for dep in service.deployments[1:]:
        dep["runningCount"], dep["pendingCount"] = task_counts(dep)
    service.running_count = sum(d["runningCount"] for d in service.deployments)
    service.pending_count = sum(d["pendingCount"] for d in service.deployments)


# ---------------------------------------------------------------------------------------------
# ECS service deployments (ListServiceDeployments, DescribeServiceDeployments, StopServiceDeployment) and the
# native strategies (BLUE_GREEN, CANARY, LINEAR): the new release starts in the target group that carries no
# production traffic, then the production listener rule's weights move to it (all at once; a canary share, then
# the rest; or step by step), ECS bakes, and stops the old release. An alarm of the service's deployment alarms
# (rollback on) that trips, the circuit breaker, or StopServiceDeployment(ROLLBACK) puts the weights back and
# stops the new tasks: the old release never stopped serving. Minutes are scaled like every other delay here.

SERVICE_DEPLOYMENTS: dict[str, dict] = {}  # deployment id -> the service deployment AWS reports for it
NATIVE: dict[str, dict] = {}  # deployment id -> the native strategy's state
NATIVE_STRATEGIES = ("BLUE_GREEN", "CANARY", "LINEAR")


def service_revision_arn(service, dep: dict) -> str:
    prefix = service.arn.split(":service/")[0]
    return f"{prefix}:service-revision/{service.cluster_name}/{service.name}/{dep['id'].split('/')[-1]}"


def record_service_deployment(service, dep: dict, previous: dict | None) -> None:
    prefix = service.arn.split(":service/")[0]
    now = utcnow()
    dc = json.loads(json.dumps(getattr(service, "deployment_configuration", None) or DEFAULT_DEPLOYMENT_CONFIGURATION))
    sd = {
        "serviceDeploymentArn": f"{prefix}:service-deployment/{service.cluster_name}/{service.name}/{uuid.uuid4().hex[:22]}",
        "serviceArn": service.arn,
        "clusterArn": f"{prefix}:cluster/{service.cluster_name}",
        "createdAt": now,
        "startedAt": now,
        "updatedAt": now,
        "targetServiceRevision": {"arn": service_revision_arn(service, dep), "requestedTaskCount": service.desired_count, "runningTaskCount": 0, "pendingTaskCount": 0},
        "sourceServiceRevisions": [{"arn": service_revision_arn(service, previous), "requestedTaskCount": service.desired_count, "runningTaskCount": 0, "pendingTaskCount": 0}] if previous else [],
        "status": "IN_PROGRESS",
        "deploymentConfiguration": dc,
        "_dep": dep["id"],
        "_service": service,
    }
    alarms = dc.get("alarms") or {}
    if alarms.get("enable"):
        sd["alarms"] = {"status": "MONITORING", "alarmNames": list(alarms.get("alarmNames") or [])}
    for old_id, old in SERVICE_DEPLOYMENTS.items():
        if old["_service"] is service and old["status"] == "IN_PROGRESS":
            failed = next((d for d in service.deployments if d["id"] == old_id and d["rolloutState"] == "FAILED"), None)
            if failed is None:
                finish_service_deployment(old, "STOPPED", "a newer deployment replaced it")
            else:  # the circuit breaker's rollback: over when the release before runs again (settle_service_deployments)
                old["status"] = "ROLLBACK_IN_PROGRESS"
                old["rollback"] = {"reason": failed.get("rolloutStateReason", ""), "startedAt": now, "serviceRevisionArn": service_revision_arn(service, dep)}
    SERVICE_DEPLOYMENTS[dep["id"]] = sd
    strategy = dc.get("strategy") or "ROLLING"
    lb = next(iter(getattr(service, "load_balancers", None) or []), None) or {}
    advanced = lb.get("advancedConfiguration") or {}
    if strategy in NATIVE_STRATEGIES and advanced.get("alternateTargetGroupArn") and advanced.get("productionListenerRule") and previous:
        rule = find_rule(advanced["productionListenerRule"])
        weights = rule_weights(rule) if rule else {}
        live = max(weights, key=lambda a: weights[a]) if weights else lb.get("targetGroupArn")
        new_tg = advanced["alternateTargetGroupArn"] if live == lb.get("targetGroupArn") else lb.get("targetGroupArn")
        shares = [100]
        if strategy == "CANARY":
            shares = [float((dc.get("canaryConfiguration") or {}).get("canaryPercent", 10)), 100]
        elif strategy == "LINEAR":
            step = float((dc.get("linearConfiguration") or {}).get("stepPercent", 10))
            shares = [min(100.0, step * i) for i in range(1, int(math.ceil(100 / step)) + 1)]
        hold = (dc.get("canaryConfiguration") or dc.get("linearConfiguration") or {})
        hold_minutes = hold.get("canaryBakeTimeInMinutes", hold.get("stepBakeTimeInMinutes", 0))
        NATIVE[dep["id"]] = {
            "stage": "SCALE_UP", "since": time.monotonic(), "started_wall": time.time(), "rule": advanced["productionListenerRule"],
            "old_tg": live, "new_tg": new_tg, "shares": shares, "step": -1, "hold": scaled(60 * float(hold_minutes or 0)),
            "bake": scaled(60 * float(dc.get("bakeTimeInMinutes") or 0)), "source": previous["id"], "stop": None,
        }
        sd["lifecycleStage"] = "SCALE_UP"
        log(f"{strategy}: deployment {dep['id']} of {service.name} starts in {new_tg.split(':')[-1]}; production stays on {live.split(':')[-1]} (shares {shares})")


def finish_service_deployment(sd: dict, status: str, reason: str = "") -> None:
    now = utcnow()
    sd["status"], sd["updatedAt"], sd["finishedAt"] = status, now, now
    if reason:
        sd["statusReason"] = reason
    if "alarms" in sd and status == "SUCCESSFUL":
        sd["alarms"]["status"] = "MONITORING_COMPLETE"


def settle_service_deployments(service) -> None:
    """A rolling deployment's record follows its rollout; a rollback's ends when the release before runs again."""
    by_id = {d["id"]: d for d in service.deployments}
    for dep_id, sd in SERVICE_DEPLOYMENTS.items():
        if sd["_service"] is not service or dep_id in NATIVE:
            continue
        dep = by_id.get(dep_id)
        if sd["status"] == "IN_PROGRESS" and dep is not None:
            sd["targetServiceRevision"]["runningTaskCount"], sd["targetServiceRevision"]["pendingTaskCount"] = task_counts(dep)
            if dep["rolloutState"] == "COMPLETED":
                finish_service_deployment(sd, "SUCCESSFUL")
            elif dep["rolloutState"] == "FAILED":
                sd["status"] = "ROLLBACK_IN_PROGRESS"
                sd["rollback"] = {"reason": dep.get("rolloutStateReason", ""), "startedAt": utcnow(), "serviceRevisionArn": sd["sourceServiceRevisions"][0]["arn"] if sd["sourceServiceRevisions"] else ""}
        elif sd["status"] == "ROLLBACK_IN_PROGRESS":
            primary = service.deployments[0] if service.deployments else None
            if primary is not None and primary["id"] != dep_id and primary["rolloutState"] == "COMPLETED":
                finish_service_deployment(sd, "ROLLBACK_SUCCESSFUL")


def find_rule(arn: str):
    for _, _, backend in each_backend(elbv2_backends):
        for lb in backend.load_balancers.values():
            for listener in lb.listeners.values():
                rule = listener._non_default_rules.get(arn)
                if rule is not None:
                    return rule
    return None


def forward_groups(action) -> list[dict]:
    data = action if isinstance(action, dict) else getattr(action, "data", {})
    groups = (data.get("ForwardConfig") or {}).get("TargetGroups") or []
    if not groups and data.get("TargetGroupArn"):
        groups = [{"TargetGroupArn": data["TargetGroupArn"], "Weight": 1}]
    return groups


def rule_weights(rule) -> dict[str, float]:
    return {g["TargetGroupArn"]: float(g.get("Weight", 1)) for a in rule.actions for g in forward_groups(a)}


def set_weights(rule_arn: str, new_tg: str, share: float) -> None:
    rule = find_rule(rule_arn)
    if rule is None:
        return
    for a in rule.actions:
        for g in forward_groups(a):
            g["Weight"] = int(round(share)) if g["TargetGroupArn"] == new_tg else int(round(100 - share))


def tripped_alarms(service, since_wall: float) -> list[str]:
    alarms = ((getattr(service, "deployment_configuration", None) or {}).get("alarms") or {})
    if not (alarms.get("enable") and alarms.get("rollback")):
        return []
    names = set(alarms.get("alarmNames") or [])
    out = []
    for _, _, backend in each_backend(cloudwatch_backends):
        for alarm in backend.alarms.values():
            changed = getattr(alarm, "state_updated_timestamp", None)
            when = changed.timestamp() if changed else 0
            if alarm.name in names and alarm.state_value == "ALARM" and when >= since_wall - 1:
                out.append(alarm.name)
    return out


def native_stage(service, dep: dict, st: dict, stage: str) -> None:
    st["stage"], st["since"] = stage, time.monotonic()
    sd = SERVICE_DEPLOYMENTS.get(dep["id"])
    if sd is not None and stage != "DONE":
        sd["lifecycleStage"], sd["updatedAt"] = stage, utcnow()
    add_event(service, f"(service deployment {dep['id']}) entered {stage}.")


def native_rollback(service, dep: dict, st: dict, reason: str, triggered: list[str] | None = None) -> None:
    """Production back on the release before (it never stopped), the new tasks stopped, the deployment failed."""
    set_weights(st["rule"], st["new_tg"], 0)
    for t in deployment_tasks(dep["id"]):
        if not t.stopping:
            t.stop("ServiceSchedulerInitiated", f"Scaling activity initiated by (deployment {dep['id']})")
    dep["rolloutState"], dep["rolloutStateReason"], dep["status"], dep["updatedAt"] = "FAILED", reason, "ACTIVE", utcnow()
    source = next((d for d in service.deployments if d["id"] == st["source"]), None)
    if source is not None:
        service.deployments.remove(source)
        service.deployments.insert(0, source)
        source["status"], source["rolloutState"], source["updatedAt"] = "PRIMARY", "COMPLETED", utcnow()
        service.task_definition = source["taskDefinition"]
    st["stage"] = "DONE"
    sd = SERVICE_DEPLOYMENTS.get(dep["id"])
    if sd is not None:
        sd["rollback"] = {"reason": reason, "startedAt": utcnow(), "serviceRevisionArn": sd["sourceServiceRevisions"][0]["arn"] if sd["sourceServiceRevisions"] else ""}
        if triggered and "alarms" in sd:
            sd["alarms"].update({"status": "TRIGGERED", "triggeredAlarmNames": triggered})
        finish_service_deployment(sd, "ROLLBACK_SUCCESSFUL", reason)
    add_event(service, f"(deployment {dep['id']}) deployment failed: {reason}. Rolled back to {service.task_definition}.")
    log(f"native rollback: {service.name} deployment {dep['id']}: {reason}")


def reconcile_native(backend, cluster, service, dep: dict, st: dict) -> None:
    sd = SERVICE_DEPLOYMENTS.get(dep["id"])
    dc = getattr(service, "deployment_configuration", None) or DEFAULT_DEPLOYMENT_CONFIGURATION
    cb = dc.get("deploymentCircuitBreaker") or {}
    if st["stop"] == "ROLLBACK":
        return native_rollback(service, dep, st, "Service deployment rolled back because of a stop request (StopServiceDeployment)")
    tripped = tripped_alarms(service, st["started_wall"])
    if tripped:
        return native_rollback(service, dep, st, f"Service deployment rolled back because the CloudWatch alarm(s) {', '.join(tripped)} went into ALARM", tripped)
    if cb.get("enable") and dep.get("failedTasks", 0) >= circuit_breaker_threshold(service.desired_count):
        return native_rollback(service, dep, st, "ECS deployment circuit breaker: tasks failed to start.")
    live = [t for t in deployment_tasks(dep["id"]) if not t.stopping]
    missing = service.desired_count - len(live)
    for _ in range(max(0, missing)):
        launch_task(backend, cluster, service, dep)
    running, pending = task_counts(dep)
    dep["runningCount"], dep["pendingCount"] = running, pending
    if sd is not None:
        sd["targetServiceRevision"]["runningTaskCount"], sd["targetServiceRevision"]["pendingTaskCount"] = running, pending
    for old in service.deployments[1:]:
        old["runningCount"], old["pendingCount"] = task_counts(old)
    service.running_count = sum(d["runningCount"] for d in service.deployments)
    service.pending_count = sum(d["pendingCount"] for d in service.deployments)
    elapsed = time.monotonic() - st["since"]
    if st["stage"] == "SCALE_UP":
        live = [t for t in deployment_tasks(dep["id"]) if not t.stopping]
        if len(live) == service.desired_count and all(t.task.last_status == "RUNNING" and t.healthy for t in live):
            native_stage(service, dep, st, "TEST_TRAFFIC_SHIFT")
    elif st["stage"] == "TEST_TRAFFIC_SHIFT":  # no test listener rule: nothing to shift, as on AWS
        native_stage(service, dep, st, "PRODUCTION_TRAFFIC_SHIFT")
    elif st["stage"] == "PRODUCTION_TRAFFIC_SHIFT":
        if st["step"] < 0 or (elapsed >= st["hold"] and st["step"] < len(st["shares"]) - 1):
            st["step"] += 1
            st["since"] = time.monotonic()
            share = st["shares"][st["step"]]
            set_weights(st["rule"], st["new_tg"], share)
            add_event(service, f"(service deployment {dep['id']}) production traffic: {share:g}% on the new release.")
            log(f"{service.name} deployment {dep['id']}: {share:g}% of production traffic on {st['new_tg'].split(':')[-1]}")
        elif st["step"] == len(st["shares"]) - 1:
            native_stage(service, dep, st, "BAKE_TIME")
    elif st["stage"] == "BAKE_TIME" and elapsed >= st["bake"]:
        native_stage(service, dep, st, "CLEAN_UP")
        for old in service.deployments[1:]:
            for t in deployment_tasks(old["id"]):
                if not t.stopping:
                    t.stop("ServiceSchedulerInitiated", f"Scaling activity initiated by (deployment {dep['id']})")
        dep["rolloutState"], dep["rolloutStateReason"], dep["updatedAt"] = "COMPLETED", f"ECS deployment {dep['id']} completed.", utcnow()
        service.last_completed_task_definition = dep["taskDefinition"]
        st["stage"] = "DONE"
        if sd is not None:
            finish_service_deployment(sd, "SUCCESSFUL")
        add_event(service, f"deployment {dep['id']} deployment completed.")


def service_deployment_view(sd: dict, brief: bool = False) -> dict:
    view = {k: v for k, v in sd.items() if not k.startswith("_")}
    if brief:
        keep = ("serviceDeploymentArn", "serviceArn", "clusterArn", "startedAt", "createdAt", "finishedAt", "status", "statusReason")
        view = {k: view[k] for k in keep if k in view}
        view["targetServiceRevisionArn"] = sd["targetServiceRevision"]["arn"]
    return view


def resp_list_service_deployments(self):
    from moto.core.responses import ActionResult

    cluster = str(self._get_param("cluster") or "default").split("/")[-1]
    name = str(self._get_param("service")).split("/")[-1]
    statuses = self._get_param("status") or []
    created = self._get_param("createdAt") or {}
    with LOCK:
        found = [
            sd for sd in SERVICE_DEPLOYMENTS.values()
            if sd["_service"].name == name and sd["_service"].cluster_name == cluster and (not statuses or sd["status"] in statuses)
            and (not created.get("after") or sd["createdAt"].timestamp() >= float(created["after"]))
        ]
        found.sort(key=lambda sd: sd["createdAt"], reverse=True)
        return ActionResult({"serviceDeployments": [service_deployment_view(sd, brief=True) for sd in found[:20]]})


def resp_describe_service_deployments(self):
    from moto.core.responses import ActionResult

    arns = self._get_param("serviceDeploymentArns") or []
    with LOCK:
        by_arn = {sd["serviceDeploymentArn"]: sd for sd in SERVICE_DEPLOYMENTS.values()}
        return ActionResult({
            "serviceDeployments": [service_deployment_view(by_arn[a]) for a in arns if a in by_arn],
            "failures": [{"arn": a, "reason": "MISSING"} for a in arns if a not in by_arn],
        })


def resp_stop_service_deployment(self):
    from moto.core.responses import ActionResult
    from moto.ecs.exceptions import InvalidParameterException

    arn = str(self._get_param("serviceDeploymentArn"))
    stop_type = self._get_param("stopType") or "ABORT"
    with LOCK:
        sd = next((x for x in SERVICE_DEPLOYMENTS.values() if x["serviceDeploymentArn"] == arn), None)
        if sd is None:
            raise InvalidParameterException(f"The service deployment {arn} does not exist.")
        if sd["status"] not in ("PENDING", "IN_PROGRESS"):
            raise InvalidParameterException(f"The service deployment {arn} is {sd['status']}: only one that is pending or in progress can be stopped.")
        service, dep_id = sd["_service"], sd["_dep"]
        dep = next((d for d in service.deployments if d["id"] == dep_id), None)
        sd["status"] = "ROLLBACK_REQUESTED" if stop_type == "ROLLBACK" else "STOP_REQUESTED"
        if dep_id in NATIVE:
            NATIVE[dep_id]["stop"] = "ROLLBACK"  # the controller rolls it back on its next tick
            sd["status"] = "ROLLBACK_IN_PROGRESS"
        elif dep is not None and stop_type == "ROLLBACK":
            previous = getattr(service, "last_completed_task_definition", None)
            for t in deployment_tasks(dep_id):
                if not t.stopping:
                    t.stop("ServiceSchedulerInitiated", f"Scaling activity initiated by (deployment {dep_id})")
            dep["rolloutState"], dep["rolloutStateReason"] = "FAILED", "Service deployment rolled back because of a stop request."
            sd["status"] = "ROLLBACK_IN_PROGRESS"
            sd["rollback"] = {"reason": dep["rolloutStateReason"], "startedAt": utcnow(), "serviceRevisionArn": sd["sourceServiceRevisions"][0]["arn"] if sd["sourceServiceRevisions"] else ""}
            if previous:
                start_deployment(service, previous, f" (rolling back from {dep_id})")
        else:
            finish_service_deployment(sd, "STOPPED", "stopped by request")
        log(f"stop-service-deployment {arn} ({stop_type})")
    return ActionResult({"serviceDeploymentArn": arn})


def controller() -> None:
    while not STOPPING.is_set():
        try:
            with LOCK:
                for _, _, backend in each_backend(ecs_backends):
                    for service in list(backend.services.values()):
                        cluster = backend.clusters.get(service.cluster_name)
                        if cluster is not None:
                            reconcile_service(backend, cluster, service)
                evaluate_alarms()
            sync_hosts()
        except Exception:
            traceback.print_exc()
        STOPPING.wait(ARGS.tick)


# ---------------------------------------------------------------------------------------------
# RDS: each DB instance a real PostgreSQL server

PG_IMAGE = "llmops-sandbox/postgres:local-tls"  # the server's certificate comes from its database (server_certificate)
DATABASES: dict[str, dict] = {}  # DbiResourceId -> {container, ip, host, region, password, identifier}
_pg_problem: str | None = None  # why no server can run here (logged once)
_pg_logged = False

PG_ENTRYPOINT = r"""#!/bin/sh
# The sandbox's RDS instance: initdb with the master user and password from the environment, TLS only for
# network clients (rds.force_ssl = 1), then the server in the foreground.
set -eu
D=/var/lib/postgresql/data
umask 077
printf '%s' "$POSTGRES_PASSWORD" > /tmp/pw
printf '%s\n' "$PG_TLS_CERT" > /tmp/server.crt
printf '%s\n' "$PG_TLS_KEY" > /tmp/server.key
unset PG_TLS_KEY
"$PGBIN/initdb" -D "$D" -U "$POSTGRES_USER" --pwfile=/tmp/pw -A scram-sha-256 -E UTF8 --locale=C >/tmp/initdb.log 2>&1 || { cat /tmp/initdb.log >&2; exit 1; }
rm -f /tmp/pw
unset POSTGRES_PASSWORD
printf 'local all all trust\nhostssl all all 0.0.0.0/0 scram-sha-256\nhostnossl all all 0.0.0.0/0 reject\n' > "$D/pg_hba.conf"
echo "CREATE DATABASE \"$POSTGRES_DB\";" | "$PGBIN/postgres" --single -D "$D" postgres >/dev/null
exec "$PGBIN/postgres" -D "$D" -p "$PGPORT" -c listen_addresses='*' -c ssl=on -c ssl_cert_file=/tmp/server.crt -c ssl_key_file=/tmp/server.key -c unix_socket_directories=/tmp -c log_connections=on
"""


def postgres_bin_dir() -> str | None:
    import glob

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return os.path.dirname(found[-1]) if found else None


def postgres_image() -> bool:
    """A FROM scratch image whose /usr is the host's (bind-mounted read-only at run time): Debian's
    PostgreSQL binaries without a base image, which cannot be pulled here. Built once per engine."""
    global _pg_problem
    if docker("image", "inspect", PG_IMAGE).returncode == 0:
        return True
    if postgres_bin_dir() is None:
        _pg_problem = "PostgreSQL is not installed (apt-get install -y postgresql-15): RDS instances have no server"
        return False
    import shutil
    import tempfile

    ctx = tempfile.mkdtemp(prefix="llmops-pg-image-")
    try:
        root = os.path.join(ctx, "rootfs")
        os.makedirs(os.path.join(root, "etc"))
        os.makedirs(os.path.join(root, "pg"))
        for link in ("bin", "lib", "lib64", "sbin"):
            os.symlink(f"usr/{link}", os.path.join(root, link))
        with open(os.path.join(root, "etc", "passwd"), "w") as f:
            f.write("root:x:0:0::/root:/bin/sh\npostgres:x:1000:1000:PostgreSQL:/tmp:/bin/sh\n")
        with open(os.path.join(root, "etc", "group"), "w") as f:
            f.write("root:x:0:\npostgres:x:1000:\n")
        with open(os.path.join(root, "pg", "entrypoint.sh"), "w") as f:
            f.write(PG_ENTRYPOINT)
        os.chmod(os.path.join(root, "pg", "entrypoint.sh"), 0o755)
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write("FROM scratch\nCOPY --chown=1000:1000 rootfs/ /\nUSER 1000:1000\nENTRYPOINT [\"/pg/entrypoint.sh\"]\n")
        built = docker("build", "-q", "-t", PG_IMAGE, ctx, timeout=300, env={**os.environ, "DOCKER_BUILDKIT": "0"})
        if built.returncode != 0:
            _pg_problem = f"could not build {PG_IMAGE}: {built.stderr.strip()[-300:]}"
            return False
        log(f"built {PG_IMAGE} (PostgreSQL from {postgres_bin_dir()})")
        return True
    finally:
        shutil.rmtree(ctx, ignore_errors=True)


def server_certificate(host: str) -> tuple[str, str] | None:
    """The database's certificate for its endpoint name, signed by the sandbox's RDS CA (--rds-ca-dir), as RDS
    signs each instance's with the region's CA: a client with the CA's bundle and sslmode=verify-full accepts it,
    one with another bundle refuses it. (certificate PEM, key PEM), or None without a CA."""
    if not ARGS.rds_ca_dir:
        return None
    import tempfile

    with tempfile.TemporaryDirectory(prefix="llmops-pg-cert-") as tmp:
        key, csr, crt, ext = (os.path.join(tmp, n) for n in ("server.key", "server.csr", "server.crt", "ext.cnf"))
        with open(ext, "w") as f:
            f.write(f"subjectAltName=DNS:{host}\nextendedKeyUsage=serverAuth\n")
        steps = [
            ["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={host}", "-keyout", key, "-out", csr],
            ["openssl", "x509", "-req", "-in", csr, "-CA", os.path.join(ARGS.rds_ca_dir, "ca.pem"), "-CAkey", os.path.join(ARGS.rds_ca_dir, "ca.key"),
             "-CAcreateserial", "-CAserial", os.path.join(tmp, "ca.srl"), "-days", "825", "-extfile", ext, "-out", crt],
        ]
        for cmd in steps:
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                log(f"openssl could not make the certificate of {host}: {r.stderr.strip()[-200:]}")
                return None
        with open(crt) as c, open(key) as k:
            return c.read(), k.read()


def master_password(db) -> str:
    secret = getattr(db, "master_user_secret", None)
    if getattr(db, "manage_master_user_password", False) and secret is not None:
        backend = secretsmanager_backends[db.account_id][db.region]
        value = backend.get_secret_value(secret.secret_arn, None, None)
        text = value.get("SecretString") if isinstance(value, dict) else getattr(value, "secret_string", None)
        return str(json.loads(text or "{}").get("password", ""))
    return str(getattr(db, "_master_user_password", "") or "")  # moto keeps it; RDS never returns it


def start_database(db) -> dict | None:
    key = db.dbi_resource_id
    name = f"{LABEL}-db-{db.db_instance_identifier}-{key[-6:].lower()}"
    password = master_password(db)
    tls = server_certificate(db.address)
    if tls is None:
        log(f"database {db.db_instance_identifier}: no certificate for {db.address} (--rds-ca-dir): its server is not started")
        return None
    env = {**os.environ, "POSTGRES_USER": db.master_username, "POSTGRES_PASSWORD": password, "POSTGRES_DB": db.db_name or "postgres", "PGBIN": postgres_bin_dir() or "", "PGPORT": str(db.port),
           "PG_TLS_CERT": tls[0], "PG_TLS_KEY": tls[1]}
    docker("rm", "-f", name)
    run = docker(
        "run", "-d", "--name", name, "--label", f"{LABEL}={ARGS.instance}", "--label", f"{LABEL}.db={db.db_instance_identifier}",
        "-v", "/usr:/usr:ro", "--tmpfs", "/var/lib/postgresql:rw,mode=1777", "--tmpfs", "/tmp:rw,mode=1777",
        "-e", "POSTGRES_USER", "-e", "POSTGRES_PASSWORD", "-e", "POSTGRES_DB", "-e", "PGBIN", "-e", "PGPORT", "-e", "PG_TLS_CERT", "-e", "PG_TLS_KEY",  # values by name, never in argv
        PG_IMAGE, env=env,
    )
    if run.returncode != 0:
        log(f"database {db.db_instance_identifier}: could not start its server: {run.stderr.strip()[-300:]}")
        return None
    cid = run.stdout.strip()
    ip = docker("inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", cid).stdout.strip()
    log(f"database {db.db_instance_identifier}: PostgreSQL at {db.address}:{db.port} ({ip}), user {db.master_username}, database {db.db_name}")
    return {"container": cid, "name": name, "ip": ip, "host": db.address, "region": db.region, "password": password, "identifier": db.db_instance_identifier, "user": db.master_username}


def change_password(entry: dict, password: str) -> None:
    """A rotated master password (modify-db-instance, the managed secret's rotation) takes effect at once, as on RDS."""
    user = entry["user"].replace('"', '""')
    sql = "ALTER ROLE \"%s\" PASSWORD '%s';\n" % (user, password.replace("'", "''"))
    r = subprocess.run(["docker", "exec", "-i", entry["container"], "sh", "-c", 'exec "$PGBIN/psql" -q -h /tmp -p "$PGPORT" -U "$POSTGRES_USER" -d postgres'], input=sql, capture_output=True, text=True, timeout=60)
    if r.returncode == 0:
        entry["password"] = password
        log(f"database {entry['identifier']}: master password changed")


def sync_databases() -> None:
    from moto.rds.models import rds_backends

    global _pg_logged
    seen = set()
    for _, _, backend in each_backend(rds_backends):
        for db in list(backend.databases.values()):
            if db.engine != "postgres":
                continue
            seen.add(db.dbi_resource_id)
            entry = DATABASES.get(db.dbi_resource_id)
            if entry is None:
                if _pg_problem is not None or not postgres_image():
                    if _pg_problem and not _pg_logged:
                        log(_pg_problem)
                        _pg_logged = True
                    continue
                entry = start_database(db)
                if entry:
                    DATABASES[db.dbi_resource_id] = entry
            else:
                try:
                    password = master_password(db)
                except Exception:
                    continue
                if password and password != entry["password"]:
                    change_password(entry, password)
    for key in [k for k in DATABASES if k not in seen]:
        entry = DATABASES.pop(key)
        docker("rm", "-f", entry["container"])
        log(f"database {entry['identifier']}: deleted, its server removed")


def database_hosts(region: str) -> list[tuple[str, str]]:
    return [(e["host"], e["ip"]) for e in list(DATABASES.values()) if e["region"] == region and e["ip"]]


def database_keeper() -> None:
    while not STOPPING.is_set():
        try:
            sync_databases()
        except Exception:
            traceback.print_exc()
        STOPPING.wait(1.0)


# ---------------------------------------------------------------------------------------------
# The registry: pushes become ECR images


class RegistryEvents(BaseHTTPRequestHandler):
    def log_message(self, *a):  # quiet
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.end_headers()
        try:
            for ev in json.loads(body).get("events", []):
                if ev.get("action") == "push" and ev.get("target", {}).get("tag"):
                    record_push(ev)
        except Exception:
            traceback.print_exc()


def record_push(ev: dict) -> None:
    target = ev["target"]
    host = ev.get("request", {}).get("host", "")
    parts = host.split(".")  # <account>.dkr.ecr.<region>.amazonaws.com
    if len(parts) < 5 or parts[1:3] != ["dkr", "ecr"]:
        return
    account, region = parts[0], parts[3]
    repo, tag, digest = target["repository"], target["tag"], target["digest"]
    req = urllib.request.Request(f"{ARGS.registry_url}/v2/{repo}/manifests/{digest}", headers={"Accept": target.get("mediaType", "")})
    manifest = urllib.request.urlopen(req, timeout=10).read().decode()
    backend = ecr_backends[account][region]
    if repo not in backend.repositories:
        log(f"push to {repo}:{tag} but ECR has no repository {repo} (real ECR would refuse it)")
        return
    try:
        backend.put_image(repo, manifest, tag, target.get("mediaType"), digest)
        log(f"ECR image {repo}:{tag} {digest}")
    except Exception as e:
        log(f"ECR put_image {repo}:{tag}: {e}")
        return
    if (backend.repositories[repo].image_scanning_configuration or {}).get("scanOnPush"):
        scan_on_push(backend, repo, digest, manifest)


# ---------------------------------------------------------------------------------------------
# ECR's scan on push: what an image declares it holds is what the scan finds

FINDINGS_LABEL = "org.llmops.sandbox.findings"  # e.g. "CRITICAL:CVE-2026-0001:openssl,HIGH:CVE-2026-0002:zlib"
SCANS: dict[tuple[str, str], dict] = {}  # (repository, digest) -> {"ready_at": t, "findings": [...]}


def image_labels(repo: str, manifest: str) -> dict:
    config = (json.loads(manifest).get("config") or {}).get("digest")
    if not config:
        return {}
    blob = urllib.request.urlopen(f"{ARGS.registry_url}/v2/{repo}/blobs/{config}", timeout=10).read()
    return (json.loads(blob).get("config") or {}).get("Labels") or {}


def scan_on_push(backend, repo: str, digest: str, manifest: str) -> None:
    """The scan ECR starts on push: IN_PROGRESS for a moment (scaled), then COMPLETE with the findings the image
    declares in its FINDINGS_LABEL (none for any other image: moto's own answer is a fake HIGH finding)."""
    try:
        declared = image_labels(repo, manifest).get(FINDINGS_LABEL, "")
    except Exception as e:  # an image the registry cannot describe: scanned with no findings
        log(f"ECR scan of {repo}@{digest}: could not read its labels: {e}")
        declared = ""
    findings = []
    for item in filter(None, (x.strip() for x in declared.split(","))):
        severity, name, package = (item.split(":") + ["", ""])[:3]
        findings.append({"name": name, "severity": severity.upper(), "uri": f"https://nvd.nist.gov/vuln/detail/{name}",
                         "attributes": [{"key": "package_name", "value": package}] if package else []})
    SCANS[(repo, digest)] = {"ready_at": time.time() + scaled(20), "findings": findings, "at": utcnow()}
    image = backend.repositories[repo]._get_image(None, digest)
    image.last_scan = utcnow().replace(tzinfo=None)
    log(f"ECR scan on push of {repo}@{digest}: {len(findings)} finding(s)")


def scan_findings_answer(repo_name: str, registry_id: str, image) -> dict | None:
    scan = SCANS.get((repo_name, image.image_digest))
    if scan is None:
        return None
    answer = {"registryId": registry_id, "repositoryName": repo_name,
              "imageId": {"imageDigest": image.image_digest, "imageTag": image.image_tag}}
    if time.time() < scan["ready_at"]:
        return {**answer, "imageScanStatus": {"status": "IN_PROGRESS", "description": "The scan is in progress."}}
    counts: dict[str, int] = {}
    for f in scan["findings"]:
        counts[f["severity"]] = counts.get(f["severity"], 0) + 1
    when = scan["at"].strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return {**answer, "imageScanStatus": {"status": "COMPLETE", "description": "The scan was completed successfully."},
            "imageScanFindings": {"imageScanCompletedAt": when, "vulnerabilitySourceUpdatedAt": when,
                                  "findings": scan["findings"], "findingSeverityCounts": counts}}


# ---------------------------------------------------------------------------------------------
# The ALB: its DNS name answers on a loopback address


def healthy_targets(tg_arn: str) -> list:
    """The running tasks registered in this target group and healthy in it. Membership is checked, not only the
    address: another environment's VPC may give its task the same private IP as one of ours."""
    return [
        t
        for t in TASKS.values()
        if not t.stopping
        and t.host_port
        and any(arn == tg_arn for arn, _ in t.registered)
        and HEALTH.get((tg_arn, t.ip), {}).get("state") == "healthy"
    ]


# ---------------------------------------------------------------------------------------------
# CloudWatch alarms on what the load balancer emulation counts: its targets' answers per target group
# (HTTPCode_Target_5XX_Count, Sum) and their time (TargetResponseTime, Average), over the alarm's period
# scaled like every other delay here. Other metrics (UnHealthyHostCount, CPU ...) are not evaluated: their
# alarms stay as they are. moto keeps the alarms; this sets their state, with AWS's wording of the reason.

TARGET_ANSWERS: dict[str, list[tuple[float, int, float]]] = {}  # target group ARN -> (monotonic time, status, seconds)
ANSWERS_LOCK = threading.Lock()  # not LOCK: the controller holds that while it starts containers, and requests must not wait
ALARM_METRICS = ("HTTPCode_Target_5XX_Count", "TargetResponseTime")
OPERATORS = {
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "greater than or equal to"),
    "GreaterThanThreshold": (lambda v, t: v > t, "greater than"),
    "LessThanThreshold": (lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "less than or equal to"),
}


def count_target_answer(tg_arn: str, status: int, seconds: float) -> None:
    with ANSWERS_LOCK:
        answers = TARGET_ANSWERS.setdefault(tg_arn, [])
        answers.append((time.monotonic(), status, seconds))
        del answers[:-5000]


def target_group_by_suffix(suffix: str):
    for _, _, backend in each_backend(elbv2_backends):
        for tg in backend.target_groups.values():
            if tg.arn.endswith(":" + suffix) or tg.arn.split(":", 5)[-1] == suffix:
                return tg
    return None


def alarm_value(alarm) -> float | None:
    """The alarm's statistic over its last (scaled) period × evaluation periods; None: no data."""
    dims = {d.name: d.value for d in alarm.dimensions}
    tg = target_group_by_suffix(dims.get("TargetGroup") or "")
    if tg is None:
        return None
    since = time.monotonic() - scaled(float(alarm.period) * int(alarm.evaluation_periods))
    with ANSWERS_LOCK:
        answers = [a for a in TARGET_ANSWERS.get(tg.arn, []) if a[0] >= since]
    if alarm.metric_name == "HTTPCode_Target_5XX_Count":
        return float(sum(1 for a in answers if 500 <= a[1] < 600)) if answers else None
    return sum(a[2] for a in answers) / len(answers) if answers else None


def evaluate_alarms() -> None:
    for account, region, backend in each_backend(cloudwatch_backends):
        for alarm in list(backend.alarms.values()):
            if alarm.namespace != "AWS/ApplicationELB" or alarm.metric_name not in ALARM_METRICS:
                continue
            test, words = OPERATORS.get(alarm.comparison_operator, (None, ""))
            if test is None:
                continue
            value = alarm_value(alarm)
            state = "ALARM" if value is not None and test(value, float(alarm.threshold)) else "OK"
            if state == alarm.state_value:
                continue
            stamp = utcnow().strftime("%d/%m/%y %H:%M:%S")
            shown = 0.0 if value is None else round(value, 3)
            reason = (
                f"Threshold Crossed: 1 datapoint [{shown} ({stamp})] was {'' if state == 'ALARM' else 'not '}{words} the threshold ({float(alarm.threshold)})."
                if value is not None
                else "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as [NonBreaching]."
            )
            data = json.dumps({"version": "1.0", "statistic": alarm.statistic, "period": alarm.period, "recentDatapoints": [shown], "threshold": float(alarm.threshold)})
            alarm.update_state(reason, data, state)
            log(f"alarm {alarm.name}: {state} ({reason})")


class AlbProxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    rr = 0

    def log_message(self, *a):
        pass

    def handle_any(self):
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        lb, listener = find_listener(host, 80)
        if lb is None:
            return self.reply(503, b"no load balancer answers for this host\n")
        action = listener_action(listener, self.path, self.headers) if listener else {}
        kind = action.get("Type") or action.get("type")
        if kind == "redirect":
            cfg = action.get("RedirectConfig") or {}
            location = f"{cfg.get('Protocol', 'HTTPS').lower()}://{host}:{cfg.get('Port', '443')}{self.path}"
            return self.reply(int(str(cfg.get("StatusCode", "HTTP_301")).split("_")[-1]), b"", {"Location": location})
        if kind == "fixed-response":
            cfg = action.get("FixedResponseConfig") or {}
            return self.reply(int(cfg.get("StatusCode", 200)), (cfg.get("MessageBody") or "").encode())
        groups = [g for g in forward_groups(action) if float(g.get("Weight", 1)) > 0]
        tg_arn = random.choices([g["TargetGroupArn"] for g in groups], weights=[float(g.get("Weight", 1)) for g in groups])[0] if groups else None
        targets = healthy_targets(tg_arn) if tg_arn else []
        if not targets:
            return self.reply(503, b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>\n")
        AlbProxy.rr += 1
        t = targets[AlbProxy.rr % len(targets)]
        sent = time.monotonic()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", t.host_port, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
            headers["X-Forwarded-For"] = self.client_address[0]
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            extra = {k: v for k, v in resp.getheaders() if k.lower() not in ("content-length", "connection", "transfer-encoding")}
            count_target_answer(tg_arn, resp.status, time.monotonic() - sent)
            self.reply(resp.status, data, extra)
        except OSError:
            self.reply(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>\n")

    def reply(self, status: int, body: bytes, headers: dict | None = None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Server", "awselb/2.0")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = handle_any


def condition_matches(cond: dict, path: str, headers) -> bool:
    field = cond.get("Field")
    if field == "path-pattern":
        values = (cond.get("PathPatternConfig") or {}).get("Values") or cond.get("Values") or []
        return any(fnmatch.fnmatchcase(path.split("?")[0], v) for v in values)
    if field == "host-header":
        values = (cond.get("HostHeaderConfig") or {}).get("Values") or cond.get("Values") or []
        host = (headers.get("Host") or "").split(":")[0].lower()
        return any(fnmatch.fnmatch(host, v.lower()) for v in values)
    if field == "http-header":
        cfg = cond.get("HttpHeaderConfig") or {}
        value = headers.get(cfg.get("HttpHeaderName") or "") or ""
        return any(fnmatch.fnmatch(value, v) for v in cfg.get("Values") or [])
    return False  # a condition this emulation does not evaluate never matches


def listener_action(listener, path: str, headers) -> dict:
    """The first rule by priority whose conditions all match, else the listener's default action."""
    for rule in sorted(listener._non_default_rules.values(), key=lambda r: int(r.priority)):
        if all(condition_matches(c, path, headers) for c in rule.conditions or []):
            action = rule.actions[0] if rule.actions else {}
            return action if isinstance(action, dict) else getattr(action, "data", {})
    action = (listener.default_actions or [{}])[0]
    return action if isinstance(action, dict) else getattr(action, "data", {})


def find_listener(host: str, port: int):
    for _, _, backend in each_backend(elbv2_backends):
        for lb in backend.load_balancers.values():
            if lb.dns_name.lower() == host:
                for listener in lb.listeners.values():
                    if int(listener.port) == port:
                        return lb, listener
                return lb, None
    return None, None


# ---------------------------------------------------------------------------------------------
# /etc/hosts: one marked block


_last_hosts: list[str] = []


def desired_hosts() -> list[str]:
    lines = []
    for region in ARGS.regions:
        lines.append(f"{ARGS.registry_ip} {ARGS.account}.dkr.ecr.{region}.amazonaws.com")
    for _, _, backend in each_backend(elbv2_backends):
        for lb in backend.load_balancers.values():
            lines.append(f"{ARGS.alb_ip} {lb.dns_name}")
    return sorted(set(lines))


def write_hosts_block(lines: list[str]) -> None:
    HOSTS_BEGIN, HOSTS_END = hosts_markers()
    with open(ARGS.hosts_file) as f:
        content = f.read().splitlines()
    out, inside = [], False
    for line in content:
        if line == HOSTS_BEGIN:
            inside = True
            continue
        if line == HOSTS_END:
            inside = False
            continue
        if not inside:
            out.append(line)
    if lines:
        out += [HOSTS_BEGIN, *lines, HOSTS_END]
    with open(ARGS.hosts_file, "w") as f:  # in place: /etc/hosts may be a bind mount
        f.write("\n".join(out) + "\n")


def sync_hosts() -> None:
    global _last_hosts
    if not ARGS.hosts_file:
        return
    want = desired_hosts()
    if want != _last_hosts:
        write_hosts_block(want)
        _last_hosts = want


# ---------------------------------------------------------------------------------------------


def cleanup() -> None:
    STOPPING.set()
    ids = docker("ps", "-aq", "--filter", f"label={LABEL}={ARGS.instance}").stdout.split()
    if ids:
        docker("rm", "-f", *ids, timeout=120)
    if ARGS.hosts_file:
        write_hosts_block([])


def main() -> None:
    global ARGS
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=4566)
    p.add_argument("--events-port", type=int, default=4567, help="registry notifications (127.0.0.1)")
    p.add_argument("--alb-ip", default="127.0.0.3")
    p.add_argument("--alb-port", type=int, default=80)
    p.add_argument("--registry-ip", default="127.0.0.2")
    p.add_argument("--registry-url", default="http://127.0.0.2:80")
    p.add_argument("--account", default="123456789012")
    p.add_argument("--regions", nargs="+", default=["us-east-1"])
    p.add_argument("--hosts-file", default="", help="write a marked block of host names here (e.g. /etc/hosts)")
    p.add_argument("--time-scale", type=float, default=0.1)
    p.add_argument("--tick", type=float, default=0.25)
    p.add_argument("--instance", default="default", help="label value of the containers this emulator owns")
    p.add_argument("--rds-ca-dir", default="", help="the CA (ca.pem, ca.key) that signs each database's certificate (sandbox/rds-ca.ts)")
    p.add_argument("--admin-keys", nargs="+", default=[], help="access keys with full access besides the sandbox's own (\"sandbox\"); every other key is IAM-checked")
    ARGS = p.parse_args()
    for addr in (ARGS.host, ARGS.alb_ip, ARGS.registry_ip):
        if not addr.startswith("127."):
            sys.exit(f"emulator: refusing to bind {addr}: loopback addresses only")

    patch_moto()
    # IAM as AWS evaluates it for every key but the sandbox's own admin (iam_enforce.py): a role made from
    # config/iam-deploy-policy.json gets exactly what that policy allows, on real resource ARNs
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import iam_enforce  # noqa: E402

    iam_enforce.install(admin_keys={"sandbox", *ARGS.admin_keys})
    server = ThreadedMotoServer(ip_address=ARGS.host, port=ARGS.port, verbose=False)
    server.start()
    events = ThreadingHTTPServer(("127.0.0.1", ARGS.events_port), RegistryEvents)
    threading.Thread(target=events.serve_forever, daemon=True).start()
    alb = ThreadingHTTPServer((ARGS.alb_ip, ARGS.alb_port), AlbProxy)
    threading.Thread(target=alb.serve_forever, daemon=True).start()

    def shutdown(*_):
        if STOPPING.is_set():
            return
        log("stopping: removing task containers and the hosts block")
        cleanup()
        server.stop()
        os._exit(0)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    threading.Thread(target=database_keeper, daemon=True).start()
    log(f"AWS on http://{ARGS.host}:{ARGS.port}, ALB on {ARGS.alb_ip}:{ARGS.alb_port}, registry events on 127.0.0.1:{ARGS.events_port}, time scale {ARGS.time_scale}")
    sync_hosts()
    controller()


if __name__ == "__main__":
    main()
