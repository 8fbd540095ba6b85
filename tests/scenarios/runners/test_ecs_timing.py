"""AWS's timings injected into an emulator's clients (moto here), on a clock the test moves.

PROVISIONING and PENDING before the real RunTask, DEPROVISIONING before STOPPED, a StopTask
that cancels a task still starting, log lines released in awslogs batches; and the runner on
top of it: ``started_at`` at RUNNING, exit codes only at STOPPED, the recorder's numbers.
"""

from __future__ import annotations

import contextlib
import json
import signal
import time
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from scenarios.aws.recorder import TimingRecorder
from scenarios.aws.timings import AwsTimings
from scenarios.model import RestartPolicy
from scenarios.runners.ecs import EXIT_TASK_FAILED_TO_START, EcsRunner, EcsTaskConfig, task_id_of
from scenarios.runners.ecs_timing import modelled_clients
from tests.scenarios.conftest import EcsStack, stop_like_container

pytestmark = pytest.mark.unit

TIMINGS = AwsTimings(
    provisioning_s=10, pending_s=20, log_batch_s=5, log_ingest_s=1, deprovisioning_s=30
)


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _request(stack: EcsStack) -> dict[str, Any]:
    return {
        "cluster": stack.cluster,
        "taskDefinition": stack.task_definition_arn,
        "launchType": "FARGATE",
        "count": 1,
        "networkConfiguration": {
            "awsvpcConfiguration": {
                "subnets": stack.subnets,
                "securityGroups": stack.security_groups,
                "assignPublicIp": "ENABLED",
            }
        },
        "overrides": {"containerOverrides": [{"name": "consumer", "environment": []}]},
    }


def _status(ecs: Any, stack: EcsStack, arn: str) -> dict[str, Any]:
    (task,) = ecs.describe_tasks(cluster=stack.cluster, tasks=[arn])["tasks"]
    return dict(task)


def test_a_task_is_provisioning_then_pending_and_starts_only_after_the_start_up(
    ecs_stack: EcsStack,
) -> None:
    clock = Clock()
    t0 = clock.now
    ecs, _ = modelled_clients(ecs_stack.ecs(), ecs_stack.logs(), TIMINGS, clock=clock)
    # WHEN RunTask is called
    (task,) = ecs.run_task(**_request(ecs_stack))["tasks"]
    arn = task["taskArn"]
    # THEN it answers at once with a PROVISIONING task, and the emulator has started nothing
    assert task["lastStatus"] == "PROVISIONING"
    assert ecs_stack.calls.of("RunTask") == []
    clock.advance(10)
    described = _status(ecs, ecs_stack, arn)
    assert described["lastStatus"] == "PENDING"
    assert described["pullStartedAt"].timestamp() == t0 + 10
    assert ecs_stack.calls.of("RunTask") == []
    # AND after PROVISIONING + PENDING the emulator's RunTask runs the container
    clock.advance(20)
    described = _status(ecs, ecs_stack, arn)
    assert len(ecs_stack.calls.of("RunTask")) == 1
    assert described["lastStatus"] == "RUNNING"
    assert described["startedAt"].timestamp() == t0 + 30
    assert described["taskArn"] == arn  # the runner keeps the model's ARN


def test_an_exited_container_is_deprovisioning_before_the_task_is_stopped(
    ecs_stack: EcsStack,
) -> None:
    clock = Clock()
    real_ecs = boto3.client("ecs", region_name=ecs_stack.region)
    ecs, _ = modelled_clients(real_ecs, ecs_stack.logs(), TIMINGS, clock=clock)
    arn = ecs.run_task(**_request(ecs_stack))["tasks"][0]["taskArn"]
    clock.advance(30)
    _status(ecs, ecs_stack, arn)
    real_arn = real_ecs.list_tasks(cluster=ecs_stack.cluster)["taskArns"][0]
    # WHEN the container exits with 3
    stop_like_container(ecs_stack.region, ecs_stack.cluster, real_arn, 3)
    clock.advance(1)
    exited_at = clock.now
    described = _status(ecs, ecs_stack, arn)
    # THEN the task is DEPROVISIONING, its exit code already visible, not STOPPED
    assert described["lastStatus"] == "DEPROVISIONING"
    assert described["containers"][0]["exitCode"] == 3
    clock.advance(29)
    assert _status(ecs, ecs_stack, arn)["lastStatus"] == "DEPROVISIONING"
    clock.advance(1)
    described = _status(ecs, ecs_stack, arn)
    assert described["lastStatus"] == "STOPPED"
    assert described["stoppedAt"].timestamp() == exited_at + 30
    assert described["executionStoppedAt"].timestamp() == exited_at


def test_stop_task_while_starting_cancels_the_launch(ecs_stack: EcsStack) -> None:
    clock = Clock()
    ecs, _ = modelled_clients(ecs_stack.ecs(), ecs_stack.logs(), TIMINGS, clock=clock)
    arn = ecs.run_task(**_request(ecs_stack))["tasks"][0]["taskArn"]
    clock.advance(5)
    ecs.stop_task(cluster=ecs_stack.cluster, task=arn, reason="test")
    clock.advance(60)
    described = _status(ecs, ecs_stack, arn)
    assert ecs_stack.calls.of("RunTask") == []  # the container never started
    assert described["lastStatus"] == "STOPPED"
    assert described["stopCode"] == "UserInitiated"
    assert all("exitCode" not in c for c in described["containers"])


def _put(stack: EcsStack, stream: str, *at: float) -> None:
    logs = boto3.client("logs", region_name=stack.region)
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=stack.log_group, logStreamName=stream)
    logs.put_log_events(
        logGroupName=stack.log_group,
        logStreamName=stream,
        logEvents=[
            {"timestamp": int(t * 1000), "message": json.dumps({"event": f"e{i}"})}
            for i, t in enumerate(at)
        ],
    )


def _read(logs: Any, stack: EcsStack, stream: str, token: str | None) -> tuple[list[Any], str]:
    kwargs: dict[str, Any] = {
        "logGroupName": stack.log_group,
        "logStreamName": stream,
        "startFromHead": True,
    }
    if token:
        kwargs["nextToken"] = token
    page = logs.get_log_events(**kwargs)
    return page["events"], page["nextForwardToken"]


def test_log_lines_arrive_in_awslogs_batches(ecs_stack: EcsStack) -> None:
    clock = Clock()
    real_ecs = boto3.client("ecs", region_name=ecs_stack.region)
    ecs, logs = modelled_clients(real_ecs, ecs_stack.logs(), TIMINGS, clock=clock)
    arn = ecs.run_task(**_request(ecs_stack))["tasks"][0]["taskArn"]
    stream = f"ecs/consumer/{task_id_of(arn)}"
    # GIVEN no container yet: no stream, as on AWS
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        _read(logs, ecs_stack, stream, None)
    clock.advance(30)
    _status(ecs, ecs_stack, arn)
    start = clock.now
    real_id = task_id_of(real_ecs.list_tasks(cluster=ecs_stack.cluster)["taskArns"][0])
    # WHEN the container writes at +1, +2 and +6 s (into the emulator's stream)
    _put(ecs_stack, f"ecs/consumer/{real_id}", start + 1, start + 2, start + 6)
    clock.advance(3)
    events, token = _read(logs, ecs_stack, stream, None)
    # THEN nothing is readable before the first 5 s batch is published and ingested
    assert events == []
    clock.advance(3)  # +6: batch at +5, ingested 1 s later
    events, token = _read(logs, ecs_stack, stream, token)
    assert [json.loads(e["message"])["event"] for e in events] == ["e0", "e1"]
    assert {e["ingestionTime"] for e in events} == {int((start + 6) * 1000)}
    assert _read(logs, ecs_stack, stream, token)[0] == []  # same token: nothing new
    clock.advance(5)  # +11: the +6 line went out with the +10 batch
    events, _ = _read(logs, ecs_stack, stream, token)
    assert [json.loads(e["message"])["event"] for e in events] == ["e2"]


def test_the_runner_on_modelled_timings_records_what_the_model_did(ecs_stack: EcsStack) -> None:
    clock = Clock()
    t0 = clock.now
    real_ecs = boto3.client("ecs", region_name=ecs_stack.region)
    ecs, logs = modelled_clients(real_ecs, ecs_stack.logs(), TIMINGS, clock=clock)
    recorder = TimingRecorder(measured_on="emulator", note="model")
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
        logs=logs,
        recorder=recorder,
    )
    try:
        (handle,) = runner.start(1, restart=RestartPolicy.NEVER)
        time.sleep(0.3)
        # THEN a task still starting is launched but not started
        assert not handle.current.has_started and handle.running
        clock.advance(30)
        deadline = time.monotonic() + 5
        while not handle.current.has_started and time.monotonic() < deadline:
            time.sleep(0.02)
        # AND started_at is when the task was RUNNING, not when RunTask returned
        assert handle.current.started_at == t0 + 30
        real_arn = real_ecs.list_tasks(cluster=ecs_stack.cluster)["taskArns"][0]
        stop_like_container(ecs_stack.region, ecs_stack.cluster, real_arn, 0)
        clock.advance(1)
        time.sleep(0.3)
        assert handle.current.exit_code is None  # DEPROVISIONING
        clock.advance(30)
        assert runner.wait_all(timeout=5)
        assert handle.exit_codes == [0]
        assert handle.current.ended_at == t0 + 61
    finally:
        runner.stop_all(timeout=0)
    metrics = recorder.summary()["metrics"]
    assert metrics["provisioning_s"]["median"] == 10
    assert metrics["pending_s"]["median"] == 20
    assert metrics["deprovisioning_s"]["median"] == 30
    assert recorder.summary()["measured_on"] == "emulator"


def test_the_config_injects_the_model(ecs_stack: EcsStack) -> None:
    timings = AwsTimings(deprovisioning_s=0.2)  # a short stop: the test waits for it
    runner = EcsRunner(
        EcsTaskConfig(
            cluster=ecs_stack.cluster,
            task_definition=ecs_stack.task_definition_arn,
            subnets=tuple(ecs_stack.subnets),
            timings=timings,
        ),
        ecs=ecs_stack.ecs(),
        logs=ecs_stack.logs(),
    )
    try:
        runner.start(1, restart=RestartPolicy.NEVER)
        assert ecs_stack.calls.of("RunTask") == []  # deferred by the modelled start-up
        described = runner.describe()
        assert described["timing_model"]["startup_s"] == timings.startup_s
        # a fault waiting for this slot's events allows for batched delivery and polling
        assert runner.event_delay_s == timings.max_log_delay_s + 2.0
    finally:
        runner.stop_all(timeout=0)


def test_a_task_stopped_while_starting_never_ran_and_is_no_start_failure(
    ecs_stack: EcsStack,
) -> None:
    clock = Clock()
    ecs, logs = modelled_clients(ecs_stack.ecs(), ecs_stack.logs(), TIMINGS, clock=clock)
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
        logs=logs,
    )
    try:
        (handle,) = runner.start(1)
        clock.advance(5)
        # WHEN the run ends while the task is still PROVISIONING
        runner.signal(handle, signal.SIGTERM)
        time.sleep(0.3)
        # THEN it passes DEPROVISIONING without having run
        assert handle.running and not handle.current.has_started
        clock.advance(30)
        deadline = time.monotonic() + 5
        while handle.running and time.monotonic() < deadline:
            time.sleep(0.02)
        inc = handle.current
        assert inc.exit_code == EXIT_TASK_FAILED_TO_START
        assert inc.started_at == inc.ended_at  # it ran for no time at all
        # AND a stop we asked for is not a start failure: the runner does not give up
        assert runner.fatal_error is None and runner._start_failures.get(0) == 0
        assert ecs_stack.calls.of("RunTask") == []  # the container never started
    finally:
        runner.stop_all(timeout=0)
