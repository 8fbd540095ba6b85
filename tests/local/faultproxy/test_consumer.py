"""The kit's own consumer (``python -m consumer``) behind the proxy, as any plugged-in consumer
would run: faults fire, botocore absorbs them, dropped deletes are redelivered, and the
records see the redeliveries from outside. Integration tier.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from consumer.contract import (
    EMULATOR_CREDENTIALS,
    ENV_AWS_ENDPOINT_URL,
    ENV_IDLE_TIMEOUT_SECONDS,
    ENV_MAX_MESSAGES,
    ENV_MESSAGE_COMPLETED_TABLE,
    ENV_MESSAGE_STATUS_TABLE,
    ENV_QUEUE_URL,
    ENV_SLEEP_MAX_SECONDS,
    ENV_SLEEP_MIN_SECONDS,
    ENV_WAIT_TIME_SECONDS,
    EV_COMPLETED,
    EV_DUPLICATE,
    EXIT_OK,
)
from local.faultproxy import FaultProxy, Plan
from tests.local.faultproxy.conftest import client, unique

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
N = 20

PLAN = {
    "seed": 3,
    "name": "consumer-under-faults",
    "rules": [
        {
            "service": "sqs",
            "operation": "DeleteMessageBatch",
            "fault": "ack_dropped",
            "max_fires": 1,
        },
        {"service": "sqs", "operation": "ReceiveMessage", "fault": "error_503", "probability": 0.2},
        {"service": "dynamodb", "fault": "throttle", "probability": 0.2},
    ],
}


@pytest.fixture
def stack(emulator_endpoint: str) -> Iterator[dict[str, str]]:
    """A queue (3 s visibility) and the consumer's two tables, made straight on the emulator."""
    sqs = client("sqs", emulator_endpoint)
    ddb = client("dynamodb", emulator_endpoint)
    prefix = unique("cons")
    url = sqs.create_queue(QueueName=prefix, Attributes={"VisibilityTimeout": "3"})["QueueUrl"]
    tables = {
        ENV_MESSAGE_STATUS_TABLE: f"{prefix}-status",
        ENV_MESSAGE_COMPLETED_TABLE: f"{prefix}-done",
    }
    for name in tables.values():
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "message_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "message_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    try:
        yield {ENV_QUEUE_URL: url, **tables}
    finally:
        sqs.delete_queue(QueueUrl=url)
        for name in tables.values():
            ddb.delete_table(TableName=name)


def _run_consumer(env: dict[str, str]) -> tuple[int, list[dict[str, Any]]]:
    process = subprocess.run(
        [sys.executable, "-m", "consumer"],
        cwd=ROOT,
        env={
            **os.environ,
            **EMULATOR_CREDENTIALS,
            **env,
            ENV_MAX_MESSAGES: "10",
            ENV_WAIT_TIME_SECONDS: "1",
            ENV_SLEEP_MIN_SECONDS: "0",
            ENV_SLEEP_MAX_SECONDS: "0",
            ENV_IDLE_TIMEOUT_SECONDS: "8",
        },
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    return process.returncode, [json.loads(line) for line in process.stdout.splitlines()]


def test_the_consumer_survives_the_faults_and_redeliveries_are_seen_from_outside(
    proxy_factory: Callable[..., FaultProxy], stack: dict[str, str], emulator_endpoint: str
) -> None:
    sqs = client("sqs", emulator_endpoint)
    ids = sorted(str(uuid.uuid4()) for _ in range(N))
    for offset in range(0, N, 10):
        entries = [
            {"Id": str(i), "MessageBody": json.dumps({"id": mid, "work": 1, "sent_at": 0})}
            for i, mid in enumerate(ids[offset : offset + 10])
        ]
        sqs.send_message_batch(QueueUrl=stack[ENV_QUEUE_URL], Entries=entries)
    proxy = proxy_factory(Plan.from_dict(PLAN))

    code, events = _run_consumer({**stack, ENV_AWS_ENDPOINT_URL: proxy.endpoint})

    assert code == EXIT_OK, events[-5:]
    completed = Counter(e["message_id"] for e in events if e["event"] == EV_COMPLETED)
    assert sorted(completed) == ids and set(completed.values()) == {1}, "each completed once"
    ddb = client("dynamodb", emulator_endpoint)
    stored = ddb.scan(TableName=stack[ENV_MESSAGE_COMPLETED_TABLE])["Items"]
    assert sorted(item["message_id"]["S"] for item in stored) == ids
    fired = proxy.fired_counts()
    assert fired["ack_dropped"] == 1
    assert fired["error_503"] > 0 and fired["throttle"] > 0, fired
    # the dropped delete's messages came back: the records see each received twice
    (dropped,) = [f for f in proxy.fired() if f.kind == "ack_dropped"]
    assert dropped.detail["message_ids"], "the dropped delete targeted received messages"
    received = Counter(
        m for c in proxy.records() if c.operation == "ReceiveMessage" for m in c.message_ids
    )
    assert all(received[m] >= 2 for m in dropped.detail["message_ids"])
    duplicates = {e.get("sqs_message_id") for e in events if e["event"] == EV_DUPLICATE}
    assert set(dropped.detail["message_ids"]) <= duplicates, "the consumer saw them as duplicates"


@pytest.mark.unit
def test_the_pacing_knobs_used_above_are_the_consumers_own() -> None:
    """A misspelt knob would be ignored silently, and the test above would only run slower."""
    from consumer.config import WorkerConfig

    config = WorkerConfig.from_env(
        {
            ENV_QUEUE_URL: "http://q",
            ENV_MAX_MESSAGES: "7",
            ENV_WAIT_TIME_SECONDS: "2",
            ENV_SLEEP_MIN_SECONDS: "0.5",
            ENV_SLEEP_MAX_SECONDS: "0.75",
            ENV_IDLE_TIMEOUT_SECONDS: "9",
        }
    )
    assert (config.max_messages, config.wait_time_seconds) == (7, 2)
    assert (config.sleep_min_seconds, config.sleep_max_seconds) == (0.5, 0.75)
    assert config.idle_timeout_seconds == 9
