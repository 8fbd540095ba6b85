"""The running phase as faults and the settle check see it; events are indexed incrementally.

For a consumer seen only from outside (``--consumer-cmd``, ``--consumer-image``) the same view
comes from the pass-through's records instead: a receive is a message held by the consumer
that made it, a delete ends the hold, and a consumer is up from its first call.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from consumer.contract import (
    EV_COMPLETED,
    EV_CONSUMER_CRASH,
    EV_DUPLICATE,
    EV_FAILED,
    EV_FENCED,
    EV_IN_PROGRESS_ELSEWHERE,
    EV_POISON,
    EV_RECEIVED,
    EV_RELEASED,
)
from core.stack import StackHandle
from local.faultproxy.protocol import RECEIVE_MESSAGE
from scenarios.judging.facts import (
    DELETE_OPS,
    EXTERNAL,
    Call,
    FaultRecord,
    Sent,
    event_time,
)
from scenarios.model import ConsumerSlot
from scenarios.runners.base import ConsumerHandle, Incarnation
from scenarios.running import observe
from scenarios.settings import KIT
from scenarios.targets.base import Target

#: events after which a consumer no longer holds the message
_TERMINAL = frozenset(
    {
        EV_COMPLETED,
        EV_DUPLICATE,
        EV_IN_PROGRESS_ELSEWHERE,
        EV_POISON,
        EV_FAILED,
        EV_RELEASED,
        EV_FENCED,
    }
)


class LiveRun:
    """The phase while it runs: consumer slots, their events, the faults fired, the shims."""

    def __init__(
        self, target: Target, stack: StackHandle, shims: dict[str, str], *, consumer: str = KIT
    ) -> None:
        self.target = target
        self.stack = stack
        self.sqs = target.client("sqs")
        self.shims = shims
        #: ``Facts.consumer``: whose consumer runs (``command``/``image``: seen from outside)
        self.consumer = consumer
        self.handles: list[ConsumerHandle] = []
        self.events: list[dict[str, Any]] = []
        self.faults: list[FaultRecord] = []
        self.consumers_started_at: float | None = None
        #: the slots each consumer group got, by group label
        self.groups: dict[str, list[ConsumerHandle]] = {}
        #: the consumers' calls, attributed to incarnations and resolved to payload ids
        self.calls: list[Call] = []
        #: whether a pass-through recorded the consumers' calls
        self.passthrough = False
        self._ids: dict[str, str] = {}
        self._reset_index()

    @property
    def external(self) -> bool:
        """The consumers are seen from outside: their calls, not their events, drive the view."""
        return self.consumer in EXTERNAL and self.passthrough

    def know(self, ledger: tuple[Sent, ...]) -> None:
        """Learn which payload id each SQS MessageId carries (the producer's ledger)."""
        self._ids.update({e.message_id: e.id for e in ledger if e.id is not None})

    def _reset_index(self) -> None:
        self._seen = 0
        self._seen_by_slot: dict[int, int] = {}
        self._last: object = None
        self.completed: set[str] = set()
        #: ids a consumer found already completed (``message.duplicate``): done, even when the
        #: consumer that completed them died before it could log ``message.completed``
        self.found_completed: set[str] = set()
        self._done: set[str] = set()  # both of them together
        self.crashes = 0
        self.received = 0
        self._done_by: Counter[str] = Counter()
        self._holding: dict[str, dict[str, float]] = {}
        #: when each incarnation logged its first event (it was up from then on)
        self.first_event: dict[str, float] = {}

    def refresh(self) -> None:
        """Pull the consumers' events (and calls) and index what is new."""
        events = self.target.consumer_events()
        calls = self.target.observed_calls() if self.consumer in EXTERNAL else None
        self.passthrough = calls is not None
        if self.external:
            self._refresh_calls(calls or [])
            self.events = events
            return
        if self._seen and (len(events) < self._seen or events[self._seen - 1] is not self._last):
            self._reset_index()  # the target re-ordered its events: index them all again
        for e in events[self._seen :]:
            self._index(e)
        self._seen = len(events)
        self._last = events[-1] if events else None
        self.events = events

    def _refresh_calls(self, raw: list[Call]) -> None:
        """Index the pass-through's new calls (each slot's list only grows at its end)."""
        by_slot: dict[int, list[Call]] = {}
        for call in raw:
            by_slot.setdefault(call.slot, []).append(call)
        if any(len(calls) < self._seen_by_slot.get(s, 0) for s, calls in by_slot.items()):
            self._reset_index()  # a new pass-through: index everything again
            self.calls = []
        fresh = [
            self._attribute(c)
            for slot, calls in sorted(by_slot.items())
            for c in calls[self._seen_by_slot.get(slot, 0) :]
        ]
        for call in sorted(fresh, key=lambda c: c.ts):
            self._index_call(call)
        self.calls.extend(fresh)
        self._seen_by_slot = {s: len(calls) for s, calls in by_slot.items()}

    def _attribute(self, call: Call) -> Call:
        """``call`` with its consumer (the slot's incarnation then up) and its payload ids."""
        handle = next((h for h in self.handles if h.slot == call.slot), None)
        who = ""
        if handle is not None and handle.incarnations:
            who = handle.incarnations[0].consumer_id
            for inc in handle.incarnations:
                if inc.started_at <= call.ts:
                    who = inc.consumer_id
        ids = tuple(self._ids.get(s, "") for s in call.sqs_ids)
        return replace(call, consumer_id=who, message_ids=ids)

    def _index_call(self, call: Call) -> None:
        who = call.consumer_id
        self.first_event.setdefault(who, call.ts)
        keys = [m or f"sqs:{s}" for m, s in zip(call.message_ids, call.sqs_ids, strict=True)]
        if call.operation == RECEIVE_MESSAGE and call.ok:
            self.received += len(keys)
            held = self._holding.setdefault(who, {})
            held.update(dict.fromkeys(keys, call.answered_at))
        elif call.operation in DELETE_OPS:
            held = self._holding.get(who, {})
            for key in keys:
                held.pop(key, None)
            if call.ok:
                done = [m for m in call.message_ids if m]
                self.completed.update(done)
                self._done_by[who] += len(done)

    def _index(self, e: Mapping[str, Any]) -> None:
        kind, who, mid = e.get("event"), str(e.get("consumer_id")), str(e.get("message_id"))
        incarnation = str(e.get("_incarnation") or who)
        if incarnation not in self.first_event:
            self.first_event[incarnation] = event_time(e) or time.time()
        if kind == EV_RECEIVED:
            self.received += 1
            self._holding.setdefault(who, {})[mid] = event_time(e) or time.time()
        elif kind in _TERMINAL:
            self._holding.get(who, {}).pop(mid, None)
            if kind == EV_COMPLETED:
                self.completed.add(mid)
                self._done.add(mid)
                self._done_by[who] += 1
            elif kind == EV_DUPLICATE:
                self.found_completed.add(mid)
                self._done.add(mid)
        elif kind == EV_CONSUMER_CRASH:
            self.crashes += 1

    @property
    def incarnations(self) -> list[Incarnation]:
        """Every consumer incarnation of the phase so far, across slots and restarts."""
        return [inc for h in self.handles for inc in h.incarnations]

    # -- what faults see (scenarios.model.LiveView) ----------------------------------------------

    def slot(self, index: int) -> ConsumerHandle | None:
        return self.handles[index] if 0 <= index < len(self.handles) else None

    def in_flight(self, handle: ConsumerSlot, *, max_age_s: float | None = None) -> list[str]:
        """Message ids the slot's current consumer received and has not finished."""
        held = self._holding.get(handle.consumer_id, {})
        now = time.time()
        return [m for m, t in held.items() if max_age_s is None or now - t <= max_age_s]

    def completed_by(self, handle: ConsumerSlot) -> int:
        return self._done_by[handle.consumer_id]

    def completed_count(self) -> int:
        return len(self._done)

    def dlq_depth(self) -> int:
        return observe.depth(self.sqs, self.stack.dlq_url).total

    def shimmed(self, capability: str) -> bool:
        return capability in self.shims

    def add_shim(self, capability: str, why: str) -> None:
        self.shims[capability] = why

    def signal(self, handle: ConsumerSlot, sig: int) -> None:
        """Send ``sig`` to the consumer in ``handle``'s slot."""
        self.target.signal(self.handles[handle.slot], sig)

    def hold_next_delete(self, handle: ConsumerSlot, *, after: int = 0) -> bool:
        """Have the pass-through hold the slot's next delete (after ``after``); False: none."""
        passthrough = self.target.passthrough
        if passthrough is None:
            return False
        passthrough.hold_next_delete(handle.slot, after=after)
        return True

    def delete_held(self, handle: ConsumerSlot) -> bool:
        """Whether the pass-through is holding a delete of the slot's consumer now."""
        passthrough = self.target.passthrough
        return passthrough is not None and passthrough.held(handle.slot) is not None

    def held_calls(self, handle: ConsumerSlot) -> list[Call]:
        """The slot's calls the pass-through held (recorded once their consumer let go)."""
        self.refresh()
        return [c for c in self.calls if c.slot == handle.slot and c.fault is not None]
