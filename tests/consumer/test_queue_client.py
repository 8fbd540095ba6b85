"""The queue adapter: what each SQS answer becomes (ok | stale | error), against moto and fakes."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from consumer.message import parse
from consumer.queue_client import Change, QueueClient, QueueError, is_fifo_url
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


# -- FIFO queues ------------------------------------------------------------------------------


class Receives:
    """An SQS client that records every ReceiveMessage request and answers from a script:
    an exception is raised, a list is returned as the messages."""

    def __init__(self, *answers: Exception | list[dict[str, Any]]) -> None:
        self.answers = list(answers)
        self.requests: list[dict[str, Any]] = []

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        self.requests.append(kwargs)
        answer = self.answers.pop(0) if self.answers else []
        if isinstance(answer, Exception):
            raise answer
        return {"Messages": answer}


def test_a_fifo_url_is_recognised_by_its_suffix() -> None:
    assert is_fifo_url("https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo")
    assert is_fifo_url("http://127.0.0.1:4566/000000000000/orders.fifo/")
    assert not is_fifo_url("https://sqs.eu-west-1.amazonaws.com/123456789012/orders")
    assert not is_fifo_url("http://127.0.0.1:4566/000000000000/fifo")
    assert QueueClient(None, "http://q/a.fifo", wait_time_seconds=0).fifo
    assert not QueueClient(None, "http://q/a", wait_time_seconds=0).fifo
    assert QueueClient(None, "http://q/a", wait_time_seconds=0, fifo=True).fifo


def test_a_fifo_receive_returns_the_group_and_sequence_number(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="qc-order.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    for i, group in enumerate(["g1", "g2"]):
        sqs.send_message(
            QueueUrl=url, MessageBody=f"m{i}", MessageGroupId=group, MessageDeduplicationId=str(i)
        )
    got = queue(sqs, url).receive(10)
    assert [(m["Attributes"]["MessageGroupId"], m["Body"]) for m in got] == [
        ("g1", "m0"),
        ("g2", "m1"),
    ]
    assert all(m["Attributes"]["SequenceNumber"].isdigit() for m in got)
    # AND a parsed message carries both
    parsed = parse(got[0] | {"Body": '{"id": "m0"}'}, sequence=1)
    assert parsed.message_group_id == "g1"
    assert parsed.sequence_number == got[0]["Attributes"]["SequenceNumber"]
    assert parse({"MessageId": "x", "Body": "{}"}, sequence=1).message_group_id is None


def test_a_standard_receive_asks_for_no_group_and_sends_no_attempt_id() -> None:
    sqs = Receives([])
    queue(sqs).receive(3)
    (request,) = sqs.requests
    assert "ReceiveRequestAttemptId" not in request
    assert request["AttributeNames"] == ["ApproximateReceiveCount", "SentTimestamp"]


def test_each_fifo_receive_carries_its_own_attempt_id() -> None:
    sqs = Receives([], [])
    q = queue(sqs, "http://q/a.fifo")
    q.receive(2)
    q.receive(2)
    first, second = sqs.requests
    assert {"MessageGroupId", "SequenceNumber"} <= set(first["AttributeNames"])
    assert first["ReceiveRequestAttemptId"] and second["ReceiveRequestAttemptId"]
    assert first["ReceiveRequestAttemptId"] != second["ReceiveRequestAttemptId"]


def test_a_fifo_receive_lost_to_a_network_error_is_retried_with_the_same_attempt_id() -> None:
    # GIVEN a receive whose answer never arrived, then one that SQS refused (throttled)
    lost = EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    sqs = Receives(lost, client_error("ThrottlingException", "ReceiveMessage"), [], [])
    q = queue(sqs, "http://q/a.fifo")
    for _ in range(2):
        with pytest.raises(QueueError):
            q.receive(1)
    q.receive(1)
    q.receive(1)
    ids = [r["ReceiveRequestAttemptId"] for r in sqs.requests]
    # THEN the receive after the lost answer asks for the same messages again; after SQS's
    # refusal and after a success, each receive is a new one
    assert ids[0] == ids[1]
    assert len({ids[1], ids[2], ids[3]}) == 3


def test_attributes_reads_the_named_queue_attributes(stack: Stack) -> None:
    got = queue(stack.sqs, stack.queue_url).attributes(["VisibilityTimeout", "FifoQueue"])
    assert got["VisibilityTimeout"] == "5"
    assert got.get("FifoQueue", "false") == "false"
