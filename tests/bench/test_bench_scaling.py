"""The scaling curve's arithmetic: the rate window, the events it counts, and the named bound."""

from __future__ import annotations

import json

import pytest

from bench.bench_scaling import Point, ceilings, completions, name_bound, next_backlog, window_rate
from consumer.contract import EV_COMPLETED, EV_RECEIVED

pytestmark = pytest.mark.unit


def _point(n: int, rate: float, *, emulator: float, consumers: float, machine: float) -> Point:
    return Point(
        consumers=n,
        messages=100,
        rate=rate,
        wall_s=10.0,
        emulator_cores=emulator,
        consumer_cores=consumers,
        bench_cores=0.0,
        machine_cores=machine,
    )


def test_window_rate_counts_the_central_80_percent():
    # GIVEN 100 completions 0.1 s apart, and a slow start and tail that must not count
    times = [1000.0 * (100 + i * 0.1) for i in range(100)]
    times[0] -= 30_000  # a consumer that started late
    times[-1] += 30_000  # a straggler
    # WHEN the rate is measured
    rate, start, end = window_rate(times)
    # THEN it is the steady 10 msg/s, over the window between the 10th and 90th percentile
    assert rate == pytest.approx(10.0)
    assert (start, end) == pytest.approx((101.0, 108.9))


@pytest.mark.parametrize(
    "times",
    [[1000.0] * 10, [5000.0] * 50],
    ids=["too-few-completions", "no-time-between-them"],
)
def test_window_rate_refuses_what_has_no_rate(times):
    with pytest.raises(ValueError):
        window_rate(times)


def test_completions_reads_only_completed_events():
    lines = [
        json.dumps({"event": EV_RECEIVED, "message_id": "a"}),
        json.dumps({"event": EV_COMPLETED, "message_id": "a", "completed_at": 1700000000123}),
        "Traceback (most recent call last):",
        "{not json",
        json.dumps({"event": EV_COMPLETED, "message_id": "b", "completed_at": 1700000000456}),
    ]
    assert completions(lines) == [1700000000123.0, 1700000000456.0]


def test_next_backlog_grows_with_the_rate_within_bounds():
    assert next_backlog(10.0, 10.0) == 160
    assert next_backlog(0.5, 10.0) == 100  # never a backlog too small to measure
    assert next_backlog(10_000.0, 10.0) == 4000  # nor one that runs for minutes


def test_the_bound_is_the_emulator_when_it_runs_a_full_core():
    # GIVEN a curve that flattens while the emulator process uses a whole core
    points = [
        _point(1, 10.0, emulator=0.1, consumers=0.1, machine=0.2),
        _point(8, 40.0, emulator=1.0, consumers=0.3, machine=1.3),
    ]
    # THEN the emulator's ceiling (40 msg/s at 25 ms per message) is the lowest
    assert ceilings(points, 4).emulator == pytest.approx(40.0)
    assert name_bound(points, 4, None).startswith("the emulator's CPU: 40.0 msg/s observed, 100%")


def test_the_bound_is_the_machine_when_other_processes_take_the_cores():
    # GIVEN two cores of which other processes take 1.2, and this run needs 20 ms CPU per message
    points = [
        _point(1, 10.0, emulator=0.05, consumers=0.1, machine=1.35),
        _point(8, 40.0, emulator=0.3, consumers=0.5, machine=2.0),
    ]
    # THEN the cores left free (0.8) allow 40 msg/s: the machine is the bound
    assert ceilings(points, 2).machine == pytest.approx(40.0)
    assert ceilings(points, 2).idle_machine == pytest.approx(100.0)  # 2 cores / 20 ms
    bound = name_bound(points, 2, None)
    assert bound.startswith("this machine's 2 cores: 40.0 msg/s observed")
    assert "other processes 1.20" in bound


def test_the_bound_is_linear_scaling_when_nothing_shared_is_saturated():
    points = [
        _point(1, 10.0, emulator=0.02, consumers=0.05, machine=0.1),
        _point(8, 79.0, emulator=0.16, consumers=0.4, machine=0.6),
    ]
    assert name_bound(points, 8, None).startswith("linear scaling")


def test_the_dynamodb_share_of_the_emulator_is_reported():
    points = [
        _point(1, 10.0, emulator=0.1, consumers=0.1, machine=0.2),
        _point(8, 40.0, emulator=1.0, consumers=0.3, machine=1.3),
    ]
    costs = {
        "ReceiveMessage": 1.0,
        "PutItem": 1.0,
        "TransactWriteItems": 2.0,
        "DeleteMessageBatch": 1.0,
    }
    assert "DynamoDB writes are 3.0 of the emulator's 5.0 ms" in name_bound(points, 4, costs)
