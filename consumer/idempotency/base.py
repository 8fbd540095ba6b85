"""The idempotency state machine, in one place; backends implement five small primitives.

States of one logical message id (the payload's ``id``, or the SQS MessageId):

- absent -> **first receive**: insert STARTED, attempts 1, with a lease that ends at the
  message's visibility deadline.
- COMPLETED -> **duplicate**: the caller deletes the message and does no work.
- STARTED, lease live -> **busy** (in progress elsewhere): the caller releases the message.
- STARTED, lease expired -> **takeover**: a conditional update sets a new owner and
  attempts + 1. ``attempts`` is the fencing token: every later write of the old owner is
  conditioned on the old value and fails.
- **completion**: one atomic write flips STARTED -> COMPLETED (owner and attempts must still
  be ours) and creates the completed item (which must not exist yet). If the condition
  fails, the caller was fenced out and has not completed the message.
- **id collision**: every record carries the hash of the body it was written for. A record
  whose hash differs from the received body's belongs to a *different* message that shares
  the id: it is neither a duplicate nor taken over, and the caller must not delete it.
  (Records written without a hash match any body.)

The base class also keeps an LRU of completed ids (with their body hashes), so a duplicate
seen by this process costs no request at all.
"""

from __future__ import annotations

import abc
import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from cachetools import LRUCache

STARTED = "STARTED"
COMPLETED = "COMPLETED"

# How often begin() re-reads and retries when other workers keep winning the same id.
_MAX_RACE_ROUNDS = 5

Clock = Callable[[], float]


@dataclass(frozen=True)
class StatusRecord:
    """One status item. Times are epoch seconds (with millisecond precision)."""

    message_id: str
    status: str
    attempts: int
    owner: str
    lease_expires_at: float
    updated_at: float
    body_hash: str | None = None

    def lease_live(self, now: float) -> bool:
        return self.status == STARTED and self.lease_expires_at > now


@dataclass(frozen=True)
class Claim:
    """This worker holds the lease on ``message_id`` as attempt number ``attempt``."""

    message_id: str
    owner: str
    attempt: int
    lease_expires_at: float
    previous_owner: str | None = None
    body_hash: str | None = None

    @property
    def takeover(self) -> bool:
        return self.previous_owner is not None


class ClaimVerdict(enum.Enum):
    """What ``begin()`` decided about one received message (not the oracle's run verdict)."""

    CLAIMED = "claimed"
    DUPLICATE = "duplicate"
    BUSY = "busy"
    COLLISION = "collision"  # the id's record belongs to a different body


@dataclass(frozen=True)
class Decision:
    """What ``begin()`` decided: claim it, skip it as a duplicate, leave it to its owner, or
    refuse it as an id collision."""

    verdict: ClaimVerdict
    claim: Claim | None = None
    existing: StatusRecord | None = None
    source: str | None = None  # where a duplicate or collision was recognised: cache | status
    other_body_hash: str | None = None  # a collision: the hash the id was recorded with


class Outcome(enum.Enum):
    """What ``complete()`` achieved."""

    COMPLETED = "completed"  # this call is the one effective completion
    ALREADY_COMPLETED = "already_completed"  # someone else completed it first
    FENCED = "fenced"  # another worker took the lease over; nothing was written


class IdempotencyStore(abc.ABC):
    """The state machine. Subclasses implement ``_insert``, ``_get``, ``_takeover``,
    ``_set_lease`` and ``_finish``; each is a single (conditional) operation."""

    name: str = "base"

    def __init__(self, owner: str, *, cache_size: int = 1000, clock: Clock | None = None) -> None:
        self.owner = owner
        self.clock: Clock = clock or time.time
        # completed id -> the body hash it was completed with (None: unknown)
        self._cache: LRUCache[str, str | None] | None = (
            LRUCache(cache_size) if cache_size > 0 else None
        )
        self._cache_lock = threading.Lock()

    # -- the state machine -------------------------------------------------------------------

    def begin(  # noqa: PLR0911 - one exit per state
        self, message_id: str, lease_expires_at: float, body_hash: str | None = None
    ) -> Decision:
        """Try to claim ``message_id`` until ``lease_expires_at`` (epoch seconds).

        ``body_hash`` identifies the body (see ``consumer.message.body_hash``); it is stored
        with the record, and a record with another hash is reported as a collision.
        """
        hit, cached_hash = self._cached(message_id)
        if hit:
            if _differs(cached_hash, body_hash):
                return Decision(ClaimVerdict.COLLISION, source="cache", other_body_hash=cached_hash)
            return Decision(ClaimVerdict.DUPLICATE, source="cache")
        now = self.clock()
        fresh = StatusRecord(
            message_id, STARTED, 1, self.owner, lease_expires_at, now, body_hash=body_hash
        )
        existing = self._insert(fresh)
        for _ in range(_MAX_RACE_ROUNDS):
            if existing is None:
                return Decision(ClaimVerdict.CLAIMED, claim=self._claim_of(fresh))
            if _differs(existing.body_hash, body_hash):
                return Decision(
                    ClaimVerdict.COLLISION,
                    existing=existing,
                    source="status",
                    other_body_hash=existing.body_hash,
                )
            if existing.status == COMPLETED:
                self._remember(message_id, existing.body_hash or body_hash)
                return Decision(ClaimVerdict.DUPLICATE, existing=existing, source="status")
            if existing.lease_live(now):
                return Decision(ClaimVerdict.BUSY, existing=existing)
            taken = replace(fresh, attempts=existing.attempts + 1)
            if self._takeover(taken, expected_attempts=existing.attempts, now=now):
                return Decision(
                    ClaimVerdict.CLAIMED, claim=self._claim_of(taken, previous_owner=existing.owner)
                )
            # Someone else moved first; look again (it may even have been deleted).
            existing = self._get(message_id)
            if existing is None:
                existing = self._insert(fresh)
        return Decision(ClaimVerdict.BUSY, existing=existing)

    def extend(self, claim: Claim, lease_expires_at: float) -> bool:
        """Move the lease forward (heartbeat). False: we were fenced out."""
        return self._set_lease(claim, lease_expires_at, now=self.clock())

    def release(self, claim: Claim) -> bool:
        """End the lease now, so the next receiver takes over at once. False: fenced out."""
        now = self.clock()
        return self._set_lease(claim, now, now=now)

    def complete(self, claim: Claim, completed_at_ms: int) -> Outcome:
        """Record the completion atomically; only ``Outcome.COMPLETED`` counts as an effect."""
        outcome = self._finish(claim, completed_at_ms, now=self.clock())
        if outcome is not Outcome.FENCED:
            self._remember(claim.message_id, claim.body_hash)
        return outcome

    # -- local cache -------------------------------------------------------------------------

    def _cached(self, message_id: str) -> tuple[bool, str | None]:
        """(found, body hash) for a completed id this process has seen."""
        if self._cache is None:
            return False, None
        with self._cache_lock:
            if message_id in self._cache:
                return True, self._cache[message_id]
            return False, None

    def _remember(self, message_id: str, body_hash: str | None) -> None:
        if self._cache is not None:
            with self._cache_lock:
                self._cache[message_id] = body_hash

    def _claim_of(self, record: StatusRecord, previous_owner: str | None = None) -> Claim:
        return Claim(
            record.message_id,
            record.owner,
            record.attempts,
            record.lease_expires_at,
            previous_owner,
            record.body_hash,
        )

    # -- primitives --------------------------------------------------------------------------

    @abc.abstractmethod
    def _insert(self, record: StatusRecord) -> StatusRecord | None:
        """Create ``record`` if no item exists; return None on success, else the existing item."""

    @abc.abstractmethod
    def _get(self, message_id: str) -> StatusRecord | None:
        """Read the status item (strongly consistent)."""

    @abc.abstractmethod
    def _takeover(self, record: StatusRecord, *, expected_attempts: int, now: float) -> bool:
        """Replace a STARTED item whose attempts == expected and whose lease ended by ``now``."""

    @abc.abstractmethod
    def _set_lease(self, claim: Claim, lease_expires_at: float, *, now: float) -> bool:
        """Set the lease end, if the item is still STARTED by ``claim``'s owner and attempt."""

    @abc.abstractmethod
    def _finish(self, claim: Claim, completed_at_ms: int, *, now: float) -> Outcome:
        """Atomically mark COMPLETED (if still ours) and create the completed item (if new)."""


def _differs(recorded: str | None, received: str | None) -> bool:
    """Two known hashes that differ: a different message under the same id."""
    return recorded is not None and received is not None and recorded != received
