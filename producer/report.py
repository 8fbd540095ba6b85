"""What a run reports: counts, timing, every failure with its reason, and the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from producer.ledger import LedgerEntry, LedgerId

#: Failure code for messages never attempted because the run stopped early.
NOT_SENT = "NotSent"
#: Failure code for an entry SQS left out of both Successful and Failed.
MISSING_FROM_RESPONSE = "MissingFromResponse"


@dataclass(frozen=True, slots=True)
class Failure:
    """A message SQS did not accept: why, and after how many attempts."""

    seq: int
    id: LedgerId
    code: str
    reason: str
    sender_fault: bool
    attempts: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "id": self.id,
            "code": self.code,
            "reason": self.reason,
            "sender_fault": self.sender_fault,
            "attempts": self.attempts,
        }


@dataclass(frozen=True, slots=True)
class Progress:
    """Passed to ``on_progress`` (on the calling thread) as batches finish, retries included.

    With one call in flight: after every batch. With several: each time one or more finish.
    """

    sent: int
    failed: int
    total: int
    elapsed_s: float

    @property
    def done(self) -> int:
        return self.sent + self.failed


@dataclass(frozen=True)
class SendReport:
    """The outcome of `producer.send`.

    ``sent`` messages were accepted (one ledger entry each); ``failed`` were not, and each has a
    `Failure` in ``failures``. ``sent + failed == requested`` always. ``elapsed_s`` runs from the
    first batch's scheduling to the last response (setup such as reading the queue's attributes
    is excluded); ``achieved_rate = sent / elapsed_s``. ``ledger`` is in send (plan) order; the
    ledger file is in the order the responses came back, which differs with calls in flight.
    """

    requested: int
    sent: int
    failed: int
    elapsed_s: float
    target_rate: float
    batches: int
    retried_entries: int
    failures: tuple[Failure, ...]
    ledger: tuple[LedgerEntry, ...]

    @property
    def achieved_rate(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def summary(self) -> dict[str, Any]:
        """The ``--json`` summary object."""
        return {
            "sent": self.sent,
            "failed": self.failed,
            "elapsed": round(self.elapsed_s, 3),
            "achieved_rate": round(self.achieved_rate, 2),
            "requested": self.requested,
            "target_rate": self.target_rate,
            "batches": self.batches,
            "retried_entries": self.retried_entries,
            "failures": [f.to_dict() for f in self.failures],
        }
