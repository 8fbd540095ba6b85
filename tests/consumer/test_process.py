"""`python -m consumer` as a real process against the embedded emulator (integration tier)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from consumer.contract import (
    EMULATOR_CREDENTIALS,
    ENV_AWS_ENDPOINT_URL,
    ENV_AWS_REGION,
    ENV_EFFECTS_TABLE,
    ENV_MESSAGE_COMPLETED_TABLE,
    ENV_MESSAGE_STATUS_TABLE,
    ENV_QUEUE_URL,
    EV_COMPLETED,
    EV_CONSUMER_CRASH,
    EV_CONSUMER_DRAINING,
    EV_CONSUMER_SIGNAL,
    EV_CONSUMER_STARTED,
    EV_CONSUMER_STOPPED,
    EV_DUPLICATE,
    EV_EFFECT_APPLIED,
    EV_HANDLER_STARTED,
    EV_LEFT_IN_FLIGHT,
    EV_RECEIVED,
    EV_RELEASED,
    SIGNAL_SETTLED_STOP,
)
from consumer.idempotency import Outcome
from tests.consumer.conftest import REGION, Stack

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def stack(make_emulator_stack: Any) -> Stack:
    return make_emulator_stack(visibility=5, max_receive_count=3)


def consumer_env(stack: Stack) -> dict[str, str]:
    """What a runner gives `python -m consumer` for this stack."""
    return {
        ENV_QUEUE_URL: stack.queue_url,
        ENV_MESSAGE_STATUS_TABLE: stack.status_table,
        ENV_MESSAGE_COMPLETED_TABLE: stack.completed_table,
        ENV_EFFECTS_TABLE: stack.effects_table,
        ENV_AWS_ENDPOINT_URL: str(stack.sqs.meta.endpoint_url),
        ENV_AWS_REGION: REGION,
        **EMULATOR_CREDENTIALS,
    }


class Consumer:
    """One `python -m consumer` process; its stdout JSON lines are collected as they come."""

    def __init__(self, stack: Stack, **env: str) -> None:
        full = {
            **os.environ,
            **consumer_env(stack),
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


def test_sigterm_drains_in_flight_work_and_exits_zero(stack: Stack) -> None:
    # GIVEN a consumer busy with a 2 s message
    stack.send({"id": "drain-1"})
    consumer = Consumer(
        stack, SLEEP_MIN_SECONDS="2", SLEEP_MAX_SECONDS="2", SHUTDOWN_TIMEOUT_SECONDS="10"
    )
    try:
        consumer.wait_for(EV_RECEIVED)
        # WHEN it gets SIGTERM
        consumer.proc.send_signal(signal.SIGTERM)
        # THEN it finishes the message, logs each drain step and exits 0
        assert consumer.wait(30) == 0
        assert [e["step"] for e in consumer.events(EV_CONSUMER_DRAINING)] == [
            "stop_receiving",
            "finish_in_flight",
            "release",
            "close",
        ]
        assert len(consumer.events(EV_COMPLETED)) == 1
        stopped = consumer.events(EV_CONSUMER_STOPPED)[0]
        assert stopped["reason"] == "drain" and stopped["counters"]["completed"] == 1
        assert stack.depth() == 0
        # AND the demo handler's side effect (EFFECTS_TABLE) was applied once, by its execution
        (started,) = consumer.events(EV_HANDLER_STARTED)
        (applied,) = consumer.events(EV_EFFECT_APPLIED)
        assert applied["execution_id"] == started["execution_id"]
        ((effect_id, execution_id),) = [
            (i["effect_id"], i["execution_id"]) for i in stack.effects()
        ]
        assert (effect_id, execution_id) == ("drain-1", started["execution_id"])
    finally:
        consumer.kill()


def test_sigterm_leaves_a_running_handler_in_flight_and_exits(stack: Stack) -> None:
    # GIVEN a consumer whose handler will not finish within the shutdown timeout
    stack.send({"id": "drain-2"})
    consumer = Consumer(
        stack, SLEEP_MIN_SECONDS="60", SLEEP_MAX_SECONDS="60", SHUTDOWN_TIMEOUT_SECONDS="1"
    )
    try:
        consumer.wait_for(EV_RECEIVED)
        # WHEN it gets SIGTERM
        consumer.proc.send_signal(signal.SIGTERM)
        # THEN it exits 0 without releasing the message under its running handler
        assert consumer.wait(30) == 0
        (left,) = consumer.events(EV_LEFT_IN_FLIGHT)
        assert left["message_id"] == "drain-2" and left["stage"] == "running"
        assert consumer.events(EV_RELEASED) == []
        assert consumer.events(EV_COMPLETED) == []
        # AND the message comes back once its visibility runs out (5 s), for the next consumer
        sqs = stack.sqs
        deadline = time.monotonic() + 30
        got: dict[str, Any] = {}
        while not got.get("Messages") and time.monotonic() < deadline:
            got = sqs.receive_message(QueueUrl=stack.queue_url, WaitTimeSeconds=2)
        assert json.loads(got["Messages"][0]["Body"])["id"] == "drain-2"
    finally:
        consumer.kill()


def test_a_second_signal_exits_at_once(stack: Stack) -> None:
    stack.send({"id": "drain-3"})
    consumer = Consumer(
        stack, SLEEP_MIN_SECONDS="60", SLEEP_MAX_SECONDS="60", SHUTDOWN_TIMEOUT_SECONDS="30"
    )
    try:
        consumer.wait_for(EV_RECEIVED)
        consumer.proc.send_signal(signal.SIGINT)
        consumer.wait_for(EV_CONSUMER_SIGNAL)
        consumer.proc.send_signal(signal.SIGINT)
        assert consumer.wait(10) == 1
        assert [e["action"] for e in consumer.events(EV_CONSUMER_SIGNAL)] == ["drain", "exit_now"]
    finally:
        consumer.kill()


def test_the_settled_stop_signal_drains_without_waiting_for_the_long_poll(stack: Stack) -> None:
    # GIVEN a consumer in a 20 s long poll on an empty queue
    consumer = Consumer(stack, WAIT_TIME_SECONDS="20")
    try:
        consumer.wait_for(EV_CONSUMER_STARTED)
        time.sleep(0.5)  # into its first poll
        # WHEN the engine's settled stop arrives
        consumer.proc.send_signal(SIGNAL_SETTLED_STOP)
        # THEN it drains and exits 0 long before the poll would have ended
        assert consumer.wait(10) == 0
        (sig,) = consumer.events(EV_CONSUMER_SIGNAL)
        assert sig["signal"] == "SIGUSR1" and sig["action"] == "drain" and sig["abandon_poll"]
        steps = [e["step"] for e in consumer.events(EV_CONSUMER_DRAINING)]
        assert steps[:2] == ["abandon_poll", "stop_receiving"] and steps[-1] == "close"
    finally:
        consumer.kill()


def test_crash_before_delete_then_restart_sees_a_duplicate(stack: Stack) -> None:
    # GIVEN a consumer that crashes on its first message after processing, before the delete
    stack.send({"id": "crash-1", "sent_at": 1_700_000_000_000})
    first = Consumer(stack, CRASH_AFTER_RECEIVE="1", VISIBILITY_TIMEOUT_SECONDS="2")
    try:
        assert first.wait(30) == 3
        crash = first.events(EV_CONSUMER_CRASH)[0]
        assert crash["reason"] == "crash_after_receive" and crash["exit_code"] == 3
        assert first.lines[-1]["event"] == EV_CONSUMER_CRASH  # a real crash: nothing after it
        (done,) = first.events(EV_COMPLETED)
        assert done["sent_at"] == 1_700_000_000_000
    finally:
        first.kill()
    assert stack.depth() == 1
    # WHEN a fresh process receives the redelivery
    second = Consumer(
        stack, CRASH_AFTER_RECEIVE="0", IDLE_TIMEOUT_SECONDS="4", VISIBILITY_TIMEOUT_SECONDS="2"
    )
    try:
        assert second.wait(30) == 0
        (dup,) = second.events(EV_DUPLICATE)
        assert dup["message_id"] == "crash-1" and dup["receive_count"] == 2
        assert second.events(EV_COMPLETED) == []
        assert second.events(EV_CONSUMER_STOPPED)[0]["reason"] == "idle"
    finally:
        second.kill()
    assert stack.depth() == 0


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"CRASH_RATE": "2"}, "CRASH_RATE=2.0 is out of range: allowed 0..1"),
        ({"MAX_MESSAGES": "abc"}, "MAX_MESSAGES='abc' is not an integer: allowed 1..10"),
        ({"QUEUE_URL": ""}, "QUEUE_URL is required"),
        ({"HANDLER": "no_such_pkg.mod:handle"}, "HANDLER=no_such_pkg.mod:handle: cannot import"),
        ({"HANDLER": "consumer.message:nothing"}, "'consumer.message' has no attribute 'nothing'"),
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


def test_thread_race_on_the_emulator_yields_one_completion_per_id(stack: Stack) -> None:
    # GIVEN 6 workers that each claim the same 5 ids, with leases that are already expired, so
    # that every claim after the first takes the id over and fences the one before it...
    ids = [f"race-{i}" for i in range(5)]
    claims: dict[int, list[Any]] = {}
    outcomes: list[tuple[str, str, Outcome]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start, claimed = threading.Barrier(6, timeout=60), threading.Barrier(6, timeout=60)

    def racer(n: int) -> None:
        try:
            store = stack.store(f"w{n}")
            start.wait()
            claims[n] = [store.begin(message_id, time.time() - 1).claim for message_id in ids]
            # ...and only then try to complete what they claimed
            claimed.wait()
            for claim in claims[n]:
                if claim is not None:
                    outcome = store.complete(claim, n)
                    with lock:
                        outcomes.append((claim.message_id, f"w{n}", outcome))
        except BaseException as exc:  # a dead racer must fail the test, not shrink the race
            with lock:
                errors.append(exc)
            start.abort()
            claimed.abort()

    threads = [threading.Thread(target=racer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a racer is still running after 120 s"
    assert errors == [], errors
    # THEN each id has exactly one effective completion, recorded in the completed table
    for message_id in ids:
        done = [o for o in outcomes if o[0] == message_id and o[2] is Outcome.COMPLETED]
        assert len(done) == 1, (message_id, outcomes)
        item = stack.store("x").completed_item(message_id)
        assert item is not None and item["owner"] == done[0][1]
    # AND the race really happened: ids were taken over and the earlier owners fenced out
    all_claims = [c for per_racer in claims.values() for c in per_racer if c is not None]
    assert any(c.takeover for c in all_claims)
    # (fenced, or already completed when the last owner's completion came first)
    assert any(o[2] is not Outcome.COMPLETED for o in outcomes)
