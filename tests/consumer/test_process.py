"""`python -m consumer` as a real process against the embedded emulator (integration tier)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from consumer.idempotency import DynamoDBStore, Outcome
from scenarios.aws import client
from scenarios.provisioners.api import ApiProvisioner
from scenarios.stack import StackHandle, StackSpec, unique_prefix

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def stack(emulator_endpoint: str) -> Iterator[StackHandle]:
    provisioner = ApiProvisioner(endpoint_url=emulator_endpoint)
    handle = provisioner.provision(
        StackSpec(
            prefix=unique_prefix("cons"), visibility_timeout=5, receive_wait=1, max_receive_count=3
        )
    )
    try:
        yield handle
    finally:
        provisioner.destroy(handle)


class Consumer:
    """One `python -m consumer` process; its stdout JSON lines are collected as they come."""

    def __init__(self, stack: StackHandle, **env: str) -> None:
        full = {
            **os.environ,
            **stack.consumer_env(),
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "WAIT_TIME_SECONDS": "1",
            "SLEEP_MIN_SECONDS": "0",
            "SLEEP_MAX_SECONDS": "0",
            **env,
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "consumer"],
            cwd=ROOT,
            env=full,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(json.loads(line))  # every stdout line must be one JSON object

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.lines if e["event"] == name]

    def wait_for(self, name: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.events(name)
            if found:
                return found[0]
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no {name} event; stderr: {self.stderr()}; lines: {self.lines[-5:]}")

    def wait(self, timeout: float = 30) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def stderr(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return ""
        return self.proc.stderr.read()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _send(stack: StackHandle, *bodies: dict[str, Any]) -> None:
    sqs = client("sqs", endpoint_url=stack.endpoint_url, region=stack.region)
    for body in bodies:
        sqs.send_message(QueueUrl=stack.queue_url, MessageBody=json.dumps(body))


def _depth(stack: StackHandle) -> int:
    sqs = client("sqs", endpoint_url=stack.endpoint_url, region=stack.region)
    attrs = sqs.get_queue_attributes(
        QueueUrl=stack.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


def test_sigterm_drains_in_flight_work_and_exits_zero(stack: StackHandle) -> None:
    # GIVEN a consumer busy with a 2 s message
    _send(stack, {"id": "drain-1"})
    consumer = Consumer(
        stack, SLEEP_MIN_SECONDS="2", SLEEP_MAX_SECONDS="2", SHUTDOWN_TIMEOUT_SECONDS="10"
    )
    try:
        consumer.wait_for("message.received")
        # WHEN it gets SIGTERM
        consumer.proc.send_signal(signal.SIGTERM)
        # THEN it finishes the message, logs each drain step and exits 0
        assert consumer.wait(30) == 0
        assert [e["step"] for e in consumer.events("consumer.draining")] == [
            "stop_receiving",
            "finish_in_flight",
            "release",
            "close",
        ]
        assert len(consumer.events("message.completed")) == 1
        stopped = consumer.events("consumer.stopped")[0]
        assert stopped["reason"] == "drain" and stopped["counters"]["completed"] == 1
        assert _depth(stack) == 0
    finally:
        consumer.kill()


def test_sigterm_leaves_a_running_handler_in_flight_and_exits(stack: StackHandle) -> None:
    # GIVEN a consumer whose handler will not finish within the shutdown timeout
    _send(stack, {"id": "drain-2"})
    consumer = Consumer(
        stack, SLEEP_MIN_SECONDS="60", SLEEP_MAX_SECONDS="60", SHUTDOWN_TIMEOUT_SECONDS="1"
    )
    try:
        consumer.wait_for("message.received")
        # WHEN it gets SIGTERM
        consumer.proc.send_signal(signal.SIGTERM)
        # THEN it exits 0 without releasing the message under its running handler
        assert consumer.wait(30) == 0
        (left,) = consumer.events("message.left_in_flight")
        assert left["message_id"] == "drain-2" and left["stage"] == "running"
        assert consumer.events("message.released") == []
        assert consumer.events("message.completed") == []
        # AND the message comes back once its visibility runs out (5 s), for the next consumer
        sqs = client("sqs", endpoint_url=stack.endpoint_url, region=stack.region)
        deadline = time.monotonic() + 30
        got: dict[str, Any] = {}
        while not got.get("Messages") and time.monotonic() < deadline:
            got = sqs.receive_message(QueueUrl=stack.queue_url, WaitTimeSeconds=2)
        assert json.loads(got["Messages"][0]["Body"])["id"] == "drain-2"
    finally:
        consumer.kill()


def test_a_second_signal_exits_at_once(stack: StackHandle) -> None:
    _send(stack, {"id": "drain-3"})
    consumer = Consumer(
        stack, SLEEP_MIN_SECONDS="60", SLEEP_MAX_SECONDS="60", SHUTDOWN_TIMEOUT_SECONDS="30"
    )
    try:
        consumer.wait_for("message.received")
        consumer.proc.send_signal(signal.SIGINT)
        consumer.wait_for("consumer.signal")
        consumer.proc.send_signal(signal.SIGINT)
        assert consumer.wait(10) == 1
        assert [e["action"] for e in consumer.events("consumer.signal")] == ["drain", "exit_now"]
    finally:
        consumer.kill()


def test_crash_before_delete_then_restart_sees_a_duplicate(stack: StackHandle) -> None:
    # GIVEN a consumer that crashes on its first message after processing, before the delete
    _send(stack, {"id": "crash-1", "sent_at": 1_700_000_000_000})
    first = Consumer(stack, CRASH_AFTER_RECEIVE="1", VISIBILITY_TIMEOUT_SECONDS="2")
    try:
        assert first.wait(30) == 3
        crash = first.events("consumer.crash")[0]
        assert crash["reason"] == "crash_after_receive" and crash["exit_code"] == 3
        assert first.lines[-1]["event"] == "consumer.crash"  # a real crash: nothing after it
        (done,) = first.events("message.completed")
        assert done["sent_at"] == 1_700_000_000_000
    finally:
        first.kill()
    assert _depth(stack) == 1
    # WHEN a fresh process receives the redelivery
    second = Consumer(
        stack, CRASH_AFTER_RECEIVE="0", IDLE_TIMEOUT_SECONDS="4", VISIBILITY_TIMEOUT_SECONDS="2"
    )
    try:
        assert second.wait(30) == 0
        (dup,) = second.events("message.duplicate")
        assert dup["message_id"] == "crash-1" and dup["receive_count"] == 2
        assert second.events("message.completed") == []
        assert second.events("consumer.stopped")[0]["reason"] == "idle"
    finally:
        second.kill()
    assert _depth(stack) == 0


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"CRASH_RATE": "2"}, "CRASH_RATE=2.0 is out of range: allowed 0..1"),
        ({"MAX_MESSAGES": "abc"}, "MAX_MESSAGES='abc' is not an integer: allowed 1..10"),
        ({"QUEUE_URL": ""}, "QUEUE_URL is required"),
    ],
)
def test_configuration_errors_exit_2_with_one_line(env: dict[str, str], expected: str) -> None:
    full = {**os.environ, "QUEUE_URL": "http://127.0.0.1:9/000000000000/q", **env}
    proc = subprocess.run(
        [sys.executable, "-m", "consumer"],
        cwd=ROOT,
        env=full,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0]
    assert proc.stdout == ""


def test_thread_race_on_the_emulator_yields_one_completion_per_id(stack: StackHandle) -> None:
    ddb = client("dynamodb", endpoint_url=stack.endpoint_url, region=stack.region)
    ids = [f"race-{i}" for i in range(5)]
    completions: list[tuple[str, str]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def racer(n: int) -> None:
        store = DynamoDBStore(
            f"w{n}",
            client=ddb,
            status_table=stack.status_table,
            completed_table=stack.completed_table,
        )
        barrier.wait()
        for message_id in ids:
            lease = time.time() - 1 if n % 2 else time.time() + 30
            decision = store.begin(message_id, lease)
            claim = decision.claim
            if claim is not None and store.complete(claim, n) is Outcome.COMPLETED:
                with lock:
                    completions.append((message_id, f"w{n}"))

    threads = [threading.Thread(target=racer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(m for m, _ in completions) == ids
