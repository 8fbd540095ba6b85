"""A completion recorded by a consumer that died before logging it: explained, not missing."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.stack import StackHandle
from scenarios.judging.facts import ConsumerRun
from scenarios.judging.oracle import check_completed_events, judge
from scenarios.running.live import LiveRun
from tests.scenarios.factories import T0, clean_facts, event
from tests.scenarios.fakes import InstantTarget

pytestmark = pytest.mark.unit


def unlogged(exit_code: int | None, *, items: int = 1):
    """m1's record completed by c-1-2, whose message.completed line never made it to the log."""
    facts = clean_facts(3)
    events = tuple(
        e
        for e in facts.events
        if not (e.get("event") == "message.completed" and e.get("message_id") == "m1")
    )
    completed = tuple(
        {**i, "owner": "c-1-2"} if i["message_id"] == "m1" else i for i in facts.completed_items
    )
    if items == 2:
        completed += ({"message_id": "m1", "owner": "c-0-1", "attempts": 2},)
    return replace(
        facts,
        events=events,
        completed_items=completed,
        consumers=(*facts.consumers, ConsumerRun(1, "c-1-2", T0, T0 + 1.5, exit_code)),
    )


@pytest.mark.parametrize("code", [-9, 3, 137])
def test_a_consumer_that_died_explains_its_unlogged_completion(code):
    result = check_completed_events(unlogged(code))
    assert result.passed, result.detail
    assert "1 recorded by a consumer that died before logging it (m1)" in result.detail
    assert judge(unlogged(code)).passed


@pytest.mark.parametrize("code", [0, None])
def test_a_consumer_that_lived_does_not_explain_a_missing_event(code):
    result = check_completed_events(unlogged(code))
    assert not result.passed
    assert "1 ids never logged as completed (m1)" in result.detail


def test_a_second_completed_item_is_never_explained_away():
    result = check_completed_events(unlogged(-9, items=2))
    assert not result.passed and "never logged as completed (m1)" in result.detail


def test_an_id_found_completed_counts_as_done_for_the_settle_check():
    target = InstantTarget()
    target.events = [
        event("message.duplicate", T0, consumer="c-2-3", message_id="m7", source="status"),
        event("message.completed", T0, consumer="c-2-3", message_id="m8", completed_at=1),
    ]
    stack = StackHandle("t", "us-east-1", "q", "q-arn", "dlq", "dlq-arn", "t-st", "t-co")
    live = LiveRun(target, stack, {})  # indexing events makes no AWS call
    live.refresh()
    assert live.found_completed == {"m7"} and live.completed == {"m8"}
    assert live.completed_count() == 2
