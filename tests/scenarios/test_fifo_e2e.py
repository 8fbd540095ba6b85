"""The FIFO scenarios end to end on the embedded emulator, and a consumer that breaks the order.

The catalogue's own runs are in test_e2e.py (every scenario, fifo-poison's block and shim
included); these show what each FIFO check catches with real processes.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from scenarios.judging.fifo import GROUP_ORDER
from scenarios.runners.process import ProcessRunner
from tests.scenarios.test_e2e import run

pytestmark = pytest.mark.integration

CONCURRENT = Path(__file__).resolve().parents[1] / "fixtures" / "concurrent_fifo_consumer.py"


def test_a_consumer_that_handles_a_group_concurrently_fails_fifo_order(
    emulator_endpoint, tmp_path, monkeypatch
):
    # GIVEN a plugged-in consumer that runs each receive's messages at once, groups included
    def concurrent_runner(name, *, log_dir, **_):
        return ProcessRunner(log_dir, command=[sys.executable, str(CONCURRENT)])

    monkeypatch.setattr("scenarios.targets.local.get_runner", concurrent_runner)
    # WHEN fifo-order runs against it (its kill may never find the consumer mid-message and
    # keep the phase waiting: a short deadline, which is not what is judged here)
    out = run(emulator_endpoint, tmp_path, "fifo-order", "--knob", "timeout_s=15", "--no-png")
    report = json.loads(out.stdout)
    # THEN the oracle fails the run (exit 1), at the order check, naming a group and two ids
    assert out.exit_code == 1, report
    failed = {c["name"]: c["detail"] for c in report["checks"] if not c["passed"]}
    assert GROUP_ORDER in failed, failed
    assert re.search(
        r"group sqs-kit-\d: [0-9a-f-]{36} \(#\d+\) took effect before [0-9a-f-]{36} \(#\d+\)",
        failed[GROUP_ORDER],
    ), failed[GROUP_ORDER]
    # AND nothing was lost or applied twice: only the order is wrong
    for name in (
        "no message lost",
        "no side effect applied twice",
        "every message's effect applied",
    ):
        assert name not in failed, failed
