"""sigterm-drain: SIGTERM a consumer mid-message; it finishes or releases its work, exits 0.

The consumer's drain order: stop receiving, finish in-flight work within
``SHUTDOWN_TIMEOUT_SECONDS`` (0.8 s here, against 0.4-1.6 s of work, so either outcome can
happen), release what cannot finish (visibility 0, lease ended), exit 0. A clean exit is not
restarted; the other consumers pick up the released message and the rest, and nothing is lost.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence

from scenarios.catalogue.common import BASE_NEEDS, ECS_SIGTERM
from scenarios.judging.expectations import DrainedOnSigterm
from scenarios.model import ConsumerGroup, ConsumerSettings, Phase
from scenarios.running.faults import SignalWhileProcessing
from scenarios.running.scenario import Scenario
from scenarios.settings import Knobs


class SigtermDrain(Scenario):
    name = "sigterm-drain"
    summary = "SIGTERM mid-message: in-flight work finishes or is released, nothing is lost."
    defaults = Knobs(
        count=6,
        consumers=3,
        visibility_timeout=5,
        sleep_min=0.4,
        sleep_max=1.6,
        shutdown_timeout=0.8,
    )
    expected_s = 5.5
    needs = BASE_NEEDS
    ecs = ECS_SIGTERM
    needs_receives = True
    plugged_in = "after SIGTERM it must delete or hand back what it holds, and exit 0"

    def phases(self, k: Knobs) -> Sequence[Phase]:
        return [
            Phase.from_knobs(
                k,
                consumers=(
                    ConsumerGroup(k.consumers, ConsumerSettings.from_knobs(k, max_messages=1)),
                ),
                faults=(
                    SignalWhileProcessing(signal.SIGTERM, slot=0, after_completed=0, max_age_s=0.3),
                ),
                expect=(DrainedOnSigterm(),),
            )
        ]
