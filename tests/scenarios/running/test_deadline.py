"""The phase deadline: consumer time only, stretched while a slow system drains, never forever."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from scenarios.running.deadline import Deadline, consumer_seconds

pytestmark = pytest.mark.unit


@dataclass
class Inc:
    consumer_id: str
    started_at: float
    ended_at: float | None = None


def test_start_up_and_time_with_every_slot_down_do_not_count():
    # GIVEN a consumer launched at 0 that logged its first event at 20 (a cold start), crashed at
    # 30, and a replacement launched at 31 that came up at 50 and is still running at 60
    incs = [Inc("a", 0.0, 30.0), Inc("b", 31.0)]
    first = {"a": 20.0, "b": 50.0}
    # THEN only 20..30 and 50..60 are consumer time
    assert consumer_seconds(incs, first, now=60.0) == pytest.approx(20.0)


def test_overlapping_consumers_count_once_and_a_silent_one_counts_after_its_grace():
    incs = [Inc("a", 0.0), Inc("b", 0.0), Inc("quiet", 0.0)]
    assert consumer_seconds(incs, {"a": 1.0, "b": 2.0}, now=11.0) == pytest.approx(10.0)
    # a consumer that never logs counts from its start plus the grace
    assert consumer_seconds([Inc("quiet", 0.0)], {}, now=50.0, silent_grace_s=30.0) == 20.0
    assert consumer_seconds([Inc("quiet", 0.0)], {}, now=10.0, silent_grace_s=30.0) == 0.0


def test_the_budget_holds_while_time_remains():
    d = Deadline(10.0)
    d.observe(5.0, 100)
    assert not d.expired(5.0)


def test_a_stuck_phase_times_out_at_its_budget():
    d = Deadline(10.0)
    for t in range(0, 12):
        d.observe(float(t), 40)  # nothing leaves the queue
    assert d.expired(11.0)
    assert d.too_slow is None and "stopped draining" in (d.reason or "")


def test_a_slow_but_draining_phase_is_stretched_to_what_its_rate_needs():
    # GIVEN 10 msg/s leaving the queue, 50 messages left when the 10 s budget runs out
    d = Deadline(10.0)
    for t in range(0, 11):
        d.observe(float(t), 150 - 10 * t)
    # THEN it is not over: the budget grows to about 10 + 1.25 x 5 + 2 s
    assert not d.expired(10.0)
    assert d.current_s == pytest.approx(18.25)
    assert d.reason is None


def test_too_slow_beyond_the_stretch_limit_says_so_with_the_rate():
    # GIVEN 1 msg/s and 900 messages left: 900 s more, beyond 4 x 60 s
    d = Deadline(60.0)
    for t in range(0, 61):
        d.observe(float(t), 960 - t)
    assert d.expired(60.0)
    assert d.too_slow is not None
    assert "1.0 msg/s" in d.too_slow and "900 messages" in d.too_slow and "240 s" in d.too_slow


def test_no_consumer_up_for_too_long_ends_the_phase():
    d = Deadline(10.0, max_down_s=5.0)
    assert not d.expired(0.0, down_s=4.0)
    assert d.expired(0.0, down_s=6.0)
    assert "no consumer was up" in (d.reason or "")


def test_the_down_time_allowance_scales_with_the_budget():
    assert Deadline(10.0).max_down_s == 180.0  # at least three minutes: cold starts
    assert Deadline(100.0).max_down_s == 300.0


def test_without_a_measurement_it_waits_up_to_the_limit_then_says_so():
    d = Deadline(10.0)
    assert not d.expired(10.0)  # nothing measured yet (the sampler failed): keep waiting
    assert d.expired(40.0)
    assert "could not be measured" in (d.reason or "")
