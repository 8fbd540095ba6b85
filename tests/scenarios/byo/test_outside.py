"""The oracle judging a consumer from outside: the pass-through's calls, the effects, exit codes.

Each check that judges a plugged-in consumer is fed a clean run first, then broken input it
must fail on; what only the kit's own worker shows is reported not observable, never passed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from scenarios.judging.expectations import (
    AIMED_KILL,
    DrainedOnSigterm,
    EffectAppliedOnce,
    ExecutedAgain,
    KilledBetweenEffectAndDelete,
    KilledMessageRecovered,
    LateRecordRefused,
    NotRedelivered,
    OverrunHandled,
    Redelivered,
    SeenByTwoConsumers,
    SurvivedPoison,
    WorkOverranVisibility,
)
from scenarios.judging.facts import Call, ConsumerRun, Depth, Facts, FaultRecord, Sent
from scenarios.judging.metrics import counts, latency, throughput
from scenarios.judging.oracle import EFFECT_APPLIED, EFFECT_ONCE, judge
from scenarios.running.scenario import unobservable_phenomena
from tests.scenarios.factories import T0, effect, event

pytestmark = pytest.mark.unit

A, B = "consumer-0-1", "consumer-1-2"


def receive(t: float, who: str, *ids: str, slot: int = 0, took: float = 0.01) -> Call:
    return Call(
        ts=t,
        slot=slot,
        operation="ReceiveMessage",
        status=200,
        sqs_ids=tuple(f"sqs-{i}" for i in ids),
        consumer_id=who,
        message_ids=ids,
        latency_s=took,
    )


def delete(t: float, who: str, mid: str, *, slot: int = 0, **kw: Any) -> Call:
    fields: dict[str, Any] = {"status": 200, **kw}
    return Call(
        ts=t,
        slot=slot,
        operation="DeleteMessage",
        sqs_ids=(f"sqs-{mid}",),
        consumer_id=who,
        message_ids=(mid,),
        **fields,
    )


def outside(n: int = 3, *calls: Call, **overrides: Any) -> Facts:
    """A consumer seen from outside received, applied and deleted ``n`` messages once each."""
    ids = [f"m{i}" for i in range(n)]
    flow: list[Call] = []
    for k, i in enumerate(ids):
        t = T0 + 1 + k * 0.1
        flow += [receive(t, A, i), delete(t + 0.05, A, i)]
    facts = Facts(
        ledger=tuple(Sent(id=i, message_id=f"sqs-{i}", sent_at_ms=int(T0 * 1000)) for i in ids),
        completed_items=(),
        status_items=(),
        effect_items=tuple(effect(i) for i in ids),
        dlq=(),
        depth=Depth(visible=0, in_flight=0),
        events=(),
        requested=n,
        consumers=(ConsumerRun(0, A, T0, T0 + 5, 0, ("SIGTERM",)),),
        visibility_timeout=2,
        started_at=T0,
        consumers_started_at=T0 + 0.5,
        ended_at=T0 + 5,
        consumer="command",
        passthrough=True,
        calls=tuple(sorted((*flow, *calls), key=lambda c: c.ts)),
    )
    return replace(facts, **overrides) if overrides else facts


def doubled(facts: Facts, mid: str) -> Facts:
    return replace(facts, effect_items=(*facts.effect_items, effect(mid, f"{mid}-again")))


def by_name(facts: Facts, name: str) -> Any:
    [found] = [c for c in judge(facts).checks if c.name == name]
    return found


# -- receives, as the pass-through saw them ------------------------------------------------------


def test_receives_come_from_the_pass_through_in_delivery_order() -> None:
    # GIVEN m0 delivered again to B; B's long poll began first but answered last
    again = receive(T0 + 0.5, B, "m0", slot=1, took=3.0)
    facts = outside(3, again)
    # THEN the consumer's own events are not counted twice, and m0's second delivery is B's
    facts = replace(facts, events=(event("message.received", T0 + 1, A, message_id="m0"),))
    assert facts.receive_source == "pass-through"
    assert [(r.message_id, r.consumer_id, r.receive_count) for r in facts.receives][-1] == (
        "m0",
        B,
        2,
    )
    assert facts.redeliveries == 1 and facts.redelivered_ids == {"m0"}
    assert facts.deleted_at["m0"] == pytest.approx(T0 + 1.05)


def test_without_a_pass_through_or_events_receives_are_not_observable() -> None:
    facts = outside(3, passthrough=False, calls=())
    assert facts.receive_source is None and facts.receives == ()
    for expectation in (Redelivered(), NotRedelivered(), SeenByTwoConsumers()):
        result = expectation.check(facts)
        assert not result.observable and result.detail.startswith("not observable: ")
    # a consumer that logs message.received (the contract's optional events) is judged by them
    logged = replace(
        facts, events=(event("message.received", T0, A, message_id="m0", receive_count=2),)
    )
    assert logged.receive_source == "events" and Redelivered().check(logged).passed


def test_redelivery_phenomena_are_judged_from_the_calls() -> None:
    clean = outside(3)
    assert NotRedelivered().check(clean).passed
    assert not Redelivered().check(clean).passed  # a failed demonstration
    again = outside(3, receive(T0 + 4, B, "m1", slot=1))
    result = NotRedelivered().check(again)
    assert not result.passed and "m1 reached your consumer again" in result.detail
    assert Redelivered().check(again).passed
    assert SeenByTwoConsumers().check(again).passed
    assert not SeenByTwoConsumers().check(clean).passed


# -- the oracle's core checks ---------------------------------------------------------------------


def test_a_clean_outside_run_passes_and_names_what_it_could_not_see() -> None:
    verdict = judge(outside(3))
    assert verdict.passed, [c for c in verdict.checks if not c.passed]
    unseen = {c.name for c in verdict.not_observable}
    assert unseen == {
        "exactly one completed item per id",
        "exactly one message.completed per id",
        "status table says COMPLETED",
        "no avoidable second execution",
    }
    assert all(c.to_dict()["observable"] is False for c in verdict.not_observable)
    assert "observable" not in by_name(outside(3), EFFECT_ONCE).to_dict()


def test_a_doubled_effect_reads_like_a_bug_report() -> None:
    result = by_name(doubled(outside(3), "m2"), EFFECT_ONCE)
    assert not result.passed
    assert result.detail.startswith("1 of 3 messages had their effect applied more than once")
    assert "(ids m2 x2)" in result.detail and "your consumer is not idempotent" in result.detail


def test_a_consumer_that_writes_no_effects_is_told_the_contract() -> None:
    result = by_name(outside(3, effect_items=()), EFFECT_APPLIED)
    assert not result.passed
    assert "nothing was written to EFFECTS_TABLE for any of 3 ids" in result.detail
    assert "docs/consumer-contract.md" in result.detail


# -- phenomena, seen from outside -----------------------------------------------------------------


def test_an_effect_applied_once_after_a_redelivery() -> None:
    again = outside(3, receive(T0 + 4, B, "m1", slot=1))
    assert EffectAppliedOnce().check(again).passed
    result = EffectAppliedOnce().check(doubled(again, "m1"))
    assert not result.passed and "m1 x2" in result.detail and "not idempotent" in result.detail
    assert not EffectAppliedOnce().check(outside(3)).passed  # nothing delivered twice
    # what only the kit's worker logs is not observable, never passed
    for expectation in (ExecutedAgain(), LateRecordRefused()):
        assert not expectation.check(again).observable


def aimed(at: float, who: str = A, *ids: str) -> FaultRecord:
    return FaultRecord(kind=AIMED_KILL, at=at, signal="SIGKILL", consumer_id=who, message_ids=ids)


def test_a_kill_between_the_effect_and_the_delete() -> None:
    # GIVEN A applied m1's effect; its delete was held and it was killed; B got m1 again
    held = delete(T0 + 1.2, A, "m1", status=None, fault="stall")
    facts = outside(3, held, receive(T0 + 4, B, "m1", slot=1), faults=(aimed(T0 + 1.3),))
    check = KilledBetweenEffectAndDelete().check
    ok = check(facts)
    assert ok.passed and "m1" in ok.detail
    # WHEN the redelivery applied the effect again THEN it is named as the bug
    bad = check(doubled(facts, "m1"))
    assert not bad.passed and "m1 was killed between its effect and its delete" in bad.detail
    assert "not idempotent under redelivery" in bad.detail
    # a kill whose message never came back, and no kill at all, fail too
    assert "was not delivered again" in check(outside(3, held, faults=(aimed(T0 + 1.3),))).detail
    assert not check(outside(3)).passed
    assert not check(outside(3, passthrough=False)).observable


def test_an_overrun_is_absorbed_by_a_heartbeat_or_by_idempotency() -> None:
    check = OverrunHandled().check
    assert "extended the visibility" in check(outside(3)).detail
    again = outside(3, receive(T0 + 4, B, "m1", slot=1))
    assert check(again).passed
    bad = check(doubled(again, "m1"))
    assert not bad.passed and "does not extend the visibility" in bad.detail


def test_work_overran_the_visibility_from_receive_to_delete() -> None:
    slow = outside(1, receive(T0 + 10, B, "late", slot=1), delete(T0 + 15, B, "late", slot=1))
    assert WorkOverranVisibility().check(slow).passed
    fast = WorkOverranVisibility().check(outside(3))
    assert not fast.passed and "ignores SLEEP_MIN_SECONDS" in fast.detail


def test_the_consumers_survived_the_poison_bodies() -> None:
    assert SurvivedPoison().check(outside(3)).passed
    died = outside(3, consumers=(ConsumerRun(0, A, T0, T0 + 2, 1, ()),))
    result = SurvivedPoison().check(died)
    assert not result.passed and f"{A} (exit 1)" in result.detail


def test_sigterm_drained_from_outside() -> None:
    term = FaultRecord(kind="signal", at=T0 + 1.02, signal="SIGTERM", consumer_id=A)
    finished = outside(3, faults=(replace(term, message_ids=("m0",)),))
    assert DrainedOnSigterm().check(finished).passed  # A deleted m0 after the signal
    held = replace(term, at=T0 + 3.1, message_ids=("m9",))
    m9 = Sent(id="m9", message_id="sqs-m9", sent_at_ms=int(T0 * 1000))
    left = outside(1, receive(T0 + 3, A, "m9"), receive(T0 + 6, B, "m9", slot=1), faults=(held,))
    left = replace(left, ledger=(*left.ledger, m9))
    assert "1 left in flight" in DrainedOnSigterm().check(left).detail
    lost = outside(1, receive(T0 + 3, A, "m9"), faults=(held,))
    lost = replace(lost, ledger=(*lost.ledger, m9))
    assert "m9 was neither finished nor handed back" in DrainedOnSigterm().check(lost).detail
    crashed = replace(finished, consumers=(ConsumerRun(0, A, T0, T0 + 2, 1, ("SIGTERM",)),))
    assert "exited with 1, expected 0" in DrainedOnSigterm().check(crashed).detail


def test_a_killed_consumers_message_came_back_and_its_effect_applied_once() -> None:
    kill = FaultRecord(kind="signal", at=T0 + 1.01, signal="SIGKILL", consumer_id=A)
    facts = outside(
        3, receive(T0 + 4, B, "m0", slot=1), faults=(replace(kill, message_ids=("m0",)),)
    )
    assert KilledMessageRecovered().check(facts).passed
    result = KilledMessageRecovered().check(doubled(facts, "m0"))
    assert not result.passed and "m0 had its effect applied 2 times" in result.detail


# -- the report's numbers, and a run with nothing to show -----------------------------------------


def test_counts_latency_and_throughput_come_from_effects_and_deletes() -> None:
    facts = outside(3)
    c = counts(facts)
    assert (c.completed, c.effects, c.executions, c.redeliveries) == (3, 3, 0, 0)
    assert latency(facts).samples == 3 and latency(facts).p50 == pytest.approx(1150, abs=1)
    # from the first message delivered (T0 + 1.01) to the last delete (T0 + 1.25)
    assert throughput(facts) == pytest.approx(3 / 0.24, rel=0.01)


def test_a_run_whose_every_phenomenon_is_unobservable_is_named() -> None:
    facts = outside(3, passthrough=False)
    checks = judge(replace(facts, expectations=(NotRedelivered(), SeenByTwoConsumers()))).checks
    assert unobservable_phenomena(checks) is not None
    some = judge(replace(outside(3), expectations=(NotRedelivered(),))).checks
    assert unobservable_phenomena(some) is None


def test_the_console_leads_with_the_verdict_and_marks_what_it_could_not_see() -> None:
    from rich.console import Console

    from scenarios.reporting import console

    report = {
        "scenario": "duplicates",
        "status": "failed",
        "consumer": '--consumer-cmd "python consumer.py"',
        "verdict": ["duplicates: 1 of 5 messages had their effect applied more than once"],
        "checks": [
            {
                "name": "kit records",
                "passed": True,
                "detail": "not observable: y",
                "observable": False,
            },
            {"name": "effects once", "passed": False, "detail": "1 of 5 messages ..."},
        ],
    }
    out = Console(record=True, width=200)
    for part in console.render(report):
        out.print(part)
    text = out.export_text()
    lines = text.splitlines()
    assert lines[1].strip() == 'consumer: --consumer-cmd "python consumer.py"'
    assert lines[2].strip().startswith("duplicates: 1 of 5 messages had their effect")
    assert "?   kit records" in text and "✗   effects once" in text
