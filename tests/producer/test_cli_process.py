"""`python -m producer` and `produce` as real processes against the embedded emulator."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid

import boto3
import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def emulator_queue(emulator_endpoint):
    sqs = boto3.client("sqs", endpoint_url=emulator_endpoint, region_name="us-east-1")
    url = sqs.create_queue(QueueName=f"producer-it-{uuid.uuid4().hex[:10]}")["QueueUrl"]
    try:
        yield sqs, url
    finally:
        sqs.delete_queue(QueueUrl=url)


def _env(endpoint: str, queue_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRODUCE_")}
    env.update({"AWS_ENDPOINT_URL": endpoint, "QUEUE_URL": queue_url, "AWS_REGION": "us-east-1"})
    return env


@pytest.mark.parametrize("command", [[sys.executable, "-m", "producer"], ["produce"]])
def test_process_sends_and_writes_a_ledger(emulator_endpoint, emulator_queue, tmp_path, command):
    sqs, url = emulator_queue
    if command == ["produce"]:
        script = shutil.which("produce", path=os.path.dirname(sys.executable))
        if script is None:
            pytest.fail("the `produce` console script is not installed (pip install -e '.[kit]')")
        command = [script]
    ledger = tmp_path / "sent.jsonl"
    proc = subprocess.run(
        [*command, "--n", "25", "--seed", "1", "--ledger", str(ledger), "--json"],
        env=_env(emulator_endpoint, url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert (summary["sent"], summary["failed"]) == (25, 0)
    entries = [json.loads(line) for line in ledger.read_text().splitlines()]
    received: dict[str, dict[str, object]] = {}
    while len(received) < 25:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        if not got.get("Messages"):
            break
        for m in got["Messages"]:
            received[m["MessageId"]] = json.loads(m["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert {e["MessageId"] for e in entries} == set(received)
    assert all(received[e["MessageId"]]["id"] == e["id"] for e in entries)


def test_process_exits_2_on_a_usage_error(emulator_endpoint, emulator_queue):
    _, url = emulator_queue
    proc = subprocess.run(
        [sys.executable, "-m", "producer", "--batch-size", "11"],
        env=_env(emulator_endpoint, url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "'--batch-size': 11 is not in the range 1<=x<=10" in proc.stderr
