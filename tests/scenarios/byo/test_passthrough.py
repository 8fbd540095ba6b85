"""The recording pass-through: one proxy per consumer slot in front of the emulator."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError

from consumer.contract import EMULATOR_CREDENTIALS
from scenarios.runners.passthrough import HELD, PassThrough

pytestmark = pytest.mark.integration

REGION = "us-east-1"


def sqs(endpoint: str, **config: Any):
    return boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=EMULATOR_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=EMULATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=Config(**config) if config else None,
    )


@pytest.fixture
def queue(emulator_endpoint: str) -> Iterator[str]:
    direct = sqs(emulator_endpoint)
    url = direct.create_queue(
        QueueName=f"pt-{uuid.uuid4().hex[:8]}", Attributes={"VisibilityTimeout": "1"}
    )["QueueUrl"]
    try:
        yield url
    finally:
        direct.delete_queue(QueueUrl=url)


@pytest.fixture
def passthrough(emulator_endpoint: str, tmp_path: Path) -> Iterator[PassThrough]:
    p = PassThrough(emulator_endpoint, record_dir=tmp_path)
    try:
        yield p
    finally:
        p.stop()


def test_each_slot_has_its_own_proxy_and_its_calls_are_recorded(
    passthrough: PassThrough, queue: str, emulator_endpoint: str, tmp_path: Path
) -> None:
    # GIVEN two slots behind the pass-through
    a, b = passthrough.endpoint(0), passthrough.endpoint(1)
    assert a != b and a == passthrough.endpoint(0) and emulator_endpoint not in (a, b)
    sqs(emulator_endpoint).send_message(QueueUrl=queue, MessageBody='{"id": "m1"}')
    # WHEN slot 1's consumer receives and deletes the message
    client = sqs(b)
    [m] = client.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
    client.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    # THEN the calls are slot 1's, with the message id the receive returned and the delete aimed at
    calls = passthrough.calls()
    assert [(c.slot, c.operation, c.sqs_ids) for c in calls] == [
        (1, "ReceiveMessage", (m["MessageId"],)),
        (1, "DeleteMessage", (m["MessageId"],)),
    ]
    assert all(c.ok and c.latency_s >= 0 for c in calls)
    assert (tmp_path / "passthrough-slot1.jsonl").read_text().count('"record":"call"') == 2
    # AND stopping keeps what was recorded readable
    passthrough.stop()
    assert len(passthrough.calls()) == 2


def test_a_held_delete_never_reaches_the_queue(
    passthrough: PassThrough, queue: str, emulator_endpoint: str
) -> None:
    # GIVEN slot 0's next delete after one is held
    endpoint = passthrough.endpoint(0)
    passthrough.hold_next_delete(0, after=1)
    direct = sqs(emulator_endpoint)
    for body in ('{"id": "a"}', '{"id": "b"}'):
        direct.send_message(QueueUrl=queue, MessageBody=body)
    client = sqs(endpoint, read_timeout=1, retries={"total_max_attempts": 1})
    got = client.receive_message(QueueUrl=queue, MaxNumberOfMessages=2, WaitTimeSeconds=1)
    first, second = got["Messages"]
    # WHEN the consumer deletes both: the first passes, the second waits for an answer
    client.delete_message(QueueUrl=queue, ReceiptHandle=first["ReceiptHandle"])
    assert passthrough.held(0) is None
    with pytest.raises(ReadTimeoutError):
        client.delete_message(QueueUrl=queue, ReceiptHandle=second["ReceiptHandle"])
    # THEN the pass-through held it, and SQS delivers the message again
    assert passthrough.held(0) is not None
    again = direct.receive_message(QueueUrl=queue, WaitTimeSeconds=5)["Messages"]
    assert [m["MessageId"] for m in again] == [second["MessageId"]]
    held = [c for c in passthrough.calls() if c.fault == HELD]
    assert [c.sqs_ids for c in held] == [(second["MessageId"],)] and held[0].status is None


def test_only_a_plain_http_endpoint_can_be_relayed() -> None:
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="relays to plain http endpoints only"):
        PassThrough("https://sqs.eu-west-1.amazonaws.com")
