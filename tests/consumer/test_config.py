"""WorkerConfig.from_env(): seed names and defaults, and one clear line for every bad value."""

from __future__ import annotations

import pytest

from consumer.config import WorkerConfig
from consumer.errors import ConfigError

pytestmark = pytest.mark.unit

URL = "http://127.0.0.1:1/000000000000/q"


def test_seed_defaults() -> None:
    c = WorkerConfig.from_env({"QUEUE_URL": URL})
    assert (c.wait_time_seconds, c.max_messages) == (10, 1)
    assert (c.sleep_min_seconds, c.sleep_max_seconds) == (0.1, 1.0)
    assert (c.long_sleep_seconds, c.long_sleep_every, c.crash_rate, c.crash_after_receive) == (
        0,
        0,
        0,
        0,
    )
    assert (c.idempotency_cache_size, c.message_limit, c.idle_timeout_seconds) == (1000, 0, 0)
    assert c.message_status_table is None and c.message_completed_table is None
    assert c.log_level == "INFO" and c.region is None
    assert (c.log_format, c.concurrency, c.heartbeat_seconds) == ("json", 1, 0)
    assert (c.shutdown_timeout_seconds, c.chaos_seed, c.visibility_timeout_seconds) == (25, None, 0)
    assert not c.uses_tables


def test_every_variable_is_read() -> None:
    env = {
        "QUEUE_URL": URL,
        "AWS_REGION": "eu-west-1",
        "WAIT_TIME_SECONDS": "3",
        "MAX_MESSAGES": "7",
        "SLEEP_MIN_SECONDS": "0.5",
        "SLEEP_MAX_SECONDS": "2",
        "LONG_SLEEP_SECONDS": "40",
        "LONG_SLEEP_EVERY": "5",
        "CRASH_RATE": "0.25",
        "CRASH_AFTER_RECEIVE": "3",
        "IDEMPOTENCY_CACHE_SIZE": "0",
        "MESSAGE_LIMIT": "100",
        "IDLE_TIMEOUT_SECONDS": "30",
        "MESSAGE_STATUS_TABLE": "s",
        "MESSAGE_COMPLETED_TABLE": "c",
        "LOG_LEVEL": "debug",
        "CONSUMER_ID": "me",
        "LOG_FORMAT": "TEXT",
        "CONCURRENCY": "8",
        "HEARTBEAT_SECONDS": "10",
        "HEARTBEAT_MAX_SECONDS": "600",
        "SHUTDOWN_TIMEOUT_SECONDS": "20",
        "CHAOS_SEED": "42",
        "VISIBILITY_TIMEOUT_SECONDS": "30",
        "RELEASE_BACKOFF_SECONDS": "4",
    }
    c = WorkerConfig.from_env(env)
    assert c.region == "eu-west-1" and c.wait_time_seconds == 3 and c.max_messages == 7
    assert (c.sleep_min_seconds, c.sleep_max_seconds, c.long_sleep_seconds) == (0.5, 2, 40)
    assert (c.long_sleep_every, c.crash_rate, c.crash_after_receive) == (5, 0.25, 3)
    assert (c.idempotency_cache_size, c.message_limit, c.idle_timeout_seconds) == (0, 100, 30)
    assert c.uses_tables and c.log_level == "DEBUG" and c.consumer_id == "me"
    assert (c.log_format, c.concurrency, c.heartbeat_seconds, c.heartbeat_max_seconds) == (
        "text",
        8,
        10,
        600,
    )
    assert (c.shutdown_timeout_seconds, c.chaos_seed) == (20, 42)
    assert (c.visibility_timeout_seconds, c.release_backoff_seconds) == (30, 4)


def test_idempotency_ttl_defaults_to_a_week_and_zero_turns_it_off() -> None:
    assert WorkerConfig.from_env({"QUEUE_URL": URL}).idempotency_ttl_seconds == 7 * 24 * 3600
    env = {"QUEUE_URL": URL, "IDEMPOTENCY_TTL_SECONDS": "0"}
    assert WorkerConfig.from_env(env).idempotency_ttl_seconds == 0
    env = {"QUEUE_URL": URL, "IDEMPOTENCY_TTL_SECONDS": "43200"}
    assert WorkerConfig.from_env(env).idempotency_ttl_seconds == 43200


def test_max_messages_is_capped_at_the_sqs_batch_limit() -> None:
    assert WorkerConfig.from_env({"QUEUE_URL": URL, "MAX_MESSAGES": "50"}).max_messages == 10


def test_consumer_id_defaults_to_host_pid_hex_and_is_unique() -> None:
    a = WorkerConfig.from_env({"QUEUE_URL": URL}).consumer_id
    b = WorkerConfig.from_env({"QUEUE_URL": URL}).consumer_id
    assert a != b and a.count("-") >= 2


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("CRASH_RATE", "2", "CRASH_RATE=2.0 is out of range: allowed 0..1"),
        ("CRASH_RATE", "-0.1", "CRASH_RATE=-0.1 is out of range: allowed 0..1"),
        ("MAX_MESSAGES", "abc", "MAX_MESSAGES='abc' is not an integer: allowed 1..10"),
        ("MAX_MESSAGES", "0", "MAX_MESSAGES=0 is out of range: allowed 1..10"),
        ("WAIT_TIME_SECONDS", "21", "WAIT_TIME_SECONDS=21 is out of range: allowed 0..20"),
        ("SLEEP_MIN_SECONDS", "-1", "SLEEP_MIN_SECONDS=-1.0 is out of range: allowed >= 0"),
        (
            "SLEEP_MAX_SECONDS",
            "0.01",
            "SLEEP_MAX_SECONDS=0.01 is out of range: allowed >= SLEEP_MIN_SECONDS",
        ),
        ("SLEEP_MAX_SECONDS", "nan", "SLEEP_MAX_SECONDS='nan' is not a finite number"),
        ("LONG_SLEEP_EVERY", "1.5", "LONG_SLEEP_EVERY='1.5' is not an integer: allowed >= 0"),
        ("IDEMPOTENCY_CACHE_SIZE", "-5", "IDEMPOTENCY_CACHE_SIZE=-5 is out of range: allowed >= 0"),
        ("MESSAGE_LIMIT", "ten", "MESSAGE_LIMIT='ten' is not an integer: allowed >= 0"),
        ("CONCURRENCY", "0", "CONCURRENCY=0 is out of range: allowed 1..256"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT='xml' is not allowed: choose one of json, text"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL='LOUD' is not allowed: choose one of DEBUG"),
        (
            "HEARTBEAT_MAX_SECONDS",
            "50000",
            "HEARTBEAT_MAX_SECONDS=50000 is out of range: allowed 1..43200",
        ),
        ("VISIBILITY_TIMEOUT_SECONDS", "43201", "VISIBILITY_TIMEOUT_SECONDS=43201 is out of range"),
        ("CHAOS_SEED", "x", "CHAOS_SEED='x' is not an integer: any integer"),
        (
            "IDEMPOTENCY_TTL_SECONDS",
            "3600",
            "IDEMPOTENCY_TTL_SECONDS=3600 is out of range: allowed 0 (records never expire) "
            "or >= 43200",
        ),
        ("IDEMPOTENCY_TTL_SECONDS", "-1", "IDEMPOTENCY_TTL_SECONDS=-1 is out of range"),
        ("IDEMPOTENCY_TTL_SECONDS", "1d", "IDEMPOTENCY_TTL_SECONDS='1d' is not an integer"),
        (
            "MESSAGE_STATUS_TABLE",
            "only-one",
            "MESSAGE_STATUS_TABLE and MESSAGE_COMPLETED_TABLE go together",
        ),
    ],
)
def test_bad_values_name_the_variable_and_the_allowed_range(
    var: str, value: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as err:
        WorkerConfig.from_env({"QUEUE_URL": URL, var: value})
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_heartbeat_must_be_shorter_than_the_visibility_timeout() -> None:
    with pytest.raises(ConfigError, match=r"HEARTBEAT_SECONDS=30\.0 is out of range"):
        WorkerConfig.from_env(
            {"QUEUE_URL": URL, "VISIBILITY_TIMEOUT_SECONDS": "30", "HEARTBEAT_SECONDS": "30"}
        )


def test_missing_queue_url() -> None:
    with pytest.raises(ConfigError, match="QUEUE_URL is required"):
        WorkerConfig.from_env({"QUEUE_URL": "  "})
