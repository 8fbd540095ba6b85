"""Every check, in the order reports list them: SQS, redrive, then DynamoDB and ECS."""

from __future__ import annotations

from local.conformance import dynamodb, ecs, sqs, sqs_redrive
from local.conformance.registry import ProbeCheck

CHECKS: tuple[ProbeCheck, ...] = (
    *sqs.CHECKS,
    *sqs_redrive.CHECKS,
    *dynamodb.CHECKS,
    *ecs.CHECKS,
)
