"""`scenario run ... --parallel N` end to end: the same verdicts as one after the other, each
scenario on its own stack with its own report, and Ctrl-C tears every one of them down."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import boto3
import pytest

from tests.scenarios.test_e2e import ROOT, _consumers_of, leftovers, run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: quick ones, and one with a chaos plan and one with a DLQ redrive
NAMES = ("happy", "crash", "poison", "kill-mid-run", "sigterm-drain")


def _verdicts(summary: dict) -> dict[str, tuple[str, frozenset[tuple[str, bool]]]]:
    return {
        r["scenario"]: (r["status"], frozenset((c["name"], c["passed"]) for c in r["checks"]))
        for r in summary["runs"]
    }


def test_side_by_side_gives_the_verdicts_of_one_after_the_other(emulator_endpoint, tmp_path):
    # One after the other, each of NAMES passes every check: test_e2e runs each of them (and
    # `make bench` compares the two runs of all of them). Run here side by side only, which
    # halves this test's time, they must give that same verdict.
    many = run(emulator_endpoint, tmp_path / "many", *NAMES, "--no-png", "--parallel", "3")
    parallel = json.loads(many.stdout)
    assert many.exit_code == 0, parallel
    # THEN every scenario passed, and every one of its checks did
    verdicts = _verdicts(parallel)
    assert set(verdicts) == set(NAMES)
    failed = {n: [c for c, ok in checks if not ok] for n, (_, checks) in verdicts.items()}
    assert all(status == "passed" for status, _ in verdicts.values()), failed
    assert not any(failed.values()), failed
    assert [r["scenario"] for r in parallel["runs"]] == list(NAMES)  # catalogue order kept
    assert parallel["parallel"] == 3
    # AND each scenario had its own stacks and its own report, and every stack is gone
    [run_dir] = [p for p in (tmp_path / "many").iterdir() if p.is_dir()]
    stacks = [p["stack"] for r in parallel["runs"] for p in r["phases"]]
    assert len(set(stacks)) == len(stacks) == len(NAMES)
    assert all((run_dir / f"{n}.json").exists() for n in NAMES)
    assert leftovers(emulator_endpoint, run_dir) == []


def test_ctrl_c_tears_down_every_scenario_running_side_by_side(emulator_endpoint, tmp_path):
    # GIVEN two scenarios running side by side, both with consumers up
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "scenarios" / "run.py"),
            "duplicates",
            "visibility-overrun",
            "--parallel",
            "2",
            "--emulator",
            "external",
            "--endpoint",
            emulator_endpoint,
            "--runner",
            "process",
            "--report-dir",
            str(tmp_path),
            "--no-png",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        prefixes: set[str] = set()
        while len({p.split("-")[1] for p in prefixes}) < 2:
            assert time.monotonic() < deadline, "the scenarios never both started consumers"
            prefixes = {p.parent.name for p in tmp_path.glob("*/logs/*/*.log")}
            time.sleep(0.2)
        time.sleep(1.0)
        assert all(_consumers_of(p) for p in prefixes), "consumers should be running"
        # WHEN the user presses Ctrl-C
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    # THEN it exits 130 once both have torn down: no consumer left, no queue left
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err
    sqs = boto3.client("sqs", endpoint_url=emulator_endpoint, region_name="us-east-1")
    for prefix in prefixes:
        assert _consumers_of(prefix) == []
        assert sqs.list_queues(QueueNamePrefix=prefix).get("QueueUrls", []) == []
