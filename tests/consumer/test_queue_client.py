"""The queue adapter: what each SQS answer becomes (ok | stale | error), against moto and fakes."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from consumer.queue_client import Change, QueueClient, QueueError
from tests.consumer.conftest import Stack

pytestmark = pytest.mark.unit


def client_error(code: str, operation: str = "ChangeMessageVisibility") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} happened"}}, operation)


class Failing:
    """An SQS client whose every call raises ``exc``."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def __getattr__(self, name: str) -> Any:
        def call(**_: Any) -> Any:
            raise self.exc

        return call


def queue(sqs: Any, url: str = "http://q") -> QueueClient:
    return QueueClient(sqs, url, wait_time_seconds=0)


def test_receive_asks_for_n_with_the_attributes_the_logs_need(stack: Stack) -> None:
    for i in range(3):
        stack.send({"id": f"r-{i}"})
    got = queue(stack.sqs, stack.queue_url).receive(2)
    assert len(got) == 2
    assert {"ApproximateReceiveCount", "SentTimestamp"} <= set(got[0]["Attributes"])


def test_receive_failure_is_a_queue_error() -> None:
    with pytest.raises(QueueError, match="InternalError"):
        queue(Failing(client_error("InternalError", "ReceiveMessage"))).receive(1)


def test_release_and_extend_succeed_on_a_live_handle(stack: Stack) -> None:
    stack.send({"id": "v"})
    q = queue(stack.sqs, stack.queue_url)
    (raw,) = q.receive(1)
    assert q.extend(raw["ReceiptHandle"], 30).status is Change.OK
    assert stack.visible() == 0
    assert q.release(raw["ReceiptHandle"], 0).status is Change.OK
    assert stack.visible() == 1


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (client_error("ReceiptHandleIsInvalid"), Change.STALE),
        (client_error("AWS.SimpleQueueService.MessageNotInflight"), Change.STALE),
        (client_error("InternalError"), Change.ERROR),
        (client_error("ThrottlingException"), Change.ERROR),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), Change.ERROR),
    ],
)
def test_a_failed_visibility_change_is_stale_or_error(exc: Exception, expected: Change) -> None:
    for call in (queue(Failing(exc)).extend, queue(Failing(exc)).release):
        result = call("handle", 5)
        assert result.status is expected
        assert result.error  # the code or the message, for the log


class BatchAnswer:
    """An SQS client whose DeleteMessageBatch answers with ``failed`` codes per entry Id."""

    def __init__(self, failed: dict[str, str]) -> None:
        self.failed = failed
        self.entries: list[dict[str, str]] = []

    def delete_message_batch(self, *, Entries: list[dict[str, str]], **_: Any) -> dict[str, Any]:
        self.entries = Entries
        return {
            "Successful": [{"Id": e["Id"]} for e in Entries if e["Id"] not in self.failed],
            "Failed": [
                {"Id": i, "Code": code, "Message": "no", "SenderFault": True}
                for i, code in self.failed.items()
            ],
        }


def test_delete_batch_splits_deleted_stale_and_failed() -> None:
    sqs = BatchAnswer({"1": "ReceiptHandleIsInvalid", "2": "InternalError"})
    deleted, stale, failed = queue(sqs).delete_batch(["h0", "h1", "h2", "h3"])
    assert deleted == ["h0", "h3"]
    assert stale == [("h1", "ReceiptHandleIsInvalid")]
    assert [h for h, _ in failed] == ["h2"] and "InternalError" in failed[0][1]
    assert [e["ReceiptHandle"] for e in sqs.entries] == ["h0", "h1", "h2", "h3"]


def test_delete_batch_call_failure_fails_every_handle() -> None:
    deleted, stale, failed = queue(Failing(client_error("InternalError"))).delete_batch(["a", "b"])
    assert (deleted, stale) == ([], [])
    assert [h for h, _ in failed] == ["a", "b"]


def test_delete_batch_refuses_more_than_ten() -> None:
    with pytest.raises(ValueError, match="at most 10"):
        queue(BatchAnswer({})).delete_batch([str(i) for i in range(11)])


def test_delete_batch_against_moto_deletes(stack: Stack) -> None:
    stack.send({"id": "d"})
    q = queue(stack.sqs, stack.queue_url)
    (raw,) = q.receive(1)
    deleted, stale, failed = q.delete_batch([raw["ReceiptHandle"]])
    assert deleted == [raw["ReceiptHandle"]] and stale == failed == []
    assert stack.depth() == 0
