"""Plan parsing and validation: unit tier."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from local.faultproxy import FaultKind, Plan, PlanError, load_plan
from local.faultproxy.plan import DEFAULT_STALL_S, RESTRICTED

pytestmark = pytest.mark.unit

BRIEF_PLAN = """\
seed: 7
rules:
  - service: sqs
    operation: DeleteMessageBatch
    fault: ack_dropped
    probability: 0.2
  - service: dynamodb
    operation: [PutItem, TransactWriteItems]
    fault: throttle
    probability: 0.1
    max_fires: 20
"""


def _rule(**fields: object) -> dict[str, object]:
    return {"service": "sqs", "fault": "error_500", **fields}


def _error(data: object) -> str:
    with pytest.raises(PlanError) as info:
        Plan.from_dict(data, source="p.yaml")
    message = str(info.value)
    assert "\n" not in message, "errors are one line"
    return message


def test_the_documented_example_parses(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(BRIEF_PLAN)
    plan = load_plan(path)
    assert plan.seed == 7
    first, second = plan.rules
    assert first.fault is FaultKind.ACK_DROPPED
    assert first.operations == frozenset({"DeleteMessageBatch"})
    assert first.probability == 0.2
    assert second.service == "dynamodb"
    assert second.operations == frozenset({"PutItem", "TransactWriteItems"})
    assert second.code == "ProvisionedThroughputExceededException", "DynamoDB's default throttle"
    assert second.max_fires == 20


def test_toml_and_json_plans_mean_the_same(tmp_path: Path) -> None:
    toml = tmp_path / "plan.toml"
    toml.write_text(
        'seed = 7\n[[rules]]\nservice = "sqs"\noperation = "DeleteMessageBatch"\n'
        'fault = "ack_dropped"\nprobability = 0.2\n'
    )
    as_json = tmp_path / "plan.json"
    as_json.write_text(
        json.dumps(
            {
                "seed": 7,
                "rules": [
                    {
                        "service": "sqs",
                        "operation": "DeleteMessageBatch",
                        "fault": "ack_dropped",
                        "probability": 0.2,
                    }
                ],
            }
        )
    )
    assert load_plan(toml) == load_plan(as_json)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"rules": [_rule(fault="ack_drop")]},
            "rules[0].fault: unknown fault 'ack_drop'; allowed:",
        ),
        (
            {"rules": [_rule(service="s3")]},
            "rules[0].service: unknown service 's3'; allowed: sqs, dynamodb",
        ),
        (
            {"rules": [_rule(probability=1.5)]},
            "rules[0].probability: 1.5 is out of range; allowed 0 to 1",
        ),
        ({"rules": [_rule(probability=-0.1)]}, "out of range"),
        (
            {"rules": [_rule(probabilty=0.5)]},
            "rules[0].probabilty: unknown key for fault error_500",
        ),
        ({"rules": [_rule(operation="DeleteMesage")]}, "did you mean DeleteMessage?"),
        ({"rules": [_rule(probability=0.5, sequence=[1, 0])]}, "either probability or sequence"),
        ({"rules": [_rule(sequence=[])]}, "rules[0].sequence: a non-empty list of 1 (fire) and 0"),
        ({"rules": [_rule(sequence=[2])]}, "rules[0].sequence"),
        ({"rules": [_rule(max_fires=-1)]}, "rules[0].max_fires: must be a whole number >= 0"),
        ({"rules": [_rule(skip="2")]}, "rules[0].skip: must be a whole number >= 0"),
        (
            {"rules": [_rule(code="RequestThrottled")]},
            "rules[0].code: unknown key for fault error_500; it applies to fault throttle",
        ),
        (
            {"rules": [_rule(fault="throttle", code="SlowDown")]},
            "unknown throttling code 'SlowDown'",
        ),
        (
            {"rules": [_rule(fault="ack_dropped", operation="SendMessage")]},
            "fault ack_dropped applies only to ChangeMessageVisibility",
        ),
        (
            {"rules": [_rule(service="dynamodb", fault="ack_dropped")]},
            "fault ack_dropped applies only to sqs, not dynamodb",
        ),
        (
            {"rules": [_rule(fault="lost_receive", fail_with=404)]},
            "rules[0].fail_with: 404 is not allowed; allowed: 500, 503, reset",
        ),
        ({"rules": [_rule(fault="latency")]}, "rules[0].latency: required for fault latency"),
        (
            {"rules": [_rule(fault="latency", latency={"p50_ms": 50, "p99_ms": 10})]},
            "p99_ms (10) must be >= p50_ms (50)",
        ),
        (
            {"rules": [_rule(fault="latency", latency={"min_ms": 0, "max_ms": 10})]},
            "min_ms: must be a number of milliseconds > 0",
        ),
        ({"rules": [_rule(fault="latency", latency={"mean_ms": 5})]}, "unknown form ['mean_ms']"),
        (
            {"rules": [_rule(fault="stall", stall_s=0)]},
            "rules[0].stall_s: must be a number of seconds > 0",
        ),
        (
            {"rules": [{"service": "dynamodb", "fault": "transaction_canceled", "reason": "Nope"}]},
            "unknown cancellation reason 'Nope'",
        ),
        ({"seed": "seven"}, "p.yaml: seed must be an integer"),
        ({"rule": []}, "p.yaml: unknown key 'rule'; allowed: name, phases, rules, seed"),
        ({"phases": []}, "p.yaml: phases must be a phase name or a non-empty list of names"),
        ({"phases": [1]}, "phases must be a phase name or a non-empty list"),
        ({"phases": ["main", ""]}, "phases must be a phase name or a non-empty list"),
        ({"phases": {"main": 1}}, "phases must be a phase name or a non-empty list"),
        ({"rules": {"service": "sqs"}}, "rules must be a list"),
        (["not", "a", "mapping"], "a plan is a mapping"),
    ],
)
def test_bad_plans_fail_with_one_line_naming_the_field(data: object, expected: str) -> None:
    message = _error(data)
    assert message.startswith("p.yaml: ")
    assert expected in message


def test_restricted_kinds_default_to_the_operations_they_fit() -> None:
    plan = Plan.from_dict(
        {
            "rules": [
                {"service": "sqs", "fault": "ack_dropped"},
                {"service": "sqs", "fault": "lost_receive"},
                {"service": "dynamodb", "fault": "transaction_canceled"},
                {"service": "dynamodb", "fault": "conditional_check_failed"},
            ]
        }
    )
    for rule in plan.rules:
        assert rule.operations == RESTRICTED[rule.fault][1]
    assert plan.rules[1].fail_with == "reset"
    assert plan.rules[2].reason == "ConditionalCheckFailed"


def test_defaults_of_the_kind_specific_fields() -> None:
    plan = Plan.from_dict(
        {
            "rules": [
                {"service": "sqs", "fault": "throttle"},
                {"service": "sqs", "fault": "applied_failed"},
                {"service": "sqs", "fault": "stall", "operation": "ReceiveMessage"},
                {"service": "sqs", "fault": "latency", "latency": 25},
            ]
        }
    )
    throttle, applied, stall, latency = plan.rules
    assert throttle.code == "RequestThrottled"
    assert applied.fail_with == 500
    assert stall.stall_s == DEFAULT_STALL_S
    assert latency.latency is not None and latency.latency.describe() == {"fixed_ms": 25.0}
    assert throttle.operations is None, "no operation: every operation of the service"


def test_unreadable_and_unparsable_files_say_so(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="cannot read the plan file"):
        load_plan(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [unclosed\n")
    with pytest.raises(PlanError, match="not valid yaml"):
        load_plan(broken)
    other = tmp_path / "plan.ini"
    other.write_text("")
    with pytest.raises(PlanError, match=re.escape("unknown plan format '.ini'")):
        load_plan(other)


def test_an_empty_file_is_an_empty_plan(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_plan(path) == Plan()


def test_phases_name_the_scenario_phases_a_plan_applies_to(tmp_path: Path) -> None:
    # GIVEN a plan limited to two phases, one given twice
    path = tmp_path / "phased.yaml"
    path.write_text("phases: [work, ' recovery', work]\nrules: []\n")
    # THEN the names are kept in order, once each, trimmed; without the key: every phase (None)
    assert load_plan(path).phases == ("work", "recovery")
    assert Plan.from_dict({"phases": "main"}).phases == ("main",)
    assert Plan.from_dict({"rules": []}).phases is None
