"""The conformance probe: real emulators pass what they support, broken behaviour is reported."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws
from rich.console import Console

from core import capabilities as cap
from local.conformance import (
    CHECKS,
    CheckFailed,
    Clients,
    ProbeCheck,
    ProbeReport,
    ProbeResult,
    render,
    run_probe,
)
from local.conformance.probe import make_clients
from local.emulators import MiniStackEmulator, MotoEmulator, embedded
from local.emulators.base import free_port, identify

# What the scenarios lean on hardest; MiniStack must prove all of it.
CORE_ON_MINISTACK = [
    "sqs.send_receive_delete",
    "sqs.in_flight_hidden",
    "sqs.redelivery_after_timeout",
    "sqs.approximate_receive_count",
    "sqs.dlq_not_before_max",
    "sqs.dlq_move_after_max",
    "sqs.long_poll_waits",
    "sqs.long_poll_wakes_early",
    "sqs.change_visibility_release",
    "sqs.change_visibility_extend",
    "sqs.garbage_handle_delete_rejected",
    "sqs.stale_handle_visibility_rejected",
    "sqs.batch_over_10_rejected",
    "sqs.message_over_1mib_rejected",
    "ddb.conditional_put",
    "ddb.conditional_update_lease",
    "ddb.transact_cancellation_reasons",
    "ddb.transact_atomic",
    "ddb.return_values_on_condition_failure",
    "ddb.ttl_setting",
]


@pytest.mark.unit
def test_registry_has_at_least_60_distinct_checks_with_known_capabilities():
    names = [c.name for c in CHECKS]
    assert len(names) >= 60
    assert len(set(names)) == len(names)
    assert {c.capability for c in CHECKS} <= cap.ALL
    assert all(c.doc for c in CHECKS), "every check says what AWS does"


@pytest.mark.unit
def test_every_check_cites_the_aws_documentation():
    uncited = [c.name for c in CHECKS if not c.cite.startswith("https://docs.aws.amazon.com/")]
    assert uncited == []
    # a disputed check says so, and how, in the text users read
    disputed = [c for c in CHECKS if c.disputed]
    assert [c.name for c in disputed] == ["sqs.change_visibility_expired_handle"]
    assert all("Disputed" in c.doc for c in disputed)


@pytest.mark.unit
def test_fifo_checks_cover_what_issue_17_names():
    fifo = {c.capability for c in CHECKS if c.name.startswith("sqs.fifo_")}
    assert {
        cap.SQS_FIFO,
        cap.SQS_FIFO_GROUP_ORDER,
        cap.SQS_FIFO_DEDUP,
        cap.SQS_FIFO_DEDUP_SCOPE,
        cap.SQS_FIFO_DELAY,
        cap.SQS_FIFO_RECEIVE_ATTEMPT,
        cap.SQS_FIFO_DLQ,
    } <= fifo


@pytest.mark.integration
def test_probe_on_the_session_emulator(emulator_endpoint, tmp_path):
    report = run_probe(emulator_endpoint, emulator="session")
    failed = {r.name: r.detail for r in report.failed}
    missing = [n for n in CORE_ON_MINISTACK if n in failed]
    assert not missing, f"core checks failed: { {n: failed[n] for n in missing} }"
    assert {cap.SQS_DLQ, cap.SQS_VISIBILITY, cap.DDB_TRANSACTIONS} <= report.capabilities()
    if identify(emulator_endpoint) == "ministack":
        # what the backend declares without probing must be what the probe proves
        assert MiniStackEmulator(port=1).capabilities() <= report.capabilities()
    # JSON carries every check with the fields the issue names
    out = tmp_path / "probe.json"
    report.write_json(out)
    raw = json.loads(out.read_text())
    assert len(raw["checks"]) == len(CHECKS)
    assert set(raw["checks"][0]) == {
        "name",
        "capability",
        "passed",
        "detail",
        "duration_s",
        "cite",
        "disputed",
    }
    assert all(c["cite"].startswith("https://docs.aws.amazon.com/") for c in raw["checks"])
    assert ProbeReport.from_dict(raw).capabilities() == report.capabilities()


@pytest.mark.integration
@pytest.mark.slow
def test_probe_on_moto_server(tmp_path):
    with embedded("moto", None, log_dir=tmp_path, ready_timeout=20.0) as moto:
        report = run_probe(moto.endpoint, emulator="moto")
    passed = {r.name for r in report.passed}
    for name in ("sqs.dlq_move_after_max", "sqs.approximate_receive_count", "ddb.transact_atomic"):
        assert name in passed, report.result(name).detail
    # moto 5 has no StartMessageMoveTask: the probe must say so, so redrive gets shimmed
    assert cap.SQS_MOVE_TASK in report.missing([cap.SQS_MOVE_TASK])
    assert MotoEmulator(port=1).capabilities() <= report.capabilities()


# -- the probe reports broken behaviour ----------------------------------------------------------


class _AcceptsAnything(http.server.BaseHTTPRequestHandler):
    """A fake 'emulator' that answers 200 with an empty body to every call."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_endpoint() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _AcceptsAnything)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.integration
def test_a_fake_endpoint_fails_every_check_without_crashing(fake_endpoint):
    report = run_probe(fake_endpoint, emulator="fake")
    assert len(report.results) == len(CHECKS)
    assert report.passed == []
    assert report.capabilities() == frozenset()
    assert all(r.detail for r in report.failed)


@pytest.mark.integration
def test_a_split_probes_dynamodb_where_it_is_served(fake_endpoint, emulator_endpoint):
    # GIVEN SQS "served" by an endpoint that answers nothing right, DynamoDB by the emulator
    # (as `scenario doctor --emulator sqs=localstack,dynamodb=ministack` sets them up)
    clients = make_clients(fake_endpoint, dynamodb_endpoint=emulator_endpoint)
    report = run_probe(fake_endpoint, only="ddb.", clients=clients)
    # THEN DynamoDB's checks reach DynamoDB's emulator, and pass
    assert report.results and report.failed == [], report.failed
    assert make_clients(fake_endpoint).ddb.meta.endpoint_url == fake_endpoint


@pytest.mark.integration
def test_nothing_listening_fails_fast():
    report = run_probe(f"http://127.0.0.1:{free_port()}", only="sqs.purge")
    assert [r.passed for r in report.results] == [False]
    assert "Connect" in report.results[0].detail or "connect" in report.results[0].detail


class _LyingSqs:
    """Wraps a real client, but accepts garbage receipt handles like a sloppy emulator."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def delete_message(self, **kwargs):
        return {}


@pytest.mark.unit
def test_a_lying_emulator_is_caught():
    import boto3

    with mock_aws():
        real = Clients(
            sqs=boto3.client("sqs", region_name="us-east-1"),
            ddb=boto3.client("dynamodb", region_name="us-east-1"),
            ecs=boto3.client("ecs", region_name="us-east-1"),
        )
        honest = run_probe("in-process", clients=real, only="garbage_handle_delete")
        lying = run_probe(
            "in-process",
            clients=Clients(_LyingSqs(real.sqs), real.ddb, real.ecs),
            only="garbage_handle_delete",
        )
    assert [r.passed for r in honest.results] == [True]
    assert [r.passed for r in lying.results] == [False]
    assert "accepted" in lying.results[0].detail
    assert cap.SQS_RECEIPT_HANDLES in lying.missing([cap.SQS_RECEIPT_HANDLES, cap.SQS_DLQ])


@pytest.mark.unit
def test_one_failing_check_withdraws_its_capability():
    def ok(ctx):
        return "fine"

    def broken(ctx):
        raise CheckFailed("delivered the message a third time")

    checks = [
        ProbeCheck("a.ok", cap.SQS_DLQ, ok, "ok"),
        ProbeCheck("a.broken", cap.SQS_DLQ, broken, "broken"),
        ProbeCheck("b.ok", cap.SQS_BASIC, ok, "ok"),
    ]
    report = run_probe("nowhere", clients=Clients(None, None, None), checks=checks)
    assert report.capabilities() == frozenset({cap.SQS_BASIC})
    assert report.result("a.broken") == ProbeResult(
        "a.broken", cap.SQS_DLQ, False, "delivered the message a third time",
        report.result("a.broken").duration_s,
    )  # fmt: skip
    assert report.to_dict()["missing_capabilities"] == [cap.SQS_DLQ]


@pytest.mark.unit
def test_citation_and_dispute_reach_the_report_and_the_table():
    def accepted(ctx):
        raise CheckFailed("accepted; AWS rejects this")

    url = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/x.html"
    checks = [ProbeCheck("a.disputed", cap.SQS_RECEIPT_HANDLES, accepted, "doc", url, True)]
    report = run_probe("nowhere", clients=Clients(None, None, None), checks=checks)
    raw = report.to_dict()["checks"][0]
    assert (raw["cite"], raw["disputed"]) == (url, True)
    [back] = ProbeReport.from_dict(report.to_dict()).results
    assert (back.cite, back.disputed) == (url, True)
    console = Console(record=True, width=200)
    render(report, console)
    text = console.export_text()
    assert "a.disputed †" in text and "† disputed" in text
