"""The parallel benchmark's arithmetic: verdicts compared, the table, the named bound."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from bench.bench_parallel import (
    CpuSplit,
    Run,
    bound,
    cpu_split,
    differences,
    planned,
    schedule_floor,
    table,
)

pytestmark = pytest.mark.unit


def _run(label: str, *runs: tuple[str, str, float, bool], wall: float = 10.0, cpu: float = 8.0):
    summary = {
        "runs": [
            {"scenario": n, "status": s, "duration_s": d, "checks": [{"name": "c", "passed": ok}]}
            for n, s, d, ok in runs
        ]
    }
    return Run(label, wall, 0, summary, cpu_s=cpu, machine_s=cpu + 9.0)


def test_the_same_verdicts_show_no_difference_and_a_changed_one_is_named():
    seq = _run("seq", ("happy", "passed", 3.0, True), ("crash", "passed", 6.0, True))
    same = _run("par", ("crash", "passed", 9.0, True), ("happy", "passed", 5.0, True))
    assert differences(seq, same) == []
    worse = _run("par", ("happy", "passed", 5.0, True), ("crash", "failed", 9.0, False))
    assert differences(seq, worse) == ["crash: passed vs failed (c)"]
    missing = _run("par", ("happy", "passed", 5.0, True))
    assert differences(seq, missing) == ["crash: passed vs missing (c)"]


def test_the_table_has_a_line_per_scenario_with_both_durations():
    seq = _run("one", ("happy", "passed", 3.0, True))
    par = _run("two", ("happy", "passed", 5.25, True))
    lines = table(seq, par)
    assert len(lines) == 2 and "passed    3.0 s" in lines[1] and "passed    5.2 s" in lines[1]


def test_the_bound_says_cpu_when_the_cores_were_busy_and_waiting_otherwise():
    busy = Run("p", 10.0, 0, {}, cpu_s=12.0, machine_s=19.0)  # 19 of 20 core-seconds
    assert "CPU-bound" in bound(busy, 2) and ">= 6.0 s" in bound(busy, 2)
    idle = Run("p", 10.0, 0, {}, cpu_s=3.0, machine_s=5.0)
    assert "not CPU-bound" in bound(idle, 2)


def test_the_schedule_floor_is_the_shared_sum_over_the_workers_plus_the_exclusive_alone():
    par = _run(
        "par",
        ("a", "passed", 8.0, True),
        ("b", "passed", 6.0, True),
        ("c", "passed", 2.0, True),
        ("solo", "passed", 5.0, True),
    )
    floor, how = schedule_floor(par, 2, {"solo"})
    assert floor == pytest.approx(16.0 / 2 + 5.0)
    assert "solo 5.0 s alone" in how and "= 13.0 s" in how
    # one scenario longer than the shared sum over the workers bounds it instead
    long = _run("par", ("a", "passed", 20.0, True), ("b", "passed", 2.0, True))
    assert schedule_floor(long, 4, set())[0] == pytest.approx(20.0)


def test_the_planned_schedule_pays_for_the_rules_above_the_floor():
    # GIVEN two cpu_bound scenarios (never side by side) and two light ones on four workers
    par = _run(
        "par",
        ("h1", "passed", 8.0, True),
        ("h2", "passed", 6.0, True),
        ("a", "passed", 2.0, True),
        ("solo", "passed", 5.0, True),
    )
    rules = {"h1": (False, True, False), "h2": (False, True, False), "solo": (True, False, False)}
    # THEN the heavy ones run one after the other (14 s), then solo alone (5 s)
    assert planned(par, 4, rules) == pytest.approx(19.0)
    # AND without the rule, the longest one bounds it as the floor says
    assert planned(par, 4, {"solo": (True, False, False)}) == pytest.approx(13.0)
    assert schedule_floor(par, 4, {"solo"})[0] == pytest.approx(13.0)


def test_the_cpu_split_names_each_process_by_its_command_line():
    # GIVEN a stand-in engine whose child's command line says it is a consumer, and works
    busy = [sys.executable, "-c", "sum(range(4 * 10**7))", "-m", "consumer"]
    engine = subprocess.Popen(
        [sys.executable, "-c", f"import subprocess; subprocess.run({busy!r})"],
        stdout=subprocess.DEVNULL,
    )
    split = CpuSplit(engine.pid)
    # WHEN it is sampled until the engine ends
    while engine.poll() is None:
        split.sample()
        time.sleep(0.02)
    # THEN the child's CPU counts as a consumer's, the root's as the engine's
    totals = split.totals()
    assert totals["consumers"] > 0 and split.processes("consumers") == 1
    assert split.processes("engine") == 1
    run = Run("p", 1.0, 0, {}, cpu_s=9.0, machine_s=9.0, split=totals, consumers=1)
    assert "consumers" in cpu_split(run) and "(1 processes)" in cpu_split(run)
