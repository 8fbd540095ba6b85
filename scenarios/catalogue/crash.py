"""crash: consumers crash between receive and delete, are restarted, and nothing is lost.

Chaos calibration. A crash hands back every message the process held: the one it crashed on
and the rest of its receive batch (``MAX_MESSAGES``), each with one more receive on its count.
If crashes x batch size come near ``maxReceiveCount``, the queue itself dead-letters *valid*
messages and the oracle rightly blames the consumer. Here:
- ``CRASH_AFTER_RECEIVE=5`` with ``MAX_MESSAGES=2``: each incarnation crashes once, after
  completing its 5th message (a redelivered duplicate, deleted without work) - at most one
  batch partner is handed back per crash;
- ``CRASH_RATE=0.04`` (seeded per incarnation) crashes at a random point: per receive a
  message is hit with p ~ 0.04 x 2 = 0.08, so reaching ``maxReceiveCount=5`` takes four hits
  in a row, p ~ 4e-5 per message;
- the visibility timeout (2 s) bounds how long a crashed message stays hidden.
"""

from __future__ import annotations

from collections.abc import Sequence

from scenarios.catalogue.common import BASE_NEEDS, ECS_CRASH
from scenarios.judging.expectations import CrashedAndRestarted, Redelivered
from scenarios.model import Fault, Phase
from scenarios.running.faults import CrashAfterReceive, CrashRate
from scenarios.running.scenario import Scenario
from scenarios.settings import Knobs


class Crash(Scenario):
    name = "crash"
    summary = "Consumers crash mid-message and are restarted; redelivery recovers every message."
    defaults = Knobs(
        count=24,
        consumers=2,
        max_messages=2,
        visibility_timeout=2,
        max_receive_count=5,
        crash_after_receive=5,
        crash_rate=0.04,
        sleep_max=0.02,
    )
    needs = BASE_NEEDS
    calibration = __doc__.split("Chaos calibration. ", 1)[1].strip() if __doc__ else None
    ecs = ECS_CRASH

    def phases(self, k: Knobs) -> Sequence[Phase]:
        faults: list[Fault] = []
        if k.crash_after_receive:
            faults.append(CrashAfterReceive(k.crash_after_receive))
        if k.crash_rate:
            faults.append(CrashRate(k.crash_rate))
        return [
            Phase.from_knobs(
                k,
                faults=faults,
                expect=(CrashedAndRestarted(), Redelivered(why="redelivery after a crash")),
            )
        ]
