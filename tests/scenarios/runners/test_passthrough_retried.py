"""Whether a fired fault's call was retried, and by whom: the SDK (a later attempt of the same
invocation) or the caller (a new invocation); without SDK headers, the same operation (for a
delete: the same handles) succeeding soon after."""

from __future__ import annotations

import pytest

from local.faultproxy import FiredFault
from local.faultproxy.records import CallRecord
from scenarios.judging.facts import RETRIED_BY_CALLER, RETRIED_BY_SDK
from scenarios.runners.passthrough import _api_fault

pytestmark = pytest.mark.unit

T = 1_000.0


def call(
    ts: float,
    status: int | None,
    *handles: str,
    fault: str | None = None,
    op: str = "DeleteMessage",
    invocation: str | None = None,
    attempt: int = 1,
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
        sdk_invocation_id=invocation,
        sdk_request=f"attempt={attempt}; max=3" if invocation else None,
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


def _sdk_fault(kind: str = "error_500", **detail: object) -> FiredFault:
    """A fault on attempt 1 of invocation ``inv-1`` (the proxy puts both in its detail)."""
    detail = {"status": 500, "invocation_id": "inv-1", "attempt": 1, **detail}
    return FiredFault(T + 0.01, "sqs", "DeleteMessage", kind, "rules[0]", 1, None, detail)


def test_a_later_attempt_of_the_same_invocation_is_the_sdks_retry():
    # GIVEN botocore's second attempt, itself throttled: the SDK retried all the same
    calls = [
        call(T, 500, "h1", fault="error_500", invocation="inv-1"),
        call(T + 0.1, 403, "h1", fault="throttle", invocation="inv-1", attempt=2),
    ]
    fact = _api_fault(0, _sdk_fault(), calls)
    assert (fact.retried, fact.retried_by, fact.sdk_evidence) == (True, RETRIED_BY_SDK, True)


def test_a_new_invocation_of_the_same_delete_is_the_callers_retry():
    # GIVEN an SDK that did not retry, and the consumer's own loop deleting the handle again
    calls = [
        call(T, 500, "h1", fault="error_500", invocation="inv-1"),
        call(T + 0.5, 200, "h1", invocation="inv-2"),
    ]
    fact = _api_fault(0, _sdk_fault(), calls)
    assert (fact.retried, fact.retried_by) == (True, RETRIED_BY_CALLER)


def test_an_earlier_or_same_attempt_or_another_handle_is_no_retry():
    calls = [
        call(T, 500, "h1", fault="error_500", invocation="inv-1", attempt=2),
        call(T + 0.2, 200, "h1", invocation="inv-1", attempt=2),  # not a later attempt
        call(T + 0.3, 200, "h2", invocation="inv-3"),  # another message
    ]
    fact = _api_fault(0, _sdk_fault(attempt=2), calls)
    assert (fact.retried, fact.retried_by) == (False, None)


def test_without_sdk_headers_the_heuristic_decides_and_cannot_say_who():
    calls = [call(T, 500, "h1", fault="applied_failed"), call(T + 0.2, 200, "h1")]
    fact = _api_fault(0, FAILED_DELETE, calls)
    assert (fact.retried, fact.retried_by, fact.sdk_evidence) == (True, None, False)


def test_the_faulted_calls_own_record_gives_the_invocation_when_the_detail_lacks_it():
    calls = [
        call(T, 500, "h1", fault="applied_failed", invocation="inv-1"),
        call(T + 0.2, 200, "h1", invocation="inv-1", attempt=2),
    ]
    fact = _api_fault(0, FAILED_DELETE, calls)
    assert (fact.retried, fact.retried_by) == (True, RETRIED_BY_SDK)
