"""faults_fired in the reports: the JSON (per run and per phase), the console line, the PNG."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from scenarios.judging.facts import ApiFault
from scenarios.reporting import console, document
from tests.scenarios.factories import T0, clean_facts
from tests.scenarios.reporting.test_report import result

pytestmark = pytest.mark.unit

FIRED = (
    ApiFault(T0 + 1.0, 0, "sqs", "ReceiveMessage", "throttle", "rules[0]", 403, True),
    ApiFault(T0 + 1.5, 1, "dynamodb", "PutItem", "throttle", "rules[1]", 400, True, "sdk", True),
    ApiFault(T0 + 2.0, 0, "sqs", "DeleteMessageBatch", "ack_dropped", "rules[2]", 200, None),
)


def text(report) -> str:
    out = Console(record=True, width=160)
    for part in console.render(report):
        out.print(part)
    return out.export_text()


def test_the_json_counts_fired_faults_per_kind_and_operation_with_times():
    data = document.build(result(clean_facts(api_faults=FIRED), clean_facts()))
    assert data["faults_fired"] == {
        "total": 3,
        "by_kind": {
            "ack_dropped": {"DeleteMessageBatch": 1},
            "throttle": {"PutItem": 1, "ReceiveMessage": 1},
        },
    }
    first, second = data["phases"]
    assert first["faults_fired"]["total"] == 3 and second["faults_fired"]["total"] == 0
    event = first["faults_fired"]["events"][1]
    assert event["t"] == 1.5 and event["slot"] == 1 and event["operation"] == "PutItem"
    assert event["status"] == 400 and event["retried"] is True and event["at"].endswith("Z")
    assert event["retried_by"] == "sdk" and first["faults_fired"]["events"][0]["retried_by"] is None
    timeline = data["timeline"]["phases"][0]["api_faults"]
    assert timeline[0] == [1.0, "throttle", "ReceiveMessage"] and len(timeline) == 3


def test_the_console_has_one_line_for_the_fired_faults():
    shown = text(document.build(result(clean_facts(api_faults=FIRED))))
    assert "API faults fired: 3 (ack_dropped 1, throttle 2)" in shown
    assert "API faults fired" not in text(document.build(result(clean_facts())))


def test_the_png_marks_the_fired_faults_and_the_report_round_trips(tmp_path):
    data = document.write(document.build(result(clean_facts(api_faults=FIRED))), tmp_path, png=True)
    png = tmp_path / "happy.png"
    assert png.read_bytes()[:4] == b"\x89PNG"
    [loaded] = document.load(tmp_path / "happy.json")
    assert loaded == json.loads(json.dumps(data))
    assert "API faults fired: 3" in text(loaded)
