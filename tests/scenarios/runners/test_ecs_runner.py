"""EcsRunner against in-process moto: the exact RunTask / StopTask / DescribeTasks / GetLogEvents
calls, the exit codes, and supervision (a crashed task is replaced by a new RunTask)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import signal
import time
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from core.errors import ConfigError
from scenarios.model import ConsumerSettings, RestartPolicy
from scenarios.runners.ecs import (
    DEPROVISIONING_ALLOWANCE_S,
    EXIT_TASK_FAILED_TO_START,
    KILL_SEMANTICS,
    EcsRunner,
    EcsTaskConfig,
    task_id_of,
)
from tests.scenarios.conftest import (
    EcsStack,
    moto_task,
    register_consumer_task_definition,
    stop_like_container,
)

pytestmark = pytest.mark.unit


def _runner(stack: EcsStack, **overrides: object) -> EcsRunner:
    settings: dict[str, object] = {
        "describe_interval_s": 0,
        "logs_interval_s": 0,
        "log_settle_s": 0,
        **overrides,
    }
    config = EcsTaskConfig(
        cluster=stack.cluster,
        task_definition=stack.task_definition_arn,
        subnets=tuple(stack.subnets),
        security_groups=tuple(stack.security_groups),
        started_by=stack.prefix,
        tags={"managed-by": "sqs-kit", "sqs-kit-stack": stack.prefix},
        **settings,  # type: ignore[arg-type]
    )
    return EcsRunner(config, ecs=stack.ecs(), logs=stack.logs())


def _put(
    stack: EcsStack, task_arn: str, *events: dict[str, object], raw: str | None = None
) -> None:
    logs = boto3.client("logs", region_name=stack.region)
    stream = f"ecs/consumer/{task_id_of(task_arn)}"
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=stack.log_group, logStreamName=stream)
    messages = [json.dumps(e) for e in events] + ([raw] if raw is not None else [])
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=stack.log_group,
        logStreamName=stream,
        logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(messages)],
    )


def test_run_task_sends_fargate_public_subnets_and_scenario_env_as_overrides(
    ecs_stack: EcsStack,
) -> None:
    # GIVEN a runner on an awsvpc (Fargate) task definition
    runner = _runner(ecs_stack)
    try:
        # WHEN one consumer starts with the scenario's environment
        runner.start(
            1, ConsumerSettings(crash_rate=0.1), env={"QUEUE_URL": "https://sqs/q"}, id_prefix="c"
        )
        # THEN exactly one RunTask went out, with these parameters
        (request,) = ecs_stack.calls.of("RunTask")
        assert request["cluster"] == ecs_stack.cluster
        assert request["taskDefinition"] == ecs_stack.task_definition_arn
        assert request["launchType"] == "FARGATE"
        assert request["count"] == 1
        assert request["startedBy"] == ecs_stack.prefix
        assert request["networkConfiguration"] == {
            "awsvpcConfiguration": {
                "subnets": ecs_stack.subnets,
                "securityGroups": ecs_stack.security_groups,
                "assignPublicIp": "ENABLED",
            }
        }
        assert request["overrides"] == {
            "containerOverrides": [
                {
                    "name": "consumer",
                    "environment": [
                        {"name": "CONSUMER_ID", "value": "c-0-1"},
                        {"name": "CRASH_RATE", "value": "0.1"},
                        {"name": "LOG_FORMAT", "value": "json"},
                        {"name": "QUEUE_URL", "value": "https://sqs/q"},
                    ],
                }
            ]
        }
        assert {"key": "sqs-kit-stack", "value": ecs_stack.prefix} in request["tags"]
        assert {"key": "sqs-kit-consumer", "value": "c-0-1"} in request["tags"]
    finally:
        runner.stop_all(timeout=1)


def test_credentials_are_never_sent_as_overrides(ecs_stack: EcsStack) -> None:
    runner = _runner(ecs_stack)
    request = runner.run_task_request(
        "c-0-1",
        {
            "AWS_ACCESS_KEY_ID": "AKIA",
            "AWS_SECRET_ACCESS_KEY": "s",
            "AWS_SESSION_TOKEN": "t",
            "A": "1",
        },
    )
    names = [e["name"] for e in request["overrides"]["containerOverrides"][0]["environment"]]
    assert names == ["A"]


def test_overrides_over_8_kib_are_refused_before_calling_ecs(ecs_stack: EcsStack) -> None:
    runner = _runner(ecs_stack)
    with pytest.raises(ConfigError, match="8192"):
        runner.run_task_request("c-0-1", {"BIG": "x" * 9000})
    assert ecs_stack.calls.of("RunTask") == []


def test_host_network_task_definition_runs_without_network_configuration(
    ecs_stack: EcsStack,
) -> None:
    # GIVEN the emulator's host-network task definition (Fargate would reject awsvpc-less ones)
    td = register_consumer_task_definition(
        ecs_stack.region, f"{ecs_stack.prefix}-host", network_mode="host"
    )
    runner = EcsRunner(
        EcsTaskConfig(cluster=ecs_stack.cluster, task_definition=td),
        ecs=ecs_stack.ecs(),
        logs=ecs_stack.logs(),
    )
    request = runner.run_task_request("c-0-1", {})
    assert "networkConfiguration" not in request
    assert request["launchType"] == "EC2"
    assert runner.describe()["network_mode"] == "host"


def test_awsvpc_without_subnets_is_a_config_error(ecs_stack: EcsStack) -> None:
    with pytest.raises(ConfigError, match="subnets"):
        EcsRunner(
            EcsTaskConfig(cluster=ecs_stack.cluster, task_definition=ecs_stack.task_definition_arn),
            ecs=ecs_stack.ecs(),
            logs=ecs_stack.logs(),
        )


def test_sigkill_and_sigterm_are_one_stop_task_and_the_report_says_so(ecs_stack: EcsStack) -> None:
    runner = _runner(ecs_stack)
    try:
        (handle,) = runner.start(1, restart=RestartPolicy.NEVER)
        task_arn = handle.current.native_id
        # WHEN the scenario asks for a SIGKILL and then a SIGTERM
        runner.signal(handle, signal.SIGKILL)
        runner.signal(handle, signal.SIGTERM)
        # THEN one StopTask went out (ECS escalates to SIGKILL itself after stopTimeout)
        (stop,) = ecs_stack.calls.of("StopTask")
        assert stop["cluster"] == ecs_stack.cluster
        assert stop["task"] == task_arn
        assert "SIGKILL requested" in stop["reason"]
        assert len(stop["reason"]) <= 255
        assert handle.current.signals_sent == ["SIGKILL", "SIGTERM"]  # both requested
        described = runner.describe()
        assert described["kill_semantics"] == KILL_SEMANTICS
        assert "SIGTERM, then SIGKILL" in described["kill_semantics"]
        assert described["stop_timeout_s"] == 30
        # AND the stopped task reports moto's container exit code
        assert runner.wait_all(timeout=5)
        assert handle.exit_codes == [0]
    finally:
        runner.stop_all(timeout=1)


def test_events_come_from_the_task_log_stream_with_a_forward_token(ecs_stack: EcsStack) -> None:
    runner = _runner(ecs_stack)
    try:
        (handle,) = runner.start(1, restart=RestartPolicy.NEVER)
        task_arn = handle.current.native_id
        # GIVEN no stream yet: nothing, and no error
        assert runner.events() == []
        # WHEN the container writes two JSON events and a non-JSON line
        _put(
            ecs_stack,
            task_arn,
            {"event": "consumer.started", "consumer_id": handle.consumer_id},
            {"event": "message.completed", "message_id": "m1", "consumer_id": handle.consumer_id},
            raw="Traceback (most recent call last):",
        )
        events = runner.events()
        assert [e["event"] for e in events] == ["consumer.started", "message.completed"]
        assert events[1]["_slot"] == 0 and events[1]["_incarnation"] == handle.consumer_id
        # THEN a second read returns only what is new
        _put(ecs_stack, task_arn, {"event": "consumer.stopped"})
        assert [e["event"] for e in runner.events()][-1] == "consumer.stopped"
        assert len(runner.events()) == 3
        reads = ecs_stack.calls.of("GetLogEvents")
        stream = f"ecs/consumer/{task_id_of(task_arn)}"
        assert all(r["logGroupName"] == ecs_stack.log_group for r in reads)
        assert all(r["logStreamName"] == stream for r in reads)
        assert all(r["startFromHead"] is True for r in reads)
        assert any("nextToken" in r for r in reads)
    finally:
        runner.stop_all(timeout=1)


def test_crashed_task_is_replaced_by_a_new_run_task(ecs_stack: EcsStack) -> None:
    runner = _runner(ecs_stack)
    try:
        (handle,) = runner.start(1, ConsumerSettings(crash_after_receive=1), id_prefix="c")
        first = handle.current.native_id
        # WHEN the container exits with the chaos-crash code
        stop_like_container(ecs_stack.region, ecs_stack.cluster, first, 3)
        deadline = time.monotonic() + 10
        while len(handle.incarnations) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        # THEN the slot got a second task with a fresh CONSUMER_ID and the same scenario env
        assert len(handle.incarnations) == 2
        assert handle.incarnations[0].exit_code == 3
        second = ecs_stack.calls.of("RunTask")[1]
        env = {
            e["name"]: e["value"]
            for e in second["overrides"]["containerOverrides"][0]["environment"]
        }
        assert env["CRASH_AFTER_RECEIVE"] == "1"
        assert (
            env["CONSUMER_ID"] == handle.current.consumer_id != handle.incarnations[0].consumer_id
        )
    finally:
        runner.stop_all(timeout=1)
    # AND stop_all stopped the replacement with StopTask
    assert handle.current.native_id in [s["task"] for s in ecs_stack.calls.of("StopTask")]


def test_describe_tasks_is_batched_and_throttled(ecs_stack: EcsStack) -> None:
    runner = _runner(ecs_stack, describe_interval_s=60)
    try:
        runner.start(3, restart=RestartPolicy.NEVER)
        time.sleep(0.5)  # the supervisor polls every 0.1 s
        calls = ecs_stack.calls.of("DescribeTasks")
        assert len(calls) == 1
        assert len(calls[0]["tasks"]) == 3
    finally:
        runner.config = dataclasses.replace(runner.config, describe_interval_s=0)
        runner.stop_all(timeout=0)


def test_a_stopped_task_waits_for_its_log_stream_to_settle(ecs_stack: EcsStack) -> None:
    runner = _runner(ecs_stack, log_settle_s=0.6)
    try:
        (handle,) = runner.start(1, restart=RestartPolicy.NEVER)
        stop_like_container(ecs_stack.region, ecs_stack.cluster, handle.current.native_id, 0)
        time.sleep(0.2)
        assert handle.current.exit_code is None  # stopped, but CloudWatch may still be behind
        assert runner.wait_all(timeout=5)
        assert handle.exit_codes == [0]
    finally:
        runner.stop_all(timeout=0)


def test_tasks_that_never_start_give_up_after_three(ecs_stack: EcsStack) -> None:
    runner = _runner(ecs_stack)
    runner.restart_delay_s = 0
    runner.start_retry_backoff_s = 0
    try:
        (handle,) = runner.start(1)
        deadline = time.monotonic() + 10
        while runner.fatal_error is None and time.monotonic() < deadline:
            inc = handle.current
            if inc.exit_code is None:
                stop_like_container(ecs_stack.region, ecs_stack.cluster, inc.native_id, None)
            time.sleep(0.05)
        # THEN the moment the runner gives up, the third exit is already recorded
        assert runner.fatal_error is not None and "failed to start" in runner.fatal_error
        assert handle.exit_codes == [EXIT_TASK_FAILED_TO_START] * 3
        time.sleep(0.5)  # the supervisor keeps polling: no fourth RunTask
        assert len(ecs_stack.calls.of("RunTask")) == 3
        assert runner.wait_all(timeout=1)
    finally:
        runner.stop_all(timeout=0)


class _WatchedRunner(EcsRunner):
    """Snapshots slot 0's exit codes whenever fatal_error is assigned."""

    seen_when_fatal: list[list[int]]

    @property  # type: ignore[override]
    def fatal_error(self) -> str | None:
        return self.__dict__.get("_fatal")

    @fatal_error.setter
    def fatal_error(self, value: str | None) -> None:
        if value is not None:
            self.__dict__.setdefault("seen_when_fatal", []).append(
                list(self._handles[0].exit_codes)
            )
        self.__dict__["_fatal"] = value


def test_fatal_error_is_set_only_once_the_last_exit_is_recorded(ecs_stack: EcsStack) -> None:
    # The race: fatal_error was set while the third exit was read, before poll() recorded it,
    # so a reader could see "gave up" next to two exits. Watch the assignment itself.
    runner = _WatchedRunner(
        EcsTaskConfig(
            cluster=ecs_stack.cluster,
            task_definition=ecs_stack.task_definition_arn,
            subnets=tuple(ecs_stack.subnets),
            describe_interval_s=0,
            logs_interval_s=0,
            log_settle_s=0,
        ),
        ecs=ecs_stack.ecs(),
        logs=ecs_stack.logs(),
    )
    runner.restart_delay_s = 0
    runner.start_retry_backoff_s = 0
    try:
        (handle,) = runner.start(1)
        deadline = time.monotonic() + 10
        while runner.fatal_error is None and time.monotonic() < deadline:
            inc = handle.current
            if inc.exit_code is None:
                stop_like_container(ecs_stack.region, ecs_stack.cluster, inc.native_id, None)
            time.sleep(0.05)
        assert runner.__dict__["seen_when_fatal"] == [[EXIT_TASK_FAILED_TO_START] * 3]
    finally:
        runner.stop_all(timeout=0)


def _fail_run_task(ecs: Any, *, times: int, error: Exception | None = None) -> list[int]:
    """Make the next ``times`` RunTask calls fail (with ``error``, or a capacity failure)."""
    real, calls = ecs.run_task, [0]

    def run_task(**kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] <= times:
            if error is not None:
                raise error
            return {
                "tasks": [],
                "failures": [
                    {
                        "arn": "arn:aws:ecs:us-east-1:123456789012:cluster/c",
                        "reason": "Capacity is unavailable at this time. Please try again later "
                        "or in a different availability zone",
                    }
                ],
            }
        return real(**kwargs)

    ecs.run_task = run_task
    return calls


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "RunTask")


def test_a_capacity_failure_on_the_first_start_is_retried_not_fatal(ecs_stack: EcsStack) -> None:
    ecs = ecs_stack.ecs()
    calls = _fail_run_task(ecs, times=1)
    runner = EcsRunner(
        EcsTaskConfig(
            cluster=ecs_stack.cluster,
            task_definition=ecs_stack.task_definition_arn,
            subnets=tuple(ecs_stack.subnets),
            describe_interval_s=0,
            logs_interval_s=0,
            log_settle_s=0,
        ),
        ecs=ecs,
        logs=ecs_stack.logs(),
    )
    runner.start_retry_backoff_s = 0.05
    try:
        # WHEN the first RunTask finds no Fargate capacity
        (handle,) = runner.start(1)  # no exception: capacity comes back
        deadline = time.monotonic() + 10
        while len(handle.incarnations) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        # THEN it counted as a start failure, and the retry started a task
        assert handle.exit_codes == [EXIT_TASK_FAILED_TO_START]
        assert "Capacity is unavailable" in handle.incarnations[0].native.stopped_reason
        assert handle.current.native_id.startswith("arn:aws:ecs:")
        assert calls[0] == 2
        assert runner.fatal_error is None
    finally:
        runner.stop_all(timeout=1)


def test_a_failed_run_task_during_a_restart_backs_off_and_counts(ecs_stack: EcsStack) -> None:
    ecs = ecs_stack.ecs()
    runner = EcsRunner(
        EcsTaskConfig(
            cluster=ecs_stack.cluster,
            task_definition=ecs_stack.task_definition_arn,
            subnets=tuple(ecs_stack.subnets),
            describe_interval_s=0,
            logs_interval_s=0,
            log_settle_s=0,
        ),
        ecs=ecs,
        logs=ecs_stack.logs(),
    )
    runner.restart_delay_s = 0
    runner.start_retry_backoff_s = 0.05
    try:
        (handle,) = runner.start(1, ConsumerSettings(crash_after_receive=1))
        # GIVEN RunTask throttled from now on, WHEN the consumer crashes
        calls = _fail_run_task(ecs, times=100, error=_client_error("ThrottlingException"))
        stop_like_container(ecs_stack.region, ecs_stack.cluster, handle.current.native_id, 3)
        deadline = time.monotonic() + 10
        while runner.fatal_error is None and time.monotonic() < deadline:
            time.sleep(0.02)
        # THEN each failed RunTask counted against the limit: three, then the runner gave up
        assert runner.fatal_error is not None and "ThrottlingException" in runner.fatal_error
        assert handle.exit_codes == [3] + [EXIT_TASK_FAILED_TO_START] * 3
        assert calls[0] == 3
        # AND the waits between them doubled (not a retry every 0.1 s)
        assert runner._restart_delay(handle) == pytest.approx(0.05 * 4)
        time.sleep(0.3)
        assert calls[0] == 3
    finally:
        runner.stop_all(timeout=0)


def test_a_missing_cluster_is_fatal_at_once(ecs_stack: EcsStack) -> None:
    ecs = ecs_stack.ecs()
    calls = _fail_run_task(ecs, times=100, error=_client_error("ClusterNotFoundException"))
    runner = EcsRunner(
        EcsTaskConfig(
            cluster=ecs_stack.cluster,
            task_definition=ecs_stack.task_definition_arn,
            subnets=tuple(ecs_stack.subnets),
        ),
        ecs=ecs,
        logs=ecs_stack.logs(),
    )
    try:
        (handle,) = runner.start(1)
        deadline = time.monotonic() + 5
        while runner.fatal_error is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert runner.fatal_error is not None and "ClusterNotFoundException" in runner.fatal_error
        assert calls[0] == 1  # waiting does not create a cluster
        assert handle.exit_codes == [EXIT_TASK_FAILED_TO_START]
    finally:
        runner.stop_all(timeout=0)


def test_run_task_capacity_failure_is_read_from_the_exact_call() -> None:
    # A Stubber pins the exact request and plays back ECS's "no capacity" answer.
    ecs = boto3.client("ecs", region_name="us-east-1")
    logs = boto3.client("logs", region_name="us-east-1")
    td_arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/x:1"
    with Stubber(ecs) as stub:
        stub.add_response(
            "describe_task_definition",
            {
                "taskDefinition": {
                    "taskDefinitionArn": td_arn,
                    "networkMode": "awsvpc",
                    "containerDefinitions": [{"name": "consumer", "image": "i"}],
                }
            },
            {"taskDefinition": "x"},
        )
        stub.add_response(
            "run_task",
            {"tasks": [], "failures": [{"arn": td_arn, "reason": "RESOURCE:ENI"}]},
            {
                "cluster": "c",
                "taskDefinition": td_arn,
                "launchType": "FARGATE",
                "count": 1,
                "startedBy": "sqs-kit",
                "overrides": {
                    "containerOverrides": [
                        {"name": "consumer", "environment": [{"name": "A", "value": "1"}]}
                    ]
                },
                "tags": [{"key": "sqs-kit-consumer", "value": "c-0-1"}],
                "networkConfiguration": {
                    "awsvpcConfiguration": {
                        "subnets": ["subnet-1"],
                        "securityGroups": [],
                        "assignPublicIp": "ENABLED",
                    }
                },
            },
        )
        runner = EcsRunner(
            EcsTaskConfig(cluster="c", task_definition="x", subnets=("subnet-1",)),
            ecs=ecs,
            logs=logs,
        )
        native_id, state = runner._launch(0, "c-0-1", {"A": "1"})
        stub.assert_no_pending_responses()
    # a start failure worth retrying, with ECS's reason; never a task ARN
    assert native_id == "run-task-failed:c-0-1"
    assert state.launch_retryable and "RESOURCE:ENI" in state.stopped_reason
    assert state.exit_code == EXIT_TASK_FAILED_TO_START


def test_a_task_is_not_exited_before_it_is_stopped(ecs_stack: EcsStack) -> None:
    runner = _runner(ecs_stack)
    try:
        (handle,) = runner.start(1, restart=RestartPolicy.NEVER)
        deadline = time.monotonic() + 5
        while not handle.current.has_started and time.monotonic() < deadline:
            time.sleep(0.02)  # the runner saw it RUNNING
        task = moto_task(ecs_stack.region, ecs_stack.cluster, handle.current.native_id)
        # GIVEN the container exited and the task is DEPROVISIONING (its exit code visible)
        task.last_status = "DEPROVISIONING"
        for container in task.containers:
            container.exitCode = 0
        time.sleep(0.3)
        # THEN it still counts as running: no exit code, no end, and it had started
        assert handle.current.exit_code is None and handle.current.ended_at is None
        assert handle.running and handle.current.has_started
        # WHEN it is STOPPED THEN the exit is recorded
        stop_like_container(ecs_stack.region, ecs_stack.cluster, handle.current.native_id, 0)
        assert runner.wait_all(timeout=5)
        assert handle.exit_codes == [0]
        inc = handle.current
        assert inc.ended_at is not None and inc.started_at <= inc.ended_at
    finally:
        runner.stop_all(timeout=0)


def test_the_stop_wait_covers_stop_timeout_and_deprovisioning(ecs_stack: EcsStack) -> None:
    # The old wait: 44 s after StopTask plus 10 s, less than Fargate's stop and deprovisioning.
    runner = _runner(ecs_stack, describe_interval_s=2, logs_interval_s=2, log_settle_s=5)
    total = runner.task_definition.stop_timeout_s + runner._kill_wait_s()
    assert runner._kill_wait_s() >= DEPROVISIONING_ALLOWANCE_S
    assert total >= 30 + DEPROVISIONING_ALLOWANCE_S + 5


def test_moto_task_helper_sees_the_task(ecs_stack: EcsStack) -> None:
    # A guard on the fixture itself: the crash simulation must reach the real moto model.
    runner = _runner(ecs_stack)
    try:
        (handle,) = runner.start(1, restart=RestartPolicy.NEVER)
        assert (
            moto_task(ecs_stack.region, ecs_stack.cluster, handle.current.native_id).last_status
            == "RUNNING"
        )
    finally:
        runner.stop_all(timeout=0)
