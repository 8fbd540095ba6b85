"""The worker's SQS boundary: every queue call, and the parsing of its error codes, in one place.

As dramatiq keeps broker I/O behind ``Broker``/``Consumer``, the worker never calls boto3 for
SQS itself. It asks this adapter to ``receive(n)``, ``delete_batch(handles)``,
``release(handle, seconds)`` and ``extend(handle, seconds)``, and gets plain answers back:

- ``Change.OK``: done;
- ``Change.STALE``: SQS no longer honours the receipt handle (the message was redelivered,
  deleted, or its visibility ran out); retrying with this handle can never succeed;
- ``Change.ERROR``: anything else that still failed after botocore's retries (throttling, 5xx,
  network); trying again later may succeed.

On a FIFO queue every receive also asks for ``MessageGroupId`` and ``SequenceNumber`` and
carries a ``ReceiveRequestAttemptId``: botocore resends a failed request as it was, so a retry
after a network error returns the messages the lost answer held instead of leaving them hidden
until their visibility runs out.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from consumer.aws import error_code
from consumer.config import MAX_BATCH
from consumer.errors import ConsumerError
from consumer.message import ATTR_GROUP_ID, ATTR_SEQUENCE_NUMBER

# Receipt handles that SQS no longer honours: the message was redelivered, deleted or expired.
STALE_RECEIPT_CODES = frozenset(
    {
        "ReceiptHandleIsInvalid",
        "InvalidParameterValue",
        "MessageNotInflight",
        "AWS.SimpleQueueService.MessageNotInflight",
        "AWS.SimpleQueueService.ReceiptHandleIsInvalid",
    }
)
AWS_ERRORS = (ClientError, BotoCoreError)
# What every receive asks for, besides the body: the oracle reads both from the logs.
_RECEIVE_ATTRIBUTES = ["ApproximateReceiveCount", "SentTimestamp"]
# A FIFO message's group, and the number SQS gave it, for the order and the logs.
_FIFO_RECEIVE_ATTRIBUTES = [*_RECEIVE_ATTRIBUTES, ATTR_GROUP_ID, ATTR_SEQUENCE_NUMBER]
# SQS requires a FIFO queue's name, hence the end of its URL, to carry this suffix.
FIFO_SUFFIX = ".fifo"
# Queue attributes the worker reads once at start.
ATTR_VISIBILITY_TIMEOUT = "VisibilityTimeout"
ATTR_FIFO_QUEUE = "FifoQueue"


def is_fifo_url(queue_url: str) -> bool:
    """True when the URL names a FIFO queue (SQS requires the ``.fifo`` suffix on one)."""
    return queue_url.rstrip("/").endswith(FIFO_SUFFIX)


class QueueError(ConsumerError):
    """A queue call failed after botocore's retries; the message says which and why."""


class Change(enum.Enum):
    """What a visibility change achieved."""

    OK = "ok"
    STALE = "stale"
    ERROR = "error"


@dataclass(frozen=True)
class ChangeResult:
    """A visibility change: its ``status``, and for a failure the error to log."""

    status: Change
    error: str = ""


class Deleted(NamedTuple):
    """A batch delete, split by outcome; failures carry ``(handle, error)``."""

    deleted: list[str]
    stale: list[tuple[str, str]]
    failed: list[tuple[str, str]]


class QueueClient:
    """One SQS queue, as the worker sees it. ``sqs`` is a boto3 SQS client (injected)."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        *,
        wait_time_seconds: int,
        visibility_timeout: int = 0,
        fifo: bool | None = None,
    ) -> None:
        self._sqs = sqs
        self.queue_url = queue_url
        self.wait_time_seconds = wait_time_seconds
        self.visibility_timeout = visibility_timeout
        """0: the queue's own; else passed on every receive."""
        self.fifo = is_fifo_url(queue_url) if fifo is None else fifo
        """A FIFO queue: receives ask for the group attributes and carry an attempt id."""
        self._attempt_id: str | None = None  # kept only after a receive that got no answer

    def attributes(self, names: Sequence[str]) -> dict[str, str]:
        """The named queue attributes (AWS errors propagate); absent ones are missing."""
        got = self._sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=list(names))
        return {str(k): str(v) for k, v in got.get("Attributes", {}).items()}

    def queue_visibility_timeout(self) -> int:
        """The queue's VisibilityTimeout attribute, in seconds (AWS errors propagate)."""
        return int(self.attributes([ATTR_VISIBILITY_TIMEOUT])[ATTR_VISIBILITY_TIMEOUT])

    def receive(self, n: int) -> list[dict[str, Any]]:
        """Up to ``n`` messages (one long poll); raise QueueError when the call fails."""
        kwargs: dict[str, Any] = {
            "QueueUrl": self.queue_url,
            "MaxNumberOfMessages": n,
            "WaitTimeSeconds": self.wait_time_seconds,
            "AttributeNames": _FIFO_RECEIVE_ATTRIBUTES if self.fifo else _RECEIVE_ATTRIBUTES,
        }
        if self.visibility_timeout:
            kwargs["VisibilityTimeout"] = self.visibility_timeout
        if self.fifo:
            # One id per logical receive; botocore's retries resend it. After a call that got
            # no answer at all (a network error), the next receive reuses it too: SQS may have
            # handed the messages to that lost answer. SQS honours an id for 5 minutes.
            self._attempt_id = self._attempt_id or uuid.uuid4().hex
            kwargs["ReceiveRequestAttemptId"] = self._attempt_id
        try:
            response = self._sqs.receive_message(**kwargs)
        except ClientError as exc:
            # SQS answered: it refuses to honour an id again after some errors (throttling),
            # so the next receive starts afresh.
            self._attempt_id = None
            raise QueueError(str(exc)) from exc
        except BotoCoreError as exc:
            raise QueueError(str(exc)) from exc
        self._attempt_id = None
        return list(response.get("Messages", []))

    def delete_batch(self, handles: Sequence[str]) -> Deleted:
        """One DeleteMessageBatch of up to 10 handles; never raises for an AWS failure."""
        if len(handles) > MAX_BATCH:
            raise ValueError(f"a batch holds at most {MAX_BATCH} handles, got {len(handles)}")
        entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles)]
        try:
            response = self._sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
        except AWS_ERRORS as exc:
            return Deleted([], [], [(h, str(exc)) for h in handles])
        deleted = [handles[int(ok["Id"])] for ok in response.get("Successful", [])]
        stale: list[tuple[str, str]] = []
        failed: list[tuple[str, str]] = []
        for failure in response.get("Failed", []):
            handle = handles[int(failure["Id"])]
            code = str(failure.get("Code", ""))
            if code in STALE_RECEIPT_CODES:
                stale.append((handle, code))
            else:
                failed.append((handle, f"{code}: {failure.get('Message', '')}"))
        return Deleted(deleted, stale, failed)

    def release(self, handle: str, seconds: int) -> ChangeResult:
        """Make the message visible to others in ``seconds`` (0: at once)."""
        return self._change_visibility(handle, seconds)

    def extend(self, handle: str, seconds: int) -> ChangeResult:
        """Keep the message invisible for ``seconds`` from now (a heartbeat)."""
        return self._change_visibility(handle, seconds)

    def _change_visibility(self, handle: str, seconds: int) -> ChangeResult:
        try:
            self._sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=handle, VisibilityTimeout=seconds
            )
        except AWS_ERRORS as exc:
            code = error_code(exc)
            if code in STALE_RECEIPT_CODES:
                return ChangeResult(Change.STALE, code)
            return ChangeResult(Change.ERROR, str(exc))
        return ChangeResult(Change.OK)
