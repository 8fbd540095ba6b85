"""The fault proxy's plan in scenarios: a scenario's own, the user's --faults file, combined."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from local.faultproxy import FaultKind, Plan
from scenarios.catalogue.api_faults import PLAN as API_FAULTS
from scenarios.catalogue.lost_ack import PLAN as LOST_ACK
from scenarios.model import Phase, Traffic
from scenarios.running.apifaults import (
    ProxyFaults,
    check_phases,
    combine,
    load_user_plan,
    phase_plan,
    planned_kinds,
)
from scenarios.settings import Knobs

pytestmark = pytest.mark.unit

THROTTLE = {"service": "sqs", "operation": "ReceiveMessage", "fault": "throttle"}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_scenario_plan_is_validated_when_declared():
    with pytest.raises(ConfigError, match=r"rules\[0\]\.fault: unknown fault 'ack_drop'"):
        ProxyFaults(rules=({"service": "sqs", "fault": "ack_drop"},))


def test_a_scenario_plan_names_its_kinds_and_labels_its_rules():
    faults = ProxyFaults(
        rules=(
            {**THROTTLE, "sequence": [1, 0], "max_fires": 2},
            {"service": "dynamodb", "operation": ["PutItem"], "fault": "error_500"},
            {**THROTTLE, "probability": 0.5},
        )
    )
    assert faults.kinds == ("throttle", "error_500")
    assert "throttle on sqs ReceiveMessage (sequence 10, at most 2 per consumer)" in faults.label
    assert "error_500 on dynamodb PutItem (always)" in faults.label
    assert "(p=0.5)" in faults.label


def test_the_catalogue_plans_cover_every_call_type_of_the_kits_consumer():
    api = API_FAULTS.plan()
    ops = {op for r in api.rules for op in (r.operations or ())}
    assert {"ReceiveMessage", "DeleteMessageBatch", "ChangeMessageVisibility"} <= ops
    assert {"PutItem", "UpdateItem", "TransactWriteItems"} <= ops
    assert set(API_FAULTS.kinds) >= {"throttle", "error_500", "error_503", "reset_before"}
    assert set(LOST_ACK.kinds) == {"ack_dropped", "applied_failed"}


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("missing.yaml", None, "cannot read the plan file"),
        ("bad.yaml", "rules: [", "not valid yaml"),
        ("kind.yaml", "rules:\n  - {service: sqs, fault: ack_drop}\n", "unknown fault 'ack_drop'"),
        ("svc.yaml", "rules:\n  - {service: s3, fault: throttle}\n", "service"),
        (
            "op.yaml",
            "rules:\n  - {service: sqs, operation: DeleteMesage, fault: throttle}\n",
            "DeleteMesage",
        ),
        ("plan.txt", "rules: []\n", "unknown plan format"),
    ],
)
def test_a_bad_user_plan_is_a_one_line_usage_error_naming_the_flag(tmp_path, name, text, message):
    path = tmp_path / name if text is None else write(tmp_path, name, text)
    with pytest.raises(ConfigError) as err:
        load_user_plan(path)
    line = str(err.value)
    assert line.startswith("--faults (SQSKIT_FAULTS): ") and "\n" not in line
    assert message in line


def test_an_empty_user_plan_records_only(tmp_path):
    plan = load_user_plan(write(tmp_path, "empty.yaml", ""))
    assert plan is not None and plan.rules == ()
    assert load_user_plan(None) is None


def test_combining_renumbers_rules_and_keeps_the_first_seed():
    a = Plan.from_dict({"seed": 3, "name": "a", "rules": [THROTTLE]})
    b = Plan.from_dict({"seed": 9, "name": "b", "rules": [{**THROTTLE, "fault": "error_503"}]})
    both = combine([a, b])
    assert both is not None
    assert [r.index for r in both.rules] == [0, 1]
    assert [r.fault for r in both.rules] == [FaultKind.THROTTLE, FaultKind.ERROR_503]
    assert both.seed == 3 and both.name == "a + b"
    assert combine([]) is None and combine([a]) is a


def test_a_phase_plan_is_the_scenarios_then_the_users():
    k = Knobs(count=2)
    own = ProxyFaults(rules=(THROTTLE,), name="own")
    user = Plan.from_dict({"name": "user", "rules": [{**THROTTLE, "fault": "reset_before"}]})
    phase = Phase.from_knobs(k, traffic=Traffic.from_knobs(k), faults=(own,))
    plan = phase_plan(phase, user)
    assert planned_kinds(plan) == ("throttle", "reset_before")
    plain = Phase.from_knobs(k)
    assert phase_plan(plain, None) is None and planned_kinds(None) == ()
    assert phase_plan(plain, user) is user


def test_a_user_plan_with_phases_joins_only_those_phases():
    k = Knobs(count=2)
    own = ProxyFaults(rules=(THROTTLE,), name="own")
    user = Plan.from_dict({"phases": ["second"], "rules": [{**THROTTLE, "fault": "error_503"}]})
    first = Phase.from_knobs(k, name="first")
    second = Phase.from_knobs(k, name="second")
    first_own = Phase.from_knobs(k, name="first", faults=(own,))
    # the named phase gets the user's rules; another gets none of them, only its own
    assert phase_plan(second, user) is user
    assert phase_plan(first, user) is None
    assert planned_kinds(phase_plan(first_own, user)) == ("throttle",)


def test_phases_a_scenario_lacks_are_a_one_line_usage_error_naming_the_valid_ones():
    user = Plan.from_dict({"phases": ["heartbeat-on", "recovery"]})
    with pytest.raises(ConfigError) as err:
        check_phases(user, "visibility-overrun", ["heartbeat-off", "heartbeat-on"])
    line = str(err.value)
    assert "\n" not in line and line.startswith("--faults (SQSKIT_FAULTS): phases: ")
    assert "visibility-overrun has no phase 'recovery'" in line
    assert "valid: 'heartbeat-off', 'heartbeat-on'" in line
    # names it has, no phases key, or no plan: accepted
    check_phases(user, "v", ["heartbeat-on", "recovery", "x"])
    check_phases(Plan(), "happy", ["main"])
    check_phases(None, "happy", ["main"])
