"""What a handler receives, and how an SQS message body becomes one (or is found poison)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from consumer.contract import PAYLOAD_ID_MAX_BYTES, payload_id_problem
from consumer.errors import PoisonMessage


@dataclass(frozen=True)
class Message:
    """One received message, parsed. ``message_id`` is the payload's ``id`` or the SQS MessageId."""

    message_id: str
    sqs_message_id: str
    body: dict[str, Any]
    receive_count: int
    sequence: int
    """This process's count of received messages, from 1 (what CRASH_AFTER_RECEIVE counts)."""
    attempt: int = 0
    """The fencing token: 1 on first processing, +1 on every takeover (0 before the claim)."""
    sent_at: int | None = None
    receipt_handle: str = field(default="", repr=False)
    body_hash: str | None = field(default=None, repr=False)
    """SHA-256 of the body without ``sent_at`` (see ``body_hash()``): two different messages
    that share an id are told apart by it."""
    execution_id: str = ""
    """Unique per handler execution (the ``execution_id`` of ``handler.started``/``finished``);
    a side effect written with it can be traced to the execution that applied it."""
    message_group_id: str | None = None
    """FIFO queues: the message's ``MessageGroupId`` (None on a standard queue)."""
    sequence_number: str | None = None
    """FIFO queues: the ``SequenceNumber`` SQS gave the message (a string of digits)."""


# System attributes SQS returns with a FIFO message when asked for them.
ATTR_GROUP_ID = "MessageGroupId"
ATTR_SEQUENCE_NUMBER = "SequenceNumber"

# DynamoDB's limit on a partition key value: the id is the hash key of the status table.
MAX_ID_BYTES = PAYLOAD_ID_MAX_BYTES

Handler = Callable[[Message], None]
"""A user's work: return to complete the message, raise to leave it for a retry / the DLQ."""


def receive_count(raw: Mapping[str, Any]) -> int:
    try:
        return int(raw.get("Attributes", {}).get("ApproximateReceiveCount", 0))
    except (TypeError, ValueError):
        return 0


def group_id(raw: Mapping[str, Any]) -> str | None:
    """The ``MessageGroupId`` SQS returned with the message (FIFO queues), else None."""
    value = raw.get("Attributes", {}).get(ATTR_GROUP_ID)
    return None if value is None else str(value)


def sequence_number(raw: Mapping[str, Any]) -> str | None:
    """The ``SequenceNumber`` SQS returned with the message (FIFO queues), else None."""
    value = raw.get("Attributes", {}).get(ATTR_SEQUENCE_NUMBER)
    return None if value is None else str(value)


def parse(raw: Mapping[str, Any], *, sequence: int) -> Message:
    """Turn a ReceiveMessage entry into a Message; raise PoisonMessage with the reason."""
    sqs_id = str(raw.get("MessageId", ""))
    try:
        body = json.loads(raw.get("Body", ""))
    except (TypeError, ValueError) as exc:
        raise PoisonMessage(f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise PoisonMessage(f"body is JSON but not an object (got {type(body).__name__})")
    message_id = sqs_id
    if body.get("id") is not None:
        message_id = _payload_id(body["id"])
    sent_at = body.get("sent_at")
    return Message(
        message_id=message_id,
        sqs_message_id=sqs_id,
        body=body,
        receive_count=receive_count(raw),
        sequence=sequence,
        sent_at=int(sent_at)
        if isinstance(sent_at, int | float) and not isinstance(sent_at, bool)
        else None,
        receipt_handle=str(raw.get("ReceiptHandle", "")),
        body_hash=body_hash(body),
        message_group_id=group_id(raw),
        sequence_number=sequence_number(raw),
    )


def body_hash(body: Mapping[str, Any]) -> str:
    """The identity of a body: SHA-256 (hex) of its canonical JSON without ``sent_at``.

    The producer stamps ``sent_at`` when a message goes out, so a resend of the same id
    differs only there; any other difference makes it a different message.
    """
    canonical = json.dumps(
        {k: v for k, v in body.items() if k != "sent_at"}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _payload_id(given: Any) -> str:
    """The payload's ``id`` as the message's identity, or PoisonMessage with the reason."""
    problem = payload_id_problem(given)
    if problem is not None:
        raise PoisonMessage(problem)
    assert isinstance(given, str)
    return given
