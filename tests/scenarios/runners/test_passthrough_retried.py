"""Whether a fired fault's call was retried: same operation, and for a delete same handles."""

from __future__ import annotations

import pytest

from local.faultproxy import FiredFault
from local.faultproxy.records import CallRecord
from scenarios.runners.passthrough import _api_fault

pytestmark = pytest.mark.unit

T = 1_000.0


def call(
    ts: float,
    status: int | None,
    *handles: str,
    fault: str | None = None,
    op: str = "DeleteMessage",
) -> CallRecord:
    return CallRecord(
        ts=ts,
        service="sqs",
        operation=op,
        protocol="json",
        status=status,
        latency_ms=1.0,
        forwarded=True,
        fault=fault,
        receipt_handles=handles,
    )


FAILED_DELETE = FiredFault(
    T + 0.01, "sqs", "DeleteMessage", "applied_failed", "rules[0]", 1, None, {"status": 500}
)


def test_a_delete_of_the_same_handle_after_the_fault_is_its_retry():
    calls = [call(T, 500, "h1", fault="applied_failed"), call(T + 0.2, 200, "h1")]
    fact = _api_fault(3, FAILED_DELETE, calls)
    assert fact.retried is True and fact.slot == 3 and fact.status == 500


def test_a_later_delete_of_another_message_is_not_a_retry():
    # GIVEN the consumer died on the failed delete; its replacement deletes another message
    calls = [call(T, 500, "h1", fault="applied_failed"), call(T + 2, 200, "h2")]
    assert _api_fault(0, FAILED_DELETE, calls).retried is False


def test_a_retry_after_the_window_is_not_botocores():
    calls = [call(T, 500, "h1", fault="applied_failed"), call(T + 60, 200, "h1")]
    assert _api_fault(0, FAILED_DELETE, calls).retried is False


def test_a_fault_that_answered_success_has_nothing_to_retry():
    dropped = FiredFault(T, "sqs", "DeleteMessage", "ack_dropped", "rules[0]", 1, None, {})
    assert _api_fault(0, dropped, [call(T, 200, "h1", fault="ack_dropped")]).retried is None


def test_a_lost_receive_is_retried_by_a_receive_that_returns_other_messages():
    # GIVEN a receive reset after SQS answered: its record lists the handles it lost
    lost = FiredFault(T + 0.01, "sqs", "ReceiveMessage", "reset_after", "rules[0]", 1, None, {})
    calls = [
        call(T, None, "h1", fault="reset_after", op="ReceiveMessage"),
        call(T + 0.3, 200, "h2", op="ReceiveMessage"),
    ]
    assert _api_fault(0, lost, calls).retried is True
