"""Validation: bad settings and bad bodies fail up front, with a clear message, before any send."""

from __future__ import annotations

from pathlib import Path

import pytest

from producer import ConfigError, MessageTooLarge, RetryPolicy, SendConfig, send

pytestmark = pytest.mark.unit

URL = "https://sqs.us-east-1.amazonaws.com/123456789012/q"
FIFO = f"{URL}.fifo"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"batch_size": 0}, "batch_size (--batch-size)=0 is out of range: allowed 1..10"),
        ({"batch_size": 11}, "batch_size (--batch-size)=11 is out of range: allowed 1..10"),
        ({"rate": -1.0}, "rate (--rate)=-1.0 is out of range"),
        ({"rate": float("nan")}, "rate (--rate)=nan is out of range"),
        ({"rate": float("inf")}, "rate (--rate)=inf is out of range"),
        ({"n": -1}, "n (--n)=-1 is out of range"),
        (
            {"duplicate_ids": 1.5},
            "duplicate_ids (--duplicate-ids)=1.5 is out of range: allowed 0.0..1.0",
        ),
        ({"duplicate_ids": -0.1}, "duplicate_ids (--duplicate-ids)=-0.1 is out of range"),
        ({"max_message_size": 0}, "max_message_size=0 is out of range"),
        ({"max_message_size": 1_048_577}, "max_message_size=1048577 is out of range"),
        ({"batch_size": True}, "batch_size (--batch-size) must be a number"),
        ({"queue_url": ""}, "queue_url is required: pass --queue-url or set QUEUE_URL"),
        ({"bodies": ["a"], "body_file": "x.jsonl"}, "either bodies or body_file"),
        ({"bodies": ["a"], "duplicate_ids": 0.5}, "applies to generated payloads only"),
        ({"bodies": ["a", "b"], "n": 3}, "n=3 does not match the 2 bodies"),
        ({"bodies": ["a", b"b"]}, "bodies[1] is a bytes: every body must be a str"),
        ({"message_group_id": ""}, "message_group_id='' is not a valid FIFO id: it must be 1..128"),
        ({"message_group_id": "a b"}, "message_group_id='a b' is not a valid FIFO id"),
        ({"message_group_id": "é"}, "message_group_id='é' is not a valid FIFO id"),
        ({"message_group_id": "g" * 129}, "is not a valid FIFO id: it must be 1..128 characters"),
        (
            {"queue_url": FIFO, "group_ids": 0},
            "group_ids (--group-ids, PRODUCE_GROUP_IDS)=0 is out of range: allowed 1..10000",
        ),
        ({"queue_url": FIFO, "group_ids": 10_001}, "=10001 is out of range: allowed 1..10000"),
        ({"queue_url": FIFO, "group_ids": True}, "must be a whole number in 1..10000, got True"),
        ({"queue_url": FIFO, "group_ids": 2.0}, "must be a whole number in 1..10000, got 2.0"),
        (
            {"queue_url": FIFO, "group_ids": 2, "group_key": str},
            "give either group_ids (--group-ids, PRODUCE_GROUP_IDS) or group_key, not both",
        ),
        (
            {"queue_url": FIFO, "group_ids": 100, "message_group_id": "g" * 126},
            "group_ids (--group-ids, PRODUCE_GROUP_IDS)=100 makes group names like 'ggg",
        ),
        (
            {"queue_url": FIFO, "dedup_id": "uuid"},
            "dedup_id (--dedup-id, PRODUCE_DEDUP_ID)='uuid' is not one of random, payload-id, "
            "content",
        ),
        (
            {"group_ids": 2},
            "group_ids (--group-ids, PRODUCE_GROUP_IDS) applies to FIFO queues only (a queue "
            f"URL ending in .fifo), not {URL}",
        ),
        ({"group_key": str}, "group_key applies to FIFO queues only"),
        (
            {"dedup_id": "payload-id"},
            "dedup_id (--dedup-id, PRODUCE_DEDUP_ID)=payload-id applies to FIFO queues only",
        ),
        ({"dedup_id": "content"}, "=content applies to FIFO queues only"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(changes, expected):
    settings = {"queue_url": URL, **changes}
    with pytest.raises(ConfigError) as err:
        SendConfig(**settings)
    assert expected in str(err.value)


def test_fifo_settings_are_accepted_where_they_apply():
    # The longest prefix that still fits 128 characters with 100 groups ("-99").
    config = SendConfig(queue_url=FIFO, group_ids=100, message_group_id="g" * 125)
    assert config.group_ids == 100
    assert SendConfig(queue_url=FIFO, dedup_id="content").dedup_id == "content"
    assert SendConfig(queue_url=FIFO, message_group_id="!~#a-Z_0").message_group_id == "!~#a-Z_0"
    # random is the default and means nothing on a standard queue, so it is not refused there
    assert SendConfig(queue_url=URL, dedup_id="random").dedup_id == "random"


def test_from_env_reads_the_fifo_settings():
    env = {"QUEUE_URL": FIFO, "PRODUCE_GROUP_IDS": "6", "PRODUCE_DEDUP_ID": "payload-id"}
    config = SendConfig.from_env(env)
    assert (config.group_ids, config.dedup_id) == (6, "payload-id")
    with pytest.raises(ConfigError, match="PRODUCE_GROUP_IDS='six' is not a valid int"):
        SendConfig.from_env({**env, "PRODUCE_GROUP_IDS": "six"})


def test_good_settings_are_accepted_and_frozen():
    config = SendConfig(
        queue_url=URL, n=5, rate=2.5, batch_size=1, bodies=None, ledger=Path("l.jsonl")
    )
    assert config.ledger is not None and config.ledger.name == "l.jsonl"
    with pytest.raises(AttributeError):
        config.n = 6  # type: ignore[misc]


def test_bodies_list_is_frozen_to_a_tuple():
    assert SendConfig(queue_url=URL, bodies=["a", "b"]).bodies == ("a", "b")


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"max_attempts": 0}, "retry max_attempts=0 is out of range"),
        ({"base_delay_s": -1}, "retry base_delay_s=-1 is out of range"),
        ({"base_delay_s": 1.0, "max_delay_s": 0.5}, "retry max_delay_s=0.5 is out of range"),
    ],
)
def test_bad_retry_policy_is_refused(kwargs, expected):
    with pytest.raises(ConfigError, match=expected):
        RetryPolicy(**kwargs)


def test_from_env_reads_the_standard_variables_and_overrides_win():
    env = {
        "QUEUE_URL": URL,
        "AWS_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "PRODUCE_N": "42",
        "PRODUCE_RATE": "7.5",
        "PRODUCE_BATCH_SIZE": "5",
    }
    config = SendConfig.from_env(env, batch_size=2)
    assert (config.queue_url, config.region, config.endpoint_url) == (
        URL,
        "eu-west-1",
        env["AWS_ENDPOINT_URL"],
    )
    assert (config.n, config.rate, config.batch_size) == (42, 7.5, 2)


def test_from_env_names_the_bad_variable():
    with pytest.raises(ConfigError, match="PRODUCE_N='ten' is not a valid int"):
        SendConfig.from_env({"QUEUE_URL": URL, "PRODUCE_N": "ten"})
    with pytest.raises(ConfigError, match=r"batch_size .*=12 is out of range"):
        SendConfig.from_env({"QUEUE_URL": URL, "PRODUCE_BATCH_SIZE": "12"})


def test_oversize_body_is_refused_before_anything_is_sent(sqs, spy, make_queue):
    # GIVEN a queue that takes at most 1024 bytes, and one body among many that is larger
    url = make_queue(MaximumMessageSize="1024")
    bodies = ["ok"] * 15 + ["z" * 1025] + ["ok"]
    # WHEN the run starts THEN it stops with a clear error naming the body and the queue's limit
    with pytest.raises(MessageTooLarge) as err:
        send(SendConfig(queue_url=url, bodies=bodies), sqs=sqs)
    message = str(err.value)
    assert (
        "bodies[15] is 1025 bytes, over the 1024-byte limit (the queue's MaximumMessageSize)"
        in message
    )
    assert "nothing was sent" in message
    # AND not one message went out
    assert spy.calls == []
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_max_message_size_setting_overrides_the_queue(sqs, spy, queue_url):
    with pytest.raises(MessageTooLarge, match=r"over the 10-byte limit \(max_message_size setting"):
        send(SendConfig(queue_url=queue_url, bodies=["12345678901"], max_message_size=10), sqs=sqs)
    assert spy.calls == []


def test_multibyte_bodies_are_measured_in_utf8_bytes(sqs, spy, make_queue):
    url = make_queue(MaximumMessageSize="1024")
    body = "é" * 513  # 513 characters, 1026 bytes
    with pytest.raises(MessageTooLarge, match="1026 bytes"):
        send(SendConfig(queue_url=url, bodies=[body]), sqs=sqs)
    assert spy.calls == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", "bodies[1] is empty"),
        ("bad\x00byte", "bodies[1] contains '\\x00' at position 3"),
        ("esc\x1b", "bodies[1] contains '\\x1b'"),
        ("lone \ud800 surrogate", "bodies[1] contains '\\ud800'"),
    ],
)
def test_bodies_sqs_would_refuse_are_refused_up_front(sqs, spy, queue_url, body, expected):
    with pytest.raises(ConfigError) as err:
        send(SendConfig(queue_url=queue_url, bodies=["fine", body]), sqs=sqs)
    assert expected in str(err.value)
    assert spy.calls == []


def test_missing_queue_is_a_clear_error(sqs, spy):
    missing = "https://sqs.us-east-1.amazonaws.com/123456789012/producer-no-such-queue"
    with pytest.raises(ConfigError, match="does not exist: check --queue-url"):
        send(SendConfig(queue_url=missing, n=3), sqs=sqs)
    assert spy.calls == []


def test_body_file_problems_are_clear(tmp_path, sqs, queue_url):
    with pytest.raises(ConfigError, match="does not exist"):
        send(SendConfig(queue_url=queue_url, body_file=tmp_path / "nope.jsonl"), sqs=sqs)
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b"caf\xe9\n")
    with pytest.raises(ConfigError, match="is not UTF-8"):
        send(SendConfig(queue_url=queue_url, body_file=latin), sqs=sqs)
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n\n")
    with pytest.raises(ConfigError, match="has no bodies"):
        send(SendConfig(queue_url=queue_url, body_file=blank), sqs=sqs)
    three = tmp_path / "three.jsonl"
    three.write_text("a\nb\nc\n")
    with pytest.raises(ConfigError, match="n=2 does not match the 3 bodies"):
        send(SendConfig(queue_url=queue_url, body_file=three, n=2), sqs=sqs)
