"""Synthetic facts for oracle and report tests: a clean run, then one thing broken at a time."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from scenarios.judging.facts import (
    ConsumerRun,
    Depth,
    Facts,
    FaultRecord,
    QueuedMessage,
    Sample,
    Sent,
    message_key,
)

T0 = 1_800_000_000.0  # epoch seconds, a fixed point in time


def iso(t: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event(kind: str, t: float, consumer: str = "c-0-1", **fields: Any) -> dict[str, Any]:
    return {"ts": iso(t), "level": "INFO", "event": kind, "consumer_id": consumer, **fields}


def execution(
    mid: str,
    t: float,
    consumer: str = "c-0-1",
    *,
    xid: str | None = None,
    took: float = 0.02,
    outcome: str | None = "ok",
    receive_count: int = 1,
    sqs: str | None = None,
    attempt: int = 1,
) -> list[dict[str, Any]]:
    """One handler execution of ``mid`` received at ``t``: receive, started, finished events."""
    xid = xid or f"x-{mid}-{consumer}-{receive_count}"
    common = {
        "message_id": mid,
        "sqs_message_id": sqs or f"sqs-{mid}",
        "receive_count": receive_count,
    }
    out = [
        event("message.received", t, consumer, **common),
        event("handler.started", t + 0.005, consumer, execution_id=xid, attempt=attempt, **common),
    ]
    if outcome is not None:
        out.append(
            event(
                "handler.finished",
                t + 0.005 + took,
                consumer,
                execution_id=xid,
                attempt=attempt,
                outcome=outcome,
                **common,
            )
        )
    return out


def effect(mid: str, effect_id: str | None = None, consumer: str = "c-0-1") -> dict[str, Any]:
    """One item of the effects table."""
    return {"message_id": mid, "effect_id": effect_id or mid, "consumer_id": consumer}


def clean_facts(n: int = 3, step: float = 0.1, **overrides: Any) -> Facts:
    """n messages sent, each executed once, its effect applied once, completed once, deleted."""
    ids = [f"m{i}" for i in range(n)]
    ledger = tuple(Sent(id=i, message_id=f"sqs-{i}", sent_at_ms=int(T0 * 1000)) for i in ids)
    events: list[dict[str, Any]] = [event("consumer.started", T0)]
    for k, i in enumerate(ids):
        t = T0 + 1 + k * step
        events += execution(i, t, xid=f"x-{i}")
        events.append(
            event(
                "message.completed",
                t + 0.05,
                message_id=i,
                execution_id=f"x-{i}",
                completed_at=int((t + 0.05) * 1000),
                sent_at=int(T0 * 1000),
            )
        )
    events.append(event("consumer.stopped", T0 + 5))
    facts = Facts(
        ledger=ledger,
        completed_items=tuple({"message_id": i, "owner": "c-0-1", "attempts": 1} for i in ids),
        status_items=tuple({"message_id": i, "status": "COMPLETED", "attempts": 1} for i in ids),
        effect_items=tuple(effect(i) for i in ids),
        dlq=(),
        depth=Depth(visible=0, in_flight=0),
        events=tuple(events),
        requested=n,
        consumers=(ConsumerRun(0, "c-0-1", T0, T0 + 5, 0, ("SIGTERM",)),),
        samples=(Sample(T0 + 0.5, n, 0, 0), Sample(T0 + 1.1, 1, 1, 0), Sample(T0 + 2, 0, 0, 0)),
        started_at=T0,
        consumers_started_at=T0 + 0.5,
        ended_at=T0 + 5,
    )
    return replace(facts, **overrides) if overrides else facts


def with_events(facts: Facts, *extra: dict[str, Any]) -> Facts:
    return replace(facts, events=(*facts.events, *extra))


def poison_facts(max_receive_count: int = 3, receives: int | None = None) -> Facts:
    """One valid message plus one poison body that dead-lettered after ``receives`` receives."""
    body = "this is not json"
    base = clean_facts(1)
    ledger = (*base.ledger, Sent(id=None, message_id="sqs-p", sent_at_ms=int(T0 * 1000)))
    got = max_receive_count if receives is None else receives
    events = [
        event(
            "message.received",
            T0 + 1 + r,
            message_id="sqs-p",
            sqs_message_id="sqs-p",
            receive_count=r + 1,
        )
        for r in range(got)
    ]
    return replace(
        base,
        ledger=ledger,
        requested=2,
        events=(*base.events, *events),
        dlq=(QueuedMessage("sqs-p", body, got),),
        expected_poison=(message_key(body),),
        max_receive_count=max_receive_count,
    )


def kill_record(t: float, consumer: str, *ids: str, signal: str = "SIGKILL") -> FaultRecord:
    return FaultRecord(kind="signal", at=t, signal=signal, consumer_id=consumer, message_ids=ids)
