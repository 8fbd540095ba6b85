"""Every check, in the order reports list them: SQS, redrive, FIFO, then DynamoDB and ECS."""

from __future__ import annotations

from local.conformance import dynamodb, ecs, fifo, sqs, sqs_redrive
from local.conformance.registry import ProbeCheck

CHECKS: tuple[ProbeCheck, ...] = (
    *sqs.CHECKS,
    *sqs_redrive.CHECKS,
    *fifo.CHECKS,
    *dynamodb.CHECKS,
    *ecs.CHECKS,
)
