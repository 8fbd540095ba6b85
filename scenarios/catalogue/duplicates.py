"""duplicates: the seed's slow consumer, and a second consumer started later.

The slow consumer's work outlasts the visibility timeout, so SQS hands the message to the
second consumer: a duplicate delivery, and a second execution of the handler. The second
consumer takes the expired lease over (the fencing token goes up), runs the handler, applies
the effect and completes the message. The slow consumer is left to finish its work: its
handler runs to the end, finds the effect applied (it is keyed by the message id), and its
completion is refused - fenced, or found completed. So the handler ran twice, and the record
and the effect happened once each. With ``--knob effect_mode=naive`` the effect is keyed by the
execution instead, and the oracle names the ids whose effect was applied twice. A run in which
no message was delivered twice proves nothing and fails as a demonstration.
"""

from __future__ import annotations

from collections.abc import Sequence

from scenarios.catalogue.common import BASE_NEEDS, ECS_SLOW_CONSUMER
from scenarios.judging.expectations import (
    EffectAppliedOnce,
    ExecutedAgain,
    LateRecordRefused,
    Redelivered,
    SeenByTwoConsumers,
)
from scenarios.model import ConsumerGroup, ConsumerSettings, Phase, RestartPolicy
from scenarios.running.scenario import Scenario
from scenarios.settings import Knobs

#: how much longer than its work the slow consumer is given to finish and exit by itself
_FINISH_MARGIN_S = 10.0


class Duplicates(Scenario):
    name = "duplicates"
    summary = "A slow consumer overruns the visibility timeout; a later one gets the duplicate."
    defaults = Knobs(
        count=5,
        consumers=1,
        visibility_timeout=2,
        # the takeover comes ~0.1 s after the visibility runs out (the other consumer is up by
        # then, ~0.4-0.8 s after start at load 8): the slow work still runs 1.4 s past it
        slow_seconds=3.5,
        second_start_delay=1.0,
        sleep_max=0.02,
    )
    expected_s = 5.5
    start_window = True  # the takeover must start before the slow work's visibility runs out
    needs = BASE_NEEDS
    ecs = ECS_SLOW_CONSUMER
    needs_receives = True
    plugged_in = "the slow consumer must honour SLEEP_MIN_SECONDS; second executions not observable"

    def phases(self, k: Knobs) -> Sequence[Phase]:
        slow = ConsumerSettings.from_knobs(
            k,
            sleep_min_seconds=k.slow_seconds,
            sleep_max_seconds=k.slow_seconds,
            max_messages=1,
            concurrency=1,
            message_limit=1,  # the seed's slow consumer handles one message, then exits
        )
        return [
            Phase.from_knobs(
                k,
                consumers=(
                    ConsumerGroup(
                        1,
                        slow,
                        label="slow",
                        restart=RestartPolicy.NEVER,
                        # its late completion is the point: let it finish, then exit (limit 1)
                        let_finish_s=k.slow_seconds + _FINISH_MARGIN_S,
                    ),
                    ConsumerGroup(
                        k.consumers,
                        ConsumerSettings.from_knobs(k),
                        start_after_s=k.second_start_delay,
                        after_received=1,  # later than the slow consumer's first message
                        label="second",
                    ),
                ),
                expect=(
                    Redelivered(why="duplicate delivery"),
                    SeenByTwoConsumers(),
                    ExecutedAgain(),
                    EffectAppliedOnce(),
                    LateRecordRefused(),
                ),
            )
        ]
