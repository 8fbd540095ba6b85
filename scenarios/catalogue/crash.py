"""crash: consumers crash between receive and delete, are restarted, and nothing is lost.

Chaos calibration. A crash hands back every message the process holds, each with one more
receive on its count; a receive asks for at most the free handler slots, so that is at most
``CONCURRENCY`` messages (1 here: ``MAX_MESSAGES=2`` prefetches nothing). If crashes come near
``maxReceiveCount``, the queue itself dead-letters *valid* messages and the oracle rightly
blames the consumer. Here:
- ``CRASH_AFTER_RECEIVE=5``: each incarnation crashes once, on its 5th message, after recording
  it and before the delete - its redelivery is recognised as completed and not run again;
- ``CRASH_RATE=0.04`` (seeded per incarnation) crashes at a random point; three of the four
  points come before the record, so a receive fails with p ~ 0.04 x 3/4 = 0.03 and reaching
  ``maxReceiveCount=5`` takes five failures in a row, p ~ 2e-8 per message. A crash after the
  work (``after_work``) runs the handler again on the redelivery; the idempotent effect is
  applied once;
- the visibility timeout (2 s) bounds how long a crashed message stays hidden.
"""

from __future__ import annotations

from collections.abc import Sequence

from scenarios.catalogue.common import BASE_NEEDS, ECS_CRASH
from scenarios.judging.expectations import CrashedAndRestarted, IdempotencyHeld, Redelivered
from scenarios.judging.facts import Expectation
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
        expect: list[Expectation] = [
            CrashedAndRestarted(),
            Redelivered(why="redelivery after a crash"),
        ]
        if k.crash_after_receive:
            faults.append(CrashAfterReceive(k.crash_after_receive))
            # the crash comes after the record: its redelivery must not run the handler again
            expect.append(IdempotencyHeld())
        if k.crash_rate:
            faults.append(CrashRate(k.crash_rate))
        return [
            Phase.from_knobs(
                k,
                faults=faults,
                expect=expect,
            )
        ]
