"""The ECS runner: each consumer is a task started with RunTask; events come from CloudWatch Logs.

What ECS really does, and what this runner therefore promises:

- ``signal(SIGTERM)`` and ``signal(SIGKILL)`` both become ``StopTask``. ECS has no "kill now":
  StopTask sends SIGTERM to the container, waits the container's ``stopTimeout`` (30 s by
  default, at most 120 s on Fargate) and then sends SIGKILL. A consumer that drains within
  the timeout exits 0; only one still running after it shows exit code 137. The requested
  signal is kept in ``Incarnation.signals_sent`` and the semantics are reported in
  :meth:`EcsRunner.describe`. A scenario that needs a hard kill declares itself unsupported
  on ECS (``scenarios.model.ecs``).
- A task is PROVISIONING and PENDING for tens of seconds before it runs (network interface,
  image pull); every crash restart is such a cold start. ``Incarnation.started_at`` is when
  the task was RUNNING (AWS's ``startedAt``), not when RunTask returned.
- The exit code is ``containers[].exitCode`` from DescribeTasks once the task is STOPPED, and
  only then: a container that exited is DEPROVISIONING for a while first, and the task still
  counts as running. A task that never started (image pull, ENI, capacity) has no exit code;
  it is reported as :data:`EXIT_TASK_FAILED_TO_START` and restarted like a crash, after a
  backoff that doubles, at most :data:`MAX_START_FAILURES` times in a row per slot. A RunTask
  call that fails is such a start failure too (capacity and throttling are retried, also on
  the first start; a missing cluster or a bad parameter is fatal at once).
- Log lines come from the task's awslogs stream, ``<stream-prefix>/<container>/<task-id>``,
  read with GetLogEvents and a forward token. CloudWatch delivers lines seconds after they
  were written (the awslogs driver sends every 5 s), so a stopped task only reports its exit
  code once its stream has been quiet for ``log_settle_s``, and each slot carries the delay
  its events may have (``ConsumerHandle.event_delay_s``) for the faults that trigger on them.
- With ``EcsTaskConfig.timings`` (an emulator standing in for AWS), the emulator's clients are
  wrapped so that they behave with AWS's timings (``scenarios.runners.ecs_timing``).
- A :class:`~scenarios.aws.recorder.TimingRecorder`, when given, records every task's start-up,
  stop and log delays for the report.

The task definition is the single source of truth for the container name, the network mode
and the log configuration: the runner reads them with DescribeTaskDefinition.
"""

from __future__ import annotations

import json
import logging
import signal as signals
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from consumer.contract import ENV_AWS_ACCESS_KEY_ID, ENV_AWS_SECRET_ACCESS_KEY
from core.errors import ConfigError, InfrastructureError
from scenarios.aws.recorder import TimingRecorder, epoch
from scenarios.aws.timings import AwsTimings
from scenarios.judging.facts import event_time
from scenarios.model import RestartPolicy
from scenarios.runners.base import ConsumerHandle, ConsumerRunner, Incarnation
from scenarios.runners.ecs_timing import modelled_clients

log = logging.getLogger(__name__)

#: ECS's default container stopTimeout, and the Fargate maximum.
DEFAULT_STOP_TIMEOUT_S = 30
MAX_FARGATE_STOP_TIMEOUT_S = 120
#: RunTask rejects container overrides above 8 KiB of JSON.
MAX_OVERRIDE_BYTES = 8192
#: DescribeTasks takes at most 100 tasks per call.
MAX_DESCRIBE_TASKS = 100
#: ``startedBy`` is at most 36 characters.
MAX_STARTED_BY = 36
#: Exit code for a task that stopped without its container ever running (docker's 125).
EXIT_TASK_FAILED_TO_START = 125
#: Consecutive start failures in one slot before the runner gives up on the infrastructure.
MAX_START_FAILURES = 3
#: the first retry after a start failure waits this long; each further one twice as long
START_RETRY_BACKOFF_S = 5.0
MAX_START_RETRY_BACKOFF_S = 60.0
#: how long after the container exits a Fargate task may stay DEPROVISIONING: stop_all waits
#: for STOPPED this long (on top of stopTimeout); AWS publishes no bound, a minute is common
DEPROVISIONING_ALLOWANCE_S = 120.0
#: Variables never sent as overrides: they would be readable by anyone who can DescribeTasks.
SECRET_VARIABLES = frozenset(
    {ENV_AWS_ACCESS_KEY_ID, ENV_AWS_SECRET_ACCESS_KEY, "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"}
)
#: RunTask errors worth another try later (AWS asks to retry on capacity and throttling)
RETRYABLE_ERROR_CODES = frozenset(
    {
        "ThrottlingException",
        "ServerException",
        "ServiceUnavailableException",
        "RequestLimitExceeded",
        "InternalFailure",
    }
)
#: RunTask ``failures[].reason`` that are transient: capacity, resources, a busy agent
RETRYABLE_FAILURE_MARKERS = ("Capacity is unavailable", "RESOURCE:", "AGENT")

KILL_SEMANTICS = (
    "StopTask: SIGTERM, then SIGKILL after the container stopTimeout "
    f"({DEFAULT_STOP_TIMEOUT_S} s default, Fargate max {MAX_FARGATE_STOP_TIMEOUT_S} s); "
    "a SIGKILL request is the same StopTask, so a consumer that drains in time exits 0"
)


@dataclass(frozen=True)
class EcsTaskConfig:
    """Where and how consumer tasks run. Everything else is read from the task definition."""

    cluster: str
    task_definition: str
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    assign_public_ip: bool = True
    started_by: str = "sqs-kit"
    tags: Mapping[str, str] = field(default_factory=dict)
    #: seconds between DescribeTasks calls (one call covers every running task)
    describe_interval_s: float = 2.0
    #: seconds between GetLogEvents calls per task
    logs_interval_s: float = 2.0
    #: a stopped task's stream must be quiet this long before its exit code counts
    log_settle_s: float = 5.0
    #: the run's region; the task definition's awslogs-region must name the same one
    region: str | None = None
    #: AWS's timings, injected into an emulator's clients (None: the clients as they are)
    timings: AwsTimings | None = None

    def __post_init__(self) -> None:
        if not self.cluster:
            raise ConfigError("ECS cluster is empty: the stack outputs must name a cluster")
        if not self.task_definition:
            raise ConfigError("ECS task definition is empty: the stack outputs must name one")
        if len(self.started_by) > MAX_STARTED_BY:
            raise ConfigError(
                f"startedBy {self.started_by!r} is too long: at most {MAX_STARTED_BY} characters"
            )
        for name in ("describe_interval_s", "logs_interval_s", "log_settle_s"):
            value = getattr(self, name)
            if not 0 <= value <= 60:
                raise ConfigError(f"{name}={value} is out of range: allowed 0..60 seconds")


@dataclass(frozen=True)
class TaskDefinitionFacts:
    """What the runner needs from the registered task definition."""

    arn: str
    container_name: str
    network_mode: str
    log_group: str | None
    log_stream_prefix: str | None
    log_region: str | None
    stop_timeout_s: int

    @property
    def launch_type(self) -> str:
        # Fargate requires awsvpc; the emulator's host-network definition runs as EC2.
        return "FARGATE" if self.network_mode == "awsvpc" else "EC2"

    def log_stream(self, task_id: str) -> str | None:
        """The awslogs stream name of ``task_id``, as the awslogs driver names it on ECS."""
        if not self.log_group or not self.log_stream_prefix:
            return None
        return f"{self.log_stream_prefix}/{self.container_name}/{task_id}"

    @classmethod
    def from_description(cls, td: Mapping[str, Any]) -> TaskDefinitionFacts:
        containers = td.get("containerDefinitions") or []
        if not containers:
            raise ConfigError(f"task definition {td.get('taskDefinitionArn')} has no containers")
        container = containers[0]
        options = (container.get("logConfiguration") or {}).get("options") or {}
        driver = (container.get("logConfiguration") or {}).get("logDriver")
        return cls(
            arn=str(td.get("taskDefinitionArn", "")),
            container_name=str(container["name"]),
            network_mode=str(td.get("networkMode") or "bridge"),
            log_group=options.get("awslogs-group") if driver == "awslogs" else None,
            log_stream_prefix=options.get("awslogs-stream-prefix") if driver == "awslogs" else None,
            log_region=options.get("awslogs-region"),
            stop_timeout_s=int(container.get("stopTimeout") or DEFAULT_STOP_TIMEOUT_S),
        )


@dataclass
class _TaskState:
    """Per-task bookkeeping kept in ``Incarnation.native``."""

    task_arn: str
    task_id: str
    log_stream: str | None
    token: str | None = None
    last_logs_read: float = 0.0
    last_new_line: float = field(default_factory=time.monotonic)
    last_status: str = "PROVISIONING"
    stopped: bool = False
    stop_seen_at: float | None = None
    #: when the task was STOPPED (AWS's stoppedAt, else when the runner saw it), epoch s
    stopped_at: float | None = None
    exit_code: int | None = None
    stop_code: str = ""
    stopped_reason: str = ""
    stop_requested: bool = False
    #: RunTask itself failed: why, and whether another try can help
    launch_error: str | None = None
    launch_retryable: bool = True
    #: STOPPED without a container exit code (or RunTask failed): the consumer never ran
    never_ran: bool = False


def task_id_of(task_arn: str) -> str:
    """The task id: the last path element of both the short and the long ARN format."""
    return task_arn.rsplit("/", 1)[-1]


class EcsRunner(ConsumerRunner):
    """Runs consumers as ECS tasks (Fargate on AWS, host-network tasks on an emulator)."""

    name = "ecs"
    #: ECS services wait before replacing a task; a short pause keeps RunTask from hammering
    restart_delay_s = 1.0
    #: the first retry after a start failure (doubling, capped); tests shorten it
    start_retry_backoff_s = START_RETRY_BACKOFF_S

    def __init__(
        self,
        config: EcsTaskConfig,
        *,
        ecs: Any,
        logs: Any,
        recorder: TimingRecorder | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        if config.timings is not None:
            ecs, logs = modelled_clients(ecs, logs, config.timings)
        self._ecs = ecs
        self._logs = logs
        self.recorder = recorder
        self._api_lock = threading.Lock()
        self._last_describe = 0.0
        self._start_failures: dict[int, int] = {}
        # A fault that waits for a consumer's event must allow for the log delivery delay.
        delivery = (config.timings or AwsTimings()).max_log_delay_s
        self.event_delay_s = delivery + config.logs_interval_s
        try:
            described = ecs.describe_task_definition(taskDefinition=config.task_definition)
        except (ClientError, BotoCoreError) as exc:
            raise InfrastructureError(
                f"cannot read task definition {config.task_definition!r}: {exc}"
            ) from exc
        self.task_definition = TaskDefinitionFacts.from_description(described["taskDefinition"])
        log_region = self.task_definition.log_region
        if config.region and log_region and log_region != config.region:
            # The runner reads the streams in the run's region: they would never appear.
            raise ConfigError(
                f"task definition {self.task_definition.arn} logs to awslogs-region "
                f"{log_region}, but the run is in {config.region}: apply the stack in "
                f"{config.region} (one region for the whole run)"
            )
        if self.task_definition.network_mode == "awsvpc" and not config.subnets:
            raise ConfigError(
                "an awsvpc task definition needs subnets: the stack outputs must list them"
            )
        if self.task_definition.log_stream("x") is None:
            log.warning(
                "ecs.no_awslogs",
                extra={"task_definition": self.task_definition.arn},
            )

    # -- report fields ----------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """Runner fields for the report: where tasks ran and what a kill really is."""
        td = self.task_definition
        fields: dict[str, Any] = {
            "runner": self.name,
            "cluster": self.config.cluster,
            "task_definition": td.arn,
            "launch_type": td.launch_type,
            "network_mode": td.network_mode,
            "log_group": td.log_group,
            "stop_timeout_s": td.stop_timeout_s,
            "kill_semantics": KILL_SEMANTICS,
            "event_delay_allowance_s": round(self.event_delay_s, 3),
        }
        if self.config.timings is not None:
            fields["timing_model"] = self.config.timings.to_dict()
        return fields

    # -- primitives -------------------------------------------------------------------------

    def run_task_request(self, consumer_id: str, env: Mapping[str, str]) -> dict[str, Any]:
        """The exact RunTask parameters for one consumer (public so tests can pin them)."""
        td = self.task_definition
        environment = [
            {"name": k, "value": str(v)}
            for k, v in sorted(env.items())
            if k not in SECRET_VARIABLES
        ]
        request: dict[str, Any] = {
            "cluster": self.config.cluster,
            "taskDefinition": td.arn or self.config.task_definition,
            "launchType": td.launch_type,
            "count": 1,
            "startedBy": self.config.started_by,
            "overrides": {
                "containerOverrides": [{"name": td.container_name, "environment": environment}]
            },
            "tags": [
                {"key": k, "value": v}
                for k, v in sorted({**self.config.tags, "sqs-kit-consumer": consumer_id}.items())
            ],
        }
        size = len(json.dumps(request["overrides"]).encode())
        if size > MAX_OVERRIDE_BYTES:
            raise ConfigError(
                f"container overrides are {size} bytes: RunTask allows {MAX_OVERRIDE_BYTES}; "
                "trim the scenario's environment"
            )
        if td.network_mode == "awsvpc":
            request["networkConfiguration"] = {
                "awsvpcConfiguration": {
                    "subnets": list(self.config.subnets),
                    "securityGroups": list(self.config.security_groups),
                    "assignPublicIp": "ENABLED" if self.config.assign_public_ip else "DISABLED",
                }
            }
        return request

    def _launch(self, slot: int, consumer_id: str, env: dict[str, str]) -> tuple[str, Any]:
        request = self.run_task_request(consumer_id, env)
        launched_at = time.time()
        try:
            with self._api_lock:
                response = self._ecs.run_task(**request)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            return self._failed_launch(
                consumer_id, f"RunTask failed: {exc}", retryable=code in RETRYABLE_ERROR_CODES
            )
        except BotoCoreError as exc:  # the connection: worth another try
            return self._failed_launch(consumer_id, f"RunTask failed: {exc}", retryable=True)
        tasks = response.get("tasks") or []
        if not tasks:
            failures = response.get("failures") or []
            reasons = [str(f.get("reason", "?")) for f in failures]
            detail = ", ".join(f"{f.get('arn', '?')}: {f.get('reason', '?')}" for f in failures)
            retryable = bool(reasons) and all(
                any(marker in reason for marker in RETRYABLE_FAILURE_MARKERS) for reason in reasons
            )
            return self._failed_launch(
                consumer_id,
                f"RunTask started no task: {detail or 'no reason given'}",
                retryable=retryable,
            )
        task_arn = str(tasks[0]["taskArn"])
        task_id = task_id_of(task_arn)
        state = _TaskState(
            task_arn=task_arn,
            task_id=task_id,
            log_stream=self.task_definition.log_stream(task_id),
            last_status=str(tasks[0].get("lastStatus") or "PROVISIONING"),
        )
        if self.recorder is not None:
            self.recorder.task_launched(task_arn, launched_at)
        log.info(
            "ecs.task_started",
            extra={
                "consumer_id": consumer_id,
                "task_arn": task_arn,
                "log_stream": state.log_stream,
                "slot": slot,
            },
        )
        return task_arn, state

    def _failed_launch(self, consumer_id: str, reason: str, *, retryable: bool) -> tuple[str, Any]:
        """An incarnation for a RunTask that started nothing: it ends at once as a start failure."""
        log.warning(
            "ecs.run_task_failed",
            extra={"consumer_id": consumer_id, "reason": reason, "retryable": retryable},
        )
        state = _TaskState(
            task_arn="",
            task_id="",
            log_stream=None,
            last_status="STOPPED",
            stopped=True,
            stopped_at=time.time(),
            exit_code=EXIT_TASK_FAILED_TO_START,
            stopped_reason=reason,
            launch_error=reason,
            launch_retryable=retryable,
            never_ran=True,
        )
        return f"run-task-failed:{consumer_id}", state

    def _runs_at_launch(self, native: Any) -> bool:
        return False  # a task runs once DescribeTasks says RUNNING

    def _signal(self, inc: Incarnation, sig: int) -> None:
        state: _TaskState = inc.native
        if state.stop_requested or state.launch_error is not None:
            # ECS escalates to SIGKILL itself after stopTimeout; a second StopTask changes nothing.
            return
        reason = f"sqs-kit: {signals.Signals(sig).name} requested ({KILL_SEMANTICS})"
        self._stop_task(state, reason[:255])

    def _stop_task(self, state: _TaskState, reason: str) -> None:
        requested_at = time.time()
        try:
            with self._api_lock:
                self._ecs.stop_task(cluster=self.config.cluster, task=state.task_arn, reason=reason)
        except (ClientError, BotoCoreError) as exc:
            raise InfrastructureError(f"StopTask failed for {state.task_arn}: {exc}") from exc
        state.stop_requested = True
        if self.recorder is not None:
            self.recorder.stop_requested(state.task_arn, requested_at)

    def _exit_code(self, inc: Incarnation) -> int | None:
        state: _TaskState = inc.native
        if state.launch_error is not None:
            return state.exit_code
        if not state.stopped:
            self._refresh_task_states()
        if not state.stopped or state.stop_seen_at is None:
            return None  # PROVISIONING .. DEPROVISIONING: not exited until STOPPED
        # Wait for the stream to go quiet: CloudWatch delivers the last lines late.
        now = time.monotonic()
        quiet_since = max(state.last_new_line, state.stop_seen_at)
        if state.log_stream is not None and now - quiet_since < self.config.log_settle_s:
            return None
        return state.exit_code

    def _ended_at(self, inc: Incarnation) -> float | None:
        state: _TaskState = inc.native
        return state.stopped_at

    def _on_exit(self, handle: ConsumerHandle, inc: Incarnation) -> None:
        """Count start failures per slot; give up on the slot after too many in a row."""
        state: _TaskState = inc.native
        slot = handle.slot
        if not state.never_ran or (state.stop_requested and state.launch_error is None):
            self._start_failures[slot] = 0  # it ran (or we stopped it before it could)
            return
        failures = self._start_failures.get(slot, 0) + 1
        if not state.launch_retryable:
            failures = MAX_START_FAILURES  # a missing cluster does not appear by waiting
        self._start_failures[slot] = failures
        if failures < MAX_START_FAILURES:
            log.warning(
                "ecs.start_failed",
                extra={
                    "slot": slot,
                    "failures": failures,
                    "retry_in_s": self._restart_delay(handle),
                    "reason": state.stopped_reason,
                },
            )
            return
        # Stop replacing it: another RunTask would fail the same way.
        handle.restart = RestartPolicy.NEVER
        self.fatal_error = (
            f"consumer slot {slot}: {failures} task(s) in a row failed to start "
            f"({state.stopped_reason or 'no reason given'}); check the image tag, the subnets, "
            "the cluster and the task execution role"
        )
        log.error("ecs.start_failed", extra={"slot": slot, "reason": self.fatal_error})

    def _restart_delay(self, handle: ConsumerHandle) -> float:
        failures = self._start_failures.get(handle.slot, 0)
        if failures == 0:
            return self.restart_delay_s
        backoff = self.start_retry_backoff_s * 2 ** (failures - 1)
        return float(min(MAX_START_RETRY_BACKOFF_S, backoff))

    def _kill_wait_s(self) -> float:
        # After stopTimeout the container is gone, but the task is STOPPED only once
        # deprovisioned, and its last lines must still arrive.
        timings = self.config.timings
        allowance = (
            timings.deprovisioning_s + timings.max_log_delay_s + 10
            if timings is not None
            else DEPROVISIONING_ALLOWANCE_S
        )
        return allowance + self.config.log_settle_s + 2 * self.config.describe_interval_s + 5

    def _read_new_lines(self, inc: Incarnation) -> list[str]:
        state: _TaskState = inc.native
        now = time.monotonic()
        if state.log_stream is None or not self.task_definition.log_group:
            return []
        if now - state.last_logs_read < self.config.logs_interval_s:
            return []
        state.last_logs_read = now
        lines: list[str] = []
        read: list[Mapping[str, Any]] = []
        while True:
            kwargs: dict[str, Any] = {
                "logGroupName": self.task_definition.log_group,
                "logStreamName": state.log_stream,
                "startFromHead": True,
            }
            if state.token:
                kwargs["nextToken"] = state.token
            try:
                with self._api_lock:
                    page = self._logs.get_log_events(**kwargs)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                    break  # the stream appears when the container writes its first line
                raise InfrastructureError(
                    f"GetLogEvents failed for {state.log_stream}: {exc}"
                ) from exc
            except BotoCoreError as exc:
                raise InfrastructureError(
                    f"GetLogEvents failed for {state.log_stream}: {exc}"
                ) from exc
            events = page.get("events") or []
            read.extend(events)
            lines.extend(str(e.get("message", "")) for e in events)
            token = page.get("nextForwardToken")
            # The forward token stays the same once the end of the stream is reached.
            if not events or token is None or token == state.token:
                state.token = token or state.token
                break
            state.token = token
        if lines:
            state.last_new_line = time.monotonic()
            if self.recorder is not None:
                self.recorder.lines_read(time.time(), (_line_times(e) for e in read))
        return lines

    def _remove(self, inc: Incarnation) -> None:
        # Nothing to delete (the task definition belongs to the stack), but a task must
        # never outlive the run: it costs money. Stop any that has not stopped.
        state: _TaskState = inc.native
        if not state.stopped and not state.stop_requested:
            try:
                self._stop_task(state, "sqs-kit: run finished")
            except InfrastructureError:
                log.exception("ecs.stop_on_remove_failed", extra={"task_arn": state.task_arn})

    # -- helpers ----------------------------------------------------------------------------

    def _refresh_task_states(self) -> None:
        """One DescribeTasks call (per 100 tasks) for every task not yet seen STOPPED."""
        now = time.monotonic()
        if now - self._last_describe < self.config.describe_interval_s:
            return
        self._last_describe = now
        pending = {
            inc.native.task_arn: inc
            for handle in self._handles
            for inc in handle.incarnations
            if isinstance(inc.native, _TaskState)
            and not inc.native.stopped
            and inc.native.launch_error is None
        }
        arns = list(pending)
        for start in range(0, len(arns), MAX_DESCRIBE_TASKS):
            chunk = arns[start : start + MAX_DESCRIBE_TASKS]
            try:
                with self._api_lock:
                    response = self._ecs.describe_tasks(cluster=self.config.cluster, tasks=chunk)
            except (ClientError, BotoCoreError) as exc:
                raise InfrastructureError(f"DescribeTasks failed: {exc}") from exc
            for task in response.get("tasks") or []:
                inc = pending.get(task.get("taskArn", ""))
                if inc is not None:
                    self._apply_description(inc, task)

    def _apply_description(self, inc: Incarnation, task: Mapping[str, Any]) -> None:
        state: _TaskState = inc.native
        status = str(task.get("lastStatus") or state.last_status)
        if status != state.last_status:
            log.info(
                "ecs.task_state",
                extra={"task_arn": state.task_arn, "from": state.last_status, "to": status},
            )
        state.last_status = status
        seen = time.time()
        started = epoch(task.get("startedAt"))
        if not inc.has_started and (status == "RUNNING" or started is not None):
            # RUNNING now, or it ran and is on its way down: AWS sets startedAt only for a task
            # that ran (one stopped while PENDING passes DEPROVISIONING without it).
            inc.started_at = started if started is not None else seen
            if self.recorder is not None:
                self.recorder.task_running(state.task_arn, seen, task)
        if status != "STOPPED":
            return
        name = self.task_definition.container_name
        containers: Sequence[Mapping[str, Any]] = task.get("containers") or []
        container = next((c for c in containers if c.get("name") == name), None)
        code = container.get("exitCode") if container else None
        state.stopped = True
        state.stop_seen_at = time.monotonic()
        stopped_at = epoch(task.get("stoppedAt"))
        state.stopped_at = stopped_at if stopped_at is not None else seen
        state.stop_code = str(task.get("stopCode") or "")
        state.stopped_reason = str(task.get("stoppedReason") or "")
        state.exit_code = int(code) if code is not None else EXIT_TASK_FAILED_TO_START
        state.never_ran = code is None
        if self.recorder is not None:
            self.recorder.task_stopped(state.task_arn, seen, task)
        log.info(
            "ecs.task_stopped",
            extra={
                "task_arn": state.task_arn,
                "exit_code": state.exit_code,
                "stop_code": state.stop_code,
                "stopped_reason": state.stopped_reason,
            },
        )


def _line_times(event: Mapping[str, Any]) -> tuple[float | None, float | None, float | None]:
    """(the consumer's ts, CloudWatch's timestamp, its ingestionTime) of one log event, in s."""
    ts: float | None = None
    try:
        parsed = json.loads(str(event.get("message", "")))
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        ts = event_time(parsed)
    stamp, ingested = event.get("timestamp"), event.get("ingestionTime")
    return (
        ts,
        stamp / 1000.0 if isinstance(stamp, int | float) else None,
        ingested / 1000.0 if isinstance(ingested, int | float) else None,
    )
