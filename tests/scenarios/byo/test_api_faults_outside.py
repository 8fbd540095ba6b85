"""API faults against consumers: a user's plan on any scenario, and a buggy consumer caught.

- ``--faults PLAN.yaml`` puts the kit's own consumer behind the fault proxy on any scenario:
  the run passes and reports what fired; an empty plan only records;
- a consumer that treats a failed delete as fatal (``consumers/fatal_delete.py``) fails
  ``lost-ack``, and the report names the check: no consumer crashed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.scenarios.byo.test_examples import failed, run

pytestmark = pytest.mark.integration

FATAL_DELETE = "python tests/scenarios/byo/consumers/fatal_delete.py"
PLAN = """\
name: user
rules:
  - service: sqs
    operation: DeleteMessageBatch
    fault: throttle
    sequence: [1, 0]
    max_fires: 2
  - service: dynamodb
    operation: [PutItem, TransactWriteItems]
    fault: error_503
    sequence: [1, 0, 0]
    max_fires: 2
"""


def test_a_user_plan_runs_any_scenario_behind_the_proxy(emulator_endpoint: str, tmp_path: Path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    code, [report] = run(
        emulator_endpoint, tmp_path, "happy", "--count", "6", "--faults", str(plan)
    )
    # THEN the kit's consumer rode the faults out, and the report says what fired
    assert code == 0, failed(report)
    fired = report["faults_fired"]
    assert set(fired["by_kind"]) == {"throttle", "error_503"}, fired
    assert fired["by_kind"]["throttle"] == {
        "DeleteMessageBatch": fired["total"] - sum(fired["by_kind"]["error_503"].values())
    }
    events = report["phases"][0]["faults_fired"]["events"]
    assert events and all(e["retried"] for e in events)
    assert report["counts"]["lost"] == 0


def test_an_empty_plan_records_only(emulator_endpoint: str, tmp_path: Path):
    plan = tmp_path / "empty.yaml"
    plan.write_text("")
    code, [report] = run(
        emulator_endpoint, tmp_path, "happy", "--count", "4", "--faults", str(plan)
    )
    assert code == 0, failed(report)
    assert report["faults_fired"] == {"total": 0, "by_kind": {}}
    logs = Path(report["phases"][0]["log_dir"])
    assert list(logs.glob("passthrough-slot*.jsonl"))  # the calls were recorded


def test_a_consumer_that_dies_on_a_failed_delete_fails_lost_ack(
    emulator_endpoint: str, tmp_path: Path
):
    # GIVEN a consumer with no SDK retries that exits 1 when a delete fails
    code, [report] = run(emulator_endpoint, tmp_path, "lost-ack", "--consumer-cmd", FATAL_DELETE)
    # THEN lost-ack fails, and says why: the consumer crashed on an applied-but-failed delete
    assert code == 1, report.get("reason")
    problems = failed(report)
    assert "exited with an error" in problems["no consumer crashed"], problems
    assert "(exit 1)" in problems["no consumer crashed"]
    # AND it retried nothing, while its idempotent effect held: nothing doubled, nothing lost
    assert "phenomenon: the failed calls were retried" in problems
    assert report["counts"]["lost"] == 0
    assert "no side effect applied twice" not in problems


def test_a_plans_phases_key_fires_faults_only_in_those_phases(
    emulator_endpoint: str, tmp_path: Path
):
    # GIVEN a plan limited to scale-out's second phase (its first is "1 consumer")
    plan = tmp_path / "phased.yaml"
    plan.write_text(
        "phases: ['3 consumers']\n"
        "rules:\n"
        "  - {service: sqs, operation: DeleteMessageBatch, fault: throttle, sequence: [1, 0],"
        " max_fires: 1}\n"
    )
    # WHEN scale-out runs with it (its speed-up verdict is not what this test is about)
    code, [report] = run(
        emulator_endpoint, tmp_path, "scale-out", "--count", "12", "--faults", str(plan)
    )
    assert code in (0, 1), report.get("reason")
    first, second = report["phases"]
    # THEN the faults fired in the chosen phase only, and the other ran without a proxy plan
    assert first["name"] == "1 consumer" and second["name"] == "3 consumers"
    assert first["faults_fired"]["total"] == 0, first["faults_fired"]
    assert second["faults_fired"]["total"] >= 1, second["faults_fired"]
    assert set(report["faults_fired"]["by_kind"]) == {"throttle"}
    assert report["counts"]["lost"] == 0
