"""Each phenomenon check: shown when it happened, a failed demonstration when it did not."""

from __future__ import annotations

from dataclasses import replace

import pytest

from scenarios.judging.expectations import (
    BacklogPeaked,
    CrashedAndRestarted,
    DeadLetteredAfterMaxReceives,
    DrainedOnSigterm,
    FasterWith,
    IdempotencyHeld,
    KilledMessageRecovered,
    LateRecordRefused,
    NotRedelivered,
    Redelivered,
    Redriven,
    Restarted,
    SeenByTwoConsumers,
    WorkOverranVisibility,
)
from scenarios.judging.facts import ConsumerRun, FaultRecord
from tests.scenarios.factories import T0, clean_facts, event, kill_record, poison_facts, with_events

pytestmark = pytest.mark.unit


def redelivered(facts, mid="m0", consumer="c-1-2", t=T0 + 4):
    return with_events(
        facts,
        event("message.received", t, consumer=consumer, message_id=mid, receive_count=2),
    )


def test_redelivery_seen_and_not_seen():
    assert not Redelivered().check(clean_facts()).passed
    assert Redelivered().check(redelivered(clean_facts())).passed
    assert NotRedelivered().check(clean_facts()).passed
    assert not NotRedelivered().check(redelivered(clean_facts())).passed


def test_crashed_and_restarted_needs_both():
    facts = clean_facts()
    assert not CrashedAndRestarted().check(facts).passed
    crashed = with_events(facts, event("consumer.crash", T0 + 2, reason="crash_after_receive"))
    assert not CrashedAndRestarted().check(crashed).passed  # crashed but never replaced
    runs = (*facts.consumers, ConsumerRun(0, "c-0-9", T0 + 3, T0 + 5, 0))
    assert CrashedAndRestarted().check(replace(crashed, consumers=runs)).passed
    assert Restarted().check(replace(facts, consumers=runs)).passed
    assert not Restarted().check(facts).passed


def test_idempotency_and_two_consumers():
    facts = clean_facts()
    assert not IdempotencyHeld().check(facts).passed
    assert not SeenByTwoConsumers().check(facts).passed
    dup = with_events(
        redelivered(facts), event("message.duplicate", T0 + 5, message_id="m0", source="status")
    )
    assert IdempotencyHeld().check(dup).passed
    assert SeenByTwoConsumers().check(dup).passed


def test_a_refused_completion_is_not_a_stopped_execution():
    # GIVEN only refused completions: the late execution ran to the end, its record was refused
    late = with_events(
        redelivered(clean_facts()),
        event("message.fenced", T0 + 5, message_id="m0"),
        event("message.duplicate", T0 + 6, message_id="m1", source="completion"),
    )
    # THEN idempotency did not stop a second execution...
    check = IdempotencyHeld().check(late)
    assert not check.passed and "none" in check.detail
    # ... and what happened is shown as what it is
    refused = LateRecordRefused().check(late)
    assert refused.passed, refused.detail
    assert "fenced (message.fenced: a newer attempt held the lease) for m0" in refused.detail
    assert "found completed (message.duplicate, source completion) for m1" in refused.detail
    # AND a fencing during a heartbeat (the handler still running) is not a refused record
    beat = with_events(clean_facts(), event("message.fenced", T0 + 5, during="heartbeat"))
    assert not LateRecordRefused().check(beat).passed


def test_work_overran_visibility():
    facts = clean_facts(visibility_timeout=2)
    assert not WorkOverranVisibility().check(facts).passed
    slow = with_events(
        facts,
        event("message.received", T0 + 1, consumer="slow", message_id="m0"),
        event("message.duplicate", T0 + 4, consumer="slow", message_id="m0"),
    )
    assert WorkOverranVisibility().check(slow).passed


def test_dead_lettered_after_exactly_max_receives():
    assert DeadLetteredAfterMaxReceives().check(poison_facts(3)).passed
    check = DeadLetteredAfterMaxReceives().check(poison_facts(3, receives=2))
    assert not check.passed
    assert "not received exactly 3 times" in check.detail
    assert not DeadLetteredAfterMaxReceives().check(clean_facts()).passed  # no poison at all


def test_receives_after_the_redrive_do_not_count():
    facts = poison_facts(3)
    redrive = FaultRecord(kind="redrive", at=T0 + 10, data={"moved": 1}, detail="manual")
    later = event("message.received", T0 + 11, message_id="sqs-p", sqs_message_id="sqs-p")
    facts = replace(with_events(facts, later), faults=(redrive,))
    assert DeadLetteredAfterMaxReceives().check(facts).passed
    assert Redriven().check(facts).passed
    short = replace(facts, faults=(replace(redrive, data={"moved": 0}),))
    assert not Redriven().check(short).passed
    assert not Redriven().check(poison_facts()).passed


def test_killed_message_recovered():
    facts = clean_facts(2)
    kill = kill_record(T0 + 1.02, "c-0-1", "m0")
    # the killed message was received again by another consumer and completed once
    facts = replace(redelivered(facts, "m0", "c-1-2", T0 + 3), faults=(kill,))
    assert KilledMessageRecovered().check(facts).passed
    # never reappeared
    lonely = replace(clean_facts(2), faults=(kill,))
    assert "never reappeared" in KilledMessageRecovered().check(lonely).detail
    # killed while idle
    idle = replace(facts, faults=(kill_record(T0, "c-0-1"),))
    assert not KilledMessageRecovered().check(idle).passed
    assert not KilledMessageRecovered().check(clean_facts()).passed


def test_drained_on_sigterm():
    term = kill_record(T0 + 1.0, "c-0-1", "m1", signal="SIGTERM")
    facts = replace(clean_facts(2), faults=(term,))  # m1 completes at T0+1.15 by c-0-1, exit 0
    assert DrainedOnSigterm().check(facts).passed
    bad_exit = replace(facts, consumers=(ConsumerRun(0, "c-0-1", T0, T0 + 5, 1),))
    assert "exited with 1" in DrainedOnSigterm().check(bad_exit).detail
    abandoned = replace(facts, faults=(kill_record(T0 + 4, "c-0-1", "m1", signal="SIGTERM"),))
    assert "neither finished nor released" in DrainedOnSigterm().check(abandoned).detail
    # a handler still running at the deadline is left in flight: drained, never released
    left = with_events(
        abandoned, event("message.left_in_flight", T0 + 4.5, consumer="c-0-1", message_id="m1")
    )
    check = DrainedOnSigterm().check(left)
    assert check.passed, check.detail
    assert "1 left in flight" in check.detail


def test_backlog_peak():
    facts = clean_facts(3)
    assert BacklogPeaked(at_least=3).check(facts).passed
    assert not BacklogPeaked(at_least=4).check(facts).passed
    assert not BacklogPeaked(at_least=1).check(replace(facts, samples=())).passed


def test_faster_with():
    slow, fast = clean_facts(10, step=0.1), clean_facts(10, step=0.02)
    check = FasterWith(base="1", scaled="3", min_ratio=1.5).check({"1": slow, "3": fast})
    assert check.passed, check.detail
    same = FasterWith(base="1", scaled="3", min_ratio=1.5).check({"1": slow, "3": slow})
    assert not same.passed and "1.00x" in same.detail
    assert not FasterWith(base="1", scaled="3", min_ratio=1.5).check({"1": slow}).passed
