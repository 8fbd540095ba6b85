"""Pacing against the monotonic clock: a batch goes out once every message in it is due.

Message k (1-based, counted over the whole run) is due at ``t0 + k / rate``, so a batch that
brings the running total to K waits until ``t0 + K / rate``. The schedule is absolute, so sleep
overshoot and slow calls never accumulate: a late batch is followed by on-time ones, and the
producer is never ahead of the rate. Over a run of n messages the achieved rate is
``n / (n / rate + last call latency)``: a hair under the target, never over.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Pacer:
    """Holds a run to ``rate`` messages per second (``rate == 0``: no pacing at all)."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self.t0 = clock()

    def start(self) -> float:
        """Start (or restart) the schedule now; returns the start time."""
        self.t0 = self._clock()
        return self.t0

    def due(self, count: int) -> float:
        """When the run may have sent ``count`` messages in total."""
        return self.t0 + count / self.rate if self.rate > 0 else self.t0

    def wait_for(self, count: int) -> None:
        """Block until ``count`` messages in total may have been sent."""
        if self.rate <= 0:
            return
        due = self.due(count)
        while (now := self._clock()) < due:
            self._sleep(due - now)

    def elapsed(self) -> float:
        return self._clock() - self.t0
