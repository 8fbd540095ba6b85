"""Every check, in the order reports list them: SQS, then DynamoDB, then ECS."""

from __future__ import annotations

from local.conformance import dynamodb, ecs, sqs
from local.conformance.registry import ProbeCheck

CHECKS: tuple[ProbeCheck, ...] = (*sqs.CHECKS, *dynamodb.CHECKS, *ecs.CHECKS)
