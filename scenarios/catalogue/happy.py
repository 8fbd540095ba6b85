"""happy: messages flow through cleanly; every one is processed once and deleted."""

from __future__ import annotations

from collections.abc import Sequence

from scenarios.catalogue.common import BASE_NEEDS
from scenarios.engine import ConsumerGroup, Phase, Scenario, consumer_env
from scenarios.expectations import NotRedelivered
from scenarios.settings import Knobs
from scenarios.traffic import Traffic


class Happy(Scenario):
    name = "happy"
    summary = "Messages flow through cleanly: all are processed once and deleted."
    defaults = Knobs(count=20, consumers=2, visibility_timeout=5, sleep_max=0.02)
    needs = BASE_NEEDS

    def phases(self, k: Knobs) -> Sequence[Phase]:
        return [
            Phase(
                name="main",
                traffic=Traffic(k.count, rate=k.rate, batch_size=k.batch_size, seed=k.seed),
                consumers=(ConsumerGroup(k.consumers, consumer_env(k)),),
                visibility_timeout=k.visibility_timeout,
                receive_wait=k.receive_wait,
                max_receive_count=k.max_receive_count,
                expect=(NotRedelivered(why="clean flow, no redelivery"),),
                timeout_s=k.timeout_s,
                settle_s=k.settle_s,
            )
        ]
