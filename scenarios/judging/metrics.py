"""Numbers for the report, computed from the same facts the oracle judges."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from consumer.contract import (
    EV_COMPLETED,
    EV_CONSUMER_CRASH,
    EV_CONSUMER_STOPPED,
    EV_DUPLICATE,
    EXIT_OK,
    EXIT_SIGTERM_CONTAINER,
    EXIT_SIGTERM_PROCESS,
)
from scenarios.judging.facts import Facts, as_int


@dataclass(frozen=True)
class Counts:
    """The report's ``counts`` block (stable schema)."""

    sent: int = 0
    completed: int = 0
    #: handler executions (``handler.started``), every id included
    executions: int = 0
    #: applied side effects (items of the effects table)
    effects: int = 0
    duplicates: int = 0
    redeliveries: int = 0
    dlq: int = 0
    lost: int = 0
    #: valid ids still in the queue when the phase ended
    unfinished: int = 0
    crashes: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(**{k: v + getattr(other, k) for k, v in asdict(self).items()})

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class Latency:
    """Sent-to-completed latency percentiles in milliseconds (None when nothing completed)."""

    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    samples: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def counts(facts: Facts) -> Counts:
    """Sent, completed, executions, effects, duplicates suppressed, redeliveries, dead letters,
    lost, unfinished, crashes."""
    # Seen from outside, "done" is an applied effect: such a consumer keeps no kit records.
    done = (
        facts.done_ids if facts.external else {i for i in facts.valid_ids if facts.completed_ids[i]}
    )
    return Counts(
        sent=len(facts.ledger),
        completed=len(done),
        executions=facts.execution_count,
        effects=sum(facts.effects.values()),
        duplicates=len(facts.of(EV_DUPLICATE)),
        redeliveries=facts.redeliveries,
        dlq=len(facts.dlq),
        lost=facts.lost_count,
        unfinished=len(facts.unfinished),
        crashes=crashes(facts),
    )


_SIGTERM_EXITS = frozenset({EXIT_SIGTERM_PROCESS, EXIT_SIGTERM_CONTAINER})


def crashes(facts: Facts) -> int:
    """Consumers that died abnormally: a non-zero exit (chaos crash, SIGKILL) or a crash event.

    A consumer that had already logged ``consumer.stopped`` and was caught by the engine's own
    SIGTERM while the interpreter shut down is not a crash.
    """
    stopped = {str(e.get("consumer_id")) for e in facts.of(EV_CONSUMER_STOPPED)}
    abnormal = sum(
        1
        for c in facts.consumers
        if c.exit_code not in (None, EXIT_OK)
        and not (
            c.exit_code in _SIGTERM_EXITS and "SIGTERM" in c.signals and c.consumer_id in stopped
        )
    )
    return max(abnormal, len(facts.of(EV_CONSUMER_CRASH)))


def latency_samples_ms(facts: Facts) -> list[float]:
    """``completed_at - sent_at`` for every completion event (ledger ``sent_at`` as fallback).

    Seen from outside: from the ledger's ``sent_at`` to the consumer's first delete of the
    message (the pass-through).
    """
    sent_at = {e.id: e.sent_at_ms for e in facts.ledger if e.id is not None}
    if facts.external:
        return [
            float(max(0.0, t * 1000 - sent_at[m]))
            for m, t in facts.deleted_at.items()
            if m in sent_at and m in facts.valid_ids
        ]
    out = []
    for event in facts.of(EV_COMPLETED):
        done = as_int(event.get("completed_at"), -1)
        start = as_int(event.get("sent_at"), -1)
        if start < 0:
            start = sent_at.get(str(event.get("message_id")), -1)
        if done >= 0 and start >= 0:
            out.append(float(max(0, done - start)))
    return out


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def latency(facts: Facts | Sequence[Facts]) -> Latency:
    many = [facts] if isinstance(facts, Facts) else list(facts)
    values = [v for f in many for v in latency_samples_ms(f)]
    return Latency(
        p50=percentile(values, 50),
        p95=percentile(values, 95),
        p99=percentile(values, 99),
        samples=len(values),
    )


def completion_times(facts: Facts) -> list[float]:
    """Epoch seconds of every completion, in order (seen from outside: every first delete)."""
    if facts.external:
        return sorted(t for m, t in facts.deleted_at.items() if m in facts.valid_ids)
    return sorted(
        as_int(e.get("completed_at")) / 1000.0
        for e in facts.of(EV_COMPLETED)
        if e.get("completed_at") is not None
    )


def throughput(facts: Facts) -> float | None:
    """Messages completed per second, from the first receive to the last completion.

    Measured from the first ``message.received`` (not the process start) so that interpreter
    start-up, which is not what scaling out changes, does not dilute the number.
    """
    times = completion_times(facts)
    received = [r.ts for r in facts.receives if r.ts is not None]
    start = min(received) if received else facts.consumers_started_at
    if not times or start is None:
        return None
    span = times[-1] - start
    return len(times) / span if span > 0 else None
