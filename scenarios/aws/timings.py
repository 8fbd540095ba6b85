"""AWS's timings for consumers on ECS Fargate, as a typed model an emulator run can inject.

An emulator starts a task in about a second, hands its log lines back at once and reports
STOPPED the moment the container exits. Fargate does none of that, and code that is only ever
run against an emulator (fault triggers, deadlines, stop waits) breaks on the first real run.
:class:`AwsTimings` says how long each of those steps takes on AWS; the aws target against an
emulator injects it (``scenarios.runners.ecs_timing``) when ``SQSKIT_AWS_TIMINGS`` asks for it.

The defaults, and where each comes from (the ECS developer guide, "Amazon ECS task lifecycle",
names the states; AWS publishes no durations for them, so the durations are assumptions until a
real run records its own with ``scenarios.aws.recorder``):

- ``provisioning_s`` (PROVISIONING): the task's elastic network interface is created and
  attached (awsvpc). Assumed 10 s.
- ``pending_s`` (PENDING, ACTIVATING): capacity, the image pull from ECR, the container start.
  Assumed 20 s for the kit's small image; a large image takes longer.
- ``log_batch_s``: the awslogs log driver publishes a stream's buffered lines every 5 s
  (Docker's awslogs driver, ``batchPublishFrequency``), so a line is up to 5 s late.
- ``log_ingest_s``: from PutLogEvents until GetLogEvents returns the line. Assumed 1 s.
- ``deprovisioning_s`` (DEACTIVATING, STOPPING, DEPROVISIONING): after the container exits,
  the network interface is detached before the task is STOPPED. Assumed 30 s.

A report of a real run carries the measured numbers (``target_info.aws_timings``);
``SQSKIT_AWS_TIMINGS=<that report>`` replays them instead of the assumptions.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from core.errors import ConfigError

#: ``SQSKIT_AWS_TIMINGS``: ``off`` (default), ``aws`` (the model's defaults) or a report path
ENV_TIMINGS = "SQSKIT_AWS_TIMINGS"
TIMINGS_OFF = "off"
TIMINGS_AWS = "aws"
#: where a report keeps what the recorder measured (``target_info.<this>``)
REPORT_KEY = "aws_timings"
#: the model's fields a recorded report gives medians for (recorder metric -> model field)
RECORDED_FIELDS = {
    "provisioning_s": "provisioning_s",
    "pending_s": "pending_s",
    "log_batch_delay_s": "log_batch_s",
    "log_ingest_s": "log_ingest_s",
    "deprovisioning_s": "deprovisioning_s",
}
_MAX_S = 600.0


@dataclass(frozen=True)
class AwsTimings:
    """How long ECS on Fargate takes for each step an emulator does at once (seconds)."""

    provisioning_s: float = 10.0
    pending_s: float = 20.0
    log_batch_s: float = 5.0
    log_ingest_s: float = 1.0
    deprovisioning_s: float = 30.0
    #: where the numbers come from, for the report
    source: str = "model: AWS's task states, assumed durations (scenarios/aws/timings.py)"

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name == "source":
                continue
            value = getattr(self, f.name)
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise ConfigError(f"timing {f.name}={value!r} is not a number of seconds")
            if not 0 <= value <= _MAX_S:
                raise ConfigError(f"timing {f.name}={value} is out of range: allowed 0..{_MAX_S}")

    @property
    def startup_s(self) -> float:
        """RunTask until RUNNING: PROVISIONING plus PENDING."""
        return self.provisioning_s + self.pending_s

    @property
    def max_log_delay_s(self) -> float:
        """The latest a line written by the container becomes readable."""
        return self.log_batch_s + self.log_ingest_s

    def to_dict(self) -> dict[str, Any]:
        """The model as report fields."""
        return {**asdict(self), "startup_s": self.startup_s}

    @classmethod
    def from_recorded(cls, recorded: Mapping[str, Any], *, source: str) -> AwsTimings:
        """A model from a report's recorded ``aws_timings``: each step's median where measured.

        Steps the report did not measure keep the model's default.
        """
        metrics = recorded.get("metrics")
        if not isinstance(metrics, Mapping):
            raise ConfigError(f"{source}: no recorded metrics (target_info.{REPORT_KEY}.metrics)")
        changes: dict[str, float] = {}
        for metric, field_name in RECORDED_FIELDS.items():
            summary = metrics.get(metric)
            if isinstance(summary, Mapping) and summary.get("median") is not None:
                changes[field_name] = float(summary["median"])
        if not changes:
            raise ConfigError(f"{source}: the recorded timings measured none of the model's steps")
        return replace(cls(), source=f"recorded: {source}", **changes)


def timings_from_spec(spec: str | None, *, endpoint_url: str | None) -> AwsTimings | None:
    """``SQSKIT_AWS_TIMINGS``'s value as a model: ``off``/empty -> None, ``aws``, or a report.

    Modelled timings stand in for AWS's on an emulator only: against AWS itself they would
    only slow the run down, so they are refused there.
    """
    value = (spec or "").strip()
    if value.lower() in ("", TIMINGS_OFF):
        return None
    if not endpoint_url:
        raise ConfigError(
            f"{ENV_TIMINGS}={value}: modelled timings are for an emulator standing in for AWS "
            "(--endpoint); AWS has its own. Unset it for a real run."
        )
    if value.lower() == TIMINGS_AWS:
        return AwsTimings()
    path = Path(value)
    if not path.is_file():
        raise ConfigError(
            f"{ENV_TIMINGS}={value!r} is not allowed: use {TIMINGS_OFF}, {TIMINGS_AWS}, or the "
            "path of a report of a real run (its target_info.aws_timings)"
        )
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{ENV_TIMINGS}={value}: unreadable report ({exc})") from exc
    info = report.get("target_info") if isinstance(report, Mapping) else None
    recorded = info.get(REPORT_KEY) if isinstance(info, Mapping) else None
    if not isinstance(recorded, Mapping):
        raise ConfigError(f"{ENV_TIMINGS}={value}: the report has no target_info.{REPORT_KEY}")
    if recorded.get("measured_on") != "aws":
        raise ConfigError(
            f"{ENV_TIMINGS}={value}: its timings were measured on "
            f"{recorded.get('measured_on') or 'an unknown target'}, not on AWS"
        )
    return AwsTimings.from_recorded(recorded, source=value)
