"""burst: 500 messages at --rate 0 land at once; the consumers drain them, none lost.

The whole burst is queued before the consumers' first receive: a backlog thirty times what
the fleet works on at once (4 consumers x ``CONCURRENCY=4``), drained over seconds at the rate
the emulator allows, with nothing lost and nothing applied twice. 500 messages show that as
well as 1,000 did, in half the CPU (the kit's claim at scale is `make soak`'s 10,000).

The visibility timeout (120 s) leaves room for a slow emulator. On moto server a completion
can take tens of seconds once the tables hold hundreds of items (its TransactWriteItems copies
every table it touches), so a message could overrun a short visibility and run twice; and moto
restores that copy when a transaction is cancelled - as a late execution's completion is -
which undoes other consumers' writes made meanwhile, an emulator defect the oracle would report
as missing records. Nothing here crashes, so the long timeout delays nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from scenarios.catalogue.common import BASE_NEEDS
from scenarios.judging.expectations import BacklogPeaked
from scenarios.model import Phase, Traffic
from scenarios.running.scenario import Scenario
from scenarios.settings import Knobs


class Burst(Scenario):
    name = "burst"
    summary = "500 messages at rate 0 build a backlog that the consumers drain."
    defaults = Knobs(
        count=500,
        consumers=4,
        max_messages=10,
        concurrency=4,
        visibility_timeout=120,
        sleep_min=0.0,
        sleep_max=0.0,
        timeout_s=120.0,
    )
    expected_s = 6.0
    # 500 messages at --rate 0 drained by 4 consumers: about 1.2 cores by itself (7 CPU s)
    cpu_bound = True
    needs = BASE_NEEDS

    def phases(self, k: Knobs) -> Sequence[Phase]:
        return [
            Phase.from_knobs(
                k,
                traffic=Traffic.from_knobs(k, rate=0.0),
                # The whole burst is queued before the consumers start.
                expect=(BacklogPeaked(at_least=max(1, k.count // 2)),),
            )
        ]
