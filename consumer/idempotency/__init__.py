"""Idempotency stores: the state machine in ``base``, thin backends beside it."""

from consumer.idempotency.base import (
    COMPLETED,
    STARTED,
    Claim,
    ClaimVerdict,
    Decision,
    IdempotencyStore,
    Outcome,
    StatusRecord,
)
from consumer.idempotency.dynamodb import DynamoDBStore
from consumer.idempotency.memory import MemoryStore

__all__ = [
    "COMPLETED",
    "STARTED",
    "Claim",
    "ClaimVerdict",
    "Decision",
    "DynamoDBStore",
    "IdempotencyStore",
    "MemoryStore",
    "Outcome",
    "StatusRecord",
]
