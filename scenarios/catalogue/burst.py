"""burst: 1,000 messages at --rate 0 land at once; the consumers drain them, none lost."""

from __future__ import annotations

from collections.abc import Sequence

from scenarios.catalogue.common import BASE_NEEDS
from scenarios.engine import ConsumerGroup, Phase, Scenario, consumer_env
from scenarios.expectations import BacklogPeaked
from scenarios.settings import Knobs
from scenarios.traffic import Traffic


class Burst(Scenario):
    name = "burst"
    summary = "1,000 messages at rate 0 build a backlog that the consumers drain."
    defaults = Knobs(
        count=1000,
        consumers=4,
        max_messages=10,
        concurrency=4,
        visibility_timeout=10,
        sleep_min=0.0,
        sleep_max=0.0,
        timeout_s=120.0,
    )
    needs = BASE_NEEDS

    def phases(self, k: Knobs) -> Sequence[Phase]:
        return [
            Phase(
                name="main",
                traffic=Traffic(k.count, rate=0.0, batch_size=k.batch_size, seed=k.seed),
                consumers=(ConsumerGroup(k.consumers, consumer_env(k)),),
                visibility_timeout=k.visibility_timeout,
                receive_wait=k.receive_wait,
                max_receive_count=k.max_receive_count,
                # The whole burst is queued before the consumers start.
                expect=(BacklogPeaked(at_least=max(1, k.count // 2)),),
                timeout_s=k.timeout_s,
                settle_s=k.settle_s,
            )
        ]
