"""The running phase seen through the pass-through: who holds what, who is up, who is done."""

from __future__ import annotations

from typing import Any, cast

import pytest

from core.stack import StackHandle
from scenarios.judging.facts import Call, Sent
from scenarios.model import ConsumerSettings, RestartPolicy
from scenarios.runners.base import ConsumerHandle, Incarnation
from scenarios.running.live import LiveRun

pytestmark = pytest.mark.unit

T0 = 1_800_000_000.0


class Recorded:
    """A target whose pass-through recorded ``calls`` (slot by slot, in recording order)."""

    passthrough = None

    def __init__(self) -> None:
        self.calls: list[Call] = []

    def client(self, service: str) -> Any:
        return None

    def consumer_events(self) -> list[dict[str, Any]]:
        return [{"event": "message.received", "consumer_id": "x", "message_id": "ignored"}]

    def observed_calls(self) -> list[Call] | None:
        return list(self.calls)


def call(t: float, slot: int, op: str, *sqs_ids: str, took: float = 0.0, status: int = 200):
    return Call(ts=t, slot=slot, operation=op, status=status, sqs_ids=sqs_ids, latency_s=took)


def slot(n: int, *starts: float) -> ConsumerHandle:
    handle = ConsumerHandle(slot=n, settings=ConsumerSettings(), restart=RestartPolicy.ON_FAILURE)
    for k, t in enumerate(starts):
        handle.incarnations.append(Incarnation(f"consumer-{n}-{k}", "pid", t))
    return handle


@pytest.fixture
def live() -> tuple[LiveRun, Recorded]:
    target = Recorded()
    stack = cast(StackHandle, None)
    run = LiveRun(cast(Any, target), stack, {}, consumer="command")
    run.know((Sent("m1", "s1", 0), Sent("m2", "s2", 0)))
    run.handles = [slot(0, T0, T0 + 5), slot(1, T0)]
    return run, target


def test_holds_deletes_and_incarnations_come_from_the_calls(live) -> None:
    run, target = live
    # GIVEN slot 0's first incarnation received m1 and deleted it, then died; its replacement
    # (from T0 + 5) received m2; slot 1 received an unknown message
    target.calls = [
        call(T0 + 1, 0, "ReceiveMessage", "s1", took=0.5),
        call(T0 + 2, 0, "DeleteMessage", "s1"),
        call(T0 + 6, 0, "ReceiveMessage", "s2"),
        call(T0 + 1, 1, "ReceiveMessage", "p9"),
    ]
    run.refresh()
    assert run.external and run.passthrough
    a, a2, b = "consumer-0-0", "consumer-0-1", "consumer-1-0"
    assert [c.consumer_id for c in run.calls] == [a, a, a2, b]
    assert run.calls[0].message_ids == ("m1",) and run.calls[3].message_ids == ("",)
    # THEN slot 0's current consumer holds m2, slot 1's an id the ledger does not know
    assert run.in_flight(run.handles[0]) == ["m2"]
    assert run.in_flight(run.handles[1]) == ["sqs:p9"]
    assert run.completed == {"m1"} and run.received == 3
    # AND a consumer is up from its first call (a long poll's message arrives at its end)
    assert run.first_event == {a: T0 + 1, a2: T0 + 6, b: T0 + 1}
    assert run.events[0]["message_id"] == "ignored"  # kept, but not indexed: calls decide


def test_a_call_recorded_late_is_still_indexed_once(live) -> None:
    run, target = live
    target.calls = [call(T0 + 3, 1, "ReceiveMessage", "s2")]
    run.refresh()
    # a long poll of the same slot that began earlier is recorded only when it answers
    target.calls = [*target.calls, call(T0 + 1, 1, "ReceiveMessage", "s1", took=2.5)]
    run.refresh()
    run.refresh()
    assert run.received == 2 and len(run.calls) == 2
    assert sorted(run.in_flight(run.handles[1])) == ["m1", "m2"]


def test_the_kits_own_consumer_is_indexed_from_its_events() -> None:
    target = Recorded()
    run = LiveRun(cast(Any, target), cast(StackHandle, None), {}, consumer="kit")
    run.refresh()
    assert not run.external and run.received == 1 and run.calls == []
