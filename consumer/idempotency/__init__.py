"""Idempotency stores: the state machine in ``base``, thin backends beside it."""

from consumer.idempotency.base import (
    COMPLETED,
    STARTED,
    Claim,
    Decision,
    IdempotencyStore,
    Outcome,
    StatusRecord,
    Verdict,
)
from consumer.idempotency.dynamodb import DynamoDBStore
from consumer.idempotency.memory import MemoryStore

__all__ = [
    "COMPLETED",
    "STARTED",
    "Claim",
    "Decision",
    "DynamoDBStore",
    "IdempotencyStore",
    "MemoryStore",
    "Outcome",
    "StatusRecord",
    "Verdict",
]
