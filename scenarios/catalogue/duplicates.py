"""duplicates: the seed's slow consumer, and a second consumer started later.

The slow consumer's work outlasts the visibility timeout, so SQS hands the message to the
second consumer: a duplicate delivery. DynamoDB idempotency handles it - the second consumer
takes the expired lease over (the fencing token goes up), completes the message, and the slow
consumer's late completion is fenced off - so each id is completed exactly once. A run in
which no message was delivered twice proves nothing and fails as a demonstration.
"""

from __future__ import annotations

from collections.abc import Sequence

from scenarios.catalogue.common import BASE_NEEDS
from scenarios.engine import ConsumerGroup, Phase, Scenario, consumer_env
from scenarios.expectations import IdempotencyHeld, Redelivered, SeenByTwoConsumers
from scenarios.runners.base import RestartPolicy
from scenarios.settings import Knobs
from scenarios.traffic import Traffic


class Duplicates(Scenario):
    name = "duplicates"
    summary = "A slow consumer overruns the visibility timeout; a later one gets the duplicate."
    defaults = Knobs(
        count=5,
        consumers=1,
        visibility_timeout=2,
        slow_seconds=5.0,
        second_start_delay=1.0,
        sleep_max=0.02,
    )
    needs = BASE_NEEDS

    def phases(self, k: Knobs) -> Sequence[Phase]:
        slow = consumer_env(
            k,
            SLEEP_MIN_SECONDS=k.slow_seconds,
            SLEEP_MAX_SECONDS=k.slow_seconds,
            MAX_MESSAGES=1,
            CONCURRENCY=1,
            MESSAGE_LIMIT=1,  # the seed's slow consumer handles one message, then exits
        )
        return [
            Phase(
                name="main",
                traffic=Traffic(k.count, rate=k.rate, batch_size=k.batch_size, seed=k.seed),
                consumers=(
                    ConsumerGroup(1, slow, label="slow", restart=RestartPolicy.NEVER),
                    ConsumerGroup(
                        k.consumers,
                        consumer_env(k),
                        start_after_s=k.second_start_delay,
                        after_received=1,  # later than the slow consumer's first message
                        label="second",
                    ),
                ),
                visibility_timeout=k.visibility_timeout,
                receive_wait=k.receive_wait,
                max_receive_count=k.max_receive_count,
                expect=(
                    Redelivered(why="duplicate delivery"),
                    SeenByTwoConsumers(),
                    IdempotencyHeld(),
                ),
                timeout_s=k.timeout_s,
                settle_s=k.settle_s,
            )
        ]
