"""Fixtures for the consumer tests: in-process moto queues and tables, a log recorder, workers."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.client
import pytest
from moto import mock_aws

from consumer import Worker, WorkerConfig
from consumer.contract import (
    EFFECT_HASH_KEY,
    EFFECT_RANGE_KEY,
    EMULATOR_CREDENTIALS,
    ENV_AWS_ACCESS_KEY_ID,
    ENV_AWS_SECRET_ACCESS_KEY,
)
from consumer.idempotency import DynamoDBStore, IdempotencyStore, MemoryStore
from consumer.logging import _fields

REGION = "us-east-1"


class Events(logging.Handler):
    """Every log record of the ``consumer`` loggers, as ``{"event": ..., **fields}``."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[dict[str, Any]] = []
        self._lock2 = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock2:
            self.records.append(
                {"event": record.getMessage(), "level": record.levelname, **_fields(record)}
            )

    def named(self, event: str) -> list[dict[str, Any]]:
        with self._lock2:
            return [r for r in self.records if r["event"] == event]

    def names(self) -> list[str]:
        with self._lock2:
            return [r["event"] for r in self.records]


@pytest.fixture
def events() -> Iterator[Events]:
    handler = Events()
    logger = logging.getLogger("consumer")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def serial_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """One API call at a time, for tests that run handler threads against in-process moto.

    In-process moto is not thread-safe (concurrent TransactWriteItems can raise "dictionary
    changed size during iteration" inside moto). Serialising each call, as a real server
    linearises writes to one item, keeps the races between the calls of different threads.
    Not for long polls: a waiting receive would hold every other call.
    """
    api_lock = threading.Lock()
    original = vars(botocore.client.BaseClient)["_make_api_call"]  # private: not in the stubs

    def linearised(self: Any, operation: str, params: Any) -> Any:
        with api_lock:
            return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", linearised)


@pytest.fixture
def sqs(aws: None) -> Any:
    return boto3.client("sqs", region_name=REGION)


@pytest.fixture
def ddb(aws: None) -> Any:
    return boto3.client("dynamodb", region_name=REGION)


def create_table(ddb: Any, name: str) -> None:
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "message_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "message_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def create_effects_table(ddb: Any, name: str) -> None:
    ddb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": EFFECT_HASH_KEY, "KeyType": "HASH"},
            {"AttributeName": EFFECT_RANGE_KEY, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": EFFECT_HASH_KEY, "AttributeType": "S"},
            {"AttributeName": EFFECT_RANGE_KEY, "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


class Stack:
    """A queue with a DLQ, the two idempotency tables and an effects table, uniquely named.

    ``fifo=True`` makes both queues FIFO (``.fifo`` names); ``send`` then needs a ``group``.
    """

    def __init__(
        self,
        sqs: Any,
        ddb: Any,
        *,
        visibility: int = 5,
        max_receive_count: int = 3,
        fifo: bool = False,
    ) -> None:
        self.sqs, self.ddb = sqs, ddb
        self.fifo = fifo
        prefix = f"t-{uuid.uuid4().hex[:8]}"
        suffix = ".fifo" if fifo else ""
        fifo_attrs = {"FifoQueue": "true"} if fifo else {}
        self.dlq_url = sqs.create_queue(QueueName=f"{prefix}-dlq{suffix}", Attributes=fifo_attrs)[
            "QueueUrl"
        ]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=self.dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.queue_url = sqs.create_queue(
            QueueName=f"{prefix}-queue{suffix}",
            Attributes={
                **fifo_attrs,
                "VisibilityTimeout": str(visibility),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}
                ),
            },
        )["QueueUrl"]
        self.status_table = f"{prefix}-status"
        self.completed_table = f"{prefix}-completed"
        self.effects_table = f"{prefix}-effects"
        create_table(ddb, self.status_table)
        create_table(ddb, self.completed_table)
        create_effects_table(ddb, self.effects_table)

    def send(self, body: Any, group: str | None = None) -> str:
        text = body if isinstance(body, str) else json.dumps(body)
        kwargs: dict[str, Any] = {}
        if group is not None:  # FIFO: a fresh deduplication id, so every send is delivered
            kwargs = {"MessageGroupId": group, "MessageDeduplicationId": uuid.uuid4().hex}
        sent = self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=text, **kwargs)
        return str(sent["MessageId"])

    def config(self, **overrides: Any) -> WorkerConfig:
        values: dict[str, Any] = {
            "queue_url": self.queue_url,
            "wait_time_seconds": 0,
            "sleep_min_seconds": 0,
            "sleep_max_seconds": 0,
            "message_status_table": self.status_table,
            "message_completed_table": self.completed_table,
            "consumer_id": "worker-a",
            "release_backoff_seconds": 0,
            "shutdown_timeout_seconds": 5,
        }
        values.update(overrides)
        return WorkerConfig(**values)

    def store(self, owner: str, **kwargs: Any) -> DynamoDBStore:
        return DynamoDBStore(
            owner,
            client=self.ddb,
            status_table=self.status_table,
            completed_table=self.completed_table,
            **kwargs,
        )

    def effects(self) -> list[dict[str, Any]]:
        """Every item of the effects table, as plain values, sorted by message and effect."""
        items = []
        for page in self.ddb.get_paginator("scan").paginate(TableName=self.effects_table):
            for item in page["Items"]:
                items.append({k: next(iter(v.values())) for k, v in item.items()})
        return sorted(items, key=lambda i: (i[EFFECT_HASH_KEY], i[EFFECT_RANGE_KEY]))

    def depth(self, url: str | None = None) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url or self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(
            attrs["ApproximateNumberOfMessagesNotVisible"]
        )

    def visible(self) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"])

    def destroy(self) -> None:
        """Delete what this stack created (best effort: a test's own failure matters more)."""
        for url in (self.queue_url, self.dlq_url):
            with contextlib.suppress(Exception):
                self.sqs.delete_queue(QueueUrl=url)
        for table in (self.status_table, self.completed_table, self.effects_table):
            with contextlib.suppress(Exception):
                self.ddb.delete_table(TableName=table)


@pytest.fixture
def stack(sqs: Any, ddb: Any) -> Stack:
    return Stack(sqs, ddb)


@pytest.fixture
def make_stack(sqs: Any, ddb: Any) -> Callable[..., Stack]:
    return lambda **kw: Stack(sqs, ddb, **kw)


def emulator_client(service: str, endpoint: str) -> Any:
    """A client for the embedded emulator (dummy credentials, the test region)."""
    session: Any = boto3.session.Session()
    return session.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=EMULATOR_CREDENTIALS[ENV_AWS_ACCESS_KEY_ID],
        aws_secret_access_key=EMULATOR_CREDENTIALS[ENV_AWS_SECRET_ACCESS_KEY],
    )


@pytest.fixture
def make_emulator_stack(emulator_endpoint: str) -> Iterator[Callable[..., Stack]]:
    """Stacks on the embedded emulator (integration tier), each deleted at the end."""
    sqs = emulator_client("sqs", emulator_endpoint)
    ddb = emulator_client("dynamodb", emulator_endpoint)
    made: list[Stack] = []

    def make(**kw: Any) -> Stack:
        made.append(Stack(sqs, ddb, **kw))
        return made[-1]

    try:
        yield make
    finally:
        for stack in made:
            stack.destroy()


def run_worker(worker: Worker, timeout: float = 30) -> Worker:
    """Run until the worker stops by itself (limit or idle); fail the test if it does not."""
    worker.start()
    if not worker.join(timeout):
        worker.stop()
        worker.join(10)
        raise AssertionError(f"worker did not stop within {timeout} s")
    return worker


# Generous: the machine running the tests may be loaded; nothing waits this long when all is well.
WAIT_S = 20.0


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT_S) -> bool:
    """Poll ``predicate`` until it holds (True) or ``timeout`` passes (False). Never a timing
    assertion: a test waits for a state, then asserts on it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "dynamodb"])
def store_factory(request: pytest.FixtureRequest, ddb: Any) -> Callable[..., IdempotencyStore]:
    """Builds stores of one backend that share state (dramatiq-style: one body, every backend)."""
    if request.param == "memory":
        shared: dict[str, MemoryStore] = {}

        def memory(
            owner: str, clock: FakeClock | None = None, cache_size: int = 0
        ) -> IdempotencyStore:
            # One process-local store: the owner of a claim is whoever calls it.
            base = shared.setdefault("s", MemoryStore("unused", cache_size=1000, clock=clock))
            view = MemoryStore.__new__(MemoryStore)
            view.__dict__.update(base.__dict__)
            view.owner = owner
            view._cache = None  # no local cache, so each call reaches the shared records
            return view

        return memory
    suffix = uuid.uuid4().hex[:8]
    status, completed = f"s-{suffix}", f"c-{suffix}"
    create_table(ddb, status)
    create_table(ddb, completed)

    def dynamodb(
        owner: str, clock: FakeClock | None = None, cache_size: int = 0
    ) -> IdempotencyStore:
        return DynamoDBStore(
            owner,
            client=ddb,
            status_table=status,
            completed_table=completed,
            cache_size=cache_size,
            clock=clock,
        )

    return dynamodb
