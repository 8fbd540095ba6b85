"""When a phase stops waiting: a budget of consumer time, stretched while a slow system progresses.

Two clocks would be wrong:
- wall time since the traffic counts what no consumer could use: an interpreter or a container
  starting, a Fargate task being placed, a crashed consumer's cold restart;
- a fixed budget turns a slow emulator into lost messages: moto's receive cost grows with the
  queue's depth, so 1,000 messages take minutes there and seconds on MiniStack.

So the budget (``Phase.timeout_s``) is spent only while at least one consumer of the phase is up
(:class:`ConsumerClock`), and when it runs out while messages are still leaving the queue, it is
stretched to what the measured rate needs, up to ``STRETCH_LIMIT`` times the budget
(:class:`Deadline`). Beyond that the phase ends as *too slow* (the scenario is skipped with the
reason); without progress it ends as *timed out* (what is left is *unfinished*, never *lost*).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger(__name__)

#: a phase's budget may grow to this many times ``timeout_s`` while messages keep leaving
STRETCH_LIMIT = 4.0
#: seconds of consumer time over which the drain rate is measured (at least)
RATE_WINDOW_S = 10.0
#: a consumer that logs nothing counts as up this long after its start
SILENT_GRACE_S = 30.0
#: wall seconds with no consumer up after which the phase gives up (a consumer that never
#: starts, or crash-loops): this many times the budget, and at least MIN_DOWN_S (a Fargate cold
#: start takes tens of seconds, and every crash restart is one)
DOWN_FACTOR = 3.0
MIN_DOWN_S = 180.0
#: margin on a stretched budget, on top of what the measured rate needs
_STRETCH_MARGIN = 1.25
_STRETCH_EXTRA_S = 2.0


class Incarnation(Protocol):
    """What the clock reads of one consumer incarnation (``scenarios.runners.base``)."""

    @property
    def consumer_id(self) -> str: ...

    @property
    def started_at(self) -> float: ...

    @property
    def ended_at(self) -> float | None: ...


def consumer_seconds(
    incarnations: Iterable[Incarnation],
    first_event: Mapping[str, float],
    now: float,
    *,
    silent_grace_s: float | None = None,
) -> float:
    """Epoch seconds during which at least one incarnation was up, up to ``now``.

    An incarnation is up from its first event (``first_event[consumer_id]``, the consumer's own
    clock) until it ended; one that has logged nothing counts from ``silent_grace_s`` after its
    start, so a consumer that never logs still spends the budget.
    """
    grace = SILENT_GRACE_S if silent_grace_s is None else silent_grace_s
    spans: list[tuple[float, float]] = []
    for inc in incarnations:
        start = first_event.get(inc.consumer_id)
        if start is None:
            start = inc.started_at + grace
        end = now if inc.ended_at is None else inc.ended_at
        if end > start:
            spans.append((start, end))
    total, reach = 0.0, float("-inf")
    for start, end in sorted(spans):
        if end <= reach:
            continue
        total += end - max(start, reach)
        reach = end
    return total


@dataclass
class Deadline:
    """A phase's deadline in consumer seconds, stretched while the queue keeps draining.

    Feed it ``observe(consumer_s, outstanding)`` every turn (``outstanding``: messages still in
    the queue, visible or in flight); ``expired(consumer_s, down_s)`` says when to stop, and
    ``reason`` why: None (the budget ran out with nothing draining), or a *too slow* sentence.
    """

    budget_s: float
    stretch_limit: float = STRETCH_LIMIT
    #: None: ``DOWN_FACTOR`` x the budget, at least ``MIN_DOWN_S``
    max_down_s: float | None = None
    #: the budget in force (``budget_s``, or more once stretched)
    current_s: float = field(init=False)
    too_slow: str | None = field(default=None, init=False)
    #: why the phase stopped waiting (None while it has not)
    reason: str | None = field(default=None, init=False)
    _history: list[tuple[float, int]] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self.current_s = self.budget_s
        if self.max_down_s is None:
            self.max_down_s = max(MIN_DOWN_S, DOWN_FACTOR * self.budget_s)

    @property
    def limit_s(self) -> float:
        return self.budget_s * self.stretch_limit

    def observe(self, consumer_s: float, outstanding: int) -> None:
        """Record how many messages were still in the queue after ``consumer_s``."""
        self._history.append((consumer_s, outstanding))

    def rate(self, consumer_s: float) -> float | None:
        """Messages that left the queue per consumer second, over the last window; None: unknown."""
        if not self._history:
            return None
        window = max(RATE_WINDOW_S, 0.25 * self.budget_s)
        older = [(t, n) for t, n in self._history if t <= consumer_s - window]
        t0, n0 = older[-1] if older else self._history[0]
        t1, n1 = self._history[-1]
        if t1 <= t0:
            return None
        return max(0.0, (n0 - n1) / (t1 - t0))

    def expired(self, consumer_s: float, down_s: float = 0.0) -> bool:
        """True when the phase should stop waiting (``reason`` / ``too_slow`` say why)."""
        if self.max_down_s is not None and down_s > self.max_down_s:
            self.reason = f"no consumer was up for {down_s:.0f} s"
        elif consumer_s >= self.current_s:
            self.reason = self._when_spent(consumer_s)
        return self.reason is not None

    def _when_spent(self, consumer_s: float) -> str | None:
        """The budget is spent: stretch it (None), or say why the phase stops."""
        outstanding = self._history[-1][1] if self._history else None
        rate = self.rate(consumer_s)
        if outstanding is None or (outstanding and rate is None):
            # The queue was not measured yet (a sampler error): wait, up to the limit.
            if consumer_s < self.limit_s:
                return None
            return f"not settled after {consumer_s:.1f} s; the queue could not be measured"
        if not outstanding or not rate:
            return f"not settled after {consumer_s:.1f} s of consumer time" + (
                f", and {outstanding} messages stopped draining" if outstanding else ""
            )
        needed = consumer_s + _STRETCH_MARGIN * outstanding / rate + _STRETCH_EXTRA_S
        if needed <= self.limit_s:
            log.info(
                "phase.deadline_stretched",
                extra={
                    "consumer_s": round(consumer_s, 1),
                    "budget_s": round(needed, 1),
                    "outstanding": outstanding,
                    "rate_msg_s": round(rate, 2),
                },
            )
            self.current_s = needed
            return None
        self.too_slow = (
            f"too slow for this scenario at this count: {outstanding} messages were still "
            f"queued after {consumer_s:.0f} s of consumer time; at the measured {rate:.1f} msg/s "
            f"they need about {outstanding / rate:.0f} s more, beyond this phase's limit of "
            f"{self.limit_s:.0f} s ({self.stretch_limit:g} x its {self.budget_s:g} s deadline). "
            "Use a smaller --count or a faster emulator (--emulator ministack)."
        )
        return self.too_slow


def now() -> float:
    """Epoch seconds, the clock consumer events and incarnations are stamped with."""
    return time.time()
