"""Every fault kind through the proxy, against the embedded emulator, with real boto3 clients in
botocore's standard retry mode: integration tier.

Each test checks the effect a fault claims (a retry, a redelivery, a hidden message, an applied
call whose answer failed) and, where the effect could happen anyway, a control without it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from local.faultproxy import FaultProxy, Plan, Recorder, read_records
from tests.local.faultproxy.conftest import client, query_sqs_session, unique

pytestmark = pytest.mark.integration

ProxyFactory = Callable[..., FaultProxy]


def _plan(*rules: dict[str, Any], name: str | None = None) -> Plan:
    return Plan.from_dict({"seed": 1, "name": name, "rules": list(rules)})


@pytest.fixture
def direct_sqs(emulator_endpoint: str) -> Any:
    return client("sqs", emulator_endpoint)


@pytest.fixture
def queue(direct_sqs: Any) -> Iterator[str]:
    """A fresh queue with a 1 s visibility timeout (the proxy must not be in this path)."""
    url: str = direct_sqs.create_queue(
        QueueName=unique("q"), Attributes={"VisibilityTimeout": "1"}
    )["QueueUrl"]
    try:
        yield url
    finally:
        direct_sqs.delete_queue(QueueUrl=url)


@pytest.fixture
def table(emulator_endpoint: str) -> Iterator[str]:
    ddb = client("dynamodb", emulator_endpoint)
    name = unique("t")
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
    try:
        yield name
    finally:
        ddb.delete_table(TableName=name)


def _receive_all(sqs: Any, url: str, want: int, *, budget_s: float = 30.0) -> list[dict[str, Any]]:
    """Long-poll until ``want`` messages arrived or the budget ran out (bounded, never timed)."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + budget_s
    while len(got) < want and time.monotonic() < deadline:
        got += sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=30
        ).get("Messages", [])
    return got


def _without_sdk(detail: Mapping[str, Any]) -> dict[str, Any]:
    """A fired fault's detail without the SDK invocation and attempt it hit (botocore's)."""
    assert isinstance(detail.get("invocation_id"), str), "botocore sends its invocation id"
    return {k: v for k, v in detail.items() if k not in ("invocation_id", "attempt")}


def _empty_after(sqs: Any, url: str, wait_s: int = 3) -> bool:
    """True when nothing is delivered for ``wait_s`` seconds (longer than the visibility)."""
    return not sqs.receive_message(QueueUrl=url, WaitTimeSeconds=wait_s).get("Messages")


# -- the recording pass-through (issue 13) ------------------------------------------------------


def test_pass_through_records_receives_redeliveries_and_deletes(
    proxy_factory: ProxyFactory, queue: str, tmp_path: Path
) -> None:
    sink = tmp_path / "calls.jsonl"
    proxy = proxy_factory(recorder=Recorder(sink=sink))
    sqs = client("sqs", proxy.endpoint)
    sent = sqs.send_message(QueueUrl=queue, MessageBody="hello")["MessageId"]
    # GIVEN a receive that is never deleted, WHEN the visibility runs out, THEN it comes back
    first = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"][0]
    again: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while not again and time.monotonic() < deadline:
        again = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=2).get("Messages", [])
    assert again, "the message was redelivered"
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=again[0]["ReceiptHandle"])

    calls = proxy.records()
    sends = [c for c in calls if c.operation == "SendMessage"]
    assert [c.message_ids for c in sends] == [(sent,)]
    receives = [c for c in calls if c.operation == "ReceiveMessage" and c.message_ids]
    assert [c.message_ids for c in receives] == [(sent,), (sent,)], (
        "a redelivery, seen from outside"
    )
    assert receives[0].receipt_handles == (first["ReceiptHandle"],)
    (delete,) = [c for c in calls if c.operation == "DeleteMessage"]
    assert delete.message_ids == (sent,)
    assert delete.receipt_handles == (again[0]["ReceiptHandle"],)
    assert all(c.status == 200 and c.forwarded and c.fault is None for c in calls)
    assert all(c.queue_url == queue for c in calls)
    assert proxy.fired() == []
    proxy.stop()
    faults, written = read_records(sink)
    assert (faults, written) == ([], calls), "the JSON lines say the same"


# -- throttling and 5xx: botocore retries exactly as on AWS ---------------------------------------


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("throttle", "RequestThrottled"),
        ("throttle", "ThrottlingException"),
        ("error_500", None),
        ("error_503", None),
    ],
)
def test_sqs_throttles_and_5xx_are_retried(
    proxy_factory: ProxyFactory, queue: str, direct_sqs: Any, fault: str, code: str | None
) -> None:
    rule: dict[str, Any] = {"service": "sqs", "operation": "SendMessage", "fault": fault}
    if code:
        rule["code"] = code
    proxy = proxy_factory(_plan({**rule, "max_fires": 2}))
    sqs = client("sqs", proxy.endpoint, max_attempts=3)
    response = sqs.send_message(QueueUrl=queue, MessageBody="x")
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert len(proxy.fired()) == 2
    assert len(_receive_all(direct_sqs, queue, 1)) == 1, "the third attempt went through"
    # control: three fires exhaust three attempts, and the client sees the fault itself
    proxy.set_plan(_plan({**rule, "max_fires": 3}))
    with pytest.raises(ClientError) as info:
        sqs.send_message(QueueUrl=queue, MessageBody="y")
    assert info.value.response["ResponseMetadata"]["RetryAttempts"] == 2
    if code:
        assert info.value.response["Error"]["Code"] == code


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException"])
def test_dynamodb_throttles_are_retried(proxy_factory: ProxyFactory, table: str, code: str) -> None:
    proxy = proxy_factory(
        _plan(
            {
                "service": "dynamodb",
                "operation": "PutItem",
                "fault": "throttle",
                "code": code,
                "max_fires": 3,
            }
        )
    )
    ddb = client("dynamodb", proxy.endpoint, max_attempts=4)
    response = ddb.put_item(TableName=table, Item={"k": {"S": "a"}})
    assert response["ResponseMetadata"]["RetryAttempts"] == 3
    assert [f.detail["code"] for f in proxy.fired()] == [code] * 3
    assert ddb.get_item(TableName=table, Key={"k": {"S": "a"}})["Item"] == {"k": {"S": "a"}}


def test_query_protocol_throttles_are_retried(
    proxy_factory: ProxyFactory, queue: str, direct_sqs: Any, tmp_path: Path
) -> None:
    proxy = proxy_factory(
        _plan({"service": "sqs", "operation": "SendMessage", "fault": "throttle", "max_fires": 2})
    )
    session = query_sqs_session(tmp_path)
    sqs = session.client("sqs", endpoint_url=proxy.endpoint, config=_standard(max_attempts=3))
    response = sqs.send_message(QueueUrl=queue, MessageBody="over query")
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert {c.protocol for c in proxy.records()} == {"query"}
    assert [m["Body"] for m in _receive_all(direct_sqs, queue, 1)] == ["over query"]


def _standard(**config: Any) -> Any:
    from botocore.config import Config

    retries: Any = {"mode": "standard", "total_max_attempts": config.pop("max_attempts", 3)}
    return Config(retries=retries, **config)


# -- acknowledged but dropped ------------------------------------------------------------------


@pytest.mark.parametrize("batch", [False, True])
def test_ack_dropped_deletes_succeed_and_the_messages_come_back(
    proxy_factory: ProxyFactory, queue: str, direct_sqs: Any, batch: bool
) -> None:
    proxy = proxy_factory()
    sqs = client("sqs", proxy.endpoint)

    def receive_and_delete() -> list[str]:
        got: list[dict[str, Any]] = []
        while len(got) < 2:
            got += sqs.receive_message(
                QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
        if batch:
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
            ]
            result = sqs.delete_message_batch(QueueUrl=queue, Entries=entries)
            assert [e["Id"] for e in result["Successful"]] == ["0", "1"]
            assert not result.get("Failed")
        else:
            for message in got:
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        return sorted(m["MessageId"] for m in got)

    for body in ("a", "b"):
        direct_sqs.send_message(QueueUrl=queue, MessageBody=body)
    # control: without the fault the deletes apply and nothing comes back
    receive_and_delete()
    assert _empty_after(direct_sqs, queue)

    for body in ("c", "d"):
        direct_sqs.send_message(QueueUrl=queue, MessageBody=body)
    proxy.set_plan(_plan({"service": "sqs", "fault": "ack_dropped"}))
    ids = receive_and_delete()
    back = _receive_all(direct_sqs, queue, 2)
    assert sorted(m["MessageId"] for m in back) == ids, "acknowledged, never deleted: redelivered"
    fired_ids = sorted(i for f in proxy.fired() for i in f.detail["message_ids"])
    assert fired_ids == ids
    assert {f.kind for f in proxy.fired()} == {"ack_dropped"}
    assert not [c for c in proxy.records() if c.fault == "ack_dropped" and c.forwarded]


def test_a_dropped_visibility_extension_lets_the_message_reappear(
    proxy_factory: ProxyFactory, queue: str, direct_sqs: Any
) -> None:
    """The heartbeat that "succeeded" but never applied: the message is redelivered while its
    consumer believes it still holds it.
    """
    proxy = proxy_factory()
    sqs = client("sqs", proxy.endpoint)

    def receive_and_extend() -> str:
        direct_sqs.send_message(QueueUrl=queue, MessageBody="work")
        messages: list[dict[str, Any]] = []
        while not messages:  # a 2 s hold, extended to 60 s by the "heartbeat"
            messages = sqs.receive_message(
                QueueUrl=queue, WaitTimeSeconds=1, VisibilityTimeout=2
            ).get("Messages", [])
        handle = messages[0]["ReceiptHandle"]
        sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=handle, VisibilityTimeout=60)
        return str(messages[0]["MessageId"])

    # control: an applied extension keeps the message hidden past its 2 s
    kept = receive_and_extend()
    assert _empty_after(direct_sqs, queue, 4)
    proxy.set_plan(
        _plan({"service": "sqs", "operation": "ChangeMessageVisibility", "fault": "ack_dropped"})
    )
    dropped = receive_and_extend()
    assert dropped != kept
    (fired,) = proxy.fired()
    assert fired.detail["message_ids"] == [dropped]
    back = _receive_all(direct_sqs, queue, 1)
    assert [m["MessageId"] for m in back] == [dropped], "the extension never applied"


# -- lost receive, resets, applied but failed --------------------------------------------------


def test_a_lost_receive_hides_the_message_until_its_visibility_runs_out(
    proxy_factory: ProxyFactory, queue: str, direct_sqs: Any
) -> None:
    sent = direct_sqs.send_message(QueueUrl=queue, MessageBody="lost")["MessageId"]
    proxy = proxy_factory(_plan({"service": "sqs", "fault": "lost_receive", "max_fires": 1}))
    sqs = client("sqs", proxy.endpoint, max_attempts=2)
    # WHEN the first answer is lost, botocore retries: the message is already in flight
    response = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0, VisibilityTimeout=8)
    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    assert not response.get("Messages"), "the retry finds nothing: the message is hidden"
    (fired,) = proxy.fired()
    assert fired.detail["message_ids"] == [sent]
    assert fired.detail["fail_with"] == "reset"
    # THEN it comes back once its visibility runs out
    back = _receive_all(direct_sqs, queue, 1)
    assert [m["MessageId"] for m in back] == [sent]


@pytest.mark.parametrize(("fault", "applied"), [("reset_before", False), ("reset_after", True)])
def test_resets_before_and_after_forwarding(
    proxy_factory: ProxyFactory, queue: str, direct_sqs: Any, fault: str, applied: bool
) -> None:
    proxy = proxy_factory(_plan({"service": "sqs", "operation": "SendMessage", "fault": fault}))
    sqs = client("sqs", proxy.endpoint, max_attempts=1)
    with pytest.raises(BotoCoreError):
        sqs.send_message(QueueUrl=queue, MessageBody="x")
    (record,) = [c for c in proxy.records() if c.operation == "SendMessage"]
    assert record.status is None and record.forwarded is applied
    if applied:
        assert len(_receive_all(direct_sqs, queue, 1)) == 1, (
            "applied although the client saw a reset"
        )
    else:
        assert _empty_after(direct_sqs, queue, 2), "never reached the queue"


def test_an_applied_but_failed_send_is_retried_into_a_duplicate(
    proxy_factory: ProxyFactory, queue: str, direct_sqs: Any
) -> None:
    proxy = proxy_factory(
        _plan(
            {
                "service": "sqs",
                "operation": "SendMessage",
                "fault": "applied_failed",
                "max_fires": 1,
            }
        )
    )
    sqs = client("sqs", proxy.endpoint, max_attempts=3)
    response = sqs.send_message(QueueUrl=queue, MessageBody="twice")
    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    (fired,) = proxy.fired()
    assert _without_sdk(fired.detail) == {
        "upstream_status": 200,
        "fail_with": 500,
        "code": "InternalFailure",
    }
    assert fired.detail["attempt"] == 1, "the first attempt was hit"
    bodies = [m["Body"] for m in _receive_all(direct_sqs, queue, 2)]
    assert bodies == ["twice", "twice"], "the first attempt applied, the retry applied again"


def test_a_stalled_call_is_abandoned_at_the_read_timeout_and_retried(
    proxy_factory: ProxyFactory, queue: str
) -> None:
    proxy = proxy_factory(
        _plan(
            {
                "service": "sqs",
                "operation": "ReceiveMessage",
                "fault": "stall",
                "stall_s": 60,
                "max_fires": 1,
            }
        )
    )
    sqs = client("sqs", proxy.endpoint, max_attempts=2, read_timeout=1)
    response = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0)
    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    stalled = [c for c in proxy.records() if c.fault == "stall"]
    assert len(stalled) == 1 and stalled[0].status is None
    assert stalled[0].latency_ms < 60_000, "the stall ended when the client gave up"


# -- DynamoDB races -----------------------------------------------------------------------------


def test_dynamodb_transaction_canceled_and_conditional_check_failed(
    proxy_factory: ProxyFactory, table: str, emulator_endpoint: str
) -> None:
    proxy = proxy_factory(
        _plan(
            {
                "service": "dynamodb",
                "fault": "transaction_canceled",
                "reason": "TransactionConflict",
            },
            {"service": "dynamodb", "fault": "conditional_check_failed"},
        )
    )
    ddb = client("dynamodb", proxy.endpoint)
    items = [{"Put": {"TableName": table, "Item": {"k": {"S": key}}}} for key in ("t1", "t2")]
    with pytest.raises(ClientError) as canceled:
        ddb.transact_write_items(TransactItems=items)
    error = canceled.value.response
    assert error["Error"]["Code"] == "TransactionCanceledException"
    assert [r["Code"] for r in error["CancellationReasons"]] == ["TransactionConflict", "None"]
    assert error["ResponseMetadata"]["RetryAttempts"] == 0
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
        ddb.put_item(TableName=table, Item={"k": {"S": "p"}})
    direct = client("dynamodb", emulator_endpoint)
    for key in ("t1", "t2", "p"):
        assert "Item" not in direct.get_item(TableName=table, Key={"k": {"S": key}})
    assert [f.kind for f in proxy.fired()] == ["transaction_canceled", "conditional_check_failed"]


# -- latency and phases -------------------------------------------------------------------------


def test_latency_delays_the_call_by_what_it_drew(proxy_factory: ProxyFactory, queue: str) -> None:
    proxy = proxy_factory(
        _plan(
            {
                "service": "sqs",
                "operation": "GetQueueAttributes",
                "fault": "latency",
                "latency": 300,
            }
        )
    )
    sqs = client("sqs", proxy.endpoint)
    sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])
    (fired,) = proxy.fired()
    assert _without_sdk(fired.detail) == {"delay_ms": 300.0, "fixed_ms": 300.0}
    (record,) = [c for c in proxy.records() if c.operation == "GetQueueAttributes"]
    assert record.latency_ms >= 300, "a lower bound: the sleep happened"
    assert record.status == 200 and record.fault is None, "latency delays, then forwards"


def test_the_plan_is_replaced_between_phases(proxy_factory: ProxyFactory, queue: str) -> None:
    proxy = proxy_factory(
        _plan({"service": "sqs", "operation": "SendMessage", "fault": "error_503"}, name="outage")
    )
    sqs = client("sqs", proxy.endpoint, max_attempts=1)
    with pytest.raises(ClientError):
        sqs.send_message(QueueUrl=queue, MessageBody="x")
    proxy.set_plan(Plan(name="recovered"))
    sqs.send_message(QueueUrl=queue, MessageBody="y")
    assert [(f.plan, f.kind, f.count) for f in proxy.fired()] == [("outage", "error_503", 1)]
    assert proxy.fired_counts() == {"error_503": 1}
    assert proxy.plan.name == "recovered"


def test_an_unreachable_upstream_is_a_retryable_502(unused_port: int) -> None:
    with FaultProxy(f"http://127.0.0.1:{unused_port}") as proxy:
        sqs = client("sqs", proxy.endpoint, max_attempts=2)
        with pytest.raises(ClientError) as info:
            sqs.list_queues()
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 502
    assert info.value.response["ResponseMetadata"]["RetryAttempts"] == 1


@pytest.fixture
def unused_port() -> int:
    import socket

    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_an_sdk_retry_shares_its_invocation_id_and_a_callers_repeat_does_not(
    proxy_factory: ProxyFactory, queue: str
) -> None:
    # GIVEN one throttled send, retried by botocore, then a second send the caller makes itself
    proxy = proxy_factory(
        _plan({"service": "sqs", "operation": "SendMessage", "fault": "throttle", "max_fires": 1})
    )
    sqs = client("sqs", proxy.endpoint, max_attempts=3)
    sqs.send_message(QueueUrl=queue, MessageBody="x")
    sqs.send_message(QueueUrl=queue, MessageBody="x")
    sends = [c for c in proxy.records() if c.operation == "SendMessage"]
    # THEN the fault and botocore's retry carry one invocation id, attempts 1 and 2
    [fault] = proxy.fired()
    assert fault.detail["invocation_id"] == sends[0].sdk_invocation_id
    assert fault.detail["attempt"] == 1
    assert [(c.status, c.attempt) for c in sends] == [(403, 1), (200, 2), (200, 1)]
    assert sends[1].sdk_invocation_id == sends[0].sdk_invocation_id
    # AND the caller's own second send is a new invocation
    assert sends[2].sdk_invocation_id not in (None, sends[0].sdk_invocation_id)
