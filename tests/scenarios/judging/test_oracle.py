"""The oracle: a clean run passes; each kind of broken run fails the verdict, with the reason."""

from __future__ import annotations

from dataclasses import replace

import pytest

from scenarios.judging.expectations import NotRedelivered, Redelivered
from scenarios.judging.facts import CheckResult, Depth, QueuedMessage, body_key, message_key
from scenarios.judging.oracle import judge
from tests.scenarios.factories import T0, clean_facts, event, poison_facts, with_events

pytestmark = pytest.mark.unit


def failed(verdict, name: str) -> CheckResult:
    [check] = [c for c in verdict.checks if c.name == name]
    assert not check.passed, check
    return check


def test_clean_run_passes_every_check():
    verdict = judge(clean_facts(5, expectations=(NotRedelivered(),)))
    assert verdict.passed, verdict.failed
    assert len(verdict.checks) == 13


def without(facts, mid: str):
    """``facts`` in which ``mid`` left no trace: no item in any table, no event."""
    return replace(
        facts,
        completed_items=tuple(i for i in facts.completed_items if i["message_id"] != mid),
        status_items=tuple(i for i in facts.status_items if i["message_id"] != mid),
        effect_items=tuple(i for i in facts.effect_items if i["message_id"] != mid),
        events=tuple(e for e in facts.events if e.get("message_id") != mid),
    )


def test_one_lost_message_fails_the_verdict():
    # GIVEN a run in which m1 was sent, then vanished: no effect, no record, not in any queue
    facts = without(clean_facts(3), "m1")
    # WHEN it is judged THEN lost = 1 and the verdict fails
    verdict = judge(facts)
    assert not verdict.passed
    assert "m1" in failed(verdict, "no message lost").detail
    assert facts.lost == {"m1"}


def test_one_double_completion_fails_the_verdict():
    # GIVEN a second message.completed for m0 (double processing), the table still holds one item
    facts = with_events(
        clean_facts(3),
        event("message.completed", T0 + 3, consumer="c-1-2", message_id="m0", completed_at=1),
    )
    verdict = judge(facts)
    assert not verdict.passed
    assert "m0 x2" in failed(verdict, "exactly one message.completed per id").detail


def test_a_valid_message_in_the_dlq_fails_the_verdict():
    # GIVEN m2 was dead-lettered instead of completed
    body = '{"id": "m2", "work": 1}'
    facts = replace(without(clean_facts(3), "m2"), dlq=(QueuedMessage("sqs-m2", body, 5),))
    verdict = judge(facts)
    assert (
        "1 valid messages dead-lettered (m2)"
        in failed(verdict, "DLQ holds exactly the poison set").detail
    )
    assert "(m2)" in failed(verdict, "every message's effect applied").detail
    # AND it is not called lost: it is in the DLQ, and the lost check says where it went
    lost = next(c for c in verdict.checks if c.name == "no message lost")
    assert lost.passed and "1 in the DLQ" in lost.detail


def test_a_missing_phenomenon_fails_the_verdict():
    # GIVEN a "duplicates" run in which nothing was delivered twice
    verdict = judge(clean_facts(3, expectations=(Redelivered(why="duplicate delivery"),)))
    check = failed(verdict, "phenomenon: duplicate delivery happened")
    assert "failed demonstration" in check.detail
    assert not verdict.passed


def test_expected_poison_missing_from_the_dlq_fails():
    facts = replace(poison_facts(), dlq=())
    assert (
        "1 expected poison messages not in the DLQ"
        in failed(judge(facts), "DLQ holds exactly the poison set").detail
    )


def test_poison_in_the_dlq_passes():
    assert judge(poison_facts()).passed


def test_messages_left_in_the_queue_fail():
    verdict = judge(clean_facts(2, depth=Depth(visible=1, in_flight=2)))
    assert "visible=1 in_flight=2" in failed(verdict, "queue ends empty").detail


def test_a_started_status_left_behind_fails():
    facts = clean_facts(2)
    facts = replace(
        facts,
        status_items=(
            {"message_id": "m0", "status": "COMPLETED"},
            {"message_id": "m1", "status": "STARTED"},
        ),
    )
    assert "m1=STARTED" in failed(judge(facts), "status table says COMPLETED").detail


def test_completed_items_for_unknown_ids_fail():
    facts = clean_facts(1)
    facts = replace(facts, completed_items=(*facts.completed_items, {"message_id": "ghost"}))
    detail = failed(judge(facts), "exactly one completed item per id").detail
    assert "ids never sent (ghost)" in detail


def test_a_short_ledger_fails():
    assert (
        "2 of 3"
        in failed(judge(clean_facts(2, requested=3)), "producer accepted every message").detail
    )


def test_a_timeout_fails():
    assert not judge(clean_facts(1, timed_out=True)).passed


def test_an_expectation_that_raises_fails_loudly():
    class Broken:
        name = "phenomenon: broken"

        def check(self, facts):
            raise RuntimeError("boom")

    check = failed(judge(clean_facts(1, expectations=(Broken(),))), "phenomenon: broken")
    assert "boom" in check.detail


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('{"id": "abc", "work": 1}', "abc"),
        # a number is poison to the consumer (1 and "1" would be one message), so a body key
        ('{"id": 7}', None),
        ('{"id": "' + "x" * 2048 + '"}', "x" * 2048),
        ('{"id": "' + "x" * 2049 + '"}', None),
        ('{"id": "\\ud800"}', None),
        ('{"id": ""}', None),
        ('{"id": true}', None),
        ('{"id": ["x"]}', None),
        ("not json", None),
        ("[1, 2]", None),
    ],
)
def test_message_key_follows_the_consumers_id_rule(body, key):
    assert message_key(body) == (key if key is not None else body_key(body))
