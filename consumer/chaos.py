"""The seed's simulated work and crashes, reproducible with CHAOS_SEED.

Every decision for the N-th received message comes from a generator seeded with
``"<CHAOS_SEED>:<N>:<purpose>"``, so a seeded run makes the same decisions for the same
message numbers however threads interleave. A crash is real: log ``consumer.crash``, flush,
then ``os._exit(EXIT_CHAOS_CRASH)`` with no cleanup.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from consumer.config import WorkerConfig
from consumer.contract import EV_CONSUMER_CRASH
from consumer.effects import EffectsTable
from consumer.exit_codes import EXIT_CHAOS_CRASH
from consumer.message import Message

log = logging.getLogger("consumer.chaos")

# Where a random crash can strike, in order, between the receive and the delete.
AFTER_RECEIVE = "after_receive"  # before any state is written
AFTER_CLAIM = "after_claim"  # the lease is held, no work done
AFTER_WORK = "after_work"  # the work is done but not recorded
BEFORE_DELETE = "before_delete"  # recorded as completed, still on the queue
CRASH_POINTS = (AFTER_RECEIVE, AFTER_CLAIM, AFTER_WORK, BEFORE_DELETE)


def rng_for(seed: int | None, sequence: int, purpose: str) -> random.Random:
    """A generator for one decision; unseeded runs draw from the OS."""
    return random.Random(f"{seed}:{sequence}:{purpose}") if seed is not None else random.Random()


@dataclass(frozen=True)
class CrashPlan:
    point: str
    reason: str  # crash_rate | crash_after_receive


class Chaos:
    """Decides, per received message, whether and where the process crashes."""

    def __init__(self, config: WorkerConfig, *, exit: Callable[[int], Any] = os._exit) -> None:
        self.config = config
        self._exit = exit

    @property
    def enabled(self) -> bool:
        return self.config.crash_rate > 0 or self.config.crash_after_receive > 0

    def plan(self, sequence: int) -> CrashPlan | None:
        """The crash, if any, for this process's ``sequence``-th received message."""
        if self.config.crash_after_receive and sequence == self.config.crash_after_receive:
            return CrashPlan(BEFORE_DELETE, "crash_after_receive")
        if self.config.crash_rate > 0:
            rng = rng_for(self.config.chaos_seed, sequence, "crash")
            if rng.random() < self.config.crash_rate:
                return CrashPlan(rng.choice(CRASH_POINTS), "crash_rate")
        return None

    def crash(self, plan: CrashPlan, fields: dict[str, Any]) -> None:
        """Log ``consumer.crash`` and exit at once: no drain, no release, no delete."""
        log.critical(
            EV_CONSUMER_CRASH,
            extra={
                **fields,
                "reason": plan.reason,
                "point": plan.point,
                "exit_code": EXIT_CHAOS_CRASH,
            },
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        self._exit(EXIT_CHAOS_CRASH)


class SimulatedWork:
    """The default handler: sleep SLEEP_MIN..SLEEP_MAX seconds, or LONG_SLEEP_SECONDS on every
    LONG_SLEEP_EVERY-th message (to overrun the visibility timeout); then, with an effects
    table (EFFECTS_TABLE), apply the message's side effect there."""

    def __init__(
        self,
        config: WorkerConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        effects: EffectsTable | None = None,
    ) -> None:
        self.config = config
        self._sleep = sleep
        self.effects = effects

    def duration(self, message: Message) -> float:
        c = self.config
        if c.long_sleep_every and message.sequence % c.long_sleep_every == 0:
            return c.long_sleep_seconds
        if c.sleep_max_seconds <= 0:
            return 0.0
        return rng_for(c.chaos_seed, message.sequence, "sleep").uniform(
            c.sleep_min_seconds, c.sleep_max_seconds
        )

    def __call__(self, message: Message) -> None:
        seconds = self.duration(message)
        if seconds > 0:
            self._sleep(seconds)
        if self.effects is not None:
            self.effects.apply(message)


def default_handler(config: WorkerConfig, *, effects: EffectsTable | None = None) -> SimulatedWork:
    """The seed's simulated work, configured from ``config`` (with ``effects``, a real effect)."""
    return SimulatedWork(config, effects=effects)
