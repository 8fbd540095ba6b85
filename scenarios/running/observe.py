"""Observing a stack: queue depth (sampled during the run), table scans, what queues still hold.

These are the only reads the oracle's facts come from; they use plain boto3 clients from the
target, so the same code observes an emulator and AWS.
"""

from __future__ import annotations

import logging
import threading
import time
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from core.stack import StackHandle
from scenarios.judging.facts import Depth, QueuedMessage, Sample

log = logging.getLogger(__name__)

_DEPTH_ATTRIBUTES = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]
_deserializer = TypeDeserializer()


def depth(sqs: Any, queue_url: str) -> Depth:
    """Visible, in-flight and delayed message counts of one queue."""
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=_DEPTH_ATTRIBUTES)[
        "Attributes"
    ]
    return Depth(
        visible=int(attrs.get("ApproximateNumberOfMessages", 0)),
        in_flight=int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
        delayed=int(attrs.get("ApproximateNumberOfMessagesDelayed", 0)),
    )


def scan(ddb: Any, table: str) -> list[dict[str, Any]]:
    """Every item of ``table`` as plain Python values (numbers as int or float)."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = ddb.scan(**kwargs)
        items.extend(
            {k: _plain(_deserializer.deserialize(v)) for k, v in raw.items()}
            for raw in page.get("Items", [])
        )
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set):
        return sorted(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def read_dlq(sqs: Any, dlq_url: str, *, hide_s: int = 60) -> list[QueuedMessage]:
    """Every message in the DLQ, read without deleting (hidden for ``hide_s`` while we read)."""
    d = depth(sqs, dlq_url)
    return peek(sqs, dlq_url, expected=d.total, hide_s=hide_s)


def peek(sqs: Any, queue_url: str, *, expected: int, hide_s: int = 60) -> list[QueuedMessage]:
    """Up to ``expected`` messages of a queue, read without deleting (hidden for ``hide_s``).

    Only visible messages can be read. Reading counts as a receive: on a queue with a redrive
    policy, a message past maxReceiveCount moves to the DLQ instead of being returned.
    """
    found: dict[str, QueuedMessage] = {}
    empty = 0
    while len(found) < expected and empty < 3:
        got = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0 if empty == 0 else 1,
            VisibilityTimeout=hide_s,
            AttributeNames=["ApproximateReceiveCount"],
        ).get("Messages", [])
        if not got:
            empty += 1
            continue
        for m in got:
            count = m.get("Attributes", {}).get("ApproximateReceiveCount")
            found[m["MessageId"]] = QueuedMessage(
                message_id=m["MessageId"],
                body=m.get("Body", ""),
                receive_count=int(count) if count is not None else None,
            )
    return list(found.values())


def wait_visible(sqs: Any, queue_url: str, *, timeout_s: float, poll_s: float = 0.5) -> Depth:
    """Wait until nothing in the queue is in flight or delayed (or ``timeout_s``); its depth."""
    deadline = time.monotonic() + timeout_s
    d = depth(sqs, queue_url)
    while (d.in_flight or d.delayed) and time.monotonic() < deadline:
        time.sleep(poll_s)
        d = depth(sqs, queue_url)
    return d


class DepthSampler:
    """Samples the queue's and the DLQ's depth in a background thread, for the timeline."""

    def __init__(self, sqs: Any, stack: StackHandle, interval_s: float = 0.25) -> None:
        self._sqs = sqs
        self._stack = stack
        self._interval = interval_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._samples: list[Sample] = []
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="depth-sampler", daemon=True)
        self._thread.start()

    def sample(self) -> Sample | None:
        """Take one sample now (also called by the engine's loop); None when the call failed."""
        t = time.time()  # when asked: the counts describe this moment or a later one
        try:
            q = depth(self._sqs, self._stack.queue_url)
            dlq = depth(self._sqs, self._stack.dlq_url)
        except (ClientError, BotoCoreError) as exc:
            log.debug("sampler.failed", extra={"error": str(exc)})
            return None
        s = Sample(t=t, visible=q.visible, in_flight=q.in_flight, dlq=dlq.total)
        with self._lock:
            self._samples.append(s)
        return s

    @property
    def latest(self) -> Sample | None:
        with self._lock:
            return self._samples[-1] if self._samples else None

    @property
    def samples(self) -> tuple[Sample, ...]:
        with self._lock:
            return tuple(self._samples)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self._interval)
