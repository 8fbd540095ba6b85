"""The oracle: a pure function from the facts of one run to a verdict.

It knows nothing about targets, emulators or processes. Its inputs are what can be observed
after a run - the producer's ledger, the two DynamoDB tables, the DLQ, the queue depth and the
consumers' JSON events - plus what the scenario expected (the poison set and the phenomenon it
exists to show). Every check returns ``{name, passed, detail}``; the verdict passes only when
all of them do.

Identity: a message with a JSON-object body carrying ``id`` is known by that id (the consumer's
``message_id``). Anything else - the poison corpus - is known by a hash of its body, because a
manual redrive gives a dead letter a new SQS MessageId but never a new body.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Protocol

# Consumer event names (docs/ARCHITECTURE.md), named once.
EV_STARTED = "consumer.started"
EV_RECEIVED = "message.received"
EV_COMPLETED = "message.completed"
EV_DUPLICATE = "message.duplicate"
EV_ELSEWHERE = "message.in_progress_elsewhere"
EV_POISON = "message.poison"
EV_FAILED = "message.failed"
EV_RELEASED = "message.released"
EV_CRASH = "consumer.crash"
EV_STOPPED = "consumer.stopped"

STATUS_COMPLETED = "COMPLETED"
_MAX_LISTED = 5


# -- identity ----------------------------------------------------------------------------------


def body_key(body: str) -> str:
    """The identity of a body that carries no id: a short hash of its bytes."""
    digest = hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"body:{digest}"


def message_key(body: str) -> str:
    """A message's identity: its payload ``id`` when the body is a JSON object with one."""
    try:
        payload = json.loads(body)
    except ValueError:
        return body_key(body)
    if isinstance(payload, dict):
        ident = payload.get("id")
        # The consumer's rule (consumer/message.py): a string or number id, not blank.
        scalar = isinstance(ident, str | int | float) and not isinstance(ident, bool)
        if scalar and str(ident).strip():
            return str(ident)
    return body_key(body)


def event_time(event: Mapping[str, Any]) -> float | None:
    """An event's ``ts`` (ISO-8601) as epoch seconds, or None when absent or unparsable."""
    raw = event.get("ts")
    if not isinstance(raw, str):
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


# -- facts ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One ledger line: the payload id (None for id-less bodies), SQS MessageId, send time."""

    id: str | None
    message_id: str
    sent_at_ms: int


@dataclass(frozen=True)
class DeadLetter:
    """One message found in the DLQ."""

    message_id: str
    body: str
    receive_count: int | None = None

    @property
    def key(self) -> str:
        return message_key(self.body)


@dataclass(frozen=True)
class Depth:
    """Queue depth at the end of the run."""

    visible: int
    in_flight: int
    delayed: int = 0

    @property
    def total(self) -> int:
        return self.visible + self.in_flight + self.delayed


@dataclass(frozen=True)
class Sample:
    """One queue-depth sample taken during the run (epoch seconds)."""

    t: float
    visible: int
    in_flight: int
    dlq: int


@dataclass(frozen=True)
class ConsumerRun:
    """One consumer incarnation: a process, container or task."""

    slot: int
    consumer_id: str
    started_at: float
    ended_at: float | None
    exit_code: int | None
    signals: tuple[str, ...] = ()


@dataclass(frozen=True)
class FaultRecord:
    """Something the engine did to the system under test, and when."""

    kind: str  # "signal", "redrive", ...
    at: float
    detail: str = ""
    consumer_id: str | None = None
    signal: str | None = None
    #: messages the consumer was processing when the fault hit (for signals)
    message_ids: tuple[str, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    """One line of a verdict."""

    name: str
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


class Expectation(Protocol):
    """A phenomenon the scenario exists to show, checked against the facts."""

    @property
    def name(self) -> str: ...

    def check(self, facts: Facts) -> Check: ...


@dataclass(frozen=True)
class Facts:
    """Everything observed about one run (one phase of a scenario)."""

    ledger: tuple[Sent, ...]
    completed_items: tuple[Mapping[str, Any], ...]
    status_items: tuple[Mapping[str, Any], ...]
    dlq: tuple[DeadLetter, ...]
    depth: Depth
    events: tuple[Mapping[str, Any], ...]
    #: keys (see ``message_key``) of the messages that must end in the DLQ
    expected_poison: tuple[str, ...] = ()
    expectations: tuple[Expectation, ...] = ()
    #: how many messages the scenario asked the producer to send (None: not checked)
    requested: int | None = None
    consumers: tuple[ConsumerRun, ...] = ()
    faults: tuple[FaultRecord, ...] = ()
    samples: tuple[Sample, ...] = ()
    max_receive_count: int = 5
    visibility_timeout: int = 30
    #: when the traffic started: after provisioning, so a slow apply is not settle time
    started_at: float = 0.0
    consumers_started_at: float | None = None
    #: when the engine saw the end state (or gave up); None: use ``ended_at``
    settled_at: float | None = None
    ended_at: float = 0.0
    #: the run hit its deadline before the system settled
    timed_out: bool = False
    #: whether the stack has a status table the consumer writes to
    status_table: bool = True

    # -- derived views (computed once) -------------------------------------------------------

    @cached_property
    def poison_keys(self) -> frozenset[str]:
        return frozenset(self.expected_poison)

    @cached_property
    def valid_ids(self) -> frozenset[str]:
        """Ids the producer sent that must be completed exactly once."""
        return frozenset(
            e.id for e in self.ledger if e.id is not None and e.id not in self.poison_keys
        )

    def of(self, *names: str) -> list[Mapping[str, Any]]:
        """Events with one of the given names, in log order."""
        return [e for e in self.events if e.get("event") in names]

    @cached_property
    def completions(self) -> Counter[str]:
        return Counter(str(e.get("message_id")) for e in self.of(EV_COMPLETED))

    @cached_property
    def completed_ids(self) -> Counter[str]:
        return Counter(str(item.get("message_id")) for item in self.completed_items)

    @cached_property
    def redeliveries(self) -> int:
        """Receives of a message that had been received before (receive_count > 1)."""
        return sum(1 for e in self.of(EV_RECEIVED) if _int(e.get("receive_count")) > 1)

    @cached_property
    def lost(self) -> frozenset[str]:
        return frozenset(i for i in self.valid_ids if self.completed_ids[i] == 0)


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _listed(items: Iterable[str]) -> str:
    values = sorted(items)
    shown = ", ".join(values[:_MAX_LISTED])
    more = len(values) - _MAX_LISTED
    return shown + (f" (+{more} more)" if more > 0 else "")


# -- the checks ----------------------------------------------------------------------------------


def check_accepted(facts: Facts) -> Check:
    """The producer's ledger lists every message the scenario asked for."""
    got = len(facts.ledger)
    if facts.requested is None:
        return Check("producer accepted every message", True, f"{got} sent (no target count)")
    ok = got == facts.requested
    return Check(
        "producer accepted every message",
        ok,
        f"{got} of {facts.requested} in the ledger"
        + ("" if ok else f"; {facts.requested - got} never reached the queue"),
    )


def check_lost(facts: Facts) -> Check:
    """Every valid id the producer sent has a completed item: lost = 0."""
    lost = facts.lost
    if not lost:
        return Check("no message lost", True, f"all {len(facts.valid_ids)} valid ids completed")
    in_dlq = lost & {d.key for d in facts.dlq}
    detail = f"{len(lost)} of {len(facts.valid_ids)} valid ids never completed: {_listed(lost)}"
    if in_dlq:
        detail += f"; {len(in_dlq)} of them are in the DLQ"
    return Check("no message lost", False, detail)


def check_completed_items(facts: Facts) -> Check:
    """The completed table holds exactly one item per valid id, and nothing else."""
    counts = facts.completed_ids
    missing = [i for i in facts.valid_ids if counts[i] == 0]
    doubled = [i for i, n in counts.items() if n > 1]
    unknown = [i for i in counts if i not in facts.valid_ids]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing ({_listed(missing)})")
    if doubled:
        problems.append(f"{len(doubled)} with several items ({_listed(doubled)})")
    if unknown:
        problems.append(f"{len(unknown)} items for ids never sent ({_listed(unknown)})")
    if problems:
        return Check("exactly one completed item per id", False, "; ".join(problems))
    return Check(
        "exactly one completed item per id", True, f"{len(facts.valid_ids)} items, one per id"
    )


def check_completed_events(facts: Facts) -> Check:
    """Exactly one ``message.completed`` event per valid id: no double processing."""
    counts = facts.completions
    missing = [i for i in facts.valid_ids if counts[i] == 0]
    doubled = {i: n for i, n in counts.items() if n > 1}
    unknown = [i for i in counts if i not in facts.valid_ids]
    problems = []
    if doubled:
        worst = ", ".join(f"{i} x{n}" for i, n in sorted(doubled.items())[:_MAX_LISTED])
        problems.append(f"{len(doubled)} ids completed more than once ({worst})")
    if missing:
        problems.append(f"{len(missing)} ids never logged as completed ({_listed(missing)})")
    if unknown:
        problems.append(f"{len(unknown)} completions of ids never sent ({_listed(unknown)})")
    if problems:
        return Check("exactly one message.completed per id", False, "; ".join(problems))
    return Check(
        "exactly one message.completed per id",
        True,
        f"{sum(counts.values())} completion events for {len(facts.valid_ids)} ids",
    )


def check_status(facts: Facts) -> Check:
    """The status table marks every valid id COMPLETED (no STARTED record left behind)."""
    if not facts.status_table:
        return Check("status table says COMPLETED", True, "no status table on this stack")
    status = {str(i.get("message_id")): str(i.get("status")) for i in facts.status_items}
    wrong = {i: status.get(i, "absent") for i in facts.valid_ids if status.get(i) != "COMPLETED"}
    if wrong:
        shown = ", ".join(f"{i}={s}" for i, s in sorted(wrong.items())[:_MAX_LISTED])
        return Check(
            "status table says COMPLETED", False, f"{len(wrong)} ids not COMPLETED: {shown}"
        )
    return Check("status table says COMPLETED", True, f"{len(facts.valid_ids)} ids COMPLETED")


def check_dlq(facts: Facts) -> Check:
    """The DLQ holds exactly the expected poison set: no valid message, no missing poison."""
    found = Counter(d.key for d in facts.dlq)
    expected = Counter(facts.expected_poison)
    if found == expected:
        detail = f"{sum(found.values())} dead letters, all expected poison"
        return Check("DLQ holds exactly the poison set", True, detail)
    extra = found - expected
    missing = expected - found
    problems = []
    valid_in_dlq = [k for k in extra if k in facts.valid_ids]
    if valid_in_dlq:
        problems.append(
            f"{len(valid_in_dlq)} valid messages dead-lettered ({_listed(valid_in_dlq)})"
        )
    other = [k for k in extra if k not in facts.valid_ids]
    if other:
        problems.append(f"{sum(extra[k] for k in other)} unexpected dead letters")
    if missing:
        problems.append(f"{sum(missing.values())} expected poison messages not in the DLQ")
    return Check("DLQ holds exactly the poison set", False, "; ".join(problems))


def check_queue_empty(facts: Facts) -> Check:
    """Nothing is left in the queue, visible or in flight."""
    d = facts.depth
    ok = d.total == 0
    detail = f"visible={d.visible} in_flight={d.in_flight}" + (
        f" delayed={d.delayed}" if d.delayed else ""
    )
    return Check("queue ends empty", ok, detail)


def check_settled(facts: Facts) -> Check:
    """The run reached its end state before the deadline (counted from the traffic)."""
    end = facts.ended_at if facts.settled_at is None else facts.settled_at
    took = max(0.0, end - facts.started_at)
    if facts.timed_out:
        return Check("settled before the deadline", False, f"still not settled after {took:.1f} s")
    return Check("settled before the deadline", True, f"settled in {took:.1f} s")


CORE_CHECKS = (
    check_accepted,
    check_lost,
    check_completed_items,
    check_completed_events,
    check_status,
    check_dlq,
    check_queue_empty,
    check_settled,
)


@dataclass(frozen=True)
class Verdict:
    """The oracle's answer: every check, and whether they all passed."""

    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.passed)

    def to_list(self) -> list[dict[str, Any]]:
        return [c.to_dict() for c in self.checks]


def judge(facts: Facts) -> Verdict:
    """The verdict on one run: the core checks, then the scenario's phenomena."""
    checks = [c(facts) for c in CORE_CHECKS]
    for expectation in facts.expectations:
        try:
            checks.append(expectation.check(facts))
        except Exception as exc:  # a broken expectation fails the verdict, loudly
            checks.append(Check(expectation.name, False, f"could not evaluate: {exc!r}"))
    return Verdict(tuple(checks))


def prefixed(prefix: str, checks: Sequence[Check]) -> list[Check]:
    """Checks renamed ``<prefix>: <name>`` (multi-phase scenarios)."""
    return [Check(f"{prefix}: {c.name}", c.passed, c.detail) for c in checks]
