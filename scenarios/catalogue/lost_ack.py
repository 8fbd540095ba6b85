"""lost-ack: deletes and visibility changes applied but failed, or acknowledged but dropped.

The consumers run behind the fault proxy, which loses the acknowledgements of their
``DeleteMessageBatch`` and ``ChangeMessageVisibility`` calls in both directions:
- *applied but failed*: SQS applied the call, then the consumer got a 500. botocore retries a
  delete of a message that is already gone, or extends a visibility again;
- *acknowledged but dropped*: the consumer got a correct 200 for a call SQS never saw. A
  dropped delete leaves the message in the queue, so it is delivered again after its
  visibility timeout: the consumer must recognise work it already did and delete it again
  without applying its effect twice. A dropped heartbeat is absorbed by the next one.

Chaos calibration. Every rule fires on a fixed ``sequence`` of the matching calls (counted per
consumer slot), with ``max_fires`` per slot. Only a dropped delete costs a message a receive:
1 per slot x 2 consumers = at most 2 extra receives of one message, plus its real one = 3,
well within ``maxReceiveCount=8``; the heartbeat (every 0.3 s, extending to 2 s) outlives one
dropped extension, so no message overruns its visibility because of the faults.
"""

from __future__ import annotations

from scenarios.catalogue.common import (
    DELETES,
    VISIBILITY_CHANGES,
    ApiFaultScenario,
    calibration_of,
)
from scenarios.running.apifaults import ProxyFaults
from scenarios.settings import Knobs

PLAN = ProxyFaults(
    name="lost-ack",
    seed=16,
    rules=(
        # The applied-but-failed rule comes first: its retry passes it, then the dropped-ack
        # rule, whose sequence skips that retry - so it drops fresh deletes, not retries of
        # deletes already applied (a dropped retry would show nothing).
        {
            "service": "sqs",
            "operation": DELETES,
            "fault": "applied_failed",
            "fail_with": 500,
            "sequence": [1, 0, 0, 0],
            "max_fires": 2,
        },
        # once per slot, early (a consumer's 3rd delete): its redelivery, a visibility timeout
        # later, overlaps the rest of the work instead of trailing it
        {
            "service": "sqs",
            "operation": DELETES,
            "fault": "ack_dropped",
            "sequence": [0, 0, 1],
            "max_fires": 1,
        },
        {
            "service": "sqs",
            "operation": VISIBILITY_CHANGES,
            "fault": "ack_dropped",
            "sequence": [0, 1, 0, 0],
            "max_fires": 2,
        },
        {
            "service": "sqs",
            "operation": VISIBILITY_CHANGES,
            "fault": "applied_failed",
            "fail_with": 500,
            "sequence": [1, 0, 0],
            "max_fires": 2,
        },
    ),
)


class LostAck(ApiFaultScenario):
    name = "lost-ack"
    summary = "Deletes and heartbeats applied-but-failed or acked-but-dropped; nothing doubles."
    defaults = Knobs(
        count=10,
        consumers=2,
        visibility_timeout=2,
        max_receive_count=8,
        sleep_min=0.4,
        sleep_max=0.6,
        heartbeat_seconds=0.3,
        timeout_s=60.0,
    )
    expected_s = 7.0
    calibration = calibration_of(__doc__)
    proxy_plan = PLAN
    phase_note = "acknowledgements lost through the proxy"
    redelivery = "redelivery after a dropped delete"
