"""scale-out: the same backlog drained by one consumer, then by three; both throughputs shown.

The work is a fixed sleep per message, so the speed-up measures the consumers, not the
emulator; throughput runs from the first receive to the last completion, so interpreter
start-up is not counted.
"""

from __future__ import annotations

from collections.abc import Sequence

from scenarios.catalogue.common import BASE_NEEDS
from scenarios.engine import ConsumerGroup, Phase, Scenario, consumer_env
from scenarios.expectations import CrossExpectation, FasterWith
from scenarios.settings import Knobs
from scenarios.traffic import Traffic

MIN_SPEEDUP = 1.5


class ScaleOut(Scenario):
    name = "scale-out"
    summary = "A backlog drained by 1 consumer, then by 3: throughput of both."
    defaults = Knobs(
        count=40,
        consumers=1,
        scaled_consumers=3,
        visibility_timeout=5,
        sleep_min=0.1,
        sleep_max=0.1,
    )
    needs = BASE_NEEDS

    def _label(self, n: int) -> str:
        return f"{n} consumer" + ("s" if n != 1 else "")

    def phases(self, k: Knobs) -> Sequence[Phase]:
        return [self._phase(k, k.consumers), self._phase(k, k.scaled_consumers)]

    def _phase(self, k: Knobs, n: int) -> Phase:
        return Phase(
            name=self._label(n),
            note=f"{n} consumer(s) drain a backlog of {k.count}",
            traffic=Traffic(k.count, rate=k.rate, batch_size=k.batch_size, seed=k.seed),
            consumers=(ConsumerGroup(n, consumer_env(k)),),
            visibility_timeout=k.visibility_timeout,
            receive_wait=k.receive_wait,
            max_receive_count=k.max_receive_count,
            timeout_s=k.timeout_s,
            settle_s=k.settle_s,
        )

    def across(self, k: Knobs) -> Sequence[CrossExpectation]:
        if k.scaled_consumers <= k.consumers:
            return ()
        return (
            FasterWith(
                base=self._label(k.consumers),
                scaled=self._label(k.scaled_consumers),
                min_ratio=MIN_SPEEDUP,
            ),
        )
