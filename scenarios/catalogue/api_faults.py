"""api-faults: throttling, 5xx and resets on every call the consumer makes; nothing is lost.

The consumers run behind the fault proxy (one per consumer slot), which fails their calls the
way AWS does: SQS ``ReceiveMessage``, ``DeleteMessageBatch`` and ``ChangeMessageVisibility``
(the heartbeat), and the DynamoDB writes of the idempotency store and the effect. Every fault
but one is answered without reaching the emulator, so botocore's retry is the whole recovery.
The exception is a receive reset *after* SQS answered: its messages are hidden for the
visibility timeout and then delivered again - the redeliveries this scenario shows.

Chaos calibration. Every rule fires on a fixed ``sequence`` of the matching calls (the proxy
counts per consumer slot), so it fires on every run, once per slot (``max_fires``). The
sequences keep the rules off each other's retries: a failed call's next attempt passes, so at
most one attempt in a row fails, far below botocore's 8 attempts (``AWS_MAX_ATTEMPTS``) and its
retry quota, and each fault costs one first-retry backoff (under 1 s), most of the run's time.
Only a lost receive costs a message a receive: 1 per slot x 2 consumers = at most 2 extra
receives of one message, plus its real one = 3, within ``maxReceiveCount=6``, so no valid
message is dead-lettered by the faults.
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
    name="api-faults",
    seed=16,
    # Each rule fires once per consumer slot, and never on the retry of a call another rule
    # failed: a failed call's first retry passes, so each costs one short backoff (under 1 s).
    # Rules see only the calls the rules before them let through: the sequences place them.
    rules=(
        # SQS receives: an answer lost after SQS handed the messages out (1st call), a 503
        # (3rd), throttling (5th)
        {
            "service": "sqs",
            "operation": "ReceiveMessage",
            "fault": "reset_after",
            "sequence": [1, 0],
            "max_fires": 1,
        },
        {
            "service": "sqs",
            "operation": "ReceiveMessage",
            "fault": "error_503",
            "sequence": [0, 1],
            "max_fires": 1,
        },
        {
            "service": "sqs",
            "operation": "ReceiveMessage",
            "fault": "throttle",
            "sequence": [0, 0, 1],
            "max_fires": 1,
        },
        # deletes: a 500 (1st call), then throttling (3rd)
        {
            "service": "sqs",
            "operation": DELETES,
            "fault": "error_500",
            "sequence": [1, 0],
            "max_fires": 1,
        },
        {
            "service": "sqs",
            "operation": DELETES,
            "fault": "throttle",
            "sequence": [0, 1],
            "max_fires": 1,
        },
        # heartbeats: a reset before SQS saw it (1st call), then throttling (3rd)
        {
            "service": "sqs",
            "operation": VISIBILITY_CHANGES,
            "fault": "reset_before",
            "sequence": [1, 0],
            "max_fires": 1,
        },
        {
            "service": "sqs",
            "operation": VISIBILITY_CHANGES,
            "fault": "throttle",
            "sequence": [0, 1],
            "max_fires": 1,
        },
        # DynamoDB writes, one kind each: the effect and the lease (PutItem), the heartbeat's
        # lease extension (UpdateItem), the completion (TransactWriteItems)
        {
            "service": "dynamodb",
            "operation": "PutItem",
            "fault": "throttle",
            "sequence": [1, 0],
            "max_fires": 1,
        },
        {
            "service": "dynamodb",
            "operation": "UpdateItem",
            "fault": "error_500",
            "sequence": [1, 0],
            "max_fires": 1,
        },
        {
            "service": "dynamodb",
            "operation": "TransactWriteItems",
            "fault": "reset_before",
            "sequence": [0, 1],
            "max_fires": 1,
        },
    ),
)


class ApiFaults(ApiFaultScenario):
    name = "api-faults"
    summary = "Throttling, 5xx and resets on every SQS and DynamoDB call; retries recover all."
    defaults = Knobs(
        count=8,
        consumers=2,
        visibility_timeout=2,
        max_receive_count=6,
        sleep_min=0.3,
        sleep_max=0.5,
        heartbeat_seconds=0.25,
        timeout_s=60.0,
    )
    expected_s = 8.0
    calibration = calibration_of(__doc__)
    proxy_plan = PLAN
    phase_note = "every call type faulted through the proxy"
    redelivery = "redelivery after a lost receive"
