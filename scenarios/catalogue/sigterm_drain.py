"""sigterm-drain: SIGTERM a consumer mid-message; it finishes or releases its work, exits 0.

The consumer's drain order: stop receiving, finish in-flight work within
``SHUTDOWN_TIMEOUT_SECONDS`` (0.8 s here, against 0.4-1.6 s of work, so either outcome can
happen), release what cannot finish (visibility 0, lease ended), exit 0. A clean exit is not
restarted; the other consumers pick up the released message and the rest, and nothing is lost.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence

from scenarios.catalogue.common import BASE_NEEDS
from scenarios.engine import ConsumerGroup, Phase, Scenario, consumer_env
from scenarios.expectations import DrainedOnSigterm
from scenarios.faults import SignalWhileProcessing
from scenarios.settings import Knobs
from scenarios.traffic import Traffic


class SigtermDrain(Scenario):
    name = "sigterm-drain"
    summary = "SIGTERM mid-message: in-flight work finishes or is released, nothing is lost."
    defaults = Knobs(
        count=8,
        consumers=3,
        visibility_timeout=5,
        sleep_min=0.4,
        sleep_max=1.6,
        shutdown_timeout=0.8,
    )
    needs = BASE_NEEDS

    def phases(self, k: Knobs) -> Sequence[Phase]:
        return [
            Phase(
                name="main",
                traffic=Traffic(k.count, rate=k.rate, batch_size=k.batch_size, seed=k.seed),
                consumers=(ConsumerGroup(k.consumers, consumer_env(k, MAX_MESSAGES=1)),),
                visibility_timeout=k.visibility_timeout,
                receive_wait=k.receive_wait,
                max_receive_count=k.max_receive_count,
                faults=(
                    SignalWhileProcessing(signal.SIGTERM, slot=0, after_completed=0, max_age_s=0.3),
                ),
                expect=(DrainedOnSigterm(),),
                timeout_s=k.timeout_s,
                settle_s=k.settle_s,
            )
        ]
