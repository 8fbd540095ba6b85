"""fifo-order: several message groups on a FIFO queue; crashes and a kill mid-group; order holds.

Each consumer runs one message at a time. A crash (``CRASH_AFTER_RECEIVE``: after the record,
before the delete) or a SIGKILL (mid-work) leaves a group's message in flight in the middle of
its group; SQS delivers nothing more of that group until the message comes back, after its
visibility timeout, first in its group. The oracle checks that every group's effects were
applied in send order with no gaps, and the phenomenon that a crash or kill really
interrupted a group whose later messages completed after it.

Chaos calibration: one message in flight per consumer (``MAX_MESSAGES=1``, ``CONCURRENCY=1``),
so a crash or a kill hands back one message with one more receive, and never cuts another
message off between its record and its ``message.completed`` line. Each incarnation crashes
once, on its 6th message, and there is one kill: a message gains at most two receives,
against ``maxReceiveCount=5``. 16 messages and a kill on the 3rd receive of one slot leave
at least 14 receives to the other slot and the killed one's replacement: one of them reaches
its 6th, so every run crashes. The kill lands within 0.15 s of a receive, while the work
(0.3-0.5 s) still runs. The visibility timeout (2 s, four times the work) bounds how long a
group stays blocked; a one-at-a-time FIFO consumer deletes at once, so it never runs out on
completed work.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence

from core import capabilities as cap
from scenarios.catalogue.common import BASE_NEEDS
from scenarios.judging.expectations import CrashedAndRestarted, KilledMessageRecovered
from scenarios.judging.fifo import GroupResumedAfterFault
from scenarios.model import FifoQueue, Need, Phase, Traffic
from scenarios.running.faults import CrashAfterReceive, SignalWhileProcessing
from scenarios.running.scenario import Scenario
from scenarios.settings import Knobs

FIFO_NEEDS: tuple[Need, ...] = (Need(cap.SQS_FIFO), Need(cap.SQS_FIFO_GROUP_ORDER))


class FifoOrder(Scenario):
    name = "fifo-order"
    summary = "FIFO groups under crashes and a kill mid-group: each group keeps its send order."
    defaults = Knobs(
        count=16,
        groups=4,
        consumers=2,
        visibility_timeout=2,
        max_receive_count=5,
        crash_after_receive=6,
        sleep_min=0.3,
        sleep_max=0.5,
    )
    expected_s = 8.0
    needs = (*BASE_NEEDS, *FIFO_NEEDS)
    calibration = __doc__.split("Chaos calibration: ", 1)[1].strip() if __doc__ else None

    def phases(self, k: Knobs) -> Sequence[Phase]:
        return [
            Phase.from_knobs(
                k,
                traffic=Traffic.from_knobs(k, groups=k.groups),
                fifo=FifoQueue(),
                faults=(
                    CrashAfterReceive(k.crash_after_receive),
                    SignalWhileProcessing(
                        signal.SIGKILL, slot=1, after_completed=2, max_age_s=0.15
                    ),
                ),
                expect=(CrashedAndRestarted(), KilledMessageRecovered(), GroupResumedAfterFault()),
                note=f"FIFO queue, {k.groups} message groups",
            )
        ]
