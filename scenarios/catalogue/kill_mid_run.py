"""kill-mid-run: SIGKILL a consumer while it processes; its message reappears and completes.

Chaos calibration: one kill hands back at most ``MAX_MESSAGES=1`` message, which gains one
receive; its lease (held until the visibility deadline) expires with the visibility timeout,
so the replacement or the other consumer takes it over. One extra receive is far from
``maxReceiveCount=5``. The kill lands within 0.3 s of a receive, while the work (0.5-0.8 s)
is still running, not in the gap between completing and deleting.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence

from scenarios.catalogue.common import BASE_NEEDS, ECS_NO_SIGKILL
from scenarios.judging.expectations import KilledMessageRecovered, Redelivered, Restarted
from scenarios.model import ConsumerGroup, ConsumerSettings, Phase
from scenarios.running.faults import SignalWhileProcessing
from scenarios.running.scenario import Scenario
from scenarios.settings import Knobs


class KillMidRun(Scenario):
    name = "kill-mid-run"
    summary = "SIGKILL a consumer mid-message: the message reappears and completes once."
    defaults = Knobs(
        count=6,
        consumers=2,
        visibility_timeout=2,
        sleep_min=0.5,
        sleep_max=0.8,
    )
    expected_s = 5.5
    needs = BASE_NEEDS
    needs_receives = True
    calibration = __doc__.split("Chaos calibration: ", 1)[1].strip() if __doc__ else None
    ecs = ECS_NO_SIGKILL

    def phases(self, k: Knobs) -> Sequence[Phase]:
        return [
            Phase.from_knobs(
                k,
                consumers=(
                    ConsumerGroup(k.consumers, ConsumerSettings.from_knobs(k, max_messages=1)),
                ),
                faults=(
                    SignalWhileProcessing(signal.SIGKILL, slot=0, after_completed=0, max_age_s=0.3),
                ),
                expect=(
                    KilledMessageRecovered(),
                    Restarted(),
                    Redelivered(why="redelivery after the kill"),
                ),
            )
        ]
