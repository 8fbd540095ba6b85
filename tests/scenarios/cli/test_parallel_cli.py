"""`--parallel`: its bounds and where it applies, before anything starts."""

from __future__ import annotations

import io
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

from scenarios.catalogue import ALL
from scenarios.cli import cli
from scenarios.cli.parallel import Board, run_parallel
from scenarios.running.scenario import Scenario, Status

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("value", ["0", "17", "many"])
def test_parallel_out_of_range_is_a_usage_error(value):
    out = CliRunner().invoke(cli, ["run", "all", "--parallel", value])
    assert out.exit_code == 2
    assert "--parallel" in out.output


def test_parallel_on_aws_is_refused_naming_the_flag_and_the_target(tmp_path):
    out = CliRunner().invoke(
        cli,
        [
            "run",
            "happy",
            "crash",
            "--parallel",
            "2",
            "--target",
            "aws",
            "--report-dir",
            str(tmp_path),
        ],
    )
    assert out.exit_code == 2
    assert "--parallel 2 runs on --target local only" in out.output
    assert not list(tmp_path.iterdir())  # refused before anything was created


class _Twin:
    def close(self) -> None:
        pass


class _Target:
    def fork(self) -> _Twin:
        return _Twin()


_TARGET: Any = _Target()  # what run_parallel uses of a Target: fork() and the twin's close()


def test_the_longest_scenarios_start_first_and_the_exclusive_last():
    # GIVEN scenarios in catalogue order, with their expected durations and one exclusive
    scenarios: Any = [
        SimpleNamespace(
            name="short", exclusive=False, expected_s=4.0, cpu_bound=False, start_window=False
        ),
        SimpleNamespace(
            name="alone", exclusive=True, expected_s=20.0, cpu_bound=False, start_window=False
        ),
        SimpleNamespace(
            name="long", exclusive=False, expected_s=16.0, cpu_bound=False, start_window=False
        ),
        SimpleNamespace(
            name="mid", exclusive=False, expected_s=9.0, cpu_bound=False, start_window=False
        ),
    ]
    started: list[str] = []

    def execute(scenario, _target, _progress):
        started.append(scenario.name)
        return Status.PASSED, {"scenario": scenario.name}

    # WHEN one worker runs them
    board = Board(scenarios, console=Console(file=io.StringIO(), width=120))
    out = run_parallel(scenarios, _TARGET, workers=1, execute=execute, board=board)

    # THEN the longest started first, the exclusive one last, and results keep the given order
    assert started == ["long", "mid", "short", "alone"]
    assert [d["scenario"] for _, d in out] == ["short", "alone", "long", "mid"]


def test_every_catalogue_scenario_declares_its_measured_duration():
    # --parallel orders by it: a scenario left at the default would be scheduled blind
    unset = [cls.name for cls in ALL if cls.expected_s == Scenario.expected_s]
    assert not unset, f"set expected_s (measured with --parallel 4) on {unset}"


def test_two_cpu_bound_scenarios_never_run_side_by_side():
    # GIVEN two CPU-bound scenarios and a light one, on two workers
    scenarios: Any = [
        SimpleNamespace(name=n, exclusive=False, expected_s=w, cpu_bound=h, start_window=False)
        for n, w, h in (("burst", 16.0, True), ("autoscale", 13.0, True), ("happy", 4.0, False))
    ]
    lock, running, most = threading.Lock(), set(), [0]

    def execute(scenario, _target, _progress):
        with lock:
            running.add(scenario.name)
            most[0] = max(most[0], len(running & {"burst", "autoscale"}))
        time.sleep(0.2)
        with lock:
            running.discard(scenario.name)
        return Status.PASSED, {"scenario": scenario.name}

    board = Board(scenarios, console=Console(file=io.StringIO(), width=120))
    run_parallel(scenarios, _TARGET, workers=2, execute=execute, board=board)
    # THEN the CPU-bound ones ran one at a time
    assert most[0] == 1
