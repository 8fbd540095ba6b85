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

A consumer seen from outside has no chaos knobs; its crashes are real kills instead. One
SIGKILL lands shortly after a receive (the pass-through shows when a consumer holds a message),
and one lands between the effect and the delete: the pass-through holds the consumer's delete,
and the kill comes while it waits. The message was applied but never deleted, so SQS delivers
it again; a consumer that keys its effect by the message id applies it once.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence

from scenarios.catalogue.common import BASE_NEEDS, ECS_CRASH, calibration_of
from scenarios.judging.expectations import (
    CrashedAndRestarted,
    IdempotencyHeld,
    KilledBetweenEffectAndDelete,
    Redelivered,
    Restarted,
)
from scenarios.judging.facts import Expectation
from scenarios.model import ConsumerGroup, ConsumerSettings, Fault, Phase
from scenarios.running.faults import CrashAfterReceive, CrashRate, SignalWhileProcessing
from scenarios.running.outside import KillBetweenEffectAndDelete
from scenarios.running.scenario import Scenario
from scenarios.settings import Knobs


class Crash(Scenario):
    name = "crash"
    summary = "Consumers crash mid-message and are restarted; redelivery recovers every message."
    defaults = Knobs(
        count=16,
        consumers=2,
        max_messages=2,
        visibility_timeout=2,
        max_receive_count=5,
        crash_after_receive=5,
        crash_rate=0.04,
        sleep_max=0.02,
    )
    expected_s = 5.5
    needs = BASE_NEEDS
    calibration = calibration_of(__doc__)
    ecs = ECS_CRASH
    needs_receives = True
    plugged_in = (
        "real kills instead of CRASH_* knobs: after a receive, and between effect and delete"
    )

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

    def outside_phases(self, k: Knobs) -> Sequence[Phase]:
        # Work long enough (0.2-0.4 s) for a kill to land while a message is held.
        held = ConsumerSettings.from_knobs(k, sleep_min_seconds=0.2, sleep_max_seconds=0.4)
        return [
            Phase.from_knobs(
                k,
                note="kills aimed from outside: after a receive, and between effect and delete",
                consumers=(ConsumerGroup(k.consumers, held),),
                faults=(
                    SignalWhileProcessing(signal.SIGKILL, slot=0, after_completed=2, max_age_s=0.2),
                    KillBetweenEffectAndDelete(slot=min(1, k.consumers - 1), after=3),
                ),
                expect=(
                    Restarted(),
                    Redelivered(why="redelivery after a kill"),
                    KilledBetweenEffectAndDelete(),
                ),
            )
        ]
