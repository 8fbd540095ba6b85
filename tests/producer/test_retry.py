"""Partial failures: failed batch entries are retried with backoff, never dropped silently."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from producer import RetryPolicy, SendAborted, SendConfig, read_ledger, send
from producer.report import MISSING_FROM_RESPONSE, NOT_SENT
from tests.producer.conftest import FaultyClient, drain, entry_id

pytestmark = pytest.mark.unit

FAST = RetryPolicy(max_attempts=3, base_delay_s=0.001, max_delay_s=0.002)
INTERNAL = {"Code": "InternalError", "Message": "injected", "SenderFault": False}


def _fail_id_times(target: str, times: int) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    """Fail the entry carrying payload id ``target`` on its first ``times`` attempts."""
    seen = {"n": 0}

    def fail(entry: dict[str, Any]) -> dict[str, Any] | None:
        if entry_id(entry) == target and seen["n"] < times:
            seen["n"] += 1
            return INTERNAL
        return None

    return fail


def _ids(seed: int, n: int) -> list[str]:
    from producer.payloads import plan

    return [str(m.ledger_id) for m in plan(SendConfig(queue_url="q", n=n, seed=seed))]


def test_one_failed_entry_is_retried_and_delivered(sqs, queue_url, tmp_path):
    # GIVEN 25 messages where one entry of the first batch fails once inside SendMessageBatch
    target = _ids(3, 25)[4]
    client = FaultyClient(sqs, _fail_id_times(target, 1))
    ledger = tmp_path / "ledger.jsonl"
    # WHEN they are sent
    report = send(
        SendConfig(queue_url=queue_url, n=25, seed=3, retry=FAST, ledger=ledger, max_in_flight=1),
        sqs=client,
    )
    # THEN the failed entry is resent on its own, right after its batch, and nothing is lost
    assert [len(c) for c in client.calls] == [10, 1, 10, 5]
    assert [entry_id(e) for e in client.calls[1]] == [target]
    assert (report.sent, report.failed, report.retried_entries) == (25, 0, 1)
    in_queue = [json.loads(m["Body"])["id"] for m in drain(sqs, queue_url)]
    assert sorted(in_queue) == sorted(_ids(3, 25))
    assert {e.id for e in read_ledger(ledger)} == set(_ids(3, 25))


def test_an_entry_that_keeps_failing_is_reported_not_dropped(sqs, queue_url, tmp_path):
    # GIVEN an entry that fails on every attempt
    target = _ids(4, 12)[11]
    client = FaultyClient(sqs, _fail_id_times(target, 99))
    ledger = tmp_path / "ledger.jsonl"
    # WHEN the run ends
    report = send(
        SendConfig(queue_url=queue_url, n=12, seed=4, retry=FAST, ledger=ledger, max_in_flight=1),
        sqs=client,
    )
    # THEN it was tried max_attempts times, is listed with its reason, and has no ledger line
    assert [len(c) for c in client.calls] == [10, 2, 1, 1]
    assert (report.sent, report.failed) == (11, 1)
    assert not report.ok
    (failure,) = report.failures
    assert failure.id == target and failure.code == "InternalError" and failure.attempts == 3
    assert failure.reason == "InternalError: injected (still failing after 3 attempts)"
    assert target not in {e.id for e in read_ledger(ledger)}
    assert len(read_ledger(ledger)) == 11 == len(drain(sqs, queue_url))


def test_sender_fault_entries_are_not_retried(sqs, queue_url):
    target = _ids(5, 5)[2]

    def fail(entry):
        if entry_id(entry) == target:
            return {"Code": "InvalidParameterValue", "Message": "bad", "SenderFault": True}
        return None

    client = FaultyClient(sqs, fail)
    report = send(SendConfig(queue_url=queue_url, n=5, seed=5, retry=FAST), sqs=client)
    assert [len(c) for c in client.calls] == [5]
    assert report.failed == 1 and report.failures[0].attempts == 1
    assert report.failures[0].sender_fault is True


def test_an_entry_missing_from_the_response_is_not_counted_as_sent(sqs, queue_url):
    # GIVEN an emulator that accepts an entry but reports it in neither list
    target = _ids(6, 3)[1]
    dropped = {"n": 0}

    def drop(entry):
        if entry_id(entry) == target and dropped["n"] == 0:
            dropped["n"] += 1
            return True
        return False

    client = FaultyClient(sqs, drop=drop)
    report = send(SendConfig(queue_url=queue_url, n=3, seed=6, retry=FAST), sqs=client)
    # THEN the producer retries it (at-least-once: the queue may hold it twice) and reports it once
    assert [len(c) for c in client.calls] == [3, 1]
    assert report.sent == 3 and report.retried_entries == 1
    assert [e.id for e in report.ledger].count(target) == 1
    assert MISSING_FROM_RESPONSE == "MissingFromResponse"


def test_a_call_that_fails_outright_stops_the_run_with_a_truthful_ledger(sqs, queue_url, tmp_path):
    # GIVEN the third SendMessageBatch call fails outright (after botocore's own retries)
    client = FaultyClient(sqs, raise_on_call=3)
    ledger = tmp_path / "ledger.jsonl"
    # WHEN 35 messages are sent
    with pytest.raises(SendAborted) as err:
        send(
            SendConfig(queue_url=queue_url, n=35, seed=7, ledger=ledger, max_in_flight=1),
            sqs=client,
        )
    # THEN the error says what happened and the partial report accounts for every message
    report = err.value.report
    assert "ServiceUnavailable: injected outage" in str(err.value)
    assert (report.requested, report.sent, report.failed) == (35, 20, 15)
    codes = [f.code for f in report.failures]
    assert codes == ["ServiceUnavailable"] * 10 + [NOT_SENT] * 5
    assert "delivery unknown" in report.failures[0].reason
    # AND the ledger on disk lists exactly what the queue holds
    in_queue = {m["MessageId"] for m in drain(sqs, queue_url)}
    assert {e.message_id for e in read_ledger(ledger)} == in_queue
    assert len(in_queue) == 20


def test_backoff_grows_and_is_capped():
    policy = RetryPolicy(max_attempts=5, base_delay_s=0.1, max_delay_s=0.5)
    assert policy.delay(1, 0.0) == pytest.approx(0.05)
    assert policy.delay(1, 0.999) < 0.1
    assert policy.delay(2, 0.0) == pytest.approx(0.1)
    assert policy.delay(3, 0.0) == pytest.approx(0.2)
    assert policy.delay(10, 0.999) <= 0.5
