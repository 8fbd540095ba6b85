"""docs/emulators.md generation: the table reflects the reports, the prose survives."""

from __future__ import annotations

import pytest

from core import capabilities as cap
from local.conformance import CHECKS, ProbeReport, ProbeResult
from local.matrix import END_MARKER, START_MARKER, Column, render_table, splice


def _report(name: str, failing: set[str]) -> ProbeReport:
    results = [
        ProbeResult(c.name, c.capability, c.name not in failing, "broke | here", 0.1)
        for c in CHECKS
    ]
    return ProbeReport("http://x", name, "2026-01-01T00:00:00+00:00", 1.0, results)


@pytest.mark.unit
def test_table_marks_failures_per_emulator():
    table = render_table(
        [
            Column("ministack", "1.5", 0.4, _report("ministack", {"sqs.start_message_move_task"})),
            Column("moto", "5.2", 0.6, _report("moto", set())),
        ]
    )
    row = next(line for line in table.splitlines() if "`sqs.start_message_move_task`" in line)
    assert row.count("**FAIL**") == 1 and row.endswith("| pass |")
    assert "broke / here" in row  # a pipe in a detail must not break the table
    assert f"{len(CHECKS) - 1}/{len(CHECKS)}" in table
    assert f"`{cap.SQS_MOVE_TASK}`" in table.split("Missing capabilities")[1]


@pytest.mark.unit
def test_splice_keeps_the_prose():
    doc = f"# Emulators\n\nintro\n\n{START_MARKER}\nold table\n{END_MARKER}\n\n## After\ntext\n"
    new = splice(doc, "new table\n")
    assert "old table" not in new and "new table" in new
    assert new.startswith("# Emulators\n\nintro") and new.endswith("## After\ntext\n")
    assert splice("# Emulators\n", "t\n").count(START_MARKER) == 1
