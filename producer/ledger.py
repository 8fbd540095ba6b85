"""The ledger: one JSON line per message SQS accepted, written as the run goes.

Each line is ``{"id": <payload id or null>, "MessageId": <SQS id>, "sent_at": <epoch ms>}``; on a
FIFO queue it also has ``group`` (MessageGroupId), ``dedup_id`` (the MessageDeduplicationId sent,
or the SHA-256 of the body that content-based deduplication uses), ``seq_in_group`` (0-based, the
order in which SQS accepted the group's messages from this run), ``SequenceNumber`` (from the
response; null if the endpoint gave none) and ``duplicate`` (true for an intentional resend of an
id sent earlier in the run). Rejected messages get no line.

Lines are flushed after every SendMessageBatch response, so a run that crashes half-way still
leaves a ledger that lists exactly what was accepted up to then (bar the batches whose responses
were in flight at the moment of the crash). Lines follow the order in which responses came back:
the send order with one call in flight, not necessarily with several (``max_in_flight``); the
sender serializes the writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from core.lifecycle import Scoped
from producer.errors import ConfigError

LedgerId = str | int | None


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One accepted message: payload id (``None`` if the body has none), MessageId, send time.

    The FIFO fields are ``None`` (and ``duplicate`` False) for a standard queue, and only then
    left out of the JSON line, so a standard queue's ledger is what it always was.
    """

    id: LedgerId
    message_id: str
    sent_at: int
    group: str | None = None
    dedup_id: str | None = None
    seq_in_group: int | None = None
    sequence_number: str | None = None
    duplicate: bool = False

    @property
    def is_fifo(self) -> bool:
        """True when the message went to a FIFO queue (it has a MessageGroupId)."""
        return self.group is not None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "MessageId": self.message_id,
            "sent_at": self.sent_at,
        }
        if self.group is not None:
            data["group"] = self.group
            data["dedup_id"] = self.dedup_id
            data["seq_in_group"] = self.seq_in_group
            data["SequenceNumber"] = self.sequence_number
            data["duplicate"] = self.duplicate
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LedgerEntry:
        group = data.get("group")
        seq_in_group = data.get("seq_in_group")
        sequence_number = data.get("SequenceNumber")
        dedup_id = data.get("dedup_id")
        return cls(
            id=data.get("id"),
            message_id=str(data["MessageId"]),
            sent_at=int(data["sent_at"]),
            group=None if group is None else str(group),
            dedup_id=None if dedup_id is None else str(dedup_id),
            seq_in_group=None if seq_in_group is None else int(seq_in_group),
            sequence_number=None if sequence_number is None else str(sequence_number),
            duplicate=bool(data.get("duplicate", False)),
        )


class LedgerWriter(Scoped):
    """Appends entries to a fresh ledger file; ``path=None`` keeps them in memory only."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def open(self) -> None:
        """Create the ledger file (``with LedgerWriter(path) as ledger:``)."""
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("w", encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"cannot write the ledger {self.path}: {exc.strerror}") from exc

    def write(self, entries: Iterable[LedgerEntry]) -> None:
        """Write and flush: once this returns, the lines survive a crash of this process."""
        if self._file is None:
            return
        text = "".join(entry.to_json() + "\n" for entry in entries)
        if text:
            self._file.write(text)
            self._file.flush()

    def close(self) -> None:
        """Close the file; every written line is already flushed."""
        if self._file is not None:
            self._file.close()
            self._file = None


def read_ledger(path: Path | str) -> list[LedgerEntry]:
    """Read a ledger file back (the oracle's ground truth of what was sent)."""
    return list(iter_ledger(path))


def iter_ledger(path: Path | str) -> Iterator[LedgerEntry]:
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield LedgerEntry.from_dict(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                raise ConfigError(f"{path}: line {number} is not a ledger entry: {exc}") from exc
