"""The API-fault phenomena and the no-crash check, each fed facts that must fail it."""

from __future__ import annotations

import pytest

from scenarios.judging.expectations import CallsRetried, FaultsFired, NoConsumerCrashed
from scenarios.judging.facts import (
    RETRIED_BY_CALLER,
    RETRIED_BY_SDK,
    ApiFault,
    ConsumerRun,
    fired_summary,
)
from tests.scenarios.factories import T0, clean_facts, event, with_events

pytestmark = pytest.mark.unit


def fault(
    kind: str,
    op: str = "ReceiveMessage",
    *,
    retried: bool | None = True,
    t: float = 1.0,
    by: str | None = None,
):
    """A fired fault; ``by`` (sdk/caller) makes it one whose call carried SDK retry headers."""
    service = "dynamodb" if op in ("PutItem", "UpdateItem") else "sqs"
    return ApiFault(
        ts=T0 + t,
        slot=0,
        service=service,
        operation=op,
        kind=kind,
        retried=retried,
        retried_by=by,
        sdk_evidence=by is not None,
    )


def test_fired_summary_counts_per_kind_then_operation():
    faults = [
        fault("throttle"),
        fault("throttle", "PutItem"),
        fault("throttle"),
        fault("error_500"),
    ]
    assert fired_summary(faults) == {
        "error_500": {"ReceiveMessage": 1},
        "throttle": {"PutItem": 1, "ReceiveMessage": 2},
    }


def test_faults_fired_passes_when_every_planned_kind_fired():
    facts = clean_facts(api_faults=(fault("throttle"), fault("error_500", "PutItem")))
    result = FaultsFired(("throttle", "error_500")).check(facts)
    assert result.passed, result.detail
    assert "throttle x1 (ReceiveMessage 1)" in result.detail


def test_faults_fired_fails_naming_a_kind_that_never_fired():
    # GIVEN a plan with two kinds, of which only one fired
    facts = clean_facts(api_faults=(fault("throttle"),))
    result = FaultsFired(("throttle", "ack_dropped")).check(facts)
    # THEN the demonstration failed, and the silent kind is named
    assert not result.passed
    assert "never fired: ack_dropped" in result.detail


def test_faults_fired_fails_when_nothing_fired():
    result = FaultsFired(("throttle",)).check(clean_facts())
    assert not result.passed and "nothing fired" in result.detail


def test_calls_retried_passes_when_the_failed_calls_were_retried():
    facts = clean_facts(
        api_faults=(
            fault("throttle"),
            fault("error_500", "PutItem"),
            fault("ack_dropped", "DeleteMessageBatch", retried=None),  # answered 200
        )
    )
    result = CallsRetried().check(facts)
    assert result.passed, result.detail
    assert result.detail.startswith("2 of 2 failed calls were retried: 0 by the SDK")
    assert "2 by a successful call of the same operation" in result.detail


def test_calls_retried_counts_sdk_retries_and_names_the_callers_own():
    # GIVEN two faults the SDK retried and one only the consumer's own loop called again
    facts = clean_facts(
        api_faults=(
            fault("throttle", by=RETRIED_BY_SDK),
            fault("error_500", "PutItem", by=RETRIED_BY_SDK),
            fault("reset_after", "DeleteMessage", by=RETRIED_BY_CALLER),
        )
    )
    result = CallsRetried().check(facts)
    # THEN the SDK's count, and the caller's repeat reported apart and not counted
    assert result.passed, result.detail
    assert result.detail.startswith("2 of 3 failed calls were retried: 2 by the SDK")
    assert "1 made again by the consumer's own loop" in result.detail
    assert "not retried: DeleteMessage 1" in result.detail


def test_calls_retried_fails_when_only_the_callers_loop_called_again():
    # GIVEN an SDK with retries off, wrapped in a loop that repeats every failed call itself
    facts = clean_facts(
        api_faults=(
            fault("throttle", by=RETRIED_BY_CALLER),
            fault("error_500", "DeleteMessageBatch", by=RETRIED_BY_CALLER),
        )
    )
    result = CallsRetried().check(facts)
    # THEN the SDK retried nothing: the phenomenon is not shown
    assert not result.passed
    assert "0 of 2" in result.detail and "2 made again by the consumer's own loop" in result.detail


def test_calls_retried_fails_for_a_consumer_that_never_retries():
    # GIVEN failed calls none of which was followed by a successful one
    facts = clean_facts(
        api_faults=(
            fault("error_500", "DeleteMessageBatch", retried=False),
            fault("throttle", retried=False),
        )
    )
    result = CallsRetried().check(facts)
    assert not result.passed
    assert "0 of 2" in result.detail and "DeleteMessageBatch 1" in result.detail


def test_calls_retried_fails_when_no_proxy_stood_in_front_of_the_consumers():
    result = CallsRetried().check(clean_facts())
    assert not result.passed and "no fault proxy" in result.detail


def test_calls_retried_fails_when_only_successes_were_faked():
    facts = clean_facts(
        api_faults=(fault("ack_dropped", "DeleteMessageBatch", retried=None),),
        planned_faults=("ack_dropped",),
    )
    result = CallsRetried().check(facts)
    assert not result.passed and "nothing to retry" in result.detail


def test_no_consumer_crashed_passes_for_consumers_the_engine_stopped():
    facts = clean_facts(
        consumers=(
            ConsumerRun(0, "c-0-1", T0, T0 + 5, 0, ("SIGTERM",)),
            ConsumerRun(1, "c-1-1", T0, T0 + 5, -15, ("SIGTERM",)),
        )
    )
    assert NoConsumerCrashed().check(facts).passed


def test_no_consumer_crashed_fails_for_a_consumer_that_exited_with_an_error():
    # GIVEN a consumer that exited 1 by itself (no signal from the engine) and was replaced
    facts = clean_facts(
        consumers=(
            ConsumerRun(0, "c-0-1", T0, T0 + 2, 1, ()),
            ConsumerRun(0, "c-0-2", T0 + 2, T0 + 5, 0, ("SIGTERM",)),
        )
    )
    result = NoConsumerCrashed().check(facts)
    assert not result.passed
    assert "c-0-1 (exit 1)" in result.detail


def test_no_consumer_crashed_fails_on_a_crash_event():
    facts = with_events(clean_facts(), event("consumer.crash", T0 + 2, reason="chaos"))
    result = NoConsumerCrashed().check(facts)
    assert not result.passed and "consumer.crash" in result.detail
