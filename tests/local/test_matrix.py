"""docs/emulators.md generation: the tables reflect the measurements, the prose survives."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from core import capabilities as cap
from core.errors import EmulatorUnavailable
from local import matrix
from local.conformance import CHECKS, ProbeReport, ProbeResult
from local.matrix import (
    END_MARKER,
    START_MARKER,
    Column,
    Throughput,
    measure,
    measure_throughput,
    parse,
    render_table,
    scenarios_cell,
    splice,
)


def _report(name: str, failing: set[str]) -> ProbeReport:
    results = [
        ProbeResult(c.name, c.capability, c.name not in failing, "broke | here", 0.1, c.cite)
        for c in CHECKS
    ]
    return ProbeReport("http://x", name, "2026-01-01T00:00:00+00:00", 1.0, results)


MOVE_TASK = "sqs.start_message_move_task"
RATES = (Throughput(100, 100, 900.0, 800.0, 1500.0), Throughput(5000, 1820, 10.0, 3.0, 595.0))


def _columns() -> list[Column]:
    return [
        Column("ministack", "1.5", 0.4, _report("ministack", {MOVE_TASK}), RATES),
        Column("moto", "5.2", 0.6, _report("moto", set())),
        Column("localstack", "2026.3.0", 19.5, _report("localstack", set())),
    ]  # fmt: skip


@pytest.mark.unit
def test_table_marks_failures_per_emulator():
    table = render_table(_columns())
    row = next(line for line in table.splitlines() if "[`sqs.start_message_move_task`]" in line)
    assert row.count("**FAIL**") == 1 and row.endswith("| pass | pass |")
    assert "broke / here" in row  # a pipe in a detail must not break the table
    assert f"{len(CHECKS) - 1}/{len(CHECKS)}" in table
    assert f"`{cap.SQS_MOVE_TASK}`" in table.split("Missing capabilities")[1]


@pytest.mark.unit
def test_summary_rows_show_probe_startup_and_throughput_side_by_side():
    table = render_table(_columns(), when=datetime(2026, 11, 30, 12, 0, tzinfo=UTC))
    lines = table.splitlines()
    assert "Measured 2026-11-30 12:00 UTC in one run" in lines[0]
    assert lines[2] == "| | MiniStack 1.5 | moto server 5.2 | LocalStack 2026.3.0 |"

    def row(label: str) -> str:
        return next(line for line in lines if line.startswith(f"| {label} |"))

    assert "`sqs.start_message_move_task`" in row("failed checks")
    assert (
        row("start-up (spawn to ready)")
        == "| start-up (spawn to ready) | 0.40 s | 0.60 s | 19.50 s |"
    )
    assert row("send, 100 queued").startswith("| send, 100 queued | 900 msg/s | - |")
    # a backlog not reached is labelled with the depth that was
    assert "3 msg/s (at 1,820 queued)" in row("receive, 5,000 queued")


@pytest.mark.unit
def test_scenario_row_says_not_run_until_a_summary_fills_it():
    columns = _columns()
    row = next(line for line in render_table(columns).splitlines() if "`scenario run all`" in line)
    assert row.endswith("| not run (not part of this run) |")
    assert "not run (its SQS slows with queue depth" in row  # moto's column says why
    summary = {
        "duration_s": 71.4,
        "runs": [
            {"scenario": "happy", "status": "passed"},
            {"scenario": "poison", "status": "failed"},
        ],
    }
    filled = Column(**{**columns[2].__dict__, "scenarios": scenarios_cell(summary)})
    row = next(line for line in render_table([filled]).splitlines() if "`scenario run all`" in line)
    assert row == "| `scenario run all` | 1/2 passed in 71 s; poison (failed) |"


@pytest.mark.unit
def test_checks_link_their_citation_and_mark_the_disputed_one():
    table = render_table(_columns())
    disputed = next(c for c in CHECKS if c.disputed)
    row = next(line for line in table.splitlines() if f"`{disputed.name}`" in line)
    assert f"[`{disputed.name}`]({disputed.cite}) †" in row
    assert "† disputed" in table


@pytest.mark.unit
def test_an_emulator_that_cannot_start_gets_a_column_saying_why(monkeypatch):
    @contextlib.contextmanager
    def no_docker(kind: str) -> Iterator[None]:
        raise EmulatorUnavailable("docker compose is not installed")
        yield

    monkeypatch.setattr(matrix, "started", no_docker)
    column = measure("localstack")
    assert column.report is None and "docker compose is not installed" in column.note
    table = render_table([column])
    assert "could not start: docker compose is not installed" in table
    assert "not measured (could not start" in table


@pytest.mark.unit
def test_bad_flags_name_the_flag_and_the_choices(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        parse(["--emulators", "ministack,elasticmq"])
    assert exc.value.code == 2
    assert "--emulators: unknown elasticmq; choose from ministack, moto, localstack" in (
        capsys.readouterr().err
    )
    with pytest.raises(SystemExit):
        parse(["--scenarios", "localstack"])
    assert "use KIND=FILE" in capsys.readouterr().err
    summary = tmp_path / "summary.json"
    summary.write_text(
        json.dumps({"duration_s": 9, "runs": [{"scenario": "happy", "status": "passed"}]})
    )
    args = parse(["--emulators", "ministack", "--scenarios", f"ministack={summary}"])
    assert args.scenarios == {"ministack": "1/1 passed in 9 s"}


@pytest.mark.unit
def test_splice_keeps_the_prose():
    doc = f"# Emulators\n\nintro\n\n{START_MARKER}\nold table\n{END_MARKER}\n\n## After\ntext\n"
    new = splice(doc, "new table\n")
    assert "old table" not in new and "new table" in new
    assert new.startswith("# Emulators\n\nintro") and new.endswith("## After\ntext\n")
    assert splice("# Emulators\n", "t\n").count(START_MARKER) == 1


@pytest.mark.integration
def test_throughput_is_measured_at_the_backlog_asked_for(emulator_endpoint):
    measured = measure_throughput(emulator_endpoint, 100)
    assert measured.depth == 100
    assert min(measured.send, measured.receive, measured.delete) > 0


def _fake_scenario_cli(tmp_path, stdout: str, code: int = 0) -> list[str]:
    """A stand-in for the `scenario` command: records its argv, prints ``stdout``."""
    script = tmp_path / "fake_scenario.py"
    script.write_text(
        "import json, sys\n"
        f"open({str(tmp_path / 'argv.json')!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
        f"sys.stdout.write({stdout!r})\n"
        f"sys.exit({code})\n"
    )
    return [sys.executable, str(script)]


@pytest.mark.unit
def test_the_matrix_runs_every_scenario_on_localstack_as_the_split(tmp_path):
    summary = {
        "duration_s": 101.2,
        "runs": [
            {"scenario": "happy", "status": "passed"},
            {"scenario": "poison", "status": "passed"},
        ],
    }
    cli = _fake_scenario_cli(tmp_path, json.dumps(summary))
    cell = matrix.run_scenarios("localstack", command=cli)
    assert cell == "2/2 passed in 101 s, on sqs=localstack,dynamodb=ministack"
    argv = json.loads((tmp_path / "argv.json").read_text())
    assert argv[:4] == ["run", "all", "--emulator", "sqs=localstack,dynamodb=ministack"]
    assert "--json" in argv
    # MiniStack runs as itself
    assert matrix.run_scenarios("ministack", command=cli) == "2/2 passed in 101 s"
    assert json.loads((tmp_path / "argv.json").read_text())[3] == "ministack"


@pytest.mark.unit
def test_a_scenario_run_that_prints_no_summary_is_a_cell_saying_so(tmp_path):
    cli = _fake_scenario_cli(tmp_path, "Traceback: boom", code=3)
    assert matrix.run_scenarios("localstack", command=cli) == (
        "could not run (exit 3): Traceback: boom"
    )


@pytest.mark.unit
def test_run_scenarios_flag_names_the_columns(capsys):
    assert parse([]).run_scenarios == ("ministack", "localstack")
    assert parse(["--run-scenarios", ""]).run_scenarios == ()
    with pytest.raises(SystemExit):
        parse(["--run-scenarios", "elasticmq"])
    assert "--run-scenarios: unknown elasticmq" in capsys.readouterr().err


@pytest.mark.unit
def test_localstack_on_the_host_is_named_as_such_in_how_it_ran(monkeypatch):
    from local.emulators import Selection
    from local.emulators.localstack_host import LocalStackHostEmulator

    monkeypatch.delenv(matrix.LOCALSTACK_ENDPOINT_ENV, raising=False)
    host = LocalStackHostEmulator(port=4603)
    monkeypatch.setattr(matrix, "select", lambda kind: Selection(host, False, "a long reason"))
    monkeypatch.setattr(matrix, "localstack_version", lambda endpoint: "2026.3.0")
    with matrix.started("localstack") as emu:
        assert emu.how == "localstack-core 2026.3.0 on the host (subprocess)"
