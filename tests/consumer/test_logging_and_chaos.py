"""Log rendering (JSON lines, text), message parsing, and reproducible chaos."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

from consumer import logging as consumer_logging
from consumer.chaos import BEFORE_DELETE, CRASH_POINTS, Chaos, SimulatedWork
from consumer.config import WorkerConfig
from consumer.contract import (
    EV_COMPLETED,
    EV_CONSUMER_CRASH,
    EV_POISON,
)
from consumer.errors import PoisonMessage
from consumer.message import Message, body_hash, parse

pytestmark = pytest.mark.unit

URL = "http://127.0.0.1:1/000000000000/q"


@pytest.fixture
def restore_root_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def test_json_lines_carry_the_contract_fields(restore_root_logging: None) -> None:
    out = io.StringIO()
    consumer_logging.configure(level="INFO", fmt="json", consumer_id="c-1", stream=out)
    logging.getLogger("consumer").info(
        EV_COMPLETED,
        extra={
            "message_id": "m",
            "sqs_message_id": "s",
            "receive_count": 2,
            "attempt": 1,
            "completed_at": 5,
        },
    )
    logging.getLogger("consumer").debug("hidden")
    (line,) = out.getvalue().splitlines()
    obj = json.loads(line)
    assert list(obj)[:8] == [
        "ts",
        "level",
        "event",
        "consumer_id",
        "message_id",
        "sqs_message_id",
        "receive_count",
        "attempt",
    ]
    assert obj["event"] == EV_COMPLETED and obj["level"] == "INFO" and obj["completed_at"] == 5
    assert obj["ts"].endswith("Z") and "T" in obj["ts"]


def test_text_format_is_readable(restore_root_logging: None) -> None:
    out = io.StringIO()
    consumer_logging.configure(level="INFO", fmt="text", consumer_id="c-1", stream=out)
    logging.getLogger("consumer").warning(EV_POISON, extra={"reason": "not JSON"})
    line = out.getvalue().strip()
    assert " WARNING " in line and EV_POISON in line and "reason=not JSON" in line
    assert "consumer_id=c-1" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_parse_takes_the_payload_id_and_sent_at() -> None:
    raw = {
        "MessageId": "sqs-1",
        "ReceiptHandle": "rh",
        "Body": json.dumps({"id": "7", "sent_at": 1_700_000_000_000}),
        "Attributes": {"ApproximateReceiveCount": "3"},
    }
    m = parse(raw, sequence=4)
    assert (m.message_id, m.sqs_message_id, m.receive_count, m.sequence) == ("7", "sqs-1", 3, 4)
    assert m.sent_at == 1_700_000_000_000 and m.receipt_handle == "rh"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "not JSON"),
        ("nope", "not JSON"),
        ("[]", "not an object (got list)"),
        ("1", "not an object (got int)"),
        ('{"id": ""}', "payload id is empty"),
        ('{"id": "  "}', "payload id is empty"),
        ('{"id": true}', "payload id must be a string (got bool)"),
        ('{"id": [1]}', "payload id must be a string (got list)"),
        # a number is not the string "1": two bodies must never share an id by conversion
        ('{"id": 1}', "payload id must be a string (got int)"),
        ('{"id": 1.5}', "payload id must be a string (got float)"),
        # DynamoDB's hash key limit, counted in UTF-8 bytes
        (json.dumps({"id": "x" * 2049}), "payload id is 2049 bytes in UTF-8: at most 2048"),
        (json.dumps({"id": "é" * 1025}), "payload id is 2050 bytes in UTF-8: at most 2048"),
        ('{"id": "\\ud800"}', "payload id is not valid Unicode"),
    ],
)
def test_parse_rejects_poison_with_a_reason(body: str, reason: str) -> None:
    with pytest.raises(PoisonMessage) as caught:
        parse({"MessageId": "x", "Body": body}, sequence=1)
    assert reason in str(caught.value)


def test_the_body_hash_ignores_only_the_sent_at_stamp() -> None:
    first = body_hash({"id": "a", "work": 1, "sent_at": 1})
    assert body_hash({"work": 1, "id": "a", "sent_at": 2}) == first  # a resend: same message
    assert body_hash({"id": "a", "work": 1}) == first
    assert body_hash({"id": "a", "work": 2, "sent_at": 1}) != first  # another message
    raw = {"MessageId": "x", "Body": json.dumps({"id": "a", "work": 1, "sent_at": 3})}
    assert parse(raw, sequence=1).body_hash == first


def test_an_id_of_exactly_the_key_limit_is_accepted() -> None:
    given = "é" * 1024  # 2048 bytes
    assert parse({"MessageId": "x", "Body": json.dumps({"id": given})}, sequence=1).message_id == (
        given
    )


def _message(sequence: int) -> Message:
    return Message("m", "s", {}, 1, sequence)


def test_chaos_seed_makes_sleeps_and_crashes_reproducible() -> None:
    config = WorkerConfig(
        queue_url=URL, crash_rate=0.3, chaos_seed=7, sleep_min_seconds=0, sleep_max_seconds=1
    )
    plans_a = [Chaos(config).plan(n) for n in range(1, 200)]
    plans_b = [Chaos(config).plan(n) for n in range(1, 200)]
    assert plans_a == plans_b
    crashes = [p for p in plans_a if p is not None]
    assert 30 < len(crashes) < 90  # about 30 % of 199
    assert {p.point for p in crashes} == set(CRASH_POINTS)
    sleeps = [SimulatedWork(config).duration(_message(n)) for n in range(1, 50)]
    assert sleeps == [SimulatedWork(config).duration(_message(n)) for n in range(1, 50)]
    other = WorkerConfig(queue_url=URL, crash_rate=0.3, chaos_seed=8)
    assert [Chaos(other).plan(n) for n in range(1, 200)] != plans_a


def test_crash_after_receive_crashes_on_the_nth_message_before_delete() -> None:
    config = WorkerConfig(queue_url=URL, crash_after_receive=3)
    plans: list[Any] = [Chaos(config).plan(n) for n in range(1, 6)]
    assert [p is not None for p in plans] == [False, False, True, False, False]
    assert plans[2].point == BEFORE_DELETE and plans[2].reason == "crash_after_receive"


def test_crash_logs_then_exits_with_the_chaos_code(caplog: pytest.LogCaptureFixture) -> None:
    codes: list[int] = []
    config = WorkerConfig(queue_url=URL, crash_rate=1.0, chaos_seed=1)
    chaos = Chaos(config, exit=codes.append)
    plan = chaos.plan(1)
    assert plan is not None
    with caplog.at_level(logging.INFO, logger="consumer"):
        chaos.crash(plan, {"message_id": "m"})
    assert codes == [3]
    (record,) = [r for r in caplog.records if r.getMessage() == EV_CONSUMER_CRASH]
    assert vars(record)["exit_code"] == 3 and vars(record)["reason"] == "crash_rate"


def test_long_sleep_every_nth_message() -> None:
    config = WorkerConfig(
        queue_url=URL,
        sleep_min_seconds=0.1,
        sleep_max_seconds=0.2,
        long_sleep_seconds=9,
        long_sleep_every=3,
    )
    work = SimulatedWork(config)
    durations = [work.duration(_message(n)) for n in range(1, 7)]
    assert durations[2] == durations[5] == 9
    assert all(0.1 <= d <= 0.2 for i, d in enumerate(durations) if i not in (2, 5))
    slept: list[float] = []
    SimulatedWork(config, sleep=slept.append)(_message(3))
    assert slept == [9]
