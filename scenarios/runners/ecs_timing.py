"""AWS's timings injected into an emulator's ECS and CloudWatch Logs clients.

The ECS runner calls the wrapped clients exactly as it calls AWS's; the wrappers make an
emulator behave with the timings of :class:`~scenarios.aws.timings.AwsTimings`:

- ``run_task`` answers at once with a PROVISIONING task under a model ARN. The emulator's own
  RunTask is deferred until PROVISIONING and PENDING are over (``startup_s``), so the consumer
  really starts that late.
- ``describe_tasks`` shows PROVISIONING, then PENDING, then the emulator's own state. Once the
  emulator says STOPPED (the container exited), the task stays DEPROVISIONING for
  ``deprovisioning_s`` (its container exit code already visible, as on AWS) before it is
  STOPPED. The timestamps (createdAt, pullStartedAt, startedAt, executionStoppedAt, stoppedAt)
  are the model's, so the recorder measures the model.
- ``stop_task`` on a task still starting cancels the deferred RunTask (the task then stops
  without a container exit code, as a task stopped in PENDING does); otherwise it is the
  emulator's StopTask.
- ``get_log_events`` hands a line over only once the awslogs driver would have published it:
  at the next ``log_batch_s`` boundary after it was written (counted from the container's
  start; at once when the container stops, the driver's final flush), plus ``log_ingest_s``.
  Its ``ingestionTime`` is that modelled delivery.

Everything else goes to the emulator's client unchanged. ``clock`` is injectable for tests.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from scenarios.aws.timings import AwsTimings

log = logging.getLogger(__name__)

_MODEL_ACCOUNT = "000000000000"
_counter = itertools.count(1)


def _dt(t: float | None) -> datetime | None:
    return None if t is None else datetime.fromtimestamp(t, tz=UTC)


@dataclass
class _ModelTask:
    """One task as the model sees it: the runner's view, and the emulator's task behind it."""

    arn: str
    request: dict[str, Any]
    created_at: float
    launch_at: float
    real_arn: str | None = None
    launched_at: float | None = None
    running_at: float | None = None
    exited_at: float | None = None  # when the emulator first said STOPPED
    stop_requested_at: float | None = None
    cancelled_at: float | None = None  # StopTask before the deferred RunTask
    failed_at: float | None = None  # the deferred RunTask failed
    failure: str = ""
    real: dict[str, Any] = field(default_factory=dict)

    @property
    def task_id(self) -> str:
        return self.arn.rsplit("/", 1)[-1]


@dataclass
class _Stream:
    """A log stream's lines, fetched from the emulator, released on the model's schedule."""

    real_name: str
    token: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    released: int = 0


class TimingModel:
    """The shared state of the two wrapped clients (tasks, their streams, the clock)."""

    def __init__(
        self, ecs: Any, logs: Any, timings: AwsTimings, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.ecs = ecs
        self.logs = logs
        self.timings = timings
        self.clock = clock
        self.lock = threading.RLock()
        self.tasks: dict[str, _ModelTask] = {}
        self.by_id: dict[str, _ModelTask] = {}
        self.streams: dict[tuple[str, str], _Stream] = {}

    # -- ECS -------------------------------------------------------------------------------------

    def run_task(self, **request: Any) -> dict[str, Any]:
        with self.lock:
            now = self.clock()
            region = getattr(getattr(self.ecs, "meta", None), "region_name", None) or "modelled"
            cluster = str(request.get("cluster", "default")).rsplit("/", 1)[-1]
            arn = f"arn:aws:ecs:{region}:{_MODEL_ACCOUNT}:task/{cluster}/model{next(_counter):027d}"
            task = _ModelTask(
                arn=arn,
                request=dict(request),
                created_at=now,
                launch_at=now + self.timings.startup_s,
            )
            self.tasks[arn] = task
            self.by_id[task.task_id] = task
            log.info("timing_model.run_task", extra={"task_arn": arn, "launch_at": task.launch_at})
            return {"tasks": [self._describe(task, now)], "failures": []}

    def describe_tasks(self, **params: Any) -> dict[str, Any]:
        with self.lock:
            now = self.clock()
            asked = list(params.get("tasks") or [])
            mine = [self.tasks[a] for a in asked if a in self.tasks]
            others = [a for a in asked if a not in self.tasks]
            for task in mine:
                self._launch_if_due(task, now)
            live = [t.real_arn for t in mine if t.real_arn and t.exited_at is None]
            if live:
                described = self.ecs.describe_tasks(**{**params, "tasks": live})
                for real in described.get("tasks") or []:
                    owner = next((t for t in mine if t.real_arn == real.get("taskArn")), None)
                    if owner is not None:
                        self._observe(owner, real, now)
            out: dict[str, Any] = {"tasks": [self._describe(t, now) for t in mine], "failures": []}
            if others:
                passed = self.ecs.describe_tasks(**{**params, "tasks": others})
                out["tasks"] += passed.get("tasks") or []
                out["failures"] += passed.get("failures") or []
            return out

    def stop_task(self, **params: Any) -> dict[str, Any]:
        with self.lock:
            task = self.tasks.get(str(params.get("task", "")))
            if task is None:
                return dict(self.ecs.stop_task(**params))
            now = self.clock()
            task.stop_requested_at = task.stop_requested_at or now
            if task.real_arn is None and task.failed_at is None:
                task.cancelled_at = task.cancelled_at or now
            elif task.real_arn is not None and task.exited_at is None:
                self.ecs.stop_task(**{**params, "task": task.real_arn})
            return {"task": self._describe(task, now)}

    def _launch_if_due(self, task: _ModelTask, now: float) -> None:
        if task.real_arn or task.cancelled_at or task.failed_at or now < task.launch_at:
            return
        try:
            response = self.ecs.run_task(**task.request)
        except (ClientError, BotoCoreError) as exc:
            task.failed_at, task.failure = now, f"RunTask failed: {exc}"
            return
        started = response.get("tasks") or []
        if not started:
            reasons = ", ".join(str(f.get("reason")) for f in response.get("failures") or [])
            task.failed_at, task.failure = now, f"RunTask started no task: {reasons or '?'}"
            return
        task.real_arn = str(started[0]["taskArn"])
        task.launched_at = now
        task.real = dict(started[0])
        log.info(
            "timing_model.launched", extra={"task_arn": task.arn, "real_task_arn": task.real_arn}
        )

    def _observe(self, task: _ModelTask, real: Mapping[str, Any], now: float) -> None:
        task.real = dict(real)
        status = real.get("lastStatus")
        if status in ("RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"):
            task.running_at = task.running_at or now
        if status == "STOPPED" and task.exited_at is None:
            task.exited_at = now

    def _describe(self, task: _ModelTask, now: float) -> dict[str, Any]:
        t = self.timings
        out: dict[str, Any] = {
            k: v for k, v in task.real.items() if k not in ("taskArn", "lastStatus")
        }
        out.update(
            taskArn=task.arn,
            clusterArn=str(task.request.get("cluster", "")),
            createdAt=_dt(task.created_at),
            desiredStatus="STOPPED" if task.stop_requested_at else "RUNNING",
        )
        pull = task.created_at + t.provisioning_s
        if now >= pull:
            out["pullStartedAt"] = _dt(pull)
        down_since = task.exited_at or task.cancelled_at or task.failed_at
        if task.running_at is not None:
            out["pullStoppedAt"] = out["startedAt"] = _dt(task.running_at)
        if down_since is None:
            if task.real_arn is None:
                out["lastStatus"] = "PROVISIONING" if now < pull else "PENDING"
            else:
                real = str(task.real.get("lastStatus") or "PENDING")
                out["lastStatus"] = "RUNNING" if task.running_at is not None else real
            return out
        out["stoppingAt"] = _dt(task.stop_requested_at or down_since)
        out["executionStoppedAt"] = _dt(down_since)
        stopped = down_since + t.deprovisioning_s
        if task.real_arn is None:  # it never ran: no container exit code
            out["containers"] = [
                {"name": c.get("name"), "lastStatus": "STOPPED"}
                for c in task.request.get("overrides", {}).get("containerOverrides", [])
            ]
            out["stopCode"] = "UserInitiated" if task.cancelled_at else "TaskFailedToStart"
            out["stoppedReason"] = task.failure or "stopped before it started"
        if now < stopped:
            out["lastStatus"] = "DEPROVISIONING"
            return out
        out["lastStatus"] = "STOPPED"
        out["stoppedAt"] = _dt(stopped)
        return out

    # -- CloudWatch Logs ---------------------------------------------------------------------------

    def get_log_events(self, **params: Any) -> dict[str, Any]:
        with self.lock:
            group, name = str(params["logGroupName"]), str(params["logStreamName"])
            prefix, _, task_id = name.rpartition("/")
            task = self.by_id.get(task_id)
            if task is None:
                return dict(self.logs.get_log_events(**params))
            if task.real_arn is None:
                raise _not_found(name)
            stream = self.streams.setdefault(
                (group, name), _Stream(real_name=f"{prefix}/{task.real_arn.rsplit('/', 1)[-1]}")
            )
            self._fetch(group, stream)
            now = self.clock()
            while stream.released < len(stream.events):
                event = stream.events[stream.released]
                if self._delivered_at(task, event) > now:
                    break
                stream.released += 1
            start = _token_index(params.get("nextToken"))
            page = [
                {**e, "ingestionTime": int(self._delivered_at(task, e) * 1000)}
                for e in stream.events[start : stream.released]
            ]
            token = f"f/model/{stream.released}"
            return {"events": page, "nextForwardToken": token, "nextBackwardToken": "b/model/0"}

    def _fetch(self, group: str, stream: _Stream) -> None:
        while True:
            kwargs: dict[str, Any] = {
                "logGroupName": group,
                "logStreamName": stream.real_name,
                "startFromHead": True,
            }
            if stream.token:
                kwargs["nextToken"] = stream.token
            try:
                page = self.logs.get_log_events(**kwargs)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                    return
                raise
            events = page.get("events") or []
            stream.events.extend(dict(e) for e in events)
            token = page.get("nextForwardToken")
            if not events or token is None or token == stream.token:
                stream.token = token or stream.token
                return
            stream.token = token

    def _delivered_at(self, task: _ModelTask, event: Mapping[str, Any]) -> float:
        """When the awslogs driver would have published ``event``, plus ingestion."""
        t = self.timings
        written = float(event.get("timestamp", 0)) / 1000.0
        base = task.launched_at or written
        if t.log_batch_s > 0:
            batches = max(1, math.ceil((written - base) / t.log_batch_s))
            flushed = base + batches * t.log_batch_s
        else:
            flushed = written
        if task.exited_at is not None:
            flushed = min(flushed, max(written, task.exited_at))  # the driver's final flush
        return max(flushed, written) + t.log_ingest_s


def _token_index(token: Any) -> int:
    if isinstance(token, str) and token.startswith("f/model/"):
        try:
            return int(token.rsplit("/", 1)[-1])
        except ValueError:
            return 0
    return 0


def _not_found(stream: str) -> ClientError:
    return ClientError(
        {
            "Error": {
                "Code": "ResourceNotFoundException",
                "Message": f"The specified log stream does not exist: {stream}",
            }
        },
        "GetLogEvents",
    )


class _Wrapped:
    """A client whose listed operations the model answers; everything else passes through."""

    def __init__(self, inner: Any, operations: Mapping[str, Callable[..., dict[str, Any]]]):
        self._inner = inner
        self._operations = dict(operations)

    def __getattr__(self, name: str) -> Any:
        if name in self._operations:
            return self._operations[name]
        return getattr(self._inner, name)


def modelled_clients(
    ecs: Any, logs: Any, timings: AwsTimings, *, clock: Callable[[], float] = time.time
) -> tuple[Any, Any]:
    """``(ecs, logs)`` clients of an emulator that behave with AWS's ``timings``."""
    model = TimingModel(ecs, logs, timings, clock=clock)
    wrapped_ecs = _Wrapped(
        ecs,
        {
            "run_task": model.run_task,
            "describe_tasks": model.describe_tasks,
            "stop_task": model.stop_task,
        },
    )
    wrapped_logs = _Wrapped(logs, {"get_log_events": model.get_log_events})
    return wrapped_ecs, wrapped_logs
