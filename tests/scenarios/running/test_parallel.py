"""Scenarios side by side: order kept, heaviest first, exclusive alone, Ctrl-C reaches every one."""

from __future__ import annotations

import _thread
import threading
import time

import pytest

from scenarios.running.parallel import plan_order, run_side_by_side, simulate

pytestmark = pytest.mark.unit


class Recorder:
    """Work that sleeps a little and records what ran at the same time as what."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: set[str] = set()
        self.overlaps: dict[str, set[str]] = {}
        self.started: list[str] = []

    def __call__(self, item: str) -> str:
        with self.lock:
            self.started.append(item)
            self.overlaps.setdefault(item, set()).update(self.running)
            for other in self.running:
                self.overlaps.setdefault(other, set()).add(item)
            self.running.add(item)
        time.sleep(0.2)
        with self.lock:
            self.running.discard(item)
        return item.upper()


def test_results_come_back_in_the_order_given_and_the_workers_overlap():
    work = Recorder()
    items = ["a", "b", "c", "d", "e"]
    assert run_side_by_side(items, work, workers=3) == ["A", "B", "C", "D", "E"]
    assert max(len(v) for v in work.overlaps.values()) >= 2  # really side by side
    assert all(len(v) <= 4 for v in work.overlaps.values())


def test_the_heaviest_start_first():
    work = Recorder()
    weights = {"a": 1.0, "b": 9.0, "c": 5.0, "d": 5.0}
    run_side_by_side(list(weights), work, workers=1, weight=weights.__getitem__)
    assert work.started == ["b", "c", "d", "a"]  # ties keep their order


def test_an_exclusive_item_runs_alone_after_the_others():
    work = Recorder()
    items = ["a", "b", "alone", "c"]
    out = run_side_by_side(items, work, workers=3, exclusive=lambda i: i == "alone")
    assert out == ["A", "B", "ALONE", "C"]
    assert work.overlaps["alone"] == set()
    assert work.started[-1] == "alone"


def test_a_failure_is_raised_once_every_item_is_done():
    done: list[str] = []

    def work(item: str) -> str:
        if item == "bad":
            raise ValueError("bad item")
        time.sleep(0.1)
        done.append(item)
        return item

    with pytest.raises(ValueError, match="bad item"):
        run_side_by_side(["x", "bad", "y"], work, workers=2)
    assert sorted(done) == ["x", "y"]


def test_ctrl_c_is_raised_in_every_running_worker_and_then_here():
    cleaned: list[str] = []
    inside: list[str] = []

    def work(item: str) -> str:
        try:
            inside.append(item)
            if item == "a":
                while len(inside) < 3:  # every worker is inside its try block
                    time.sleep(0.01)
                _thread.interrupt_main()  # the user presses Ctrl-C
            end = time.monotonic() + 30
            while time.monotonic() < end:
                time.sleep(0.01)
            return item
        finally:
            cleaned.append(item)  # each one tears its own scenario down

    began = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_side_by_side(["a", "b", "c", "never"], work, workers=3)
    # THEN the three running ones were interrupted and cleaned up, the fourth never started
    assert sorted(cleaned) == ["a", "b", "c"]
    assert time.monotonic() - began < 25  # not the 30 s each would have run


def test_workers_must_be_positive():
    with pytest.raises(ValueError, match="workers must be >= 1"):
        run_side_by_side(["a"], str.upper, workers=0)


def test_two_heavy_items_never_run_at_the_same_time_and_light_ones_fill_in():
    # GIVEN two heavy items first in line, and light ones behind them
    work = Recorder()
    items = ["heavy-1", "heavy-2", "a", "b", "c"]
    weights = {"heavy-1": 9.0, "heavy-2": 8.0, "a": 1.0, "b": 1.0, "c": 1.0}
    # WHEN three workers run them, the heaviest first
    out = run_side_by_side(
        items,
        work,
        workers=3,
        weight=weights.__getitem__,
        heavy=lambda i: i.startswith("heavy"),
    )
    # THEN the heavy ones never overlapped, light ones ran beside the first, and all ran
    assert out == [i.upper() for i in items]
    assert "heavy-2" not in work.overlaps["heavy-1"]
    assert set(work.started[:3]) == {"heavy-1", "a", "b"}
    assert work.overlaps["heavy-1"] & {"a", "b"}


def test_only_heavy_items_left_wait_for_each_other():
    work = Recorder()
    items = ["h1", "h2", "h3"]
    run_side_by_side(items, work, workers=3, heavy=lambda _: True)
    assert all(not overlaps for overlaps in work.overlaps.values())
    assert work.started == items


def test_a_fragile_item_never_runs_beside_a_heavy_one_but_beside_light_ones():
    # GIVEN a heavy item and a fragile one first in line, and light ones behind them
    work = Recorder()
    items = ["heavy", "fragile", "a", "b"]
    weights = {"heavy": 9.0, "fragile": 8.0, "a": 1.0, "b": 1.0}
    run_side_by_side(
        items,
        work,
        workers=3,
        weight=weights.__getitem__,
        heavy=lambda i: i == "heavy",
        fragile=lambda i: i == "fragile",
    )
    # THEN the fragile one waited for the heavy one, and light ones filled in beside either
    assert "fragile" not in work.overlaps["heavy"]
    assert work.overlaps["heavy"] & {"a", "b"}
    assert work.started.index("fragile") > work.started.index("a")


def test_a_failure_of_the_scheduler_itself_is_raised_not_lost():
    # GIVEN a predicate that breaks (as a stand-in scenario missing an attribute did)
    def broken(_item: str) -> bool:
        raise AttributeError("no start_window")

    # THEN the run raises it instead of returning with items never run
    with pytest.raises(AttributeError, match="no start_window"):
        run_side_by_side(["a", "b"], Recorder(), workers=2, heavy=broken)


def _rules(heavy: set[int], fragile: set[int]):  # type: ignore[no-untyped-def]
    def clashes(a: int, b: int) -> bool:
        return (a in heavy and (b in heavy or b in fragile)) or (b in heavy and a in fragile)

    return clashes


def test_simulate_dispatches_as_the_workers_do():
    # GIVEN 0 and 1 heavy (never together), 2 light; two workers
    weights = [4.0, 3.0, 2.0]
    clashes = _rules(heavy={0, 1}, fragile=set())
    # THEN 0 and 2 start, 1 waits for 0 to end (at 4), and ends at 7
    assert simulate([0, 1, 2], weights, 2, clashes) == 7.0
    # AND with no rule, 0 and 1 start together, 2 starts at 3 and ends at 5
    assert simulate([0, 1, 2], weights, 2, lambda a, b: False) == 5.0
    # AND one worker runs them one after the other
    assert simulate([0, 1, 2], weights, 1, clashes) == 9.0


def test_the_plan_starts_the_heavy_item_early_so_the_fragile_one_is_not_left_alone():
    # GIVEN a (10 s), b (9 s), a heavy item (9 s) and a fragile one (8 s) on two workers.
    # Heaviest first, a and b start; the heavy one takes b's place at 9 s, and the fragile one,
    # which never runs beside it, waits until 18 s and then runs alone until 26 s.
    weights = [10.0, 9.0, 9.0, 8.0]
    clashes = _rules(heavy={2}, fragile={3})
    order = [0, 1, 2, 3]
    assert simulate(order, weights, 2, clashes) == 26.0
    # WHEN the order is planned
    plan = plan_order(order, weights, 2, clashes)
    # THEN the heavy one starts first beside a, and the fragile one runs beside b
    assert plan.baseline == 26.0
    assert plan.order[0] == 2
    assert plan.makespan == 18.0
    assert plan.makespan == simulate(plan.order, weights, 2, clashes)
    assert sorted(plan.order) == order


def test_the_plan_keeps_heaviest_first_when_no_rule_is_in_the_way():
    weights = [9.0, 7.0, 5.0, 3.0, 1.0]
    plan = plan_order([0, 1, 2, 3, 4], weights, 2, lambda a, b: False)
    assert plan.order == [0, 1, 2, 3, 4]
    assert plan.makespan == plan.baseline


def test_the_workers_follow_the_planned_order():
    # GIVEN the case above, run for real
    work = Recorder()
    items = ["a", "b", "heavy", "fragile"]
    weights = dict(zip(items, [10.0, 9.0, 9.0, 8.0], strict=True))
    run_side_by_side(
        items,
        work,
        workers=2,
        weight=weights.__getitem__,
        heavy=lambda i: i == "heavy",
        fragile=lambda i: i == "fragile",
    )
    # THEN the heavy one started first, and the fragile one never ran beside it
    assert work.started[0] == "heavy"
    assert "fragile" not in work.overlaps["heavy"]
