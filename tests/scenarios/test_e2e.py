"""Every scenario end to end: the CLI, the embedded emulator, real `python -m consumer` processes.

All tests share the session's emulator (``--emulator external``) and use the process runner;
each run provisions and tears down its own uniquely named stack.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner

from scenarios import catalogue
from scenarios.cli import cli

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SLOW = {"crash", "visibility-overrun", "poison", "scale-out", "burst", "sigterm-drain", "autoscale"}


def run(endpoint: str, tmp_path: Path, *args: str):
    out = CliRunner().invoke(
        cli,
        [
            "run",
            *args,
            "--emulator",
            "external",
            "--endpoint",
            endpoint,
            "--runner",
            "process",
            "--report-dir",
            str(tmp_path),
            "--json",
        ],
        catch_exceptions=False,
    )
    return out


def leftovers(endpoint: str, run_dir: Path) -> list[str]:
    """Queues of this run's stacks that still exist on the emulator."""
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    urls = sqs.list_queues(QueueNamePrefix="sqskit-").get("QueueUrls", [])
    stacks = (
        {p.name for p in (run_dir / "logs").iterdir()} if (run_dir / "logs").exists() else set()
    )
    return [u for u in urls if any(s in u for s in stacks)]


def resends(run_dir: Path) -> int:
    """Ledger lines of the run that resent an id already sent (``duplicate: true``)."""
    lines = (
        json.loads(line)
        for ledger in (run_dir / "ledgers").glob("*/*.jsonl")
        for line in ledger.read_text().splitlines()
    )
    return sum(1 for entry in lines if entry.get("duplicate"))


def _duplicates_shows_a_second_execution_and_one_effect(report: dict) -> None:
    counts = report["counts"]
    # the handler ran more often than messages were sent, and each effect happened once
    assert counts["executions"] > counts["sent"]
    assert counts["effects"] == counts["sent"]
    [repeat] = report["repeats"]
    assert repeat["executions"] == 2 and repeat["why"] == ["visibility overrun"]


def _fifo_poison_shows_the_block_and_its_shim(report: dict) -> None:
    block = next(c for c in report["checks"] if "blocked only its own group" in c["name"])
    assert re.search(r"sqs-kit-0 blocked [\d.]+ s by poison", block["detail"]), block
    assert "messages of other groups completed meanwhile" in block["detail"]
    # MiniStack accepts a standard DLQ for a FIFO queue (AWS refuses): labelled, not hidden
    assert "sqs.fifo_dlq" in report["shims"]


#: what a scenario's own run must also show, beyond passing (one run serves both)
SHOWS = {
    "duplicates": _duplicates_shows_a_second_execution_and_one_effect,
    "fifo-poison": _fifo_poison_shows_the_block_and_its_shim,
}


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in catalogue.names()],
)
def test_scenario_passes_end_to_end(emulator_endpoint, tmp_path, name):
    out = run(emulator_endpoint, tmp_path, name, "--no-png")
    report = json.loads(out.stdout)
    failed = [c for c in report["checks"] if not c["passed"]]
    assert out.exit_code == 0, (report["status"], report.get("reason"), failed)
    assert report["status"] == "passed" and report["passed"] is True
    counts = report["counts"]
    assert counts["lost"] == 0 and counts["unfinished"] == 0
    [run_dir] = [p for p in tmp_path.iterdir() if p.is_dir()]
    # every valid message's side effect was applied exactly once, whatever ran twice; an
    # intentional resend (fifo-dedup) is the same message, not another one
    valid = counts["sent"] - counts["dlq"] - resends(run_dir)
    assert counts["effects"] == valid and counts["executions"] >= valid
    assert (run_dir / f"{name}.json").exists()
    assert leftovers(emulator_endpoint, run_dir) == []  # teardown happened
    if name in SHOWS:
        SHOWS[name](report)


def test_the_oracle_catches_a_valid_message_dead_lettered(emulator_endpoint, tmp_path):
    # GIVEN maxReceiveCount=1: the message a SIGKILL interrupts dead-letters on redelivery
    # (it never settles - the DLQ holds a valid message - so a short deadline ends it)
    out = run(
        emulator_endpoint, tmp_path, "kill-mid-run", "--knob", "max_receive_count=1",
        "--knob", "timeout_s=20", "--no-png",
    )  # fmt: skip
    # THEN the run fails its oracle (exit 1) and says which valid message went to the DLQ
    report = json.loads(out.stdout)
    assert out.exit_code == 1, report
    failed = {c["name"]: c["detail"] for c in report["checks"] if not c["passed"]}
    assert "valid messages dead-lettered" in failed["DLQ holds exactly the poison set"]
    assert "without an applied effect" in failed["every message's effect applied"]
    # AND it is not called lost: it is in the DLQ
    lost = next(c for c in report["checks"] if c["name"] == "no message lost")
    assert lost["passed"] and "in the DLQ" in lost["detail"]


def test_a_naive_effect_is_caught_and_its_ids_named(emulator_endpoint, tmp_path):
    # GIVEN the demo handler applies its effect once per execution, not keyed by the message id
    out = run(emulator_endpoint, tmp_path, "duplicates", "--knob", "effect_mode=naive", "--no-png")
    report = json.loads(out.stdout)
    # THEN duplicates fails (exit 1) and names the id whose effect was applied twice
    assert out.exit_code == 1, report
    failed = {c["name"]: c["detail"] for c in report["checks"] if not c["passed"]}
    [repeat] = report["repeats"]
    assert f"{repeat['id']} x2" in failed["no side effect applied twice"]
    assert report["counts"]["effects"] == report["counts"]["sent"] + 1


def test_report_files_and_rerender(emulator_endpoint, tmp_path):
    out = run(emulator_endpoint, tmp_path, "happy", "--count", "5")
    assert out.exit_code == 0
    report = json.loads(out.stdout)
    png = Path(report["artifacts"]["png"])
    assert png.read_bytes()[:4] == b"\x89PNG"
    again = CliRunner().invoke(cli, ["report", report["artifacts"]["json"], "--no-png"])
    assert again.exit_code == 0 and "happy PASSED" in again.output


def test_seed_alias_runs_as_a_script_path(emulator_endpoint, tmp_path):
    # The seed's invocation, from another working directory, as a script path.
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scenarios" / "run.py"),
            "happy",
            "--count",
            "5",
            "--batch-size",
            "5",
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
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "happy PASSED" in proc.stdout


@pytest.mark.slow
def test_the_seeds_duplicates_command_lets_the_slow_consumer_finish(emulator_endpoint, tmp_path):
    # GIVEN the seed's own command: a 30 s slow consumer, the second consumer at once
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scenarios" / "run.py"),
            "duplicates",
            "--slow-seconds",
            "30",
            "--second-start-delay",
            "0",
            "--emulator",
            "external",
            "--endpoint",
            emulator_endpoint,
            "--runner",
            "process",
            "--report-dir",
            str(tmp_path),
            "--no-png",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    # THEN it passes: the slow execution ran to the end and its completion was refused
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    refused = next(c for c in report["checks"] if "its record was refused" in c["name"])
    assert refused["passed"], refused
    slow = next(p for p in report["phases"][0]["consumers"] if p["slot"] == 0)
    assert slow["exit_code"] == 0 and slow["signals"] == []  # it exited by itself


def _consumers_of(prefix: str) -> list[int]:
    """PIDs of live processes whose environment points at this stack's queue, or whose stdout
    is one of its consumer logs (a warm spare keeps the environment it was started with)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
            stdout = str((proc / "fd" / "1").readlink())
        except OSError:
            continue
        if (f"{prefix}-queue".encode() in environ and b"CONSUMER_ID=" in environ) or (
            f"/logs/{prefix}/" in stdout and stdout.endswith(".log")
        ):
            pids.append(int(proc.name))
    return pids


@pytest.mark.slow
def test_ctrl_c_tears_everything_down(emulator_endpoint, tmp_path):
    # GIVEN a run in the middle of its slow phase
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "scenarios" / "run.py"),
            "duplicates",
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
        deadline = time.monotonic() + 60
        logs: list[Path] = []
        while not logs:
            assert time.monotonic() < deadline, "the run never started its consumers"
            logs = list(tmp_path.glob("*/logs/*/*.log"))
            time.sleep(0.2)
        prefix = logs[0].parent.name
        time.sleep(1.5)
        assert _consumers_of(prefix), "consumers should be running before the interrupt"
        # WHEN the user presses Ctrl-C
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    # THEN it exits 130 after tearing down: no consumer left, no queue left
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err
    assert _consumers_of(prefix) == []
    sqs = boto3.client("sqs", endpoint_url=emulator_endpoint, region_name="us-east-1")
    assert sqs.list_queues(QueueNamePrefix=prefix).get("QueueUrls", []) == []
