"""The `scenario` CLI through click's CliRunner: list, usage errors, report re-rendering."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from core.errors import ConfigError
from scenarios import catalogue
from scenarios.cli import cli
from scenarios.reporting import document
from scenarios.run import alias
from scenarios.running.scenario import Status
from scenarios.settings import RunSettings
from tests.scenarios.reporting.test_report import crashed_facts, result

pytestmark = pytest.mark.unit


@pytest.fixture
def runner():
    return CliRunner()


def test_list_shows_all_fifteen(runner):
    out = runner.invoke(cli, ["list"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    for name in catalogue.names():
        assert name in out.output
    assert len(catalogue.names()) == 15


def test_list_json_declares_faults_needs_and_calibration(runner):
    out = runner.invoke(cli, ["list", "--json"])
    rows = {r["name"]: r for r in json.loads(out.output)}
    assert "CRASH_AFTER_RECEIVE=5" in rows["crash"]["faults"]
    assert rows["crash"]["calibration"] and "maxReceiveCount" in rows["crash"]["calibration"]
    assert any("shim" in n for n in rows["poison"]["needs"])
    assert rows["visibility-overrun"]["phases"] == ["heartbeat-off", "heartbeat-on"]


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (None, "cannot read the plan file"),
        ("rules:\n  - {service: sqs, fault: ack_drop}\n", "unknown fault 'ack_drop'"),
        ("rules: [\n", "not valid yaml"),
    ],
)
def test_run_with_a_bad_fault_plan_is_a_usage_error_before_anything_starts(
    runner, tmp_path, plan, message
):
    path = tmp_path / "plan.yaml"
    if plan is not None:
        path.write_text(plan)
    reports = tmp_path / "reports"
    out = runner.invoke(cli, ["run", "happy", "--faults", str(path), "--report-dir", str(reports)])
    assert out.exit_code == 2, out.output
    assert "--faults (SQSKIT_FAULTS):" in out.output and message in out.output
    assert not reports.exists()  # nothing was started or written


def test_run_with_a_phase_the_scenario_lacks_is_a_usage_error_naming_its_phases(runner, tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text("phases: [recovery]\nrules: []\n")
    reports = tmp_path / "reports"
    out = runner.invoke(
        cli, ["run", "happy", "scale-out", "--faults", str(path), "--report-dir", str(reports)]
    )
    assert out.exit_code == 2, out.output
    assert "phases: happy has no phase 'recovery'; valid: 'main'" in out.output
    assert not reports.exists()  # nothing was started or written


def test_list_shows_each_scenarios_phases(runner):
    table = runner.invoke(cli, ["list"], env={"COLUMNS": "400"}).output
    assert "phases" in table and "heartbeat-off" in table and "3 consumers" in table


def test_run_takes_the_fault_plan_from_the_environment(runner, tmp_path):
    reports = tmp_path / "reports"
    out = runner.invoke(
        cli,
        ["run", "happy", "--report-dir", str(reports)],
        env={"SQSKIT_FAULTS": str(tmp_path / "absent.yaml")},
    )
    assert out.exit_code == 2 and "--faults (SQSKIT_FAULTS):" in out.output


def test_run_with_faults_on_the_aws_target_is_a_usage_error(runner, tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text("rules: []\n")
    out = runner.invoke(cli, ["run", "happy", "--target", "aws", "--faults", str(path), "--yes"])
    assert out.exit_code == 2, out.output
    assert "--faults" in out.output and "--target local" in out.output


def test_run_unknown_scenario_is_a_usage_error(runner, tmp_path):
    out = runner.invoke(cli, ["run", "nope", "--report-dir", str(tmp_path)])
    assert out.exit_code == 2
    assert "unknown scenario 'nope'" in out.output
    assert not any(tmp_path.iterdir())  # nothing was started or written


def test_run_bad_knob_is_a_usage_error(runner, tmp_path):
    out = runner.invoke(
        cli, ["run", "happy", "--knob", "crash_rate=7", "--report-dir", str(tmp_path)]
    )
    assert out.exit_code == 2
    assert "crash_rate=7.0 is out of range" in out.output


def test_run_options_come_from_the_environment(runner, tmp_path):
    out = runner.invoke(
        cli, ["run", "happy", "--report-dir", str(tmp_path)], env={"SQSKIT_RUNNER": "kubernetes"}
    )
    assert out.exit_code == 2 and "kubernetes" in out.output


def test_report_rerenders_a_saved_run(runner, tmp_path):
    data = document.write(document.build(result(crashed_facts())), tmp_path, png=False)
    out = runner.invoke(cli, ["report", data["artifacts"]["json"]], env={"COLUMNS": "160"})
    assert out.exit_code == 0, out.output
    assert "happy PASSED" in out.output and "exactly one message.completed per id" in out.output
    assert (tmp_path / "happy.png").exists()  # the timeline was re-rendered too


def test_report_of_a_failed_run_exits_1(runner, tmp_path):
    data = document.write(
        document.build(result(crashed_facts(), status=Status.FAILED)), tmp_path, png=False
    )
    out = runner.invoke(cli, ["report", data["artifacts"]["json"], "--no-png", "--json"])
    assert out.exit_code == 1
    assert json.loads(out.output)["status"] == "failed"


def test_report_of_something_else_is_a_usage_error(runner, tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"not": "a report"}')
    out = runner.invoke(cli, ["report", str(path)])
    assert out.exit_code == 2 and "not a scenario report" in out.output


def test_the_seed_alias_maps_to_scenario_run():
    assert alias(["happy", "--count", "5", "--batch-size", "5"]) == [
        "run",
        "happy",
        "--count",
        "5",
        "--batch-size",
        "5",
    ]
    assert alias(["list"]) == ["list"]
    assert alias(["--help"]) == ["--help"]


def test_list_says_which_scenarios_run_on_ecs_and_why_not(runner):
    rows = {r["name"]: r for r in json.loads(runner.invoke(cli, ["list", "--json"]).output)}
    assert rows["kill-mid-run"]["on_ecs"].startswith("unsupported: ECS cannot SIGKILL")
    assert rows["duplicates"]["on_ecs"].startswith("yes (timeout_s=240 slow_seconds=75")
    assert rows["happy"]["on_ecs"] == "yes (timeout_s=240)"
    table = runner.invoke(cli, ["list"], env={"COLUMNS": "400"}).output
    assert "on ECS (--target aws)" in table and "ECS cannot SIGKILL a task" in table


def test_a_bad_per_service_emulator_is_a_usage_error_before_anything_starts(runner, tmp_path):
    out = runner.invoke(
        cli,
        ["run", "happy", "--report-dir", str(tmp_path)],
        env={"SQSKIT_EMULATOR": "sqs=localstack,dynamodb=dynamo-local"},
    )
    assert out.exit_code == 2
    assert "SERVICE one of sqs, dynamodb and KIND one of ministack, moto, localstack" in out.output
    assert not any(tmp_path.iterdir())


def test_run_help_shows_the_per_service_spelling(runner):
    out = runner.invoke(cli, ["run", "--help"], env={"COLUMNS": "200"})
    assert "sqs=localstack,dynamodb=ministack" in out.output


def test_a_plugged_in_consumers_phases_are_the_ones_checked(runner, tmp_path):
    # GIVEN visibility-overrun with a consumer of the user's: its one phase is `overrun`
    reports = tmp_path / "reports"
    consumer = ["--consumer-cmd", "python -c pass", "--report-dir", str(reports)]
    path = tmp_path / "plan.yaml"
    path.write_text("phases: [heartbeat-off]\nrules: []\n")
    # THEN the kit consumer's phase names are refused, naming the one it will run
    out = runner.invoke(cli, ["run", "visibility-overrun", "--faults", str(path), *consumer])
    assert out.exit_code == 2, out.output
    assert "has no phase 'heartbeat-off'; valid: 'overrun'" in out.output
    assert not reports.exists()


def test_a_library_caller_gets_the_same_phase_error(tmp_path):
    # GIVEN a caller that skips the CLI and executes a scenario with a plan for another phase
    path = tmp_path / "plan.yaml"
    path.write_text("phases: [recovery]\nrules: []\n")
    settings = RunSettings(faults=path)
    # THEN it is refused before any phase starts (the target is never touched)
    with pytest.raises(ConfigError, match="happy has no phase 'recovery'"):
        catalogue.get("happy").execute(None, settings, run_dir=tmp_path)  # type: ignore[arg-type]
