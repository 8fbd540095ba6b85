"""Synthetic facts for oracle and report tests: a clean run, then one thing broken at a time."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from scenarios.judging.facts import (
    ConsumerRun,
    DeadLetter,
    Depth,
    Facts,
    FaultRecord,
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


def clean_facts(n: int = 3, step: float = 0.1, **overrides: Any) -> Facts:
    """n messages sent, each received once, completed once, deleted; nothing left anywhere."""
    ids = [f"m{i}" for i in range(n)]
    ledger = tuple(Sent(id=i, message_id=f"sqs-{i}", sent_at_ms=int(T0 * 1000)) for i in ids)
    events: list[dict[str, Any]] = [event("consumer.started", T0)]
    for k, i in enumerate(ids):
        t = T0 + 1 + k * step
        events.append(
            event("message.received", t, message_id=i, sqs_message_id=f"sqs-{i}", receive_count=1)
        )
        events.append(
            event(
                "message.completed",
                t + 0.05,
                message_id=i,
                completed_at=int((t + 0.05) * 1000),
                sent_at=int(T0 * 1000),
            )
        )
    events.append(event("consumer.stopped", T0 + 5))
    facts = Facts(
        ledger=ledger,
        completed_items=tuple({"message_id": i, "owner": "c-0-1", "attempts": 1} for i in ids),
        status_items=tuple({"message_id": i, "status": "COMPLETED", "attempts": 1} for i in ids),
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
        dlq=(DeadLetter("sqs-p", body, got),),
        expected_poison=(message_key(body),),
        max_receive_count=max_receive_count,
    )


def kill_record(t: float, consumer: str, *ids: str, signal: str = "SIGKILL") -> FaultRecord:
    return FaultRecord(kind="signal", at=t, signal=signal, consumer_id=consumer, message_ids=ids)
