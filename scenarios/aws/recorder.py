"""What only a real run can tell: task start-up, log delivery delay and stop durations.

The ECS runner reports each task's steps here as it observes them; the report carries the
summary as ``target_info.aws_timings``. From AWS, those numbers can replace the modelled
timings (``SQSKIT_AWS_TIMINGS=<report>``, see ``scenarios.aws.timings``). Against an emulator
the same fields are recorded, labelled ``measured_on: emulator``: they then describe the
emulator (and the timing model, when one was injected), not AWS.

Two clocks meet here: the runner's (when it called RunTask, when it first saw a state, when it
read a line) and AWS's own timestamps from DescribeTasks and CloudWatch Logs. Observed
durations are quantised by the runner's polling interval; AWS's are exact.
"""

from __future__ import annotations

import math
import statistics
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

#: metric -> what it measures (the report's ``aws_timings.explained``)
METRICS: dict[str, str] = {
    "startup_s": "RunTask called -> the runner first saw RUNNING (runner's clock)",
    "provisioning_s": "createdAt -> pullStartedAt: PROVISIONING, the network interface (AWS)",
    "pending_s": "pullStartedAt -> startedAt: the image pull and container start (AWS)",
    "stop_s": "StopTask called -> the runner first saw STOPPED (runner's clock)",
    "deprovisioning_s": "executionStoppedAt -> stoppedAt: after the container exited (AWS)",
    "log_delay_s": "an event's ts -> the runner read it (what a fault trigger waits)",
    "log_batch_delay_s": "an event's timestamp -> its CloudWatch ingestionTime (the driver)",
}
MEASURED_ON_AWS = "aws"
MEASURED_ON_EMULATOR = "emulator"


def epoch(value: Any) -> float | None:
    """A DescribeTasks/CloudWatch time as epoch seconds (datetime, epoch s, or None)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def summarise(values: Iterable[float]) -> dict[str, float | int | None]:
    """n, min, median, p95 and max of ``values`` (None when there are none)."""
    data = sorted(v for v in values if math.isfinite(v))
    if not data:
        return {"n": 0, "min": None, "median": None, "p95": None, "max": None}
    p95 = data[min(len(data) - 1, math.ceil(0.95 * len(data)) - 1)]
    return {
        "n": len(data),
        "min": round(data[0], 3),
        "median": round(statistics.median(data), 3),
        "p95": round(p95, 3),
        "max": round(data[-1], 3),
    }


class TimingRecorder:
    """Collects per-task and per-line timings; :meth:`summary` is the report's block."""

    def __init__(self, *, measured_on: str, note: str = "") -> None:
        self.measured_on = measured_on
        self.note = note
        self._lock = threading.Lock()
        self._values: dict[str, list[float]] = {name: [] for name in METRICS}
        self._launched: dict[str, float] = {}
        self._stop_requested: dict[str, float] = {}
        self._tasks: set[str] = set()

    def _add(self, metric: str, start: float | None, end: float | None) -> None:
        if start is not None and end is not None and end >= start:
            self._values[metric].append(end - start)

    def task_launched(self, task: str, at: float) -> None:
        """RunTask was called for ``task`` at ``at`` (runner's clock)."""
        with self._lock:
            self._tasks.add(task)
            self._launched[task] = at

    def task_running(self, task: str, seen_at: float, description: Mapping[str, Any]) -> None:
        """The runner first saw ``task`` RUNNING (or later) at ``seen_at``."""
        with self._lock:
            self._add("startup_s", self._launched.get(task), seen_at)
            created = epoch(description.get("createdAt"))
            pull = epoch(description.get("pullStartedAt"))
            self._add("provisioning_s", created, pull)
            self._add("pending_s", pull, epoch(description.get("startedAt")))

    def stop_requested(self, task: str, at: float) -> None:
        """StopTask was called for ``task`` at ``at``."""
        with self._lock:
            self._stop_requested.setdefault(task, at)

    def task_stopped(self, task: str, seen_at: float, description: Mapping[str, Any]) -> None:
        """The runner first saw ``task`` STOPPED at ``seen_at``."""
        with self._lock:
            self._add("stop_s", self._stop_requested.get(task), seen_at)
            self._add(
                "deprovisioning_s",
                epoch(description.get("executionStoppedAt")),
                epoch(description.get("stoppedAt")),
            )

    def lines_read(
        self, read_at: float, lines: Iterable[tuple[float | None, float | None, float | None]]
    ) -> None:
        """Lines read at ``read_at``: (event ts, CloudWatch timestamp, ingestionTime), in s."""
        with self._lock:
            for ts, stamp, ingested in lines:
                self._add("log_delay_s", ts, read_at)
                self._add("log_batch_delay_s", stamp, ingested)

    def summary(self) -> dict[str, Any]:
        """The report's ``aws_timings``: what was measured where, and its distribution."""
        with self._lock:
            return {
                "measured_on": self.measured_on,
                "note": self.note,
                "tasks": len(self._tasks),
                "metrics": {name: summarise(values) for name, values in self._values.items()},
                "explained": dict(METRICS),
            }
