"""Effects and executions: applied once per id, none missing, every second run explained.

Each check is fed facts broken one way at a time and must fail, naming the ids.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from scenarios.judging import executions as why
from scenarios.judging.executions import repeats
from scenarios.judging.expectations import EffectAppliedOnce, ExecutedAgain
from scenarios.judging.facts import ConsumerRun, Depth, QueuedMessage
from scenarios.judging.metrics import counts
from scenarios.judging.oracle import explained_by_slowness, judge
from tests.scenarios.factories import (
    T0,
    clean_facts,
    effect,
    event,
    execution,
    kill_record,
    with_events,
)

pytestmark = pytest.mark.unit

EFFECT_ONCE = "no side effect applied twice"
EFFECT_APPLIED = "every message's effect applied"
AVOIDABLE = "no avoidable second execution"


def check(facts, name: str):
    [found] = [c for c in judge(facts).checks if c.name == name]
    return found


# -- effects ---------------------------------------------------------------------------------------


def test_a_clean_run_counts_one_execution_and_one_effect_per_id():
    facts = clean_facts(4)
    c = counts(facts)
    assert (c.executions, c.effects, c.lost, c.unfinished) == (4, 4, 0, 0)
    assert check(facts, EFFECT_ONCE).passed and check(facts, EFFECT_APPLIED).passed


def test_an_effect_applied_twice_fails_naming_the_ids_and_counts():
    # GIVEN a naive handler: m1's effect was written once per execution
    facts = clean_facts(3)
    facts = replace(facts, effect_items=(*facts.effect_items, effect("m1", "x-second")))
    result = check(facts, EFFECT_ONCE)
    assert not result.passed
    assert "1 of 3 messages" in result.detail and "m1 x2" in result.detail
    assert "not idempotent under redelivery" in result.detail
    assert counts(facts).effects == 4


def test_a_missing_effect_fails_naming_the_id():
    facts = clean_facts(3)
    facts = replace(
        facts, effect_items=tuple(i for i in facts.effect_items if i["message_id"] != "m2")
    )
    result = check(facts, EFFECT_APPLIED)
    assert not result.passed and "(m2)" in result.detail


def test_an_effect_for_an_id_never_sent_fails():
    facts = clean_facts(1)
    facts = replace(facts, effect_items=(*facts.effect_items, effect("ghost")))
    assert "ids never sent (ghost)" in check(facts, EFFECT_APPLIED).detail


def test_without_an_effects_table_the_effect_checks_say_so():
    facts = clean_facts(2, effect_items=(), effects_table=False)
    for name in (EFFECT_ONCE, EFFECT_APPLIED):
        result = check(facts, name)
        assert result.passed and "no effects table" in result.detail


# -- second executions and their causes -----------------------------------------------------------


def twice(first: list[dict], second: list[dict], **overrides):
    """m0 executed by both event lists (clean facts otherwise)."""
    facts = clean_facts(2, visibility_timeout=2)
    events = [e for e in facts.events if e.get("message_id") != "m0"]
    return replace(facts, events=(*events, *first, *second), **overrides)


def cause_of(facts) -> why.Cause:
    [repeat] = repeats(facts)
    [cause] = repeat.causes
    return cause


def test_a_visibility_overrun_is_explained_and_allowed():
    # GIVEN a slow execution (5 s) and the same message received again 2 s later elsewhere
    facts = twice(
        execution("m0", T0 + 1, "slow", took=5.0, xid="a"),
        execution("m0", T0 + 3.01, "fast", xid="b", receive_count=2, attempt=2),
    )
    cause = cause_of(facts)
    assert cause.kind == why.VISIBILITY_OVERRUN and "still ran" in cause.detail
    assert check(facts, AVOIDABLE).passed
    assert counts(facts).executions == 3
    assert ExecutedAgain().check(facts).passed
    # AND its effect was applied once (the clean facts hold one effect for m0)
    assert EffectAppliedOnce().check(facts).passed


def test_prefetch_is_an_avoidable_second_execution():
    # GIVEN c-0-1 received m0, then started it 4 s later (visibility 2 s); c-1-2 ran it meanwhile
    late = execution("m0", T0 + 1, "c-0-1", xid="late")
    late[1] = {**late[1], "ts": event("x", T0 + 5)["ts"]}
    late[2] = {**late[2], "ts": event("x", T0 + 5.1)["ts"]}
    facts = twice(late, execution("m0", T0 + 3.05, "c-1-2", xid="early", receive_count=2))
    cause = cause_of(facts)
    assert cause.kind == why.PREFETCH and cause.avoidable
    result = check(facts, AVOIDABLE)
    assert not result.passed and "m0: prefetch" in result.detail


def test_releasing_a_running_message_is_an_avoidable_second_execution():
    first = execution("m0", T0 + 1, "c-0-1", took=3.0, xid="a")
    released = event("message.released", T0 + 1.5, "c-0-1", message_id="m0", reason="shutdown")
    facts = twice([*first, released], execution("m0", T0 + 1.6, "c-1-2", xid="b"))
    cause = cause_of(facts)
    assert cause.kind == why.RELEASE_DURING_DRAIN and "shutdown" in cause.detail
    assert not check(facts, AVOIDABLE).passed


def test_a_crash_after_the_work_is_explained():
    first = execution("m0", T0 + 1, "c-0-1", xid="a")
    crash = event(
        "consumer.crash", T0 + 1.1, "c-0-1", message_id="m0", execution_id="a", point="after_work"
    )
    facts = twice([*first, crash], execution("m0", T0 + 3.2, "c-0-2", xid="b", receive_count=2))
    assert cause_of(facts).kind == why.CRASH_AFTER_WORK
    assert check(facts, AVOIDABLE).passed


def test_a_takeover_after_a_kill_is_explained():
    first = execution("m0", T0 + 1, "c-0-1", took=2.0, outcome=None, xid="a")
    facts = twice(
        first,
        execution("m0", T0 + 3.2, "c-1-2", xid="b", receive_count=2),
        faults=(kill_record(T0 + 1.2, "c-0-1", "m0"),),
    )
    cause = cause_of(facts)
    assert cause.kind == why.TAKEOVER_AFTER_CRASH and "SIGKILL" in cause.detail


def test_a_takeover_after_an_abnormal_exit_is_explained():
    first = execution("m0", T0 + 1, "c-0-1", took=2.0, outcome=None, xid="a")
    runs = (ConsumerRun(0, "c-0-1", T0, T0 + 1.3, 3),)
    facts = twice(first, execution("m0", T0 + 3.2, "c-1-2", xid="b"), consumers=runs)
    assert "exited with code 3" in cause_of(facts).detail


def test_a_drain_deadline_and_a_handler_error_are_explained():
    first = execution("m0", T0 + 1, "c-0-1", took=9.0, outcome=None, xid="a")
    left = event("message.left_in_flight", T0 + 2, "c-0-1", message_id="m0", stage="running")
    facts = twice([*first, left], execution("m0", T0 + 3.2, "c-1-2", xid="b", receive_count=2))
    assert cause_of(facts).kind == why.DRAIN_DEADLINE
    failed = twice(
        execution("m0", T0 + 1, "c-0-1", outcome="error", xid="a"),
        execution("m0", T0 + 1.5, "c-0-1", xid="b", receive_count=2),
    )
    assert cause_of(failed).kind == why.HANDLER_ERROR


def test_a_failed_record_is_explained():
    # GIVEN the handler returned, then recording the completion failed (a 500 from the store)
    first = execution("m0", T0 + 1, "c-0-1", xid="a")
    failed = event("message.failed", T0 + 1.5, "c-0-1", message_id="m0", error="(500)\nhtml")
    facts = twice([*first, failed], execution("m0", T0 + 2, "c-0-1", xid="b", receive_count=2))
    cause = cause_of(facts)
    assert (
        cause.kind == why.RECORD_FAILED and "(500)" in cause.detail and "html" not in cause.detail
    )


def test_a_producer_duplicate_is_explained():
    facts = twice(
        execution("m0", T0 + 1, "c-0-1", xid="a", sqs="sqs-first"),
        execution("m0", T0 + 1.5, "c-1-2", xid="b", sqs="sqs-second"),
    )
    assert cause_of(facts).kind == why.PRODUCER_DUPLICATE


def test_without_the_evidence_the_cause_is_unknown_never_a_guess():
    # GIVEN two executions but no receive events at all (a consumer that logs only executions)
    runs = [
        e
        for e in (*execution("m0", T0 + 1, "a", xid="a"), *execution("m0", T0 + 4, "b", xid="b"))
        if e["event"] != "message.received"
    ]
    facts = twice(runs, [])
    cause = cause_of(facts)
    assert cause.kind == why.UNKNOWN and "no receive events" in cause.detail
    assert check(facts, AVOIDABLE).passed


def test_second_execution_phenomena_fail_when_nothing_ran_twice():
    assert not ExecutedAgain().check(clean_facts()).passed
    assert "nothing to show" in EffectAppliedOnce().check(clean_facts()).detail


def test_an_effect_applied_twice_fails_the_effect_phenomenon():
    facts = twice(
        execution("m0", T0 + 1, "slow", took=5.0, xid="a"),
        execution("m0", T0 + 3.01, "fast", xid="b", receive_count=2),
    )
    naive = replace(facts, effect_items=(*facts.effect_items, effect("m0", "b")))
    result = EffectAppliedOnce().check(naive)
    assert not result.passed and "m0 x2" in result.detail


# -- lost and unfinished ---------------------------------------------------------------------------


def unprocessed(facts, *mids: str):
    """``facts`` in which ``mids`` never ran: no effect, no record, no event."""
    gone = set(mids)
    return replace(
        facts,
        completed_items=tuple(i for i in facts.completed_items if i["message_id"] not in gone),
        status_items=tuple(i for i in facts.status_items if i["message_id"] not in gone),
        effect_items=tuple(i for i in facts.effect_items if i["message_id"] not in gone),
        events=tuple(e for e in facts.events if e.get("message_id") not in gone),
    )


def queued(*mids: str) -> tuple[QueuedMessage, ...]:
    return tuple(QueuedMessage(f"sqs-{m}", f'{{"id": "{m}"}}', 1) for m in mids)


def test_a_message_still_in_the_queue_is_unfinished_not_lost():
    # GIVEN the deadline passed with m1 and m2 still visible in the queue (read at the end)
    facts = unprocessed(clean_facts(4), "m1", "m2")
    facts = replace(facts, depth=Depth(2, 0), remaining=queued("m1", "m2"), timed_out=True)
    verdict = judge(facts)
    lost = check(facts, "no message lost")
    assert lost.passed and "2 still in the queue" in lost.detail
    unfinished = check(facts, "nothing left unfinished")
    assert not unfinished.passed and "m1, m2" in unfinished.detail
    # AND the checks that want a completion do not blame them twice
    for name in (
        EFFECT_APPLIED,
        "exactly one completed item per id",
        "status table says COMPLETED",
    ):
        assert check(facts, name).passed, name
    assert not verdict.passed
    assert (counts(facts).lost, counts(facts).unfinished) == (0, 2)


def test_hidden_messages_are_unfinished_when_they_can_explain_every_missing_id():
    facts = unprocessed(clean_facts(4), "m1", "m2")
    hidden = replace(facts, depth=Depth(0, 2), unread=2, timed_out=True)
    assert hidden.lost == frozenset() and hidden.unfinished == {"m1", "m2"}
    # but with one hidden message for two missing ids, at least one is lost
    short = replace(facts, depth=Depth(0, 1), unread=1)
    result = check(short, "no message lost")
    assert not result.passed and "at least 1 of these 2" in result.detail
    assert counts(short).lost == 1


def test_a_slow_run_fails_only_progress_checks_and_phenomena():
    facts = unprocessed(clean_facts(3), "m2")
    facts = replace(
        facts, depth=Depth(1, 0), remaining=queued("m2"), timed_out=True, too_slow="too slow: x"
    )
    failed = [c for c in judge(facts).checks if not c.passed]
    assert failed and all(explained_by_slowness(c) for c in failed)
    assert "too slow: x" in check(facts, "nothing left unfinished").detail
    # a doubled effect is never explained by slowness
    doubled = replace(facts, effect_items=(*facts.effect_items, effect("m0", "again")))
    assert not all(explained_by_slowness(c) for c in judge(doubled).checks if not c.passed)


def test_receives_are_matched_to_their_execution():
    # the clean facts' receive of m0 precedes its execution by 5 ms
    facts = clean_facts(1)
    [x] = facts.executions["m0"]
    assert x.outcome == "ok" and x.attempt == 1 and x.receive_count == 1
    assert with_events(facts).execution_count == 1
