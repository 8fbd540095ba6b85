"""Calls in flight at once (``max_in_flight``, rate 0): the sender's guarantees still hold."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner

from producer import ConfigError, RetryPolicy, SendAborted, SendConfig, read_ledger, send
from producer.cli import produce
from producer.config import DEFAULT_MAX_IN_FLIGHT
from producer.payloads import plan
from producer.report import NOT_SENT
from tests.producer.conftest import FaultyClient, drain, entry_id

pytestmark = pytest.mark.unit

FAST = RetryPolicy(max_attempts=3, base_delay_s=0.001, max_delay_s=0.002)
INTERNAL = {"Code": "InternalError", "Message": "injected", "SenderFault": False}


class Probe:
    """Wraps a client: holds every SendMessageBatch ``delay_s`` and records the peak overlap."""

    def __init__(self, inner: Any, delay_s: float = 0.01) -> None:
        self.inner = inner
        self.delay_s = delay_s
        self.active = 0
        self.peak = 0
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def send_message_batch(self, **params: Any) -> Any:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.threads.add(threading.current_thread().name)
        try:
            time.sleep(self.delay_s)
            return self.inner.send_message_batch(**params)
        finally:
            with self._lock:
                self.active -= 1


class Outage(FaultyClient):
    """Every SendMessageBatch call from number ``first`` on fails outright."""

    def __init__(self, inner: Any, first: int) -> None:
        super().__init__(inner)
        self.first = first
        self._count = 0
        self._count_lock = threading.Lock()

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> Any:
        with self._count_lock:
            self._count += 1
            number = self._count
        if number >= self.first:
            from botocore.exceptions import ClientError

            raise ClientError(
                {"Error": {"Code": "ServiceUnavailable", "Message": "injected outage"}},
                "SendMessageBatch",
            )
        return super().send_message_batch(QueueUrl=QueueUrl, Entries=Entries)


def _ids(seed: int, n: int) -> list[str]:
    return [str(m.ledger_id) for m in plan(SendConfig(queue_url="q", n=n, seed=seed))]


def _fail_id_once(target: str) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    seen = {"n": 0}
    lock = threading.Lock()

    def fail(entry: dict[str, Any]) -> dict[str, Any] | None:
        with lock:
            if entry_id(entry) == target and seen["n"] == 0:
                seen["n"] += 1
                return INTERNAL
        return None

    return fail


def test_every_message_lands_exactly_once_with_calls_in_flight(sqs, queue_url, tmp_path):
    # GIVEN 95 messages (10 batches) and up to 4 calls in flight
    probe = Probe(sqs)
    ledger = tmp_path / "sent.jsonl"
    config = SendConfig(queue_url=queue_url, n=95, seed=11, ledger=ledger, max_in_flight=4)
    # WHEN they are sent
    report = send(config, sqs=probe)
    # THEN the calls really overlapped, never more than 4 at once
    assert 1 < probe.peak <= 4
    # AND every message is in the queue exactly once, and in the ledger exactly once
    assert (report.requested, report.sent, report.failed) == (95, 95, 0)
    in_queue = drain(sqs, queue_url)
    assert Counter(json.loads(m["Body"])["id"] for m in in_queue) == Counter(_ids(11, 95))
    entries = read_ledger(ledger)
    assert Counter(e.message_id for e in entries) == Counter(m["MessageId"] for m in in_queue)
    assert Counter(e.id for e in entries) == Counter(_ids(11, 95))
    # AND the report lists the same entries, in plan order (the file is in completion order)
    assert [e.id for e in report.ledger] == _ids(11, 95)
    assert set(report.ledger) == set(entries)


def test_default_in_flight_is_used_at_rate_zero(sqs, queue_url):
    probe = Probe(sqs, delay_s=0.02)
    send(SendConfig(queue_url=queue_url, n=200), sqs=probe)
    assert 1 < probe.peak <= DEFAULT_MAX_IN_FLIGHT
    assert threading.current_thread().name not in probe.threads


def test_a_partial_failure_is_retried_under_concurrency(sqs, queue_url, tmp_path):
    # GIVEN one entry in the middle of the run that fails once inside its SendMessageBatch
    target = _ids(12, 60)[27]
    inner = FaultyClient(sqs, _fail_id_once(target))
    probe = Probe(inner)
    ledger = tmp_path / "sent.jsonl"
    config = SendConfig(
        queue_url=queue_url, n=60, seed=12, retry=FAST, ledger=ledger, max_in_flight=4
    )
    # WHEN the run overlaps its calls
    report = send(config, sqs=probe)
    # THEN that entry was sent twice (once alone, as the retry) and delivered once
    assert probe.peak > 1
    carrying = [call for call in inner.calls if target in {entry_id(e) for e in call}]
    assert [len(call) for call in carrying] == [10, 1]
    assert (report.sent, report.failed, report.retried_entries) == (60, 0, 1)
    in_queue = drain(sqs, queue_url)
    assert Counter(json.loads(m["Body"])["id"] for m in in_queue) == Counter(_ids(12, 60))
    assert {e.message_id for e in read_ledger(ledger)} == {m["MessageId"] for m in in_queue}
    assert len(read_ledger(ledger)) == 60


@pytest.mark.parametrize("every_call_after", [False, True])
def test_a_call_level_failure_under_concurrency_accounts_for_every_message(
    sqs, queue_url, tmp_path, every_call_after
):
    # GIVEN 100 messages, 4 calls in flight, and the 4th call failing outright (or every call
    # from the 4th on), while one entry of the first batch needs a retry
    n = 100
    target = _ids(13, n)[3]
    faulty = (
        Outage(sqs, first=4)
        if every_call_after
        else FaultyClient(sqs, _fail_id_once(target), raise_on_call=4)
    )
    probe = Probe(faulty)
    ledger = tmp_path / "sent.jsonl"
    config = SendConfig(
        queue_url=queue_url, n=n, seed=13, retry=FAST, ledger=ledger, max_in_flight=4
    )
    # WHEN the run is stopped by it
    with pytest.raises(SendAborted) as err:
        send(config, sqs=probe)
    report = err.value.report
    assert "ServiceUnavailable: injected outage" in str(err.value)
    # THEN the report accounts for every message exactly once
    assert report.requested == n and report.sent + report.failed == n
    seq_of = {message_id: seq for seq, message_id in enumerate(_ids(13, n))}
    accounted = [seq_of[str(e.id)] for e in report.ledger] + [f.seq for f in report.failures]
    assert sorted(accounted) == list(range(n))
    # AND only failed calls are "delivery unknown", whole batches of them; the rest is a NotSent
    # suffix of the plan (nothing after the first unsent message was sent)
    unknown = [f for f in report.failures if f.code == "ServiceUnavailable"]
    not_sent = [f for f in report.failures if f.code == NOT_SENT]
    assert len(unknown) + len(not_sent) == report.failed
    assert unknown and len(unknown) % 10 == 0
    assert all("delivery unknown" in f.reason for f in unknown)
    if not_sent:
        first = min(f.seq for f in not_sent)
        assert [f.seq for f in not_sent] == list(range(first, n))
    assert 30 <= report.sent <= 70
    # AND the ledger on disk lists exactly what the queue holds, which is what the report says
    in_queue = {m["MessageId"] for m in drain(sqs, queue_url)}
    on_disk = read_ledger(ledger)
    assert {e.message_id for e in on_disk} == in_queue
    assert len(on_disk) == len(in_queue) == report.sent
    assert set(report.ledger) == set(on_disk)


def test_progress_under_concurrency(sqs, queue_url, tmp_path):
    # GIVEN a progress callback that reads the ledger file back
    ledger = tmp_path / "sent.jsonl"
    seen: list[tuple[int, int, str]] = []

    def on_progress(progress):
        lines = len(ledger.read_text().splitlines()) if ledger.exists() else 0
        seen.append((progress.sent, lines, threading.current_thread().name))

    config = SendConfig(queue_url=queue_url, n=85, ledger=ledger, max_in_flight=4)
    send(config, sqs=Probe(sqs), on_progress=on_progress)
    # THEN it runs on the calling thread, counts only go up, the file is never behind the count
    assert {name for _, _, name in seen} == {threading.current_thread().name}
    assert seen[0][:2] == (0, 0) and seen[-1][:2] == (85, 85)
    sents = [sent for sent, _, _ in seen]
    assert sents == sorted(sents)
    assert all(lines >= sent for sent, lines, _ in seen)


def test_fifo_queue_keeps_one_call_in_flight_and_its_order(sqs, make_queue):
    # GIVEN a FIFO queue and a request for 8 calls in flight
    url = make_queue(FifoQueue="true")
    config = SendConfig(queue_url=url, n=45, seed=14, max_in_flight=8)
    assert config.in_flight == 1
    probe = Probe(sqs)
    # WHEN the run goes out
    report = send(config, sqs=probe)
    # THEN one call at a time, from the calling thread, and the group's order is the plan's
    assert probe.peak == 1 and probe.threads == {threading.current_thread().name}
    assert report.sent == 45
    assert [json.loads(m["Body"])["id"] for m in drain(sqs, url)] == _ids(14, 45)


def test_a_rate_keeps_one_call_in_flight():
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/q"
    assert SendConfig(queue_url=url, rate=50, max_in_flight=8).in_flight == 1
    assert SendConfig(queue_url=url, rate=0).in_flight == DEFAULT_MAX_IN_FLIGHT == 4
    assert SendConfig(queue_url=url, rate=0, max_in_flight=7).in_flight == 7
    assert SendConfig(queue_url=f"{url}.fifo").in_flight == 1


NAMED = "max_in_flight (--max-in-flight, PRODUCE_MAX_IN_FLIGHT)"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, f"{NAMED}=0 is out of range: allowed 1..32"),
        (33, f"{NAMED}=33 is out of range: allowed 1..32"),
        (-1, f"{NAMED}=-1 is out of range: allowed 1..32"),
        (2.5, f"{NAMED} must be a whole number in 1..32, got 2.5"),
        (True, f"{NAMED} must be a whole number in 1..32, got True"),
        ("4", f"{NAMED} must be a whole number in 1..32, got '4'"),
    ],
)
def test_max_in_flight_is_validated(value, expected):
    with pytest.raises(ConfigError) as err:
        SendConfig(queue_url="https://sqs.us-east-1.amazonaws.com/1/q", max_in_flight=value)
    assert expected in str(err.value)


def test_max_in_flight_from_env():
    url = "https://sqs.us-east-1.amazonaws.com/1/q"
    config = SendConfig.from_env({"QUEUE_URL": url, "PRODUCE_MAX_IN_FLIGHT": "8"})
    assert config.max_in_flight == 8 and config.in_flight == 8
    with pytest.raises(ConfigError, match=r"=40 is out of range: allowed 1\.\.32"):
        SendConfig.from_env({"QUEUE_URL": url, "PRODUCE_MAX_IN_FLIGHT": "40"})
    with pytest.raises(ConfigError, match="PRODUCE_MAX_IN_FLIGHT='many' is not a valid int"):
        SendConfig.from_env({"QUEUE_URL": url, "PRODUCE_MAX_IN_FLIGHT": "many"})


def test_max_in_flight_on_the_command_line(monkeypatch, queue_url):
    monkeypatch.delenv("PRODUCE_MAX_IN_FLIGHT", raising=False)
    seen: list[SendConfig] = []

    def fake_send(config, **_):
        seen.append(config)
        from producer.report import SendReport

        return SendReport(0, 0, 0, 0.0, config.rate, 0, 0, (), ())

    monkeypatch.setattr("producer.cli.send", fake_send)
    runner = CliRunner()

    def run(*args: str, env: dict[str, str] | None = None) -> Any:
        return runner.invoke(produce, list(args), env=env or {}, auto_envvar_prefix="PRODUCE")

    bad = run("--queue-url", queue_url, "--max-in-flight", "33")
    assert bad.exit_code == 2
    assert "Invalid value for '--max-in-flight': 33 is not in the range 1<=x<=32" in bad.output
    assert run("--queue-url", queue_url, "--max-in-flight", "0").exit_code == 2
    assert run("--queue-url", queue_url, "--max-in-flight", "6").exit_code == 0
    assert run("--queue-url", queue_url, env={"PRODUCE_MAX_IN_FLIGHT": "3"}).exit_code == 0
    assert run("--queue-url", queue_url).exit_code == 0
    assert [c.max_in_flight for c in seen] == [6, 3, None]
    assert "PRODUCE_MAX_IN_FLIGHT" in run("--help").output
