"""The oracle on FIFO queues: order per group, deduplicated sends, and the FIFO phenomena.

Each check is fed a clean FIFO run, then facts broken one way at a time, and must fail naming
the group and the ids.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from core.stack import DEDUP_SCOPE_MESSAGE_GROUP
from scenarios.judging.facts import Depth, Facts, QueuedMessage, Sent, message_key
from scenarios.judging.fifo import (
    DEDUPLICATED_ONCE,
    GROUP_ORDER,
    GroupBlockedByPoison,
    GroupResumedAfterFault,
    ResendsDeduplicated,
    deduplicated,
)
from scenarios.judging.oracle import judge
from tests.scenarios.factories import T0, event, execution, kill_record

pytestmark = pytest.mark.unit

GROUPS = {"g0": ["a0", "a1", "a2"], "g1": ["b0", "b1"]}
#: the order the messages took effect in a clean run: each group in send order, interleaved
CLEAN = ["a0", "b0", "a1", "b1", "a2"]
STEP = 0.1


def _at(order: list[str], mid: str) -> float:
    return T0 + 1 + order.index(mid) * STEP


def fifo_facts(
    order: list[str] = CLEAN,
    groups: dict[str, list[str]] = GROUPS,
    *,
    extra_sends: tuple[Sent, ...] = (),
    applied_ms: dict[str, int] | None = None,
    **overrides: Any,
) -> Facts:
    """A FIFO run: each id sent in its group, executed and applied in ``order``."""
    ledger: list[Sent] = []
    for g, members in groups.items():
        ledger += [
            Sent(
                id=m,
                message_id=f"sqs-{m}",
                sent_at_ms=int(T0 * 1000) + k,
                group=g,
                dedup_id=m,
                seq_in_group=k,
            )
            for k, m in enumerate(members)
        ]
    ledger += extra_sends
    events: list[dict[str, Any]] = [event("consumer.started", T0)]
    effects = []
    for mid in order:
        t = _at(order, mid)
        events += execution(mid, t, xid=f"x-{mid}")
        events.append(
            event(
                "message.completed",
                t + 0.05,
                message_id=mid,
                completed_at=int((t + 0.05) * 1000),
            )
        )
        applied = (applied_ms or {}).get(mid, int((t + 0.02) * 1000))
        effects.append(
            {"message_id": mid, "effect_id": mid, "applied_at": applied, "execution_id": f"x-{mid}"}
        )
    ids = [m for members in groups.values() for m in members]
    facts = Facts(
        ledger=tuple(ledger),
        completed_items=tuple({"message_id": m} for m in order),
        status_items=tuple({"message_id": m, "status": "COMPLETED"} for m in order),
        effect_items=tuple(effects),
        dlq=(),
        depth=Depth(visible=0, in_flight=0),
        events=tuple(events),
        requested=len(ledger),
        started_at=T0,
        ended_at=T0 + 5,
    )
    assert set(order) <= set(ids)
    return replace(facts, **overrides) if overrides else facts


def check(facts: Facts, name: str):
    [found] = [c for c in judge(facts).checks if c.name == name]
    return found


def resend(mid: str, group: str, seq: int, *, after_ms: int = 1000, sqs: str | None = None) -> Sent:
    """The producer's resend of ``mid`` with the same deduplication id."""
    return Sent(
        id=mid,
        message_id=sqs or f"sqs-{mid}",
        sent_at_ms=int(T0 * 1000) + after_ms,
        group=group,
        dedup_id=mid,
        seq_in_group=seq,
        duplicate=True,
    )


# -- order per group -------------------------------------------------------------------------------


def test_a_clean_fifo_run_passes_every_check():
    verdict = judge(fifo_facts())
    assert verdict.passed, verdict.failed
    order = check(fifo_facts(), GROUP_ORDER)
    assert "5 messages in 2 groups took effect in send order" in order.detail


def test_a_standard_queue_gets_no_fifo_check():
    facts = fifo_facts()
    standard = replace(
        facts, ledger=tuple(Sent(e.id, e.message_id, e.sent_at_ms) for e in facts.ledger)
    )
    names = {c.name for c in judge(standard).checks}
    assert GROUP_ORDER not in names and DEDUPLICATED_ONCE not in names


def test_a_group_applied_out_of_order_fails_naming_the_group_and_both_ids():
    # GIVEN a1 took effect before a0, which was sent before it
    facts = fifo_facts(["a1", "b0", "a0", "b1", "a2"])
    result = check(facts, GROUP_ORDER)
    assert not result.passed
    assert result.detail == (
        "1 reordering(s), 0 gap(s) in 1 of 2 groups: "
        "group g0: a1 (#1) took effect before a0 (#0), sent before it"
    )
    assert not judge(facts).passed


def test_a_later_message_overtaking_a_middle_one_is_named():
    facts = fifo_facts(["a0", "a2", "a1", "b0", "b1"])
    result = check(facts, GROUP_ORDER)
    assert not result.passed
    assert "group g0: a2 (#2) took effect before a1 (#1), sent before it" in result.detail


def test_a_gap_fails_naming_the_missing_id_and_the_one_after_it():
    # GIVEN a1 never took effect (no effect, no completion) while a2, sent after it, did
    facts = fifo_facts(["a0", "b0", "b1", "a2"])
    result = check(facts, GROUP_ORDER)
    assert not result.passed
    assert "group g0: a1 (#1) has no effect, but a2 (#2), sent after it, has one" in result.detail


def test_a_message_that_left_its_group_by_the_dlq_is_no_gap():
    facts = fifo_facts(["a0", "b0", "b1", "a2"], dlq=(QueuedMessage("sqs-a1", '{"id": "a1"}'),))
    assert check(facts, GROUP_ORDER).passed


def test_effects_in_the_same_millisecond_are_ordered_by_their_executions():
    # GIVEN a0 and a1 applied in the same millisecond
    same = int((T0 + 1.1) * 1000)
    in_order = fifo_facts(applied_ms={"a0": same, "a1": same})
    assert check(in_order, GROUP_ORDER).passed
    # WHEN a1's execution started first THEN the tie is broken against the order
    swapped = fifo_facts(["a1", "b0", "a0", "b1", "a2"], applied_ms={"a0": same, "a1": same})
    result = check(swapped, GROUP_ORDER)
    assert not result.passed and "group g0" in result.detail


def test_without_an_effects_table_the_completions_decide():
    facts = fifo_facts(["a1", "a0", "b0", "b1", "a2"], effect_items=(), effects_table=False)
    result = check(facts, GROUP_ORDER)
    assert not result.passed and "a0" in result.detail and "a1" in result.detail
    assert check(fifo_facts(effect_items=(), effects_table=False), GROUP_ORDER).passed


# -- deduplication -------------------------------------------------------------------------------


def test_a_resend_inside_the_window_is_meant_to_be_deduplicated_and_skipped_in_the_order():
    # GIVEN a0 resent with its deduplication id 1 s later, after a2: SQS delivers nothing for it
    facts = fifo_facts(extra_sends=(resend("a0", "g0", 3),))
    assert deduplicated(facts) == (len(facts.ledger) - 1,)
    verdict = judge(facts)
    assert verdict.passed, verdict.failed
    result = check(facts, DEDUPLICATED_ONCE)
    assert "1 sends meant to be deduplicated, for 1 id: each one SQS message received" in (
        result.detail
    )


def test_a_resend_delivered_again_fails_naming_the_id_and_its_two_messages():
    # GIVEN SQS delivered the resend as a second message: the idempotency records kept the
    # effect once, so only the deliveries show it
    facts = fifo_facts(extra_sends=(resend("a0", "g0", 3, sqs="sqs-a0-again"),))
    facts = replace(
        facts,
        events=(
            *facts.events,
            event("message.received", T0 + 3, message_id="a0", sqs_message_id="sqs-a0-again"),
        ),
    )
    result = check(facts, DEDUPLICATED_ONCE)
    assert not result.passed
    assert "a0 delivered 2 times (MessageIds sqs-a0, sqs-a0-again)" in result.detail


def test_a_resend_with_a_second_effect_fails():
    facts = fifo_facts(extra_sends=(resend("a0", "g0", 3),))
    facts = replace(
        facts, effect_items=(*facts.effect_items, {"message_id": "a0", "effect_id": "x2"})
    )
    result = check(facts, DEDUPLICATED_ONCE)
    assert not result.passed and "a0 has 2 effects" in result.detail


def test_a_resend_after_the_window_is_a_new_message():
    facts = fifo_facts(extra_sends=(resend("a0", "g0", 3, after_ms=6 * 60 * 1000),))
    assert deduplicated(facts) == ()
    assert "no send was meant to be deduplicated" in check(facts, DEDUPLICATED_ONCE).detail


def test_the_message_group_scope_deduplicates_within_a_group_only():
    # GIVEN a0's deduplication id sent again, in the other group
    facts = fifo_facts(extra_sends=(resend("a0", "g1", 2),))
    assert deduplicated(facts) != ()  # the queue scope: one window for the whole queue
    scoped = replace(facts, dedup_scope=DEDUP_SCOPE_MESSAGE_GROUP)
    assert deduplicated(scoped) == ()


# -- phenomena -------------------------------------------------------------------------------------


def test_a_kill_in_the_middle_of_a_group_that_resumed_shows_the_phenomenon():
    facts = fifo_facts(faults=(kill_record(_at(CLEAN, "a0") + 0.01, "c-0-1", "a0"),))
    result = GroupResumedAfterFault().check(facts)
    assert result.passed, result.detail
    assert "SIGKILL on a0 in g0: 2 later message(s) after" in result.detail


def test_no_fault_or_one_at_the_end_of_a_group_is_a_failed_demonstration():
    assert not GroupResumedAfterFault().check(fifo_facts()).passed
    at_end = fifo_facts(faults=(kill_record(_at(CLEAN, "a2") + 0.01, "c-0-1", "a2"),))
    result = GroupResumedAfterFault().check(at_end)
    assert not result.passed and "failed demonstration" in result.detail


def test_a_crash_event_counts_as_an_interruption():
    facts = fifo_facts()
    crash = event("consumer.crash", _at(CLEAN, "b0") + 0.06, message_id="b0", reason="after")
    facts = replace(facts, events=(*facts.events, crash))
    result = GroupResumedAfterFault().check(facts)
    assert result.passed and "crash on b0 in g1" in result.detail


def test_resends_deduplicated_needs_resends_and_one_delivery_each():
    assert not ResendsDeduplicated().check(fifo_facts()).passed
    facts = fifo_facts(extra_sends=(resend("a0", "g0", 3),))
    result = ResendsDeduplicated().check(facts)
    assert result.passed, result.detail
    # MiniStack answers a deduplicated send with its original's MessageId: the report says so
    assert "1 answered with their original's MessageId" in result.detail
    again = replace(
        facts,
        events=(
            *facts.events,
            event("message.received", T0 + 3, message_id="a0", sqs_message_id="sqs-other"),
        ),
    )
    result = ResendsDeduplicated().check(again)
    assert not result.passed and "a0" in result.detail


def poison_blocked(*, late: str | None = None, others_flow: bool = True) -> Facts:
    """g0: a0, POISON, a1, a2; g1: b0..b3. The poison is received 3 times from T0+1.5 to +3.5."""
    groups = {"g0": ["a0", "a1", "a2"], "g1": ["b0", "b1", "b2", "b3"]}
    body = "this is not json"
    order = ["a0", "b0", "b1", "b2", "b3", "a1", "a2"]
    if late:  # a message of the poisoned group that ran while the poison still held it
        order.remove(late)
        order.insert(2, late)
    facts = fifo_facts(order, groups)
    times = {m: T0 + 1 + i * 0.5 for i, m in enumerate(order)}
    if not others_flow:
        times.update({m: T0 + 0.5 + i * 0.01 for i, m in enumerate(["b0", "b1", "b2", "b3"])})
    events = [
        e
        if e.get("event") != "message.completed"
        else {**e, "ts": event("x", times[e["message_id"]] + 0.05)["ts"]}
        for e in facts.events
    ]
    ledger = [
        replace(e, seq_in_group=(e.seq_in_group or 0) + 1)
        if e.group == "g0" and (e.seq_in_group or 0) >= 1
        else e
        for e in facts.ledger
    ]
    ledger.append(
        Sent(id=None, message_id="sqs-p", sent_at_ms=int(T0 * 1000), group="g0", seq_in_group=1)
    )
    events += [
        event("message.received", T0 + 1.5 + r, message_id="body:x", sqs_message_id="sqs-p")
        for r in range(3)
    ]
    return replace(
        facts,
        ledger=tuple(ledger),
        events=tuple(events),
        dlq=(QueuedMessage("sqs-p", body, 3),),
        expected_poison=(message_key(body),),
        requested=len(ledger),
        max_receive_count=3,
    )


def test_a_poison_message_that_blocked_only_its_group_shows_the_phenomenon():
    facts = poison_blocked()
    result = GroupBlockedByPoison().check(facts)
    assert result.passed, result.detail
    assert "g0 blocked 2.0 s by poison sqs-p (received 3 times)" in result.detail
    assert "its 2 later messages completed after its last receive" in result.detail
    assert check(facts, GROUP_ORDER).passed


def test_a_message_behind_the_poison_that_completed_during_the_block_fails():
    result = GroupBlockedByPoison().check(poison_blocked(late="a1"))
    assert not result.passed
    assert "g0's a1 completed while the poison still held the group" in result.detail


def test_a_block_during_which_no_other_group_flowed_fails():
    result = GroupBlockedByPoison().check(poison_blocked(others_flow=False))
    assert not result.passed and "no other group completed a message" in result.detail


def test_no_poison_in_a_group_is_a_failed_demonstration():
    assert not GroupBlockedByPoison().check(fifo_facts()).passed
