"""What the kit's consumer is told to do: one typed object until a runner launches it.

A scenario builds :class:`ConsumerSettings` from its knobs, faults add field overrides, and a
runner calls :meth:`ConsumerSettings.to_env` once, when it launches a consumer. Nothing reads
the environment strings back.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields, replace
from typing import Final

from consumer.contract import (
    ENV_CHAOS_SEED,
    ENV_CONCURRENCY,
    ENV_CRASH_AFTER_RECEIVE,
    ENV_CRASH_RATE,
    ENV_EFFECT_MODE,
    ENV_HEARTBEAT_SECONDS,
    ENV_IDLE_TIMEOUT_SECONDS,
    ENV_LOG_LEVEL,
    ENV_LONG_SLEEP_EVERY,
    ENV_LONG_SLEEP_SECONDS,
    ENV_MAX_MESSAGES,
    ENV_MESSAGE_LIMIT,
    ENV_RELEASE_BACKOFF_SECONDS,
    ENV_SHUTDOWN_TIMEOUT_SECONDS,
    ENV_SLEEP_MAX_SECONDS,
    ENV_SLEEP_MIN_SECONDS,
    ENV_WAIT_TIME_SECONDS,
)
from core.errors import ConfigError
from scenarios.settings import Knobs

#: the idle timeout is a safety net only: the engine stops consumers once the run has settled
IDLE_TIMEOUT_MARGIN_S = 30
RELEASE_BACKOFF_S = 1


class RestartPolicy(enum.Enum):
    """When a slot gets a new incarnation after its consumer exits."""

    NEVER = "never"
    ON_FAILURE = "on-failure"  # any non-zero exit, as an ECS service does for a stopped task


@dataclass(frozen=True)
class ConsumerSettings:
    """The consumer's knobs; ``None`` leaves the consumer's own default."""

    wait_time_seconds: int | None = None
    max_messages: int | None = None
    concurrency: int | None = None
    sleep_min_seconds: float | None = None
    sleep_max_seconds: float | None = None
    long_sleep_seconds: float | None = None
    long_sleep_every: int | None = None
    heartbeat_seconds: float | None = None
    shutdown_timeout_seconds: float | None = None
    idle_timeout_seconds: float | None = None
    message_limit: int | None = None
    crash_after_receive: int | None = None
    crash_rate: float | None = None
    chaos_seed: int | None = None
    release_backoff_seconds: int | None = None
    log_level: str | None = None
    #: how the demo handler keys its side effect: ``idempotent`` (by message id) or ``naive``
    effect_mode: str | None = None

    @classmethod
    def from_knobs(cls, k: Knobs, **overrides: object) -> ConsumerSettings:
        """The settings for knobs ``k``, then ``overrides`` (field names; unknown ones fail)."""
        base = cls(
            wait_time_seconds=k.receive_wait,
            max_messages=k.max_messages,
            concurrency=k.concurrency,
            sleep_min_seconds=k.sleep_min,
            sleep_max_seconds=k.sleep_max,
            heartbeat_seconds=k.heartbeat_seconds,
            shutdown_timeout_seconds=k.shutdown_timeout,
            idle_timeout_seconds=round(k.timeout_s + IDLE_TIMEOUT_MARGIN_S),
            chaos_seed=k.seed,
            release_backoff_seconds=RELEASE_BACKOFF_S,
            log_level="INFO",
            effect_mode=k.effect_mode,
        )
        return base.with_(**overrides)

    def with_(self, **overrides: object) -> ConsumerSettings:
        """A copy with ``overrides`` applied; an unknown field name is a ConfigError at once."""
        unknown = sorted(set(overrides) - set(ENV_NAMES))
        if unknown:
            raise ConfigError(
                f"unknown consumer setting {', '.join(unknown)}: choose from "
                f"{', '.join(sorted(ENV_NAMES))}"
            )
        return replace(self, **overrides)  # type: ignore[arg-type]

    def to_env(self) -> dict[str, str]:
        """The consumer's environment variables for the fields that are set."""
        return {
            ENV_NAMES[f.name]: str(value)
            for f in fields(self)
            if (value := getattr(self, f.name)) is not None
        }


#: every field and the variable the consumer reads it from (consumer.contract)
ENV_NAMES: Final[dict[str, str]] = {
    "wait_time_seconds": ENV_WAIT_TIME_SECONDS,
    "max_messages": ENV_MAX_MESSAGES,
    "concurrency": ENV_CONCURRENCY,
    "sleep_min_seconds": ENV_SLEEP_MIN_SECONDS,
    "sleep_max_seconds": ENV_SLEEP_MAX_SECONDS,
    "long_sleep_seconds": ENV_LONG_SLEEP_SECONDS,
    "long_sleep_every": ENV_LONG_SLEEP_EVERY,
    "heartbeat_seconds": ENV_HEARTBEAT_SECONDS,
    "shutdown_timeout_seconds": ENV_SHUTDOWN_TIMEOUT_SECONDS,
    "idle_timeout_seconds": ENV_IDLE_TIMEOUT_SECONDS,
    "message_limit": ENV_MESSAGE_LIMIT,
    "crash_after_receive": ENV_CRASH_AFTER_RECEIVE,
    "crash_rate": ENV_CRASH_RATE,
    "chaos_seed": ENV_CHAOS_SEED,
    "release_backoff_seconds": ENV_RELEASE_BACKOFF_SECONDS,
    "log_level": ENV_LOG_LEVEL,
    "effect_mode": ENV_EFFECT_MODE,
}
