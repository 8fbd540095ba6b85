"""The timing recorder: what a real run measures, summarised for the report."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scenarios.aws.recorder import METRICS, TimingRecorder, epoch, summarise

pytestmark = pytest.mark.unit

T0 = 1_800_000_000.0


def _at(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


def test_summaries_are_order_statistics() -> None:
    s = summarise([float(v) for v in range(1, 21)])
    assert s == {"n": 20, "min": 1.0, "median": 10.5, "p95": 19.0, "max": 20.0}
    assert summarise([]) == {"n": 0, "min": None, "median": None, "p95": None, "max": None}
    # a broken value never reaches the report
    assert summarise([1.0, float("nan"), float("inf")])["n"] == 1


def test_epoch_reads_datetimes_and_numbers_and_nothing_else() -> None:
    assert epoch(_at(T0)) == T0
    assert epoch(T0) == T0
    assert epoch(None) is None
    assert epoch("2026-01-01") is None
    assert epoch(float("nan")) is None


def test_a_task_start_stop_and_its_lines_become_the_reports_numbers() -> None:
    rec = TimingRecorder(measured_on="aws", note="real run")
    arn = "arn:aws:ecs:us-west-1:1:task/c/abc"
    # GIVEN RunTask at T0, RUNNING seen at T0 + 42 with AWS's own timestamps
    rec.task_launched(arn, T0)
    rec.task_running(
        arn,
        T0 + 42,
        {"createdAt": _at(T0 + 0.5), "pullStartedAt": _at(T0 + 12), "startedAt": _at(T0 + 40)},
    )
    # AND a StopTask at T0 + 100, STOPPED seen at T0 + 160
    rec.stop_requested(arn, T0 + 100)
    rec.task_stopped(
        arn, T0 + 160, {"executionStoppedAt": _at(T0 + 101), "stoppedAt": _at(T0 + 158)}
    )
    # AND two lines written at +50 and +51, ingested at +55, read at +56
    rec.lines_read(T0 + 56, [(T0 + 50, T0 + 50, T0 + 55), (T0 + 51, T0 + 51, T0 + 55)])
    summary = rec.summary()
    m = summary["metrics"]
    assert summary["measured_on"] == "aws" and summary["tasks"] == 1
    assert m["startup_s"]["median"] == 42
    assert m["provisioning_s"]["median"] == 11.5
    assert m["pending_s"]["median"] == 28
    assert m["stop_s"]["median"] == 60
    assert m["deprovisioning_s"]["median"] == 57
    assert m["log_delay_s"] == {"n": 2, "min": 5.0, "median": 5.5, "p95": 6.0, "max": 6.0}
    assert m["log_batch_delay_s"]["median"] == 4.5
    assert set(summary["explained"]) == set(METRICS) == set(m)


def test_missing_or_backwards_times_are_not_measured() -> None:
    rec = TimingRecorder(measured_on="emulator")
    rec.task_running("t", T0, {"createdAt": None})  # never launched by this recorder
    rec.task_stopped("t", T0, {"executionStoppedAt": _at(T0 + 5), "stoppedAt": _at(T0)})
    rec.lines_read(T0, [(None, None, None), (T0 + 9, None, None)])  # a ts after the read
    assert all(v["n"] == 0 for v in rec.summary()["metrics"].values())
