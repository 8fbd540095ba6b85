"""The in-memory backend: the seed's LRU, used when no DynamoDB tables are configured.

It only protects one process: ids claimed or completed here. ``IDEMPOTENCY_CACHE_SIZE=0``
turns duplicate detection after completion off, as in the seed.
"""

from __future__ import annotations

import threading
from dataclasses import replace

from cachetools import LRUCache

from consumer.idempotency.base import (
    COMPLETED,
    STARTED,
    Claim,
    Clock,
    IdempotencyStore,
    Outcome,
    StatusRecord,
)

# Records of ids claimed but not completed (in flight, failed or released) are kept apart from
# the completed LRU so a small cache cannot evict an id that is being worked on.
_MAX_OPEN_RECORDS = 100_000


class MemoryStore(IdempotencyStore):
    """Status records in process memory, guarded by one lock; completed ids in an LRU."""

    name = "memory"

    def __init__(self, owner: str, *, cache_size: int = 1000, clock: Clock | None = None) -> None:
        super().__init__(owner, cache_size=cache_size, clock=clock)
        self._lock = threading.Lock()
        self._open: LRUCache[str, StatusRecord] = LRUCache(_MAX_OPEN_RECORDS)
        self._completed: LRUCache[str, StatusRecord] | None = (
            LRUCache(cache_size) if cache_size > 0 else None
        )

    def _lookup(self, message_id: str) -> StatusRecord | None:
        if self._completed is not None and message_id in self._completed:
            return self._completed[message_id]
        return self._open.get(message_id)

    def _insert(self, record: StatusRecord) -> StatusRecord | None:
        with self._lock:
            existing = self._lookup(record.message_id)
            if existing is None:
                self._open[record.message_id] = record
            return existing

    def _get(self, message_id: str) -> StatusRecord | None:
        with self._lock:
            return self._lookup(message_id)

    def _takeover(self, record: StatusRecord, *, expected_attempts: int, now: float) -> bool:
        with self._lock:
            current = self._open.get(record.message_id)
            if (
                current is None
                or current.status != STARTED
                or current.attempts != expected_attempts
                or current.lease_expires_at > now
            ):
                return False
            self._open[record.message_id] = record
            return True

    def _ours(self, claim: Claim) -> StatusRecord | None:
        current = self._open.get(claim.message_id)
        if (
            current is None
            or current.status != STARTED
            or current.owner != claim.owner
            or current.attempts != claim.attempt
        ):
            return None
        return current

    def _set_lease(self, claim: Claim, lease_expires_at: float, *, now: float) -> bool:
        with self._lock:
            current = self._ours(claim)
            if current is None:
                return False
            self._open[claim.message_id] = replace(
                current, lease_expires_at=lease_expires_at, updated_at=now
            )
            return True

    def _finish(self, claim: Claim, completed_at_ms: int, *, now: float) -> Outcome:
        with self._lock:
            if self._completed is not None and claim.message_id in self._completed:
                return Outcome.ALREADY_COMPLETED
            current = self._ours(claim)
            if current is None:
                return Outcome.FENCED
            del self._open[claim.message_id]
            if self._completed is not None:
                self._completed[claim.message_id] = replace(
                    current, status=COMPLETED, updated_at=now
                )
            return Outcome.COMPLETED
