"""The running phase as faults and the settle check see it; events are indexed incrementally."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
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
from scenarios.judging.facts import FaultRecord, event_time
from scenarios.model import ConsumerSlot
from scenarios.runners.base import ConsumerHandle, Incarnation
from scenarios.running import observe
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

    def __init__(self, target: Target, stack: StackHandle, shims: dict[str, str]) -> None:
        self.target = target
        self.stack = stack
        self.sqs = target.client("sqs")
        self.shims = shims
        self.handles: list[ConsumerHandle] = []
        self.events: list[dict[str, Any]] = []
        self.faults: list[FaultRecord] = []
        self.consumers_started_at: float | None = None
        #: the slots each consumer group got, by group label
        self.groups: dict[str, list[ConsumerHandle]] = {}
        self._reset_index()

    def _reset_index(self) -> None:
        self._seen = 0
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
        """Pull the consumers' events and index what is new."""
        events = self.target.consumer_events()
        if self._seen and (len(events) < self._seen or events[self._seen - 1] is not self._last):
            self._reset_index()  # the target re-ordered its events: index them all again
        for e in events[self._seen :]:
            self._index(e)
        self._seen = len(events)
        self._last = events[-1] if events else None
        self.events = events

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
