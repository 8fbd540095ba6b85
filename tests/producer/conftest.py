"""Producer test plumbing: a moto-backed SQS client, a fresh queue per test, call spies, faults."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws


@pytest.fixture
def sqs() -> Iterator[Any]:
    """An SQS client on in-process moto (no network)."""
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


@pytest.fixture
def make_queue(sqs: Any) -> Iterator[Callable[..., str]]:
    """Create uniquely named queues; every one is deleted at the end of the test."""
    created: list[str] = []

    def make(**attributes: str) -> str:
        name = f"producer-test-{uuid.uuid4().hex[:10]}"
        if attributes.get("FifoQueue") == "true":
            name += ".fifo"
        url: str = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        created.append(url)
        return url

    try:
        yield make
    finally:
        for url in created:
            sqs.delete_queue(QueueUrl=url)


@pytest.fixture
def queue_url(make_queue: Callable[..., str]) -> str:
    return make_queue()


class BatchSpy:
    """Records every SendMessageBatch request through botocore's event system."""

    def __init__(self, client: Any) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        client.meta.events.register("provide-client-params.sqs.SendMessageBatch", self._record)

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        self.calls.append([dict(entry) for entry in params["Entries"]])

    @property
    def sizes(self) -> list[int]:
        return [len(call) for call in self.calls]


@pytest.fixture
def spy(sqs: Any) -> BatchSpy:
    return BatchSpy(sqs)


class FaultyClient:
    """Wraps a real client; makes chosen batch entries fail (or whole calls raise).

    ``fail(body) -> dict | None`` decides per entry: return a ``Failed`` item (without ``Id``)
    to reject that entry on this attempt; the entry is then not sent at all.
    """

    def __init__(
        self,
        inner: Any,
        fail: Callable[[dict[str, Any]], dict[str, Any] | None] = lambda _: None,
        *,
        raise_on_call: int | None = None,
        drop: Callable[[dict[str, Any]], bool] = lambda _: False,
    ) -> None:
        self.inner = inner
        self.fail = fail
        self.drop = drop
        self.raise_on_call = raise_on_call
        self.calls: list[list[dict[str, Any]]] = []
        self._lock = threading.Lock()  # the producer may call from several threads at once

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> Any:
        with self._lock:
            self.calls.append(Entries)
            number = len(self.calls)
        if self.raise_on_call is not None and number == self.raise_on_call:
            from botocore.exceptions import ClientError

            raise ClientError(
                {"Error": {"Code": "ServiceUnavailable", "Message": "injected outage"}},
                "SendMessageBatch",
            )
        passed, failed, dropped = [], [], []
        for entry in Entries:
            verdict = self.fail(entry)
            if verdict is not None:
                failed.append({"Id": entry["Id"], **verdict})
            elif self.drop(entry):
                dropped.append(entry)
                self.inner.send_message(QueueUrl=QueueUrl, MessageBody=entry["MessageBody"])
            else:
                passed.append(entry)
        response: dict[str, Any] = {"Successful": [], "Failed": failed}
        if passed:
            real = self.inner.send_message_batch(QueueUrl=QueueUrl, Entries=passed)
            response["Successful"] = real.get("Successful", [])
            response["Failed"] += real.get("Failed", [])
        return response


def entry_id(entry: dict[str, Any]) -> Any:
    """The payload id inside a batch entry's body."""
    return json.loads(entry["MessageBody"])["id"]


def drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message in the queue (received and deleted)."""
    messages: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        batch = got.get("Messages", [])
        if not batch:
            return messages
        messages.extend(batch)
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
            ],
        )
