"""The sandbox emulator's rollout logic (reconcile_service) on fake tasks, without Docker or a server.

What ECS does and the emulator must copy: launch up to the desired count, COMPLETED once every task of
the primary deployment runs and is healthy (then the old deployment's tasks stop and it is retired), the
circuit breaker's threshold, FAILED plus a rollback deployment of the last completed task definition, and
no decision at all when the circuit breaker is off. Run by test/emulator.test.ts.
"""
from __future__ import annotations

import os
import sys
import unittest
from types import SimpleNamespace

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "sandbox"))
import emulator  # noqa: E402

TD1 = "arn:aws:ecs:us-east-1:123456789012:task-definition/llmops-task:1"
TD2 = "arn:aws:ecs:us-east-1:123456789012:task-definition/llmops-task:2"


class FakeTask:
    """What reconcile_service reads of a SandboxTask: status, health, its deployment, stop()."""

    def __init__(self, service, deployment, n: int):
        self.service = service
        self.deployment_id = deployment["id"]
        self.task = SimpleNamespace(last_status="PROVISIONING")
        self.healthy = False
        self.stopping = False
        self.started = n
        self.stops: list[str] = []

    def stop(self, stop_code: str, reason: str, failed: bool = False, container_already_stopped: bool = False) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.stops.append(stop_code)
        self.task.last_status = "STOPPED"
        if failed:
            for d in self.service.deployments:
                if d["id"] == self.deployment_id:
                    d["failedTasks"] = d.get("failedTasks", 0) + 1


class RolloutBase(unittest.TestCase):
    def setUp(self):
        emulator.TASKS.clear()
        self.launched: list[FakeTask] = []

        def launch(backend, cluster, service, deployment):
            t = FakeTask(service, deployment, len(self.launched))
            emulator.TASKS[f"task-{len(self.launched)}"] = t
            self.launched.append(t)
            return t

        self._orig_launch = emulator.launch_task
        emulator.launch_task = launch

    def tearDown(self):
        emulator.launch_task = self._orig_launch
        emulator.TASKS.clear()

    def service(self, desired=1, circuit_breaker=True, td=TD2):
        s = SimpleNamespace(
            name="llmops-service", status="ACTIVE", desired_count=desired, deployments=[], launch_type="FARGATE",
            arn="arn:aws:ecs:us-east-1:123456789012:service/llmops-cluster/llmops-service", cluster_name="llmops-cluster",
            network_configuration=None, task_definition=None, events=[], running_count=0, pending_count=0,
            deployment_configuration={"deploymentCircuitBreaker": {"enable": circuit_breaker, "rollback": circuit_breaker}},
        )
        emulator.start_deployment(s, td)
        return s

    def reconcile(self, s):
        emulator.reconcile_service(None, None, s)

    def run_healthy(self, tasks):
        for t in tasks:
            t.task.last_status, t.healthy = "RUNNING", True


class Rollout(RolloutBase):
    def test_launches_the_desired_count_and_completes_when_all_run_healthy(self):
        s = self.service(desired=2)
        self.reconcile(s)
        self.assertEqual(len(self.launched), 2)
        self.assertEqual(s.deployments[0]["rolloutState"], "IN_PROGRESS")
        self.run_healthy(self.launched[:1])
        self.reconcile(s)
        self.assertEqual(s.deployments[0]["rolloutState"], "IN_PROGRESS", "one of two healthy is not done")
        self.assertEqual(s.deployments[0]["runningCount"], 1)
        self.run_healthy(self.launched)
        self.reconcile(s)
        self.assertEqual(s.deployments[0]["rolloutState"], "COMPLETED")
        self.assertEqual(s.last_completed_task_definition, TD2)
        self.assertEqual(len(self.launched), 2, "no extra task")

    def test_a_new_deployment_replaces_the_old_one_then_retires_it(self):
        s = self.service(td=TD1)
        self.reconcile(s)
        self.run_healthy(self.launched)
        self.reconcile(s)
        old = self.launched[0]
        emulator.start_deployment(s, TD2)
        self.assertEqual([d["status"] for d in s.deployments], ["PRIMARY", "ACTIVE"])
        self.reconcile(s)
        new = self.launched[1]
        self.assertFalse(old.stopping, "the old task serves until the new one is healthy (minimum healthy 100 %)")
        self.run_healthy([new])
        self.reconcile(s)
        self.assertTrue(old.stopping)
        self.reconcile(s)
        self.assertEqual(len(s.deployments), 1, "the old deployment is retired once its tasks stopped")
        self.assertTrue(any("steady state" in e["message"] for e in s.events))

    def test_circuit_breaker_threshold_is_half_the_desired_count_between_3_and_200(self):
        self.assertEqual([emulator.circuit_breaker_threshold(n) for n in (1, 6, 10, 11, 1000)], [3, 3, 5, 6, 200])

    def test_circuit_breaker_fails_the_deployment_and_rolls_back_to_the_last_completed_revision(self):
        s = self.service(td=TD1)
        self.reconcile(s)
        self.run_healthy(self.launched)
        self.reconcile(s)
        emulator.start_deployment(s, TD2)
        failing = s.deployments[0]
        for _ in range(3):
            self.reconcile(s)
            [t for t in self.launched if t.deployment_id == failing["id"] and not t.stopping][0].stop("EssentialContainerExited", "exit 1", failed=True)
        self.reconcile(s)
        self.assertEqual(failing["rolloutState"], "FAILED")
        self.assertEqual(failing["status"], "ACTIVE")
        self.assertEqual(s.deployments[0]["taskDefinition"], TD1, "the rollback deploys the last completed revision")
        self.assertEqual(s.deployments[0]["status"], "PRIMARY")
        self.assertTrue(any("rolling back" in e["message"] for e in s.events))

    def test_two_failures_are_below_the_threshold(self):
        s = self.service()
        for _ in range(2):
            self.reconcile(s)
            [t for t in self.launched if not t.stopping][0].stop("EssentialContainerExited", "exit 1", failed=True)
        self.reconcile(s)
        self.assertEqual(s.deployments[0]["rolloutState"], "IN_PROGRESS")
        self.assertEqual(len(self.launched), 3, "each failed task is replaced")

    def test_without_the_circuit_breaker_ecs_never_decides(self):
        s = self.service(circuit_breaker=False)
        for _ in range(6):
            self.reconcile(s)
            [t for t in self.launched if not t.stopping][0].stop("EssentialContainerExited", "exit 1", failed=True)
        self.reconcile(s)
        self.assertEqual(s.deployments[0]["rolloutState"], "IN_PROGRESS")
        self.assertEqual(s.deployments[0]["failedTasks"], 6)

    def test_scaling_down_stops_the_newest_tasks(self):
        s = self.service(desired=3)
        self.reconcile(s)
        self.run_healthy(self.launched)
        self.reconcile(s)
        s.desired_count = 1
        self.reconcile(s)
        self.assertEqual([t.stopping for t in self.launched], [False, True, True])

    def test_a_deleted_service_stops_every_task(self):
        s = self.service(desired=2)
        self.reconcile(s)
        s.status = "INACTIVE"
        self.reconcile(s)
        self.assertTrue(all(t.stopping for t in self.launched))


TG_PROD = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/llmops-tg/1"
TG_STAGING = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/llmops-staging-tg/2"


class Targets(unittest.TestCase):
    """The ALB forwards only to its own target group's healthy tasks, and two live tasks never share an address."""

    def setUp(self):
        emulator.TASKS.clear()
        emulator.HEALTH.clear()
        emulator.IPS_IN_USE.clear()

    tearDown = setUp

    def task(self, name: str, ip: str, tg: str) -> SimpleNamespace:
        t = SimpleNamespace(stopping=False, host_port=8000 + len(emulator.TASKS), ip=ip, registered=[(tg, 8000)])
        emulator.TASKS[name] = t
        emulator.HEALTH[(tg, ip)] = {"state": "healthy"}
        return t

    def test_a_task_of_another_target_group_with_the_same_ip_is_not_a_target(self):
        prod = self.task("prod", "10.0.130.7", TG_PROD)
        self.task("staging", "10.0.130.7", TG_STAGING)  # another VPC, the same address
        self.assertEqual(emulator.healthy_targets(TG_PROD), [prod])

    def test_only_healthy_running_tasks_are_targets(self):
        ok = self.task("ok", "10.0.130.7", TG_PROD)
        self.task("stopping", "10.0.130.8", TG_PROD).stopping = True
        self.task("initial", "10.0.130.9", TG_PROD)
        emulator.HEALTH[(TG_PROD, "10.0.130.9")] = {"state": "initial"}
        self.assertEqual(emulator.healthy_targets(TG_PROD), [ok])

    def test_a_live_tasks_address_is_not_given_twice_until_it_is_released(self):
        first = emulator.unique_ip("10.0.130.7")
        second = emulator.unique_ip("10.0.130.7")
        self.assertEqual(first, "10.0.130.7")
        self.assertNotEqual(second, first)
        self.assertTrue(second.startswith("10.0.130."))
        emulator.release_ip(first)
        self.assertEqual(emulator.unique_ip("10.0.130.7"), "10.0.130.7")


class Alarms(unittest.TestCase):
    """A deployment alarm on the targets' 5xx (or their time) is evaluated on what the load balancer counted in the
    alarm's scaled period: ALARM with AWS's wording once the threshold is crossed, OK again once the window is clean."""

    def setUp(self):
        emulator.ARGS = SimpleNamespace(time_scale=0.1)
        emulator.TARGET_ANSWERS.clear()
        self._orig = emulator.target_group_by_suffix
        emulator.target_group_by_suffix = lambda suffix: SimpleNamespace(arn=TG_PROD) if suffix == "targetgroup/prod/1" else None
        self.states: list[tuple[str, str]] = []

    def tearDown(self):
        emulator.target_group_by_suffix = self._orig
        emulator.TARGET_ANSWERS.clear()

    def alarm(self, metric="HTTPCode_Target_5XX_Count", threshold=5.0, operator="GreaterThanOrEqualToThreshold", tg="targetgroup/prod/1"):
        a = SimpleNamespace(
            name="llmops-deploy-5xx", namespace="AWS/ApplicationELB", metric_name=metric, comparison_operator=operator,
            threshold=threshold, period=60, evaluation_periods=1, statistic="Sum", state_value="OK",
            dimensions=[SimpleNamespace(name="LoadBalancer", value="app/alb/1"), SimpleNamespace(name="TargetGroup", value=tg)],
        )
        a.update_state = lambda reason, data, state: (self.states.append((state, reason)), setattr(a, "state_value", state))
        return a

    def evaluate(self, *alarms):
        backend = SimpleNamespace(alarms={a.name + str(i): a for i, a in enumerate(alarms)})
        orig = emulator.cloudwatch_backends
        emulator.cloudwatch_backends = {"123456789012": {"us-east-1": backend}}
        try:
            emulator.evaluate_alarms()
        finally:
            emulator.cloudwatch_backends = orig

    def test_five_5xx_in_the_window_trip_it_with_the_datapoint_and_threshold(self):
        a = self.alarm()
        for status in (200, 500, 503, 200, 500, 502):
            emulator.count_target_answer(TG_PROD, status, 0.01)
        self.evaluate(a)
        self.assertEqual(a.state_value, "OK", "4 of them: below 5")
        emulator.count_target_answer(TG_PROD, 500, 0.01)
        self.evaluate(a)
        self.assertEqual(a.state_value, "ALARM")
        self.assertRegex(self.states[-1][1], r"^Threshold Crossed: 1 datapoint \[5\.0 \(.+\)\] was greater than or equal to the threshold \(5\.0\)\.$")

    def test_answers_older_than_the_scaled_period_no_longer_count(self):
        a = self.alarm()
        old = emulator.time.monotonic() - 7  # period 60 s at time scale 0.1: a 6 s window
        emulator.TARGET_ANSWERS[TG_PROD] = [(old, 500, 0.01)] * 9
        a.state_value = "ALARM"
        self.evaluate(a)
        self.assertEqual(a.state_value, "OK")
        self.assertIn("no datapoints", self.states[-1][1])

    def test_latency_on_average_and_other_target_groups_or_metrics_untouched(self):
        slow = self.alarm(metric="TargetResponseTime", threshold=2.0, operator="GreaterThanThreshold")
        elsewhere = self.alarm(tg="targetgroup/staging/2")
        cpu = self.alarm(metric="UnHealthyHostCount", threshold=1.0)
        cpu.state_value = "INSUFFICIENT_DATA"
        for seconds in (1.0, 4.0):
            emulator.count_target_answer(TG_PROD, 500, seconds)
        self.evaluate(slow, elsewhere, cpu)
        self.assertEqual((slow.state_value, elsewhere.state_value, cpu.state_value), ("ALARM", "OK", "INSUFFICIENT_DATA"))
        self.assertIn("[2.5 (", self.states[0][1])


TG_ALT = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/llmops-tg-alt/3"
RULE = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/alb/1/2/3"


class Native(RolloutBase):
    """ECS's native strategies: the new release starts in the target group without production traffic, the rule's
    weights move to it (a canary's share, then all), ECS bakes, then the old release stops; an alarm or a stop
    request puts the weights back and stops the new tasks, the old release serving throughout."""

    def setUp(self):
        super().setUp()
        emulator.ARGS = SimpleNamespace(time_scale=0.0)  # every scaled delay is the 0.2 s floor
        emulator.SERVICE_DEPLOYMENTS.clear()
        emulator.NATIVE.clear()
        self.rule = SimpleNamespace(actions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": TG_PROD, "Weight": 100}, {"TargetGroupArn": TG_ALT, "Weight": 0}]}}])
        self._orig_find_rule, self._orig_tripped = emulator.find_rule, emulator.tripped_alarms
        emulator.find_rule = lambda arn: self.rule if arn == RULE else None
        self.tripped: list[str] = []
        emulator.tripped_alarms = lambda service, since: list(self.tripped)

    def tearDown(self):
        emulator.find_rule, emulator.tripped_alarms = self._orig_find_rule, self._orig_tripped
        super().tearDown()

    def weights(self):
        return {g["TargetGroupArn"]: g["Weight"] for g in self.rule.actions[0]["ForwardConfig"]["TargetGroups"]}

    def canary_service(self):
        s = self.service(desired=1, td=TD1)
        self.reconcile(s)
        self.run_healthy(self.launched)
        self.reconcile(s)  # the first release, rolling: COMPLETED on the service's own target group
        s.load_balancers = [{"targetGroupArn": TG_PROD, "advancedConfiguration": {"alternateTargetGroupArn": TG_ALT, "productionListenerRule": RULE}}]
        s.deployment_configuration = {"deploymentCircuitBreaker": {"enable": True, "rollback": True}, "strategy": "CANARY",
                                      "alarms": {"alarmNames": ["llmops-deploy-5xx-alt"], "enable": True, "rollback": True},
                                      "bakeTimeInMinutes": 1, "canaryConfiguration": {"canaryPercent": 10, "canaryBakeTimeInMinutes": 1}}
        dep = emulator.start_deployment(s, TD2)
        return s, dep, emulator.SERVICE_DEPLOYMENTS[dep["id"]]

    def test_a_canary_takes_its_share_then_all_then_bakes_and_stops_the_old_release(self):
        s, dep, sd = self.canary_service()
        self.assertEqual(emulator.NATIVE[dep["id"]]["new_tg"], TG_ALT, "the target group without production traffic")
        old = self.launched[0]
        self.reconcile(s)
        self.assertEqual(sd["lifecycleStage"], "SCALE_UP")
        self.run_healthy(self.launched[1:])
        stages = []
        for _ in range(40):
            self.reconcile(s)
            stages.append((sd["lifecycleStage"], self.weights()[TG_ALT]))
            if sd["status"] != "IN_PROGRESS":
                break
            emulator.time.sleep(0.05)
        self.assertIn(("PRODUCTION_TRAFFIC_SHIFT", 10), stages)
        self.assertIn(("BAKE_TIME", 100), stages)
        self.assertLess(stages.index(("PRODUCTION_TRAFFIC_SHIFT", 10)), stages.index(("BAKE_TIME", 100)))
        self.assertEqual((sd["status"], dep["rolloutState"]), ("SUCCESSFUL", "COMPLETED"))
        self.assertTrue(old.stopping, "the old release stops after the bake")
        self.assertEqual(s.last_completed_task_definition, TD2)

    def test_an_alarm_puts_the_traffic_back_and_stops_the_new_tasks_the_old_release_primary_again(self):
        s, dep, sd = self.canary_service()
        old = self.launched[0]
        self.reconcile(s)
        self.run_healthy(self.launched[1:])
        for _ in range(3):
            self.reconcile(s)
        self.assertEqual(self.weights()[TG_ALT], 10)
        self.tripped = ["llmops-deploy-5xx-alt"]
        self.reconcile(s)
        self.assertEqual(self.weights(), {TG_PROD: 100, TG_ALT: 0})
        self.assertTrue(all(t.stopping for t in self.launched[1:]))
        self.assertFalse(old.stopping)
        self.assertEqual((s.deployments[0]["taskDefinition"], s.deployments[0]["status"]), (TD1, "PRIMARY"))
        self.assertEqual(dep["rolloutState"], "FAILED")
        self.assertEqual(sd["status"], "ROLLBACK_SUCCESSFUL")
        self.assertEqual(sd["alarms"], {"status": "TRIGGERED", "alarmNames": ["llmops-deploy-5xx-alt"], "triggeredAlarmNames": ["llmops-deploy-5xx-alt"]})
        self.assertIn("llmops-deploy-5xx-alt", sd["rollback"]["reason"])


class Rules(unittest.TestCase):
    """The load balancer emulation takes a listener's rules by priority (path, host, header), else its default."""

    def listener(self):
        rule = lambda priority, conditions, tg: SimpleNamespace(priority=priority, conditions=conditions, actions=[{"Type": "forward", "TargetGroupArn": tg}])
        return SimpleNamespace(
            _non_default_rules={
                "b": rule(2, [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}], TG_ALT),
                "a": rule(1, [{"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Origin-Verify", "Values": ["s3cret"]}}], TG_STAGING),
            },
            default_actions=[{"Type": "forward", "TargetGroupArn": TG_PROD}],
        )

    def test_the_first_matching_rule_by_priority_else_the_default(self):
        listener = self.listener()
        self.assertEqual(emulator.listener_action(listener, "/x", {"X-Origin-Verify": "s3cret"})["TargetGroupArn"], TG_STAGING)
        self.assertEqual(emulator.listener_action(listener, "/x?y=1", {})["TargetGroupArn"], TG_ALT)
        del listener._non_default_rules["b"]
        self.assertEqual(emulator.listener_action(listener, "/x", {"X-Origin-Verify": "wrong"})["TargetGroupArn"], TG_PROD)
        self.assertEqual(emulator.forward_groups({"ForwardConfig": {"TargetGroups": [{"TargetGroupArn": TG_ALT, "Weight": 0}]}}), [{"TargetGroupArn": TG_ALT, "Weight": 0}])


class TagConditions(unittest.TestCase):
    """sandbox/iam_enforce.py: a stack's tag guard (Null + StringNotEquals on aws:ResourceTag/Project) as AWS
    evaluates it, and the tags a request sets, in each service's form."""

    GUARD = {"Condition": {"Null": {"aws:ResourceTag/Project": "false"}, "StringNotEquals": {"aws:ResourceTag/Project": ["llmops"]}}}

    def setUp(self):
        import iam_enforce

        self.ie = iam_enforce

    def test_the_guard_holds_only_for_another_stacks_tag(self):
        holds = lambda ctx: self.ie._conditions_hold(self.GUARD, ctx)  # noqa: E731
        self.assertTrue(holds({"aws:ResourceTag/Project": "llmops-staging"}))
        self.assertFalse(holds({"aws:ResourceTag/Project": "llmops"}), "its own stack")
        self.assertFalse(holds({}), "untagged: Null false does not hold")
        # StringNotEquals alone holds on a missing key (AWS's negated operators), Null "true" only then
        self.assertTrue(self.ie._conditions_hold({"Condition": {"StringNotEquals": {"k": "v"}}}, {}))
        self.assertTrue(self.ie._conditions_hold({"Condition": {"Null": {"k": "true"}}}, {}))
        self.assertFalse(self.ie._conditions_hold({"Condition": {"Null": {"k": "true"}}}, {"k": "v"}))

    def test_request_tags_in_each_services_form(self):
        tags = self.ie._request_tags
        self.assertEqual(tags({"tags": [{"key": "Project", "value": "a"}]}), {"Project": "a"})
        self.assertEqual(
            tags({"TagSpecification.1.ResourceType": "security-group", "TagSpecification.1.Tag.1.Key": "Project", "TagSpecification.1.Tag.1.Value": "b"}),
            {"Project": "b"},
        )
        self.assertEqual(tags({"Tag.1.Key": "Project", "Tag.1.Value": "c", "ResourceId.1": "sg-1"}), {"Project": "c"})
        self.assertEqual(tags({"Tags.member.1.Key": "Project", "Tags.member.1.Value": "d"}), {"Project": "d"})
        self.assertEqual(tags({"GroupName": "x", "Description": "Key"}), {})


if __name__ == "__main__":
    unittest.main()
