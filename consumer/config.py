"""The worker's configuration: a frozen dataclass read from the environment at run time.

Every seed variable keeps its name and default. ``WorkerConfig.from_env()`` validates all of
them up front; a bad value raises :class:`ConfigError` with one line that names the variable
and the allowed range.
"""

from __future__ import annotations

import math
import os
import secrets
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from consumer.contract import (
    EFFECT_IDEMPOTENT,
    EFFECT_MODES,
    ENV_EFFECT_MODE,
    ENV_EFFECTS_TABLE,
    ENV_HANDLER,
    ENV_HANDLER_PATH,
    ENV_IDEMPOTENCY_TTL_SECONDS,
    handler_spec_problem,
)
from consumer.errors import ConfigError

# AWS limits, named once.
MAX_BATCH = 10
MAX_WAIT_TIME_SECONDS = 20
MAX_VISIBILITY_TIMEOUT_SECONDS = 43_200

MAX_CONCURRENCY = 256
# Idempotency records expire after a week by default. A record must outlive the longest lease
# (a visibility timeout is at most 12 h), or a message still in flight would lose its record.
DEFAULT_IDEMPOTENCY_TTL_SECONDS = 7 * 24 * 3600
MIN_IDEMPOTENCY_TTL_SECONDS = MAX_VISIBILITY_TIMEOUT_SECONDS
LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
RETRY_MODES = ("standard", "adaptive", "legacy")

_T = TypeVar("_T", int, float)


def default_consumer_id() -> str:
    """``<hostname>-<pid>-<4 hex>``: unique per process, readable in logs."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class WorkerConfig:
    """Everything the worker reads from its environment (see docs/consumer.md for the table)."""

    queue_url: str
    region: str | None = None
    wait_time_seconds: int = 10
    max_messages: int = 1
    sleep_min_seconds: float = 0.1
    sleep_max_seconds: float = 1.0
    long_sleep_seconds: float = 0.0
    long_sleep_every: int = 0
    crash_rate: float = 0.0
    crash_after_receive: int = 0
    idempotency_cache_size: int = 1000
    message_limit: int = 0
    idle_timeout_seconds: float = 0.0
    message_status_table: str | None = None
    message_completed_table: str | None = None
    log_level: str = "INFO"
    # Beyond the seed.
    consumer_id: str = field(default_factory=default_consumer_id)
    log_format: str = "json"
    concurrency: int = 1
    heartbeat_seconds: float = 0.0
    heartbeat_max_seconds: int = MAX_VISIBILITY_TIMEOUT_SECONDS
    shutdown_timeout_seconds: float = 25.0
    chaos_seed: int | None = None
    visibility_timeout_seconds: int = 0
    release_backoff_seconds: int = 2
    retry_mode: str = "standard"
    max_attempts: int = 8
    idempotency_ttl_seconds: int = DEFAULT_IDEMPOTENCY_TTL_SECONDS
    effects_table: str | None = None
    effect_mode: str = EFFECT_IDEMPOTENT
    #: a user's handler (``package.module:function``) instead of the simulated work
    handler: str | None = None
    #: directories appended to ``sys.path`` before ``handler`` is imported
    handler_path: str | None = None

    def __post_init__(self) -> None:
        self.validate()

    @property
    def uses_tables(self) -> bool:
        """True when both DynamoDB tables are configured (otherwise the in-memory LRU is used)."""
        return bool(self.message_status_table and self.message_completed_table)

    def validate(self) -> None:
        """Raise ConfigError for the first value outside its allowed range."""
        if not self.queue_url:
            raise ConfigError("QUEUE_URL is required: set it to the URL of the queue to consume")
        _range("WAIT_TIME_SECONDS", self.wait_time_seconds, 0, MAX_WAIT_TIME_SECONDS)
        _range("MAX_MESSAGES", self.max_messages, 1, MAX_BATCH)
        _range("SLEEP_MIN_SECONDS", self.sleep_min_seconds, 0, None)
        _range("SLEEP_MAX_SECONDS", self.sleep_max_seconds, 0, None)
        if self.sleep_max_seconds < self.sleep_min_seconds:
            raise ConfigError(
                f"SLEEP_MAX_SECONDS={self.sleep_max_seconds} is out of range: allowed "
                f">= SLEEP_MIN_SECONDS ({self.sleep_min_seconds})"
            )
        _range("LONG_SLEEP_SECONDS", self.long_sleep_seconds, 0, None)
        _range("LONG_SLEEP_EVERY", self.long_sleep_every, 0, None)
        _range("CRASH_RATE", self.crash_rate, 0, 1)
        _range("CRASH_AFTER_RECEIVE", self.crash_after_receive, 0, None)
        _range("IDEMPOTENCY_CACHE_SIZE", self.idempotency_cache_size, 0, None)
        _range("MESSAGE_LIMIT", self.message_limit, 0, None)
        _range("IDLE_TIMEOUT_SECONDS", self.idle_timeout_seconds, 0, None)
        if bool(self.message_status_table) != bool(self.message_completed_table):
            raise ConfigError(
                "MESSAGE_STATUS_TABLE and MESSAGE_COMPLETED_TABLE go together: set both, or "
                "neither (the in-memory LRU alone)"
            )
        _choice("LOG_LEVEL", self.log_level, LOG_LEVELS)
        if not self.consumer_id:
            raise ConfigError("CONSUMER_ID is empty: leave it unset for a generated id, or set one")
        _choice("LOG_FORMAT", self.log_format, LOG_FORMATS)
        _range("CONCURRENCY", self.concurrency, 1, MAX_CONCURRENCY)
        _range("HEARTBEAT_SECONDS", self.heartbeat_seconds, 0, MAX_VISIBILITY_TIMEOUT_SECONDS)
        _range(
            "HEARTBEAT_MAX_SECONDS", self.heartbeat_max_seconds, 1, MAX_VISIBILITY_TIMEOUT_SECONDS
        )
        _range("SHUTDOWN_TIMEOUT_SECONDS", self.shutdown_timeout_seconds, 0, 3600)
        _range(
            "VISIBILITY_TIMEOUT_SECONDS",
            self.visibility_timeout_seconds,
            0,
            MAX_VISIBILITY_TIMEOUT_SECONDS,
        )
        if 0 < self.visibility_timeout_seconds <= self.heartbeat_seconds:
            raise ConfigError(
                f"HEARTBEAT_SECONDS={self.heartbeat_seconds} is out of range: allowed 0 (off) or "
                f"less than VISIBILITY_TIMEOUT_SECONDS ({self.visibility_timeout_seconds})"
            )
        _range(
            "RELEASE_BACKOFF_SECONDS",
            self.release_backoff_seconds,
            0,
            MAX_VISIBILITY_TIMEOUT_SECONDS,
        )
        _choice("AWS_RETRY_MODE", self.retry_mode, RETRY_MODES)
        _range("AWS_MAX_ATTEMPTS", self.max_attempts, 1, 20)
        _choice(ENV_EFFECT_MODE, self.effect_mode, EFFECT_MODES)
        if self.handler is not None:
            problem = handler_spec_problem(self.handler)
            if problem:
                raise ConfigError(f"{ENV_HANDLER}={self.handler!r} is invalid: {problem}")
        if 0 < self.idempotency_ttl_seconds < MIN_IDEMPOTENCY_TTL_SECONDS or (
            self.idempotency_ttl_seconds < 0
        ):
            raise ConfigError(
                f"{ENV_IDEMPOTENCY_TTL_SECONDS}={self.idempotency_ttl_seconds} is out of range: "
                f"{_hint(ENV_IDEMPOTENCY_TTL_SECONDS)}"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerConfig:
        """Read and validate every variable; ``env`` defaults to ``os.environ``."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            var = _ENV_NAMES.get(f.name, f.name.upper())
            raw = env.get(var)
            if raw is None or raw.strip() == "":
                continue
            values[f.name] = _PARSERS.get(f.name, _str)(var, raw.strip())
        if "queue_url" not in values:
            raise ConfigError("QUEUE_URL is required: set it to the URL of the queue to consume")
        return cls(**values)

    def summary(self) -> dict[str, Any]:
        """The settings worth logging at start (no secrets live here)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "queue_url"}


def _int(var: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{var}={raw!r} is not an integer: {_hint(var)}") from None


def _float(var: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{var}={raw!r} is not a number: {_hint(var)}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{var}={raw!r} is not a finite number: {_hint(var)}")
    return value


def _hint(var: str) -> str:
    return _HINTS.get(var, "allowed >= 0")


def _str(_: str, raw: str) -> str:
    return raw


def _upper(_: str, raw: str) -> str:
    return raw.upper()


def _lower(_: str, raw: str) -> str:
    return raw.lower()


def _range(var: str, value: _T, low: _T | int, high: _T | int | None) -> None:
    if value < low or (high is not None and value > high):
        raise ConfigError(f"{var}={value} is out of range: {_allowed(low, high)}")


def _allowed(low: float, high: float | None) -> str:
    return f"allowed {low}..{high}" if high is not None else f"allowed >= {low}"


def _choice(var: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{var}={value!r} is not allowed: choose one of {', '.join(choices)}")


_ENV_NAMES = {
    "idempotency_ttl_seconds": ENV_IDEMPOTENCY_TTL_SECONDS,
    "effects_table": ENV_EFFECTS_TABLE,
    "effect_mode": ENV_EFFECT_MODE,
    "handler": ENV_HANDLER,
    "handler_path": ENV_HANDLER_PATH,
    "region": "AWS_REGION",
    "retry_mode": "AWS_RETRY_MODE",
    "max_attempts": "AWS_MAX_ATTEMPTS",
}

_HINTS = {
    "WAIT_TIME_SECONDS": f"allowed 0..{MAX_WAIT_TIME_SECONDS}",
    "MAX_MESSAGES": f"allowed 1..{MAX_BATCH}",
    "CRASH_RATE": "allowed 0..1",
    "CONCURRENCY": f"allowed 1..{MAX_CONCURRENCY}",
    "VISIBILITY_TIMEOUT_SECONDS": f"allowed 0..{MAX_VISIBILITY_TIMEOUT_SECONDS}",
    "HEARTBEAT_MAX_SECONDS": f"allowed 1..{MAX_VISIBILITY_TIMEOUT_SECONDS}",
    "RELEASE_BACKOFF_SECONDS": f"allowed 0..{MAX_VISIBILITY_TIMEOUT_SECONDS}",
    "AWS_MAX_ATTEMPTS": "allowed 1..20",
    "CHAOS_SEED": "any integer",
    ENV_IDEMPOTENCY_TTL_SECONDS: (
        f"allowed 0 (records never expire) or >= {MIN_IDEMPOTENCY_TTL_SECONDS} "
        "(a record must outlive the longest lease)"
    ),
}


def _max_messages(var: str, raw: str) -> int:
    # The seed caps MAX_MESSAGES at the SQS batch limit rather than refusing larger values.
    return min(_int(var, raw), MAX_BATCH)


_PARSERS: dict[str, Callable[[str, str], Any]] = {
    "wait_time_seconds": _int,
    "max_messages": _max_messages,
    "sleep_min_seconds": _float,
    "sleep_max_seconds": _float,
    "long_sleep_seconds": _float,
    "long_sleep_every": _int,
    "crash_rate": _float,
    "crash_after_receive": _int,
    "idempotency_cache_size": _int,
    "message_limit": _int,
    "idle_timeout_seconds": _float,
    "log_level": _upper,
    "log_format": _lower,
    "concurrency": _int,
    "heartbeat_seconds": _float,
    "heartbeat_max_seconds": _int,
    "shutdown_timeout_seconds": _float,
    "chaos_seed": _int,
    "visibility_timeout_seconds": _int,
    "release_backoff_seconds": _int,
    "retry_mode": _lower,
    "max_attempts": _int,
    "idempotency_ttl_seconds": _int,
    "effect_mode": _lower,
}
