"""visibility-overrun: long work with the heartbeat off is redelivered; with it on, it is not.

Two phases, side by side on identical stacks: a slow consumer (work longer than the
visibility timeout, two messages at once) next to a fast one that picks up whatever becomes
visible. With ``HEARTBEAT_SECONDS=0`` the slow messages reappear, the fast consumer takes them
over and the slow consumer's completions are fenced. With the heartbeat on, the slow consumer
keeps extending the visibility and its lease: the same overrun causes no redelivery.
"""

from __future__ import annotations

from collections.abc import Sequence

from core import capabilities as cap
from scenarios.catalogue.common import BASE_NEEDS
from scenarios.engine import ConsumerGroup, Need, Phase, Scenario, consumer_env
from scenarios.expectations import (
    IdempotencyHeld,
    NotRedelivered,
    Redelivered,
    WorkOverranVisibility,
)
from scenarios.runners.base import RestartPolicy
from scenarios.settings import Knobs
from scenarios.traffic import Traffic


class VisibilityOverrun(Scenario):
    name = "visibility-overrun"
    summary = "Work longer than the visibility timeout: heartbeat off redelivers, on does not."
    defaults = Knobs(
        count=6,
        consumers=1,
        visibility_timeout=2,
        slow_seconds=5.0,
        heartbeat_seconds=0.5,
        sleep_max=0.02,
    )
    needs = (*BASE_NEEDS, Need(cap.SQS_CHANGE_VISIBILITY))

    def phases(self, k: Knobs) -> Sequence[Phase]:
        return [self._phase(k, heartbeat=0.0), self._phase(k, heartbeat=k.heartbeat_seconds)]

    def _phase(self, k: Knobs, *, heartbeat: float) -> Phase:
        slow = consumer_env(
            k,
            SLEEP_MIN_SECONDS=k.slow_seconds,
            SLEEP_MAX_SECONDS=k.slow_seconds,
            MAX_MESSAGES=1,
            CONCURRENCY=2,
            MESSAGE_LIMIT=2,  # two overrunning messages, then it exits
            HEARTBEAT_SECONDS=heartbeat,
        )
        on = heartbeat > 0
        expect = (
            (WorkOverranVisibility(), NotRedelivered(why="heartbeat prevented redelivery"))
            if on
            else (
                WorkOverranVisibility(),
                Redelivered(why="overrun redelivery"),
                IdempotencyHeld(),
            )
        )
        return Phase(
            name="heartbeat-on" if on else "heartbeat-off",
            note=f"HEARTBEAT_SECONDS={heartbeat:g}",
            traffic=Traffic(k.count, rate=k.rate, batch_size=k.batch_size, seed=k.seed),
            consumers=(
                ConsumerGroup(1, slow, label="slow", restart=RestartPolicy.NEVER),
                ConsumerGroup(
                    k.consumers,
                    consumer_env(k, HEARTBEAT_SECONDS=heartbeat),
                    after_received=2,  # once the slow consumer holds its two messages
                    label="fast",
                ),
            ),
            visibility_timeout=k.visibility_timeout,
            receive_wait=k.receive_wait,
            max_receive_count=k.max_receive_count,
            expect=expect,
            timeout_s=k.timeout_s,
            settle_s=k.settle_s,
        )
