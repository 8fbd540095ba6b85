"""visibility-overrun: long work with the heartbeat off is redelivered; with it on, it is not.

Two phases, side by side on identical stacks: a slow consumer (the ``LongSleep`` fault: every
message's work outlasts the visibility timeout, two messages at once) next to a fast one that
picks up whatever becomes visible. With ``HEARTBEAT_SECONDS=0`` the slow messages reappear, the
fast consumer takes them over and runs their handler a second time; the slow consumer is left to
finish, and its completions are refused (fenced, or found completed). The handler ran twice, the
record completed once, and the effect - keyed by the message id - was applied once. With the
heartbeat on, the slow consumer keeps extending the visibility and its lease: the same overrun
causes no redelivery.

A consumer seen from outside has no heartbeat switch and no ``LONG_SLEEP_*`` knobs: one phase
gives its slow consumer ``SLEEP_MIN_SECONDS = SLEEP_MAX_SECONDS`` longer than the visibility
timeout (and ``HEARTBEAT_SECONDS``, for a consumer that honours it). The work overruns (seen
from the pass-through: receive to delete); then either the consumer extended the visibility
and nothing was redelivered, or the fast consumer got the message again and the effect must
still have been applied once.
"""

from __future__ import annotations

from collections.abc import Sequence

from consumer.contract import ENV_HEARTBEAT_SECONDS
from core import capabilities as cap
from scenarios.catalogue.common import BASE_NEEDS, ECS_SLOW_CONSUMER
from scenarios.judging.expectations import (
    EffectAppliedOnce,
    ExecutedAgain,
    LateRecordRefused,
    NotRedelivered,
    OverrunHandled,
    Redelivered,
    WorkOverranVisibility,
)
from scenarios.model import ConsumerGroup, ConsumerSettings, Need, Phase, RestartPolicy
from scenarios.running.faults import LongSleep
from scenarios.running.scenario import Scenario
from scenarios.settings import Knobs

_SLOW = "slow"
#: how much longer than its work the slow consumer is given to finish and exit by itself
_FINISH_MARGIN_S = 10.0


class VisibilityOverrun(Scenario):
    name = "visibility-overrun"
    summary = "Work longer than the visibility timeout: heartbeat off redelivers, on does not."
    defaults = Knobs(
        count=6,
        consumers=1,
        visibility_timeout=2,
        # the takeover comes ~0.1 s after the visibility runs out (the other consumer is up by
        # then, ~0.4-0.8 s after start at load 8): the slow work still runs 1.4 s past it
        slow_seconds=3.5,
        heartbeat_seconds=0.5,
        sleep_max=0.02,
    )
    expected_s = 10.0
    start_window = True  # the takeover must start before the slow work's visibility runs out
    needs = (*BASE_NEEDS, Need(cap.SQS_CHANGE_VISIBILITY))
    ecs = ECS_SLOW_CONSUMER
    needs_receives = True
    plugged_in = "one phase: passes if it extends the visibility, or is redelivered and idempotent"

    def phases(self, k: Knobs) -> Sequence[Phase]:
        return [self._phase(k, heartbeat=0.0), self._phase(k, heartbeat=k.heartbeat_seconds)]

    def outside_phases(self, k: Knobs) -> Sequence[Phase]:
        slow = ConsumerSettings.from_knobs(
            k,
            sleep_min_seconds=k.slow_seconds,
            sleep_max_seconds=k.slow_seconds,
            max_messages=1,
            concurrency=2,
            message_limit=2,
        )
        return [
            Phase.from_knobs(
                k,
                name="overrun",
                note=f"SLEEP_MIN_SECONDS={k.slow_seconds:g} > visibility {k.visibility_timeout} s",
                consumers=(
                    ConsumerGroup(
                        1,
                        slow,
                        label=_SLOW,
                        restart=RestartPolicy.NEVER,
                        let_finish_s=k.slow_seconds + _FINISH_MARGIN_S,
                    ),
                    ConsumerGroup(
                        k.consumers,
                        ConsumerSettings.from_knobs(k),
                        after_received=1,  # a consumer may take one message at a time
                        label="fast",
                    ),
                ),
                expect=(WorkOverranVisibility(), OverrunHandled()),
            )
        ]

    def _phase(self, k: Knobs, *, heartbeat: float) -> Phase:
        slow = ConsumerSettings.from_knobs(
            k,
            max_messages=1,
            concurrency=2,
            message_limit=2,  # two overrunning messages, then it exits
            heartbeat_seconds=heartbeat,
        )
        on = heartbeat > 0
        expect = (
            (WorkOverranVisibility(), NotRedelivered(why="heartbeat prevented redelivery"))
            if on
            else (
                WorkOverranVisibility(),
                Redelivered(why="overrun redelivery"),
                ExecutedAgain(),
                EffectAppliedOnce(),
                LateRecordRefused(),
            )
        )
        return Phase.from_knobs(
            k,
            name="heartbeat-on" if on else "heartbeat-off",
            note=f"{ENV_HEARTBEAT_SECONDS}={heartbeat:g}",
            consumers=(
                ConsumerGroup(
                    1,
                    slow,
                    label=_SLOW,
                    restart=RestartPolicy.NEVER,
                    let_finish_s=k.slow_seconds + _FINISH_MARGIN_S,
                ),
                ConsumerGroup(
                    k.consumers,
                    ConsumerSettings.from_knobs(k, heartbeat_seconds=heartbeat),
                    after_received=2,  # once the slow consumer holds its two messages
                    label="fast",
                ),
            ),
            faults=(LongSleep(k.slow_seconds, every=1, group=_SLOW),),
            expect=expect,
        )
