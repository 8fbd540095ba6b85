"""Why a message's handler ran more than once, read from the consumers' events.

SQS delivers at least once, so a handler can run twice for one message. Some second runs come
with the territory (a visibility overrun, a takeover after a crash, a crash between the work and
its record, a drain deadline, a producer's duplicate, a failed handler or record); two the
consumer could have avoided:

- *prefetch*: a message received and started only after its visibility timeout ran out (it
  waited in the consumer, unheartbeated, while SQS handed it to someone else);
- *release during a drain*: a message made visible to others while its handler still ran.

Each execution after the first gets one :class:`Cause`, from the evidence around the execution
before it. Where the events do not show why, the cause is ``unknown``: never a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from consumer.contract import (
    EV_COMPLETED,
    EV_CONSUMER_CRASH,
    EV_FAILED,
    EV_HEARTBEAT_CEILING,
    EV_HEARTBEAT_FAILED,
    EV_LEFT_IN_FLIGHT,
    EV_RECEIVED,
    EV_RELEASED,
    EXIT_OK,
    OUTCOME_ERROR,
)
from scenarios.judging.facts import Execution, Facts, event_time

PRODUCER_DUPLICATE = "producer duplicate"
PREFETCH = "prefetch"
RELEASE_DURING_DRAIN = "release during a drain"
CRASH_AFTER_WORK = "crash after work"
TAKEOVER_AFTER_CRASH = "takeover after a crash"
DRAIN_DEADLINE = "drain deadline"
HANDLER_ERROR = "retry after a handler error"
RECORD_FAILED = "retry after a failed record"
VISIBILITY_OVERRUN = "visibility overrun"
UNKNOWN = "unknown"

#: causes a consumer can avoid: the oracle fails a run that shows one
AVOIDABLE = frozenset({PREFETCH, RELEASE_DURING_DRAIN})

#: the chaos crash point between the work and its record (consumer/chaos.py)
_AFTER_WORK = "after_work"
#: log stamps are millisecond-rounded
_EPS = 0.05


@dataclass(frozen=True)
class Cause:
    """Why one execution happened after another one of the same message."""

    kind: str
    detail: str

    @property
    def avoidable(self) -> bool:
        return self.kind in AVOIDABLE


@dataclass(frozen=True)
class Repeat:
    """A message whose handler ran ``executions`` times, and why each run after the first."""

    message_id: str
    executions: int
    causes: tuple[Cause, ...]

    @property
    def avoidable(self) -> tuple[Cause, ...]:
        return tuple(c for c in self.causes if c.avoidable)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.message_id,
            "executions": self.executions,
            "why": [c.kind for c in self.causes],
            "details": [c.detail for c in self.causes],
        }


def repeats(facts: Facts) -> tuple[Repeat, ...]:
    """Every message executed more than once, with the cause of each extra execution."""
    evidence = _Evidence(facts)
    out = []
    for mid, runs in sorted(facts.executions.items()):
        if len(runs) > 1:
            causes = tuple(evidence.cause(a, b) for a, b in pairwise(runs))
            out.append(Repeat(mid, len(runs), causes))
    return tuple(out)


class _Evidence:
    """The events around executions, indexed once."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self.vt = float(facts.visibility_timeout)
        self.receives: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
        self.by_consumer: dict[str, list[Mapping[str, Any]]] = {}
        for e in facts.events:
            who = str(e.get("consumer_id"))
            self.by_consumer.setdefault(who, []).append(e)
            if e.get("event") == EV_RECEIVED:
                self.receives.setdefault((who, str(e.get("message_id"))), []).append(e)
        self.completed: dict[str, float | None] = {
            str(e.get("execution_id")): event_time(e)
            for e in facts.of(EV_COMPLETED)
            if e.get("execution_id")
        }

    # -- lookups -----------------------------------------------------------------------------

    def received_at(self, x: Execution) -> float | None:
        """When the receive that led to ``x`` happened; None without that event."""
        if x.started_at is None:
            return None
        best: float | None = None
        for e in self.receives.get((x.consumer_id, x.message_id), []):
            ts = event_time(e)
            if ts is None or ts > x.started_at + _EPS:
                continue
            if x.sqs_message_id and e.get("sqs_message_id") not in (None, x.sqs_message_id):
                continue
            if x.receive_count is not None and e.get("receive_count") not in (
                None,
                x.receive_count,
            ):
                continue
            best = ts if best is None else max(best, ts)
        return best

    def mine(self, x: Execution, *names: str) -> list[Mapping[str, Any]]:
        """``x``'s consumer's events of these kinds about ``x``'s message."""
        return [
            e
            for e in self.by_consumer.get(x.consumer_id, [])
            if e.get("event") in names and str(e.get("message_id")) == x.message_id
        ]

    def death(self, x: Execution, before: float | None) -> str | None:
        """How ``x``'s consumer died after ``x`` started (and before ``before``), if it did."""
        start = x.started_at if x.started_at is not None else float("-inf")
        end = float("inf") if before is None else before + _EPS
        for e in self.by_consumer.get(x.consumer_id, []):
            ts = event_time(e)
            if e.get("event") == EV_CONSUMER_CRASH and ts is not None and start <= ts <= end:
                return f"crashed ({e.get('reason', '?')}, point {e.get('point', '?')})"
        for f in self.facts.faults:
            if (
                f.consumer_id == x.consumer_id
                and f.signal == "SIGKILL"
                and start - _EPS <= f.at <= end
            ):
                return "was killed (SIGKILL)"
        for run in self.facts.consumers:
            if run.consumer_id != x.consumer_id or run.exit_code in (None, EXIT_OK):
                continue
            if "SIGTERM" in run.signals:
                continue  # the engine's own stop, at the end of the phase
            if run.ended_at is not None and start <= run.ended_at <= end:
                return f"exited with code {run.exit_code}"
        return None

    # -- the cause: the first rule that the evidence supports ----------------------------------

    def cause(self, prev: Execution, cur: Execution) -> Cause:
        """Why ``cur`` ran after ``prev``, from the evidence around ``prev``."""
        rules = (
            self._producer_duplicate,
            self._prefetch,
            self._released_while_running,
            self._crash_after_work,
            self._takeover_after_crash,
            self._drain_deadline,
            self._handler_error,
            self._record_failed,
            self._overrun,
        )
        for rule in rules:
            found = rule(prev, cur)
            if found is not None:
                return found
        if self.received_at(prev) is None or self.received_at(cur) is None:
            return Cause(UNKNOWN, "no receive events to tell why")
        return Cause(UNKNOWN, "the events do not show why")

    def _producer_duplicate(self, prev: Execution, cur: Execution) -> Cause | None:
        a, b = prev.sqs_message_id, cur.sqs_message_id
        if not a or not b or a == b:
            return None
        sends = sum(1 for s in self.facts.ledger if s.id == cur.message_id)
        return Cause(
            PRODUCER_DUPLICATE,
            f"two SQS messages carry this id ({a[:8]}, {b[:8]}; the ledger sent it {sends} times)",
        )

    def _prefetch(self, prev: Execution, cur: Execution) -> Cause | None:
        for x in (prev, cur):
            got = self.received_at(x)
            if got is not None and x.started_at is not None and x.started_at - got > self.vt:
                return Cause(
                    PREFETCH,
                    f"{x.consumer_id} started it {x.started_at - got:.1f} s after receiving it, "
                    f"past its {self.vt:g} s visibility timeout: it waited in the consumer, "
                    "unheartbeated, while SQS handed it out again",
                )
        return None

    def _released_while_running(self, prev: Execution, cur: Execution) -> Cause | None:
        if prev.started_at is None:
            return None
        until = float("inf") if prev.finished_at is None else prev.finished_at + _EPS
        for e in self.mine(prev, EV_RELEASED):
            ts = event_time(e)
            if ts is not None and prev.started_at - _EPS <= ts <= until:
                return Cause(
                    RELEASE_DURING_DRAIN,
                    f"{prev.consumer_id} made it visible ({e.get('reason', '?')}) while its "
                    "handler still ran",
                )
        return None

    def _crash_after_work(self, prev: Execution, cur: Execution) -> Cause | None:
        for e in self.mine(prev, EV_CONSUMER_CRASH):
            if e.get("execution_id") == prev.execution_id and e.get("point") == _AFTER_WORK:
                return Cause(
                    CRASH_AFTER_WORK,
                    f"{prev.consumer_id} crashed after the handler's work, before recording it",
                )
        return None

    def _takeover_after_crash(self, prev: Execution, cur: Execution) -> Cause | None:
        if prev.execution_id in self.completed:
            return None
        again = self.received_at(cur)
        died = self.death(prev, again if again is not None else cur.started_at)
        if died is None:
            return None
        return Cause(
            TAKEOVER_AFTER_CRASH,
            f"{prev.consumer_id} {died} while it held the message; {cur.consumer_id} took it over",
        )

    def _drain_deadline(self, prev: Execution, cur: Execution) -> Cause | None:
        if not self.mine(prev, EV_LEFT_IN_FLIGHT):
            return None
        return Cause(
            DRAIN_DEADLINE,
            f"{prev.consumer_id}'s drain ended with the handler still running: left in flight, "
            "the message ran again once its visibility ran out",
        )

    def _handler_error(self, prev: Execution, cur: Execution) -> Cause | None:
        if prev.outcome != OUTCOME_ERROR:
            return None
        return Cause(HANDLER_ERROR, f"the handler failed on {prev.consumer_id}")

    def _record_failed(self, prev: Execution, cur: Execution) -> Cause | None:
        """The handler returned, but recording the completion failed: released, run again."""
        if prev.outcome is None or prev.finished_at is None:
            return None
        for e in self.mine(prev, EV_FAILED):
            ts = event_time(e)
            if ts is not None and ts >= prev.finished_at - _EPS:
                error = str(e.get("error", "?")).splitlines()[0][:120]
                return Cause(
                    RECORD_FAILED,
                    f"recording it failed on {prev.consumer_id} ({error}); it was released "
                    "and ran again",
                )
        return None

    def _overrun(self, prev: Execution, cur: Execution) -> Cause | None:
        first, again = self.received_at(prev), self.received_at(cur)
        if first is None or again is None or again - first < self.vt - _EPS:
            return None
        recorded = self.completed.get(prev.execution_id)
        if recorded is not None and recorded <= again:
            return None
        beat = self.mine(prev, EV_HEARTBEAT_FAILED, EV_HEARTBEAT_CEILING)
        note = f" ({beat[0].get('event')})" if beat else ""
        running = prev.finished_at is None or prev.finished_at > again
        return Cause(
            VISIBILITY_OVERRUN,
            f"received again {again - first:.1f} s after {prev.consumer_id} received it "
            f"(visibility timeout {self.vt:g} s) while that execution "
            f"{'still ran' if running else 'was not yet recorded'}{note}",
        )
