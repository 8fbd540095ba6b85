"""Scenario-engine numbers (issue 5), each a real `scenario` run as a user would type it.

1. ``scenario run happy --count 100 --target local``: the report's ``duration_s`` runs from
   provisioning the stack to tearing it down (target <= 10 s); the wall clock adds the
   interpreter and the embedded emulator's start.
2. ``scenario run all --target local`` (target <= 120 s), with each scenario's duration.

Both use the process runner and an embedded MiniStack on a free port (``--emulator
ministack``), so they neither need Docker nor collide with an emulator on 4566.
``SQSKIT_BENCH_ENDPOINT`` uses an emulator that is already running instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HAPPY_TARGET_S = 10.0
ALL_TARGET_S = 120.0


def scenario_command(args: list[str], report_dir: str) -> list[str]:
    """``scenario run ARGS`` on the local target with the process runner, JSON out: on the
    emulator in ``SQSKIT_BENCH_ENDPOINT`` if set, else an embedded MiniStack."""
    endpoint = os.environ.get("SQSKIT_BENCH_ENDPOINT")
    where = (
        ["--emulator", "external", "--endpoint", endpoint]
        if endpoint
        else ["--emulator", "ministack"]
    )
    return [
        str(Path(sys.executable).parent / "scenario"),
        "run",
        *args,
        "--target",
        "local",
        *where,
        "--runner",
        "process",
        "--report-dir",
        report_dir,
        "--json",
        "--no-png",
    ]


def _scenario(args: list[str], report_dir: str) -> tuple[float, int, Any]:
    command = scenario_command(args, report_dir)
    started = time.monotonic()
    proc = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    wall = time.monotonic() - started
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        raise RuntimeError(
            f"`{' '.join(command)}` exited {proc.returncode}: {proc.stderr[-1500:]}"
        ) from None
    return wall, proc.returncode, data


def run() -> list[tuple[str, str]]:
    results: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        wall, code, report = _scenario(["happy", "--count", "100"], tmp)
        took = float(report["duration_s"])
        verdict = "passed" if code == 0 else f"FAILED (exit {code})"
        ok = "ok" if took <= HAPPY_TARGET_S else "OVER TARGET"
        print(
            f"happy x100: {took:.1f} s provision->teardown ({ok}, target <= "
            f"{HAPPY_TARGET_S:.0f} s), {wall:.1f} s wall clock incl. emulator start; {verdict}",
            flush=True,
        )
        results.append(("happy, 100 messages, provision -> teardown (<= 10 s)", f"{took:.1f} s"))
        results.append(("happy, 100 messages, wall clock incl. emulator start", f"{wall:.1f} s"))

        wall, code, summary = _scenario(["all"], tmp)
        runs = summary.get("runs", [])
        for r in runs:
            print(
                f"  {r['scenario']:<20} {r['status']:<8} {float(r['duration_s']):6.1f} s",
                flush=True,
            )
        passed = sum(1 for r in runs if r.get("status") == "passed")
        ok = "ok" if wall <= ALL_TARGET_S else "OVER TARGET"
        print(
            f"run all: {wall:.1f} s wall clock ({ok}, target <= {ALL_TARGET_S:.0f} s); "
            f"{passed}/{len(runs)} passed, exit {code}",
            flush=True,
        )
        results.append(("scenario run all --target local (<= 120 s)", f"{wall:.1f} s"))
        results.append(("scenario run all: scenarios passed", f"{passed}/{len(runs)}"))
    return results
