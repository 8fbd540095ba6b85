"""The examples, judged end to end: the CLI, the embedded emulator, the user's own consumers.

- ``examples/naive-python`` (effect, then delete, no idempotency) is caught: the runs fail and
  name the ids whose effect was applied twice;
- ``examples/idempotent_python`` (``--handler``) passes;
- ``examples/node`` (``--consumer-cmd``, any language) passes ``happy`` and ``kill-mid-run``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from scenarios import catalogue
from scenarios.cli import cli
from scenarios.judging.oracle import EFFECT_ONCE
from tests.fixtures.tiers import skip_or_fail

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
NAIVE = "python examples/naive-python/consumer.py"
HANDLER = "examples.idempotent_python.handler:handle"
NODE = "node examples/node/consumer.mjs"
NODE_DIR = ROOT / "examples" / "node"


def run(endpoint: str, tmp_path: Path, *args: str) -> tuple[int, list[dict[str, Any]]]:
    """`scenario run ... --json` from the repository root; (exit code, the reports)."""
    cwd = Path.cwd()
    os.chdir(ROOT)  # a --consumer-cmd runs, and a --handler imports, from here
    try:
        out = CliRunner().invoke(
            cli,
            [
                "run",
                *args,
                "--emulator",
                "external",
                "--endpoint",
                endpoint,
                "--report-dir",
                str(tmp_path),
                "--no-png",
                "--json",
            ],
            catch_exceptions=False,
        )
    finally:
        os.chdir(cwd)
    data = json.loads(out.stdout)
    return out.exit_code, data.get("runs", [data])


def failed(report: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["detail"] for c in report["checks"] if not c["passed"]}


@pytest.mark.parametrize("scenario", ["duplicates", "visibility-overrun", "crash"])
def test_the_naive_consumer_is_caught(emulator_endpoint: str, tmp_path: Path, scenario: str):
    code, [report] = run(emulator_endpoint, tmp_path, scenario, "--consumer-cmd", NAIVE)
    # THEN the run fails, naming the ids whose effect was applied twice, like a bug report
    assert code == 1, report.get("reason")
    assert report["status"] == "failed" and report["consumer"] == f'--consumer-cmd "{NAIVE}"'
    doubled = [i for i, n in _effects(report).items() if n > 1]
    assert doubled, report["counts"]
    detail = failed(report)[EFFECT_ONCE]
    assert all(f"{i} x2" in detail for i in doubled[:5])
    assert "your consumer is not idempotent under redelivery" in detail
    assert report["verdict"] and report["verdict"][0].startswith(f"{scenario}: ")
    assert report["counts"]["lost"] == 0  # caught for what it does, not for anything else


def _effects(report: dict[str, Any]) -> dict[str, int]:
    """Effects per id, read back from the failed check's "ids a x2, b x2" list."""
    detail = failed(report).get(EFFECT_ONCE, "")
    listed = detail.split("(ids ", 1)[1].split(")", 1)[0] if "(ids " in detail else ""
    return {part.split(" x")[0]: int(part.split(" x")[1]) for part in listed.split(", ") if part}


def test_the_idempotent_handler_passes_happy_and_duplicates(emulator_endpoint, tmp_path):
    # the redelivery that catches the naive consumer; every scenario: the slow test below
    code, reports = run(emulator_endpoint, tmp_path, "happy", "duplicates", "--handler", HANDLER)
    assert code == 0, [(r["scenario"], r["status"], failed(r)) for r in reports]
    assert [r["status"] for r in reports] == ["passed"] * 2
    for r in reports:
        assert r["counts"]["effects"] == r["counts"]["sent"] and r["counts"]["lost"] == 0
        assert r["not_observable"] == []  # the kit's worker ran it: everything is seen


# every scenario, about 2.5 min here: `make test-long` (make test keeps happy and duplicates)
@pytest.mark.slow
@pytest.mark.long
def test_the_idempotent_handler_passes_every_scenario(emulator_endpoint, tmp_path):
    code, reports = run(emulator_endpoint, tmp_path, "all", "--handler", HANDLER)
    assert code == 0, [(r["scenario"], r["status"], failed(r)) for r in reports]
    assert [r["scenario"] for r in reports] == catalogue.names()
    assert {r["status"] for r in reports} == {"passed"}


@pytest.fixture(scope="session")
def node_consumer() -> Iterator[str]:
    """The Node example with its dependencies: `npm ci` once, when node_modules is missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        skip_or_fail("the Node example needs node and npm on PATH", required_by="REQUIRE_NODE")
    assert npm is not None
    if not (NODE_DIR / "node_modules" / "@aws-sdk" / "client-sqs").is_dir():
        proc = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if proc.returncode != 0:
            skip_or_fail(
                f"npm ci in examples/node failed: {proc.stderr.strip()[-300:]}",
                required_by="REQUIRE_NODE",
            )
    yield NODE


def test_the_node_consumer_passes_happy_and_kill_mid_run(
    emulator_endpoint: str, tmp_path: Path, node_consumer: str
):
    code, reports = run(
        emulator_endpoint, tmp_path, "happy", "kill-mid-run", "--consumer-cmd", node_consumer
    )
    assert code == 0, [(r["scenario"], r["status"], failed(r)) for r in reports]
    happy, kill = reports
    assert happy["status"] == kill["status"] == "passed"
    # judged from outside: the pass-through saw the kill's message come back
    assert kill["counts"]["redeliveries"] >= 1 and kill["counts"]["crashes"] >= 1
    assert "exactly one completed item per id" in kill["not_observable"]
    [phase] = kill["phases"]
    [signal] = [f for f in phase["faults"] if f["signal"] == "SIGKILL"]
    assert signal["message_ids"], "the kill landed while the consumer held a message"


def test_a_consumer_that_cannot_start_stops_the_run_with_its_stderr(
    emulator_endpoint: str, tmp_path: Path
):
    cmd = "python -c \"import sys; sys.exit('no QUEUE for me')\""
    out = CliRunner().invoke(
        cli,
        [
            "run",
            "happy",
            "--consumer-cmd",
            cmd,
            "--emulator",
            "external",
            "--endpoint",
            emulator_endpoint,
            "--report-dir",
            str(tmp_path),
            "--no-png",
        ],
    )
    assert out.exit_code == 2, out.output
    assert "cannot start: it exited with code 1 3 times in a row" in out.output
    assert "no QUEUE for me" in out.output


def test_a_handler_that_fails_to_import_in_the_worker_stops_the_run(
    emulator_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # GIVEN a handler module that is there, but raises when the worker imports it
    (tmp_path / "brokenhandler.py").write_text("raise RuntimeError('needs a database')\n")
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(
        cli,
        [
            "run",
            "happy",
            "--handler",
            "brokenhandler:handle",
            "--runner",
            "process",
            "--emulator",
            "external",
            "--endpoint",
            emulator_endpoint,
            "--no-png",
        ],
    )
    # THEN the worker's one-line reason reaches the user, and the run is a usage error
    assert out.exit_code == 2, out.output
    assert "exited with code 2 3 times in a row" in out.output
    assert "importing 'brokenhandler' failed: RuntimeError: needs a database" in out.output
