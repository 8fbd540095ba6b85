"""`scenario diff`: parity means only target-specific fields differ."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from scenarios.cli.diff import command as diff
from scenarios.reporting.diff import compare

pytestmark = pytest.mark.unit

LOCAL: dict[str, Any] = {
    "scenario": "happy",
    "target": "local",
    "emulator": "ministack",
    "runner": "process",
    "provisioner": "api",
    "endpoint": "http://127.0.0.1:4566",
    "region": "us-east-1",
    "passed": True,
    "duration_s": 4.2,
    "counts": {
        "sent": 5,
        "completed": 5,
        "duplicates": 0,
        "redeliveries": 0,
        "dlq": 0,
        "lost": 0,
        "crashes": 0,
    },
    "latency_ms": {"p50": 40, "p95": 80, "p99": 90},
    "checks": [
        {"name": "lost", "passed": True, "detail": "0 lost of 5"},
        {"name": "queue-empty", "passed": True, "detail": "0 visible, 0 in flight after 0.4 s"},
    ],
}


def _aws() -> dict[str, Any]:
    report: dict[str, Any] = copy.deepcopy(LOCAL)
    report.update(
        target="aws",
        emulator="external",
        runner="ecs",
        provisioner="terraform",
        endpoint="aws",
        region="us-west-1",
        duration_s=181.0,
        latency_ms={"p50": 900, "p95": 2000, "p99": 2500},
        target_info={"kill_semantics": "StopTask: SIGTERM, then SIGKILL"},
    )
    report["checks"] = list(reversed(report["checks"]))  # order is not a difference
    report["checks"][0]["detail"] = "0 visible, 0 in flight after 6.1 s"
    return report


def _write(tmp_path: Path, name: str, data: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_only_target_specific_fields_differ_exit_0(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        diff, [str(_write(tmp_path, "a.json", LOCAL)), str(_write(tmp_path, "b.json", _aws()))]
    )
    assert result.exit_code == 0, result.output
    assert 'target: "local" -> "aws"' in result.output
    assert "other differences (0)" in result.output
    assert "parity: only target-specific fields differ" in result.output


def test_a_lost_message_breaks_parity_exit_1(tmp_path: Path) -> None:
    broken = _aws()
    broken["counts"]["lost"] = 1
    broken["passed"] = False
    broken["checks"][1]["passed"] = False
    result = CliRunner().invoke(
        diff, [str(_write(tmp_path, "a.json", LOCAL)), str(_write(tmp_path, "b.json", broken))]
    )
    assert result.exit_code == 1
    assert "counts.lost: 0 -> 1" in result.output
    assert "checks.lost.passed: true -> false" in result.output
    assert "NO parity" in result.output


def test_a_deadline_raised_for_ecs_is_target_specific_but_a_count_knob_is_not() -> None:
    # GIVEN the aws target raised the settle deadline for ECS, and another run sent more
    local = copy.deepcopy(LOCAL)
    local["knobs"] = {"timeout_s": 60.0, "count": 5}
    aws = _aws()
    aws["knobs"] = {"timeout_s": 240.0, "count": 6}
    # THEN only the count breaks parity
    other = [d.path for d in compare(local, aws) if not d.target_specific]
    assert other == ["knobs.count"]


def test_a_settled_stop_against_ecs_sigterm_is_target_specific_but_a_sigkill_is_not() -> None:
    # GIVEN a local run whose consumers got the settled stop at the phase's end, and an ECS run
    # whose tasks got SIGTERM (all ECS can send)
    local = copy.deepcopy(LOCAL)
    local["phases"] = {"main": {"consumers": [{"signals": ["SIGUSR1"]}, {"signals": ["SIGKILL"]}]}}
    aws = _aws()
    aws["phases"] = {"main": {"consumers": [{"signals": ["SIGTERM"]}, {"signals": ["SIGTERM"]}]}}
    # THEN only the consumer killed on one side and drained on the other breaks parity
    other = [d.path for d in compare(local, aws) if not d.target_specific]
    assert other == ["phases.main.consumers[1].signals[0]"]


def test_a_missing_check_is_a_difference() -> None:
    broken = _aws()
    broken["checks"] = broken["checks"][:1]
    other = [d for d in compare(LOCAL, broken) if not d.target_specific]
    assert [d.path for d in other] == ["checks.lost"]


def test_ignore_and_json_output(tmp_path: Path) -> None:
    changed = _aws()
    changed["counts"]["redeliveries"] = 2
    a, b = _write(tmp_path, "a.json", LOCAL), _write(tmp_path, "b.json", changed)
    result = CliRunner().invoke(diff, [str(a), str(b), "--json", "--ignore", "redeliveries"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["parity"] is True
    assert {"path": "counts.redeliveries", "a": 0, "b": 2} in payload["target_specific"]


def test_unreadable_report_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = CliRunner().invoke(diff, [str(bad), str(_write(tmp_path, "b.json", LOCAL))])
    assert result.exit_code == 2
    assert "not a readable JSON report" in result.output


DATA = Path(__file__).parent / "data"


def test_recorded_local_and_emulator_backed_aws_reports_are_at_parity() -> None:
    # Recorded from `scenario run happy --count 10` on --target local and on --target aws
    # against MiniStack (Terraform workspace, ECS tasks, CloudWatch Logs); see docs/aws.md.
    local, aws = DATA / "happy-local.json", DATA / "happy-aws-emulator.json"
    result = CliRunner().invoke(diff, [str(local), str(aws)])
    assert result.exit_code == 0, result.output
    assert 'target_info.runner: "docker" -> "ecs"' in result.output


def test_recorded_reports_with_a_lost_message_are_not_at_parity(tmp_path: Path) -> None:
    aws = json.loads((DATA / "happy-aws-emulator.json").read_text())
    aws["counts"]["lost"] = 1
    aws["phases"][0]["consumers"][0]["exit_code"] = 137
    result = CliRunner().invoke(
        diff, [str(DATA / "happy-local.json"), str(_write(tmp_path, "b.json", aws))]
    )
    assert result.exit_code == 1
    assert "counts.lost: 0 -> 1" in result.output
    assert "phases.main.consumers[0].exit_code: 0 -> 137" in result.output
