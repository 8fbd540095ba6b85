"""The facts of one run, and how the oracle names things in them.

Facts are what can be observed after a run: the producer's ledger, the idempotency tables, the
effects table, the DLQ, what is left in the queue, the consumers' JSON events (and the handler
executions they show), the consumer runs and the faults injected.

Identity: a message with a JSON-object body carrying ``id`` is known by that id (the consumer's
``message_id``). Anything else - the poison corpus - is known by a hash of its body, because a
manual redrive gives a dead letter a new SQS MessageId but never a new body.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from typing import Any, Protocol

from consumer.contract import (
    EFFECT_HASH_KEY,
    EV_COMPLETED,
    EV_HANDLER_FINISHED,
    EV_HANDLER_STARTED,
    EV_RECEIVED,
    payload_id_problem,
)
from core.stack import DEDUP_SCOPE_QUEUE
from local.faultproxy.protocol import RECEIVE_MESSAGE
from scenarios.settings import COMMAND, IMAGE, KIT

#: SQS operations that end a consumer's hold on a message, and those that change its visibility
DELETE_OPS = frozenset({"DeleteMessage", "DeleteMessageBatch"})
VISIBILITY_OPS = frozenset({"ChangeMessageVisibility", "ChangeMessageVisibilityBatch"})
#: ``Facts.consumer`` kinds (``scenarios.settings.PluggedConsumer.kind``) seen only from outside
EXTERNAL = frozenset({COMMAND, IMAGE})
#: where the receives come from: the consumers' events, or the pass-through's records
FROM_EVENTS, FROM_PASSTHROUGH = "events", "pass-through"

#: how many ids a finding lists before it says "(+N more)"
MAX_LISTED = 5

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
    if isinstance(payload, dict) and payload.get("id") is not None:
        ident = payload["id"]
        # The consumer's own rule: anything it would call poison is known by its body.
        if payload_id_problem(ident) is None:
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
    """One ledger line: the payload id (None for id-less bodies), SQS MessageId, send time.

    On a FIFO queue also the producer's FIFO ledger fields (docs/producer.md): ``group``,
    ``dedup_id``, ``seq_in_group`` (the send order within the group, over the phase's whole
    traffic), SQS's ``sequence_number`` and ``duplicate`` (an intentional resend of the id).
    """

    id: str | None
    message_id: str
    sent_at_ms: int
    group: str | None = None
    dedup_id: str | None = None
    seq_in_group: int | None = None
    sequence_number: str | None = None
    duplicate: bool = False


@dataclass(frozen=True)
class QueuedMessage:
    """One message found in a queue at the end of a run: in the DLQ, or still in the queue."""

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
class Execution:
    """One run of the handler, from its ``handler.started`` / ``handler.finished`` events.

    ``outcome`` is ``ok`` or ``error``, or None when the execution never finished (its consumer
    crashed, was killed, or exited at a drain deadline while the handler ran).
    """

    execution_id: str
    message_id: str
    consumer_id: str
    started_at: float | None
    sqs_message_id: str | None = None
    receive_count: int | None = None
    attempt: int | None = None
    finished_at: float | None = None
    outcome: str | None = None


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
class Call:
    """One SQS call a consumer made, as the pass-through in front of the endpoint saw it.

    ``sqs_ids``: the SQS MessageIds a receive returned, or a delete or visibility change
    targeted; ``message_ids``: the payload ids behind them ("" where the ledger does not know
    the message: poison, a redriven copy). ``status`` is None when the call got no answer (a
    reset, or a call held until its consumer died). ``ts`` is when the call began,
    ``latency_s`` how long it took: a long poll delivers its messages at its end.
    """

    ts: float
    slot: int
    operation: str
    status: int | None
    sqs_ids: tuple[str, ...] = ()
    fault: str | None = None
    consumer_id: str = ""
    message_ids: tuple[str, ...] = ()
    latency_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def answered_at(self) -> float:
        """When the consumer got the answer (a receive's messages reached it then)."""
        return self.ts + self.latency_s


@dataclass(frozen=True)
class ApiFault:
    """One fault the fault proxy injected into one consumer call (``faults_fired``).

    ``status`` is what the consumer got (None: a reset or a stall). ``retried`` says whether
    the call was tried again within ``RETRY_WINDOW_S``, from the same slot; None for a fault
    that answered success (``latency``, ``ack_dropped``): there was nothing to retry.
    ``retried_by`` says who tried again, when the SDK's retry headers tell:

    - ``"sdk"`` (``RETRIED_BY_SDK``): a later attempt of the same SDK invocation (the same
      ``amz-sdk-invocation-id``, a higher attempt in ``amz-sdk-request``): the SDK retried;
    - ``"caller"`` (``RETRIED_BY_CALLER``): no later attempt, but a successful call of the same
      operation (a delete or visibility change: of the same receipt handles) under a new
      invocation id: the consumer's own loop made the call again;
    - None: not retried, or a client that sends no such headers. For such a client
      ``retried`` falls back to the second rule alone, whoever made the call.
    """

    ts: float
    slot: int
    service: str
    operation: str
    kind: str
    rule: str = ""
    status: int | None = None
    retried: bool | None = None
    retried_by: str | None = None
    #: whether the faulted call carried the SDK's retry headers (``retried_by`` can say who)
    sdk_evidence: bool = False


#: ``ApiFault.retried_by``: the SDK retried the call (a later attempt of its invocation)
RETRIED_BY_SDK = "sdk"
#: ``ApiFault.retried_by``: the caller made the call again (a new invocation)
RETRIED_BY_CALLER = "caller"


#: how soon after a failed call its retry must come to count as botocore's (its standard mode
#: backs off at most 20 s between attempts)
RETRY_WINDOW_S = 20.0


def fired_summary(faults: Iterable[ApiFault]) -> dict[str, dict[str, int]]:
    """Fired faults counted per kind, then per operation: ``{"throttle": {"PutItem": 3}}``."""
    out: dict[str, Counter[str]] = {}
    for f in faults:
        out.setdefault(f.kind, Counter())[f.operation] += 1
    return {kind: dict(sorted(ops.items())) for kind, ops in sorted(out.items())}


@dataclass(frozen=True)
class Receive:
    """One delivery of one message to one consumer (a receive event, or a recorded receive)."""

    consumer_id: str
    message_id: str
    sqs_message_id: str | None
    receive_count: int
    ts: float | None


@dataclass(frozen=True)
class CheckResult:
    """The result of one oracle check: its name, whether it passed, and why.

    ``observable`` is False for a check the facts of this run cannot decide (a plugged-in
    consumer keeps no kit records, say): it does not fail the run, and the report says so.
    """

    name: str
    passed: bool
    detail: str
    observable: bool = True

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "passed": self.passed, "detail": self.detail}
        if not self.observable:
            out["observable"] = False
        return out


def not_observable(name: str, why: str) -> CheckResult:
    """A check this run cannot decide, and why (shown in the report, never a silent pass)."""
    return CheckResult(name, True, f"not observable: {why}", observable=False)


class Expectation(Protocol):
    """A phenomenon the scenario exists to show, checked against the facts."""

    @property
    def name(self) -> str: ...

    def check(self, facts: Facts) -> CheckResult: ...


@dataclass(frozen=True)
class Facts:
    """Everything observed about one run (one phase of a scenario)."""

    ledger: tuple[Sent, ...]
    completed_items: tuple[Mapping[str, Any], ...]
    status_items: tuple[Mapping[str, Any], ...]
    dlq: tuple[QueuedMessage, ...]
    #: the queue's depth when the consumers had stopped
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
    #: why it stopped waiting (the deadline's reason)
    timeout_reason: str | None = None
    #: whether the stack has a status table the consumer writes to
    status_table: bool = True
    #: the effects table's items: one per side effect a consumer applied
    effect_items: tuple[Mapping[str, Any], ...] = ()
    #: whether the stack has an effects table (a stack made before it existed has none)
    effects_table: bool = True
    #: messages read from the queue at the end (left behind: unfinished, or duplicates)
    remaining: tuple[QueuedMessage, ...] = ()
    #: messages still in the queue that could not be read (in flight or delayed until the end)
    unread: int = 0
    #: why the engine stopped waiting although progress was being made (a slow emulator)
    too_slow: str | None = None
    #: a FIFO queue's DeduplicationScope (``queue`` or ``messageGroup``): which sends of the
    #: ledger SQS was meant to deduplicate
    dedup_scope: str = DEDUP_SCOPE_QUEUE
    #: whose consumer ran: ``kit``, ``handler`` (a user's handler in the kit's worker), or a
    #: user's ``command`` / ``image`` that the kit sees only from outside
    consumer: str = KIT
    #: the consumers' SQS calls, when a pass-through recorded them (``passthrough``)
    calls: tuple[Call, ...] = ()
    passthrough: bool = False
    #: the faults the fault proxy injected into the consumers' calls, in time order
    api_faults: tuple[ApiFault, ...] = ()
    #: the fault kinds the phase's proxy plan holds (empty: no plan, no proxy faults)
    planned_faults: tuple[str, ...] = ()

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

    @property
    def external(self) -> bool:
        """A user's consumer the kit sees only from outside: no kit records, optional events."""
        return self.consumer in EXTERNAL

    @cached_property
    def receive_source(self) -> str | None:
        """Where :attr:`receives` come from; None when nothing shows them (not observable).

        A consumer seen from outside is judged by the pass-through's records (its own events
        are only what it chose to log); the kit's worker by its ``message.received`` events.
        """
        if self.external and self.passthrough:
            return FROM_PASSTHROUGH
        if not self.external or self.of(EV_RECEIVED):
            return FROM_EVENTS
        return None

    @cached_property
    def sqs_to_id(self) -> dict[str, str]:
        """The payload id (``message_key``) of every SQS MessageId the ledger knows."""
        return {e.message_id: e.id for e in self.ledger if e.id is not None}

    @cached_property
    def receives(self) -> tuple[Receive, ...]:
        """Every delivery of a message to a consumer, in order (see ``receive_source``)."""
        if self.receive_source == FROM_PASSTHROUGH:
            seen: Counter[str] = Counter()
            out = []
            # in the order the messages reached the consumers (a long poll delivers at its end)
            for call in sorted(self.calls, key=lambda c: c.answered_at):
                if call.operation != RECEIVE_MESSAGE or not call.ok:
                    continue
                for sqs_id in call.sqs_ids:
                    seen[sqs_id] += 1
                    out.append(
                        Receive(
                            consumer_id=call.consumer_id,
                            message_id=self.sqs_to_id.get(sqs_id, f"sqs:{sqs_id}"),
                            sqs_message_id=sqs_id,
                            receive_count=seen[sqs_id],
                            ts=call.answered_at,
                        )
                    )
            return tuple(out)
        if self.receive_source == FROM_EVENTS:
            return tuple(
                Receive(
                    consumer_id=str(e.get("consumer_id")),
                    message_id=str(e.get("message_id")),
                    sqs_message_id=_opt_str(e.get("sqs_message_id")),
                    receive_count=as_int(e.get("receive_count")),
                    ts=event_time(e),
                )
                for e in self.of(EV_RECEIVED)
            )
        return ()

    @cached_property
    def redeliveries(self) -> int:
        """Receives of a message that had been received before (receive_count > 1)."""
        return sum(1 for r in self.receives if r.receive_count > 1)

    @cached_property
    def redelivered_ids(self) -> frozenset[str]:
        """Valid ids delivered more than once."""
        return (
            frozenset(r.message_id for r in self.receives if r.receive_count > 1) & self.valid_ids
        )

    @cached_property
    def deleted_at(self) -> dict[str, float]:
        """When each payload id's message was first deleted by a consumer (pass-through)."""
        out: dict[str, float] = {}
        for call in self.calls:
            if call.operation in DELETE_OPS and call.ok:
                for mid in call.message_ids:
                    if mid and mid not in out:
                        out[mid] = call.ts
        return out

    @cached_property
    def effects(self) -> Counter[str]:
        """Applied effects per message id (items of the effects table)."""
        return Counter(str(item.get(EFFECT_HASH_KEY)) for item in self.effect_items)

    @cached_property
    def executions(self) -> dict[str, tuple[Execution, ...]]:
        """Every handler execution per message id, in the order they started."""
        found: dict[str, Execution] = {}
        finished: dict[str, Mapping[str, Any]] = {}
        for e in self.of(EV_HANDLER_STARTED, EV_HANDLER_FINISHED):
            xid = e.get("execution_id")
            if not isinstance(xid, str) or not xid:
                continue
            if e.get("event") == EV_HANDLER_FINISHED:
                finished[xid] = e
            elif xid not in found:
                found[xid] = Execution(
                    execution_id=xid,
                    message_id=str(e.get("message_id")),
                    consumer_id=str(e.get("consumer_id")),
                    started_at=event_time(e),
                    sqs_message_id=_opt_str(e.get("sqs_message_id")),
                    receive_count=_opt_int(e.get("receive_count")),
                    attempt=_opt_int(e.get("attempt")),
                )
        by_id: dict[str, list[Execution]] = {}
        for xid, started in found.items():
            end = finished.get(xid)
            x = (
                started
                if end is None
                else replace(
                    started, finished_at=event_time(end), outcome=_opt_str(end.get("outcome"))
                )
            )
            by_id.setdefault(x.message_id, []).append(x)
        inf = float("inf")
        return {
            m: tuple(sorted(xs, key=lambda x: inf if x.started_at is None else x.started_at))
            for m, xs in by_id.items()
        }

    @cached_property
    def execution_count(self) -> int:
        return sum(len(xs) for xs in self.executions.values())

    @cached_property
    def done_ids(self) -> frozenset[str]:
        """Valid ids that reached an end: their effect applied, or their record completed."""
        return frozenset(i for i in self.valid_ids if self.effects[i] or self.completed_ids[i])

    @cached_property
    def dead_lettered(self) -> frozenset[str]:
        return frozenset(d.key for d in self.dlq)

    @cached_property
    def unaccounted(self) -> frozenset[str]:
        """Valid ids not done, not in the DLQ and not read from the queue: lost, or unread."""
        remaining = {m.key for m in self.remaining}
        return frozenset(self.valid_ids - self.done_ids - self.dead_lettered - remaining)

    @cached_property
    def lost(self) -> frozenset[str]:
        """Ids gone from the queue and from the DLQ without an effect (or a completed record).

        While ``unread`` messages stayed hidden in the queue, any unaccounted id may be one of
        them: the ids are listed only when there are more of them than hidden messages, and then
        at least ``lost_count`` of them are lost.
        """
        return self.unaccounted if len(self.unaccounted) > self.unread else frozenset()

    @cached_property
    def lost_count(self) -> int:
        """How many messages are certainly lost."""
        return max(0, len(self.unaccounted) - self.unread)

    @cached_property
    def unfinished(self) -> frozenset[str]:
        """Valid ids not done but still in the queue (visible, in flight or delayed) at the end."""
        remaining = {m.key for m in self.remaining} - self.dead_lettered
        left = (self.valid_ids - self.done_ids) & remaining
        if not self.lost:
            left |= self.unaccounted  # no more missing ids than hidden messages: none is lost
        return frozenset(left)


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_int(value: Any, default: int = 0) -> int:
    """An event field as an int; ``default`` when it is absent or not a number."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def ids(n: int) -> str:
    """``1 id``, ``3 ids``: how findings count ids."""
    return f"{n} id" if n == 1 else f"{n} ids"


def listed(items: Iterable[str]) -> str:
    """Up to MAX_LISTED ids, sorted, then ``(+N more)``: how findings name what failed."""
    values = sorted(items)
    shown = ", ".join(values[:MAX_LISTED])
    more = len(values) - MAX_LISTED
    return shown + (f" (+{more} more)" if more > 0 else "")
