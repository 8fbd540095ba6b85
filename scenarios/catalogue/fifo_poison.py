"""fifo-poison: a poison message blocks its own group until it is dead-lettered; others flow.

The poison body is sent into group 0 after that group's first message, so the group's later
messages sit behind it. Each receive of the poison is released after a short backoff and SQS
hands it out again - first in its group - until the receive after ``maxReceiveCount`` moves it
to the FIFO DLQ. Only then does the group's next message come out. The other groups are not
held: their messages complete meanwhile. The phenomenon shows the block from the consumers'
logs: the poisoned group's later messages completed only after the poison's last receive, and
other groups' messages completed between its first and its last receive.

Chaos calibration: one message per receive (``MAX_MESSAGES=1``, no heartbeat), so a receive
of the poison never brings valid messages of its group with it, which would count a receive
against them too and could dead-letter them with it (docs/consumer.md, FIFO costs).
"""

from __future__ import annotations

from collections.abc import Sequence

from core import capabilities as cap
from scenarios.catalogue.common import BASE_NEEDS
from scenarios.catalogue.fifo_order import FIFO_NEEDS
from scenarios.catalogue.poison import POISON_CORPUS
from scenarios.judging.expectations import DeadLetteredAfterMaxReceives
from scenarios.judging.fifo import GroupBlockedByPoison
from scenarios.model import FifoQueue, Need, Phase, Traffic
from scenarios.running.scenario import Scenario
from scenarios.settings import Knobs

#: what stands in for the probe's ``sqs.fifo_dlq`` where an emulator fails it only by accepting
#: a standard DLQ for a FIFO queue (MiniStack, LocalStack; docs/emulators.md)
FIFO_DLQ_SHIM = (
    "the kit's stack always gives a FIFO queue a FIFO DLQ (StackSpec), so the emulator's "
    "acceptance of a standard DLQ, which AWS refuses, is never exercised; the dead-lettering "
    "itself is checked by the oracle"
)


class FifoPoison(Scenario):
    name = "fifo-poison"
    summary = "A poison message blocks only its FIFO group until it reaches the DLQ."
    defaults = Knobs(
        # 4 messages per group: the poisoned group keeps 3 behind the poison, and they run one
        # after the other once it is gone, which is the run's tail
        count=16,
        groups=4,
        consumers=2,
        poison=1,
        max_messages=1,
        visibility_timeout=3,
        # each receive of the poison blocks its group for the 1 s release backoff: 2 receives
        # show the block (other groups complete in between) in 2 s instead of 3
        max_receive_count=2,
        sleep_min=0.2,
        sleep_max=0.3,
    )
    expected_s = 6.0
    needs = (
        *BASE_NEEDS,
        *FIFO_NEEDS,
        Need(cap.SQS_DLQ),
        Need(cap.SQS_FIFO_DLQ, shim=FIFO_DLQ_SHIM),
    )
    calibration = __doc__.split("Chaos calibration: ", 1)[1].strip() if __doc__ else None

    def phases(self, k: Knobs) -> Sequence[Phase]:
        corpus = tuple(POISON_CORPUS[i % len(POISON_CORPUS)] for i in range(k.poison))
        return [
            Phase.from_knobs(
                k,
                traffic=Traffic.from_knobs(
                    k,
                    groups=k.groups,
                    poison=corpus,
                    # after one message of each group: group 0's later messages sit behind it
                    poison_after=min(k.groups, k.count),
                    poison_group=0,
                ),
                fifo=FifoQueue(),
                expect=(DeadLetteredAfterMaxReceives(), GroupBlockedByPoison()),
                note=f"FIFO queue, {k.groups} message groups, poison in group 0",
            )
        ]
