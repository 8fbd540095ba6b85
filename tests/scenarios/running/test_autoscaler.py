"""Target tracking on backlog per consumer: decisions on a fake clock and a fake backlog."""

from __future__ import annotations

import signal
from dataclasses import replace

import pytest

from core.errors import ConfigError
from scenarios.judging.facts import ConsumerRun, FaultRecord
from scenarios.judging.scaling import SCALE_IN, SCALE_OUT, ScaledOutAndIn
from scenarios.model import ConsumerSettings, RestartPolicy, ScalingPolicy
from scenarios.runners.base import ConsumerHandle, Incarnation
from scenarios.running.autoscaler import Autoscaler, FleetScaler
from tests.scenarios.factories import T0, clean_facts

pytestmark = pytest.mark.unit

POLICY = ScalingPolicy(
    target_backlog=10,
    min_consumers=1,
    max_consumers=4,
    scale_out_cooldown_s=3,
    scale_in_cooldown_s=6,
    period_s=1,
    scale_out_points=2,
    scale_in_points=3,
)


def feed(scaler: Autoscaler, points: list[tuple[float, int, int]]):
    """(time, visible, running) data points -> the decisions, by time."""
    return {t: d for t, v, r in points if (d := scaler.observe(t, v, r)) is not None}


def test_scale_out_needs_its_points_in_a_row_and_goes_to_the_desired_count_capped():
    scaler = Autoscaler(POLICY, capacity=1)
    # 25 visible for 1 consumer: 25 per consumer > 10; desired ceil(25/10) = 3
    got = feed(scaler, [(0, 25, 1), (1, 25, 1)])
    assert list(got) == [1]  # not on the first point: the high alarm needs two
    d = got[1]
    assert (d.kind, d.current, d.desired, d.visible) == (SCALE_OUT, 1, 3, 25)
    assert scaler.capacity == 3
    # 500 visible would want 50: the maximum caps it
    assert Autoscaler(POLICY, 1).desired(500) == 4
    assert Autoscaler(POLICY, 1).desired(0) == 1  # never below the minimum


def test_a_point_above_then_one_below_resets_the_count():
    scaler = Autoscaler(POLICY, capacity=1)
    assert feed(scaler, [(0, 25, 1), (1, 5, 1), (2, 25, 1)]) == {}
    assert scaler.capacity == 1


def test_one_data_point_per_period_whatever_the_loop_rate():
    scaler = Autoscaler(POLICY, capacity=1)
    # ten observations within the first second are one data point, not ten
    got = feed(scaler, [(i / 10, 40, 1) for i in range(10)])
    assert got == {}
    assert scaler.observe(1.0, 40, 1) is not None  # the second point, one period later


def test_the_scale_out_cooldown_holds_a_second_scale_out_back():
    scaler = Autoscaler(POLICY, capacity=1)
    first = feed(scaler, [(0, 15, 1), (1, 15, 1)])
    assert first[1].desired == 2
    # the backlog keeps growing: 40 for 2 -> desired 4; the cooldown (3 s) runs until t=4
    got = feed(scaler, [(2, 40, 2), (3, 40, 2), (4, 40, 2)])
    assert list(got) == [4] and got[4].desired == 4


def test_scale_in_waits_for_its_longer_alarm_and_its_cooldown():
    scaler = Autoscaler(POLICY, capacity=4)
    # 12 visible for 4: 3 per consumer < 10; desired 2; three low points needed
    got = feed(scaler, [(0, 12, 4), (1, 12, 4), (2, 12, 4)])
    assert list(got) == [2]
    assert (got[2].kind, got[2].current, got[2].desired) == (SCALE_IN, 4, 2)
    # empty queue: desired 1; three more low points come at t=5, but the cooldown runs to t=8
    got = feed(scaler, [(t, 0, 2) for t in range(3, 9)])
    assert list(got) == [8] and got[8].desired == 1


def test_a_scale_out_cuts_the_scale_in_cooldown_short():
    scaler = Autoscaler(replace(POLICY, scale_out_cooldown_s=0), capacity=4)
    assert feed(scaler, [(0, 0, 4), (1, 0, 4), (2, 0, 4)])[2].kind == SCALE_IN  # 4 -> 1
    # a burst: out at once (its cooldown is 0), then quiet again: in without waiting until t=8
    got = feed(scaler, [(3, 50, 1), (4, 50, 1), (5, 0, 4), (6, 0, 4), (7, 0, 4)])
    assert [(t, d.kind) for t, d in got.items()] == [(4, SCALE_OUT), (7, SCALE_IN)]


def test_disable_scale_in_only_adds():
    scaler = Autoscaler(replace(POLICY, disable_scale_in=True), capacity=3)
    assert feed(scaler, [(t, 0, 3) for t in range(10)]) == {}


def test_no_consumer_running_counts_the_backlog_against_one():
    scaler = Autoscaler(POLICY, capacity=2)
    d = feed(scaler, [(0, 30, 0), (1, 30, 0)])[1]
    assert (d.kind, d.desired) == (SCALE_OUT, 3)  # finite metric, proportional scale-out


def test_a_capacity_below_the_minimum_is_raised_at_once():
    d = Autoscaler(replace(POLICY, min_consumers=2), capacity=1).observe(0, 0, 1)
    assert d is not None and (d.kind, d.desired) == (SCALE_OUT, 2)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("target_backlog", 0, "target_backlog=0 is invalid: must be > 0"),
        ("min_consumers", 0, "need 1 <= min_consumers <= max_consumers"),
        ("max_consumers", 0, "need 1 <= min_consumers <= max_consumers"),
        ("scale_in_cooldown_s", -1, "scale_in_cooldown_s=-1 is invalid"),
        ("period_s", 0, "period_s=0 is invalid"),
        ("scale_out_points", 0, "scale_out_points=0 is invalid"),
    ],
)
def test_a_bad_policy_names_the_field(field, value, message):
    with pytest.raises(ConfigError, match=message):
        replace(POLICY, **{field: value})


# -- the fleet -------------------------------------------------------------------------------------


class FakeFleet:
    """Consumers as handles; ``up`` says which have logged their first event."""

    def __init__(self, n: int) -> None:
        self.handles: list[ConsumerHandle] = []
        self.up: set[str] = set()
        self.signals: list[tuple[str, int]] = []
        self.start(n)
        self.up |= {h.consumer_id for h in self.handles}

    def running(self):
        return [h for h in self.handles if h.running]

    def is_up(self, handle):
        return handle.consumer_id in self.up

    def start(self, n):
        new = []
        for _ in range(n):
            slot = len(self.handles)
            h = ConsumerHandle(slot, ConsumerSettings(), RestartPolicy.ON_FAILURE)
            h.incarnations.append(Incarnation(f"c-{slot}", str(slot), 0.0))
            self.handles.append(h)
            new.append(h)
        return new

    def signal(self, handle, sig):
        self.signals.append((handle.consumer_id, sig))


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_the_fleet_grows_then_stops_its_newest_consumers_once_they_are_up():
    fleet, clock = FakeFleet(1), Clock()
    scaler = FleetScaler(POLICY, fleet, clock=clock)
    records = []
    for t, visible in [(0, 35), (1, 35)]:
        clock.t = t
        records.append(scaler.tick(visible))
    out = records[-1]
    assert out is not None and out.kind == SCALE_OUT
    assert out.data["started"] == ["c-1", "c-2", "c-3"] and len(fleet.running()) == 4
    # c-1 is up; c-2 and c-3 are still starting
    fleet.up.add("c-1")
    # quiet: three low points -> scale in from 4 to 1 (cooldowns passed)
    found = None
    for t in range(5, 9):
        clock.t = t
        found = scaler.tick(0) or found
    assert found is not None and found.kind == SCALE_IN
    assert (found.data["from"], found.data["to"]) == (4, 1)
    # THEN it stopped the newest that are up, c-1 then c-0; never one still starting
    assert fleet.signals == [("c-1", signal.SIGTERM), ("c-0", signal.SIGTERM)]
    # WHEN c-3 comes up, the next turn stops it too, under the same scale-in
    fleet.up.add("c-3")
    clock.t = 9
    assert scaler.tick(0) is None
    assert found.data["stopped"] == ["c-1", "c-0", "c-3"]
    assert [h.consumer_id for h in scaler.running()] == ["c-2"]
    # AND nothing more is stopped once the count is reached
    fleet.up.add("c-2")
    clock.t = 10
    scaler.tick(0)
    assert len(fleet.signals) == 3


# -- the phenomenon --------------------------------------------------------------------------------


def _scaled(*records: FaultRecord, exits: dict[str, int | None]):
    runs = tuple(ConsumerRun(i, c, T0, T0 + 5, code) for i, (c, code) in enumerate(exits.items()))
    return clean_facts(faults=records, consumers=runs)


OUT = FaultRecord(SCALE_OUT, T0 + 1, data={"from": 1, "to": 3, "started": ["c-1", "c-2"]})
IN = FaultRecord(SCALE_IN, T0 + 3, data={"from": 3, "to": 1, "stopped": ["c-2", "c-1"]})


def test_scaled_out_and_in_passes_when_both_happened_and_the_stopped_drained():
    facts = _scaled(OUT, IN, exits={"c-0": 0, "c-1": 0, "c-2": 0})
    result = ScaledOutAndIn().check(facts)
    assert result.passed, result.detail
    assert "1 scale-out(s) (1->3), 1 scale-in(s) (3->1)" in result.detail


@pytest.mark.parametrize(
    ("records", "exits", "why"),
    [
        ((OUT,), {"c-0": 0, "c-1": 0, "c-2": 0}, "no scale-in"),
        ((IN,), {"c-0": 0, "c-1": 0, "c-2": 0}, "no scale-out"),
        ((OUT, IN), {"c-0": 0, "c-1": 0, "c-2": -15}, "did not drain to exit 0: c-2 (-15)"),
        ((OUT, IN), {"c-0": 0, "c-1": 0, "c-2": None}, "did not drain to exit 0: c-2 (None)"),
    ],
)
def test_scaled_out_and_in_fails_a_run_that_did_not_show_it(records, exits, why):
    result = ScaledOutAndIn().check(_scaled(*records, exits=exits))
    assert not result.passed
    assert why in result.detail and "a failed demonstration" in result.detail


def test_the_fleet_is_at_rest_only_back_at_its_minimum_with_nothing_left_to_stop():
    fleet, clock = FakeFleet(1), Clock()
    scaler = FleetScaler(POLICY, fleet, clock=clock)
    assert scaler.at_rest
    for t in (0, 1):
        clock.t = t
        scaler.tick(35)
    assert not scaler.at_rest  # scaled out to 4: a phase must wait for the scale-in
    # the scale-in decided 4 -> 1, but the new consumers are not up yet: still not at rest
    for t in range(5, 9):
        clock.t = t
        scaler.tick(0)
    assert scaler.autoscaler.capacity == 1 and not scaler.at_rest
    fleet.up |= {"c-1", "c-2", "c-3"}
    clock.t = 9
    scaler.tick(0)
    assert scaler.at_rest
    # a policy that never scales in is at rest at any size
    never = FleetScaler(replace(POLICY, disable_scale_in=True), FakeFleet(1), clock=clock)
    clock.t = 20
    never.tick(35)
    clock.t = 21
    never.tick(35)
    assert never.autoscaler.capacity == 4 and never.at_rest
