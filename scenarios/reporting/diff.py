"""Comparing two run reports, target-specific fields apart (``scenario diff``).

The parity promise is that a scenario's report on ``--target local`` and on ``--target aws``
differ only where the target shows through: where it ran (target, emulator, runner,
provisioner, endpoint, region, ...) and how long things took (timings, durations, latency).
Parity holds when only those differ; anything else (counts, verdict, checks, consumer exit
codes and signals, knobs) breaks it. A check's ``detail`` is prose that
often carries a duration, so it is shown with the target-specific differences; the check's
name and verdict are compared strictly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from consumer.contract import SIGNAL_SETTLED_STOP

#: Keys whose values depend on where or when a run happened, at any depth of the report.
TARGET_SPECIFIC_KEYS = frozenset(
    {
        "target",
        "target_info",
        "emulator",
        "runner",
        "provisioner",
        "endpoint",
        "endpoint_url",
        "region",
        "account",
        "image_tag",
        "cluster",
        "task_definition",
        "launch_type",
        "network_mode",
        "log_group",
        "stop_timeout_s",
        # A deadline, not a behaviour: the aws target raises it to cover task start-up and
        # the ECS stopTimeout (scenarios/model/ecs.py).
        "timeout_s",
        "kill_semantics",
        "workspace",
        "prefix",
        "run_id",
        "timings",
        "duration_s",
        "latency",
        "latency_ms",
        "started_at",
        "finished_at",
        "created_at",
        "report_path",
        "artifacts",
        "log_dir",
        "stack",
        "stack_prefix",
        "emulator_reason",
        "runner_reason",
        "ran_s",
        "elapsed_s",
        "provision_s",
        "rate_msg_s",
        "throughput_msg_s",
        "timeline",
        "timeline_png",
        "png",
    }
)
#: Check fields that are prose or numbers measured in time; a check's name and verdict count.
INFORMATIONAL_CHECK_KEYS = frozenset({"detail"})
#: The signals that end a phase with a drain. The kit's consumer gets the settled stop where its
#: runner can send it (process, docker); ECS sends SIGTERM only. Which one a consumer got is
#: the target's, so SIGTERM against the settled stop is a target-specific difference; any other
#: signal (a SIGKILL, say) is compared strictly.
DRAIN_SIGNALS = frozenset({"SIGTERM", SIGNAL_SETTLED_STOP.name})

_MISSING = object()


@dataclass(frozen=True)
class Difference:
    """One leaf that differs between two reports; ``target_specific`` ones are expected."""

    path: str
    left: Any
    right: Any
    target_specific: bool

    def render(self) -> str:
        return f"  {self.path}: {_show(self.left)} -> {_show(self.right)}"


def _show(value: Any) -> str:
    if value is _MISSING:
        return "(absent)"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _key_of(item: Any) -> str | None:
    if isinstance(item, dict):
        for key in ("name", "scenario", "id"):
            if isinstance(item.get(key), str):
                return str(item[key])
    return None


def compare(
    left: Any, right: Any, *, ignore: Iterable[str] = (), path: str = "", specific: bool = False
) -> list[Difference]:
    """Every leaf that differs between two JSON documents, flagged target-specific or not.

    Lists of objects with a ``name`` (the checks, a multi-scenario report's scenarios) are
    matched by that name, not by position.
    """
    keys = TARGET_SPECIFIC_KEYS | frozenset(ignore)
    if isinstance(left, dict) and isinstance(right, dict):
        out: list[Difference] = []
        for key in sorted(set(left) | set(right)):
            sub = f"{path}.{key}" if path else key
            in_check = "checks" in path.split(".") and key in INFORMATIONAL_CHECK_KEYS
            out.extend(
                compare(
                    left.get(key, _MISSING),
                    right.get(key, _MISSING),
                    ignore=ignore,
                    path=sub,
                    specific=specific or key in keys or in_check,
                )
            )
        return out
    if isinstance(left, list) and isinstance(right, list):
        lkeys, rkeys = [_key_of(i) for i in left], [_key_of(i) for i in right]
        if all(lkeys) and all(rkeys) and len(set(lkeys)) == len(lkeys):
            lmap = dict(zip(lkeys, left, strict=True))
            rmap = dict(zip(rkeys, right, strict=True))
            return compare(lmap, rmap, ignore=ignore, path=path, specific=specific)
        if len(left) == len(right):
            return [
                d
                for i, (a, b) in enumerate(zip(left, right, strict=True))
                for d in compare(a, b, ignore=ignore, path=f"{path}[{i}]", specific=specific)
            ]
    if left == right:
        return []
    return [Difference(path or "<root>", left, right, specific or _drain_stop(path, left, right))]


def _drain_stop(path: str, left: Any, right: Any) -> bool:
    """Two different drain signals in a consumer's ``signals`` (see DRAIN_SIGNALS)."""
    if not (isinstance(left, str) and isinstance(right, str)):
        return False
    return ".signals[" in path and left in DRAIN_SIGNALS and right in DRAIN_SIGNALS


@dataclass(frozen=True)
class ReportDiff:
    """Every difference between two reports, split into expected and unexpected ones."""

    target_specific: tuple[Difference, ...]
    other: tuple[Difference, ...]

    @property
    def parity(self) -> bool:
        """Only target-specific fields differ."""
        return not self.other

    def to_dict(self) -> dict[str, Any]:
        def rows(ds: Iterable[Difference]) -> list[dict[str, Any]]:
            return [{"path": d.path, "a": _plain(d.left), "b": _plain(d.right)} for d in ds]

        return {
            "target_specific": rows(self.target_specific),
            "other": rows(self.other),
            "parity": self.parity,
        }


def diff_reports(left: Any, right: Any, *, ignore: Iterable[str] = ()) -> ReportDiff:
    """Compare two report documents (or summaries)."""
    differences = compare(left, right, ignore=ignore)
    return ReportDiff(
        target_specific=tuple(d for d in differences if d.target_specific),
        other=tuple(d for d in differences if not d.target_specific),
    )


def _plain(value: Any) -> Any:
    return None if value is _MISSING else value
