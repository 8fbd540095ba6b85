"""SendConfig: everything one producer run needs, validated up front.

Built directly by library callers, by the CLI from its flags, or by `SendConfig.from_env()`.
A bad value raises `ConfigError` naming the setting (and its flag / variable) and the allowed range.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from consumer import contract
from producer.errors import ConfigError

if TYPE_CHECKING:
    from producer.payloads import Outgoing

# AWS limits, named once.
MAX_BATCH = 10
MAX_MESSAGE_SIZE_BYTES = 1_048_576  # per message, since 2025
MAX_BATCH_PAYLOAD_BYTES = 1_048_576  # the sum of every body in one SendMessageBatch
MIN_MESSAGE_SIZE_BYTES = 1
MAX_N = 10_000_000
MAX_IN_FLIGHT = 32
#: SendMessageBatch calls kept in flight at ``rate == 0`` when ``max_in_flight`` is not set.
DEFAULT_MAX_IN_FLIGHT = 4

DEFAULT_N = 10
DEFAULT_GROUP_ID = "sqs-kit"
#: ``group_ids`` is 1..this; a guard against typos more than an SQS limit (groups are unbounded).
MAX_GROUP_IDS = 10_000
#: MessageGroupId and MessageDeduplicationId: 1..128 characters, alphanumerics and punctuation.
MAX_FIFO_ID_LENGTH = 128
FIFO_ID_RULE = (
    "1..128 characters of a-z, A-Z, 0-9 and punctuation !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
)
# Printable ASCII without the space: exactly the alphanumerics and the punctuation above.
_FIFO_ID = re.compile(rf"[!-~]{{1,{MAX_FIFO_ID_LENGTH}}}")

# How a FIFO message's MessageDeduplicationId is chosen (``--dedup-id``).
#: A fresh uuid per message, kept across retries: every planned message is delivered.
DEDUP_RANDOM = "random"
#: The payload's id: a resend of the same id inside the 5-minute window is deduplicated by SQS.
DEDUP_PAYLOAD_ID = "payload-id"
#: No id at all: the queue's ContentBasedDeduplication hashes the body (SHA-256).
DEDUP_CONTENT = "content"
DEDUP_MODES = (DEDUP_RANDOM, DEDUP_PAYLOAD_ID, DEDUP_CONTENT)

# Environment variables `from_env()` (and the CLI) read; the AWS ones are the standard names.
ENV_QUEUE_URL = contract.ENV_QUEUE_URL
ENV_REGION = contract.ENV_AWS_REGION
ENV_PROFILE = "AWS_PROFILE"
ENV_ENDPOINT_URL = contract.ENV_AWS_ENDPOINT_URL
ENV_PREFIX = "PRODUCE_"  # PRODUCE_N, PRODUCE_RATE, PRODUCE_BATCH_SIZE, ...


@dataclass(frozen=True)
class RetryPolicy:
    """How entries that fail *inside* a SendMessageBatch are retried.

    Whole-call errors (throttling, 5xx, connection resets) are retried by botocore's standard
    retry mode underneath; this policy covers the per-entry ``Failed`` list, which botocore
    does not look at. The delay before attempt k+1 is ``min(max_delay_s, base_delay_s * 2**(k-1))``
    with equal jitter (half fixed, half random).
    """

    max_attempts: int = 5
    base_delay_s: float = 0.1
    max_delay_s: float = 2.0

    def __post_init__(self) -> None:
        _check_range("retry max_attempts", self.max_attempts, 1, 20)
        _check_range("retry base_delay_s", self.base_delay_s, 0.0, 60.0)
        _check_range("retry max_delay_s", self.max_delay_s, self.base_delay_s, 300.0)

    def delay(self, attempt: int, jitter: float) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based); ``jitter`` is in [0, 1)."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2.0 ** (attempt - 1))
        return ceiling / 2 + ceiling / 2 * jitter


@dataclass(frozen=True)
class SendConfig:
    """One producer run.

    Either generated payloads (``n`` of them, ``{"id", "work", "sent_at"}``) or explicit
    ``bodies`` / a ``body_file`` sent verbatim, one message each.
    """

    queue_url: str = ""
    #: Messages to send (generated payloads). ``None``: 10, or every body when bodies are given.
    n: int | None = None
    #: Messages per second; 0 means as fast as possible.
    rate: float = 0.0
    batch_size: int = MAX_BATCH
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    #: Makes the generated ids and work values (and duplicate positions) reproducible.
    seed: int | None = None
    #: A file with one message body per line, sent verbatim (empty lines are skipped).
    body_file: Path | None = None
    #: Bodies sent verbatim, in order; any string SQS accepts, not necessarily JSON.
    bodies: Sequence[str] | None = None
    #: Fraction (0..1) of the generated ids that are sent twice, as separate messages.
    duplicate_ids: float = 0.0
    #: JSON-lines ledger file: one line per accepted message.
    ledger: Path | None = None
    #: Largest body allowed; ``None`` reads the queue's MaximumMessageSize attribute.
    max_message_size: int | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: MessageGroupId used when the queue is FIFO (``.fifo``); ignored otherwise. With
    #: ``group_ids`` it is the prefix of the group names.
    message_group_id: str = DEFAULT_GROUP_ID
    #: FIFO only: spread the messages over this many groups, ``<message_group_id>-0`` ..
    #: ``-<N-1>``, round-robin over the distinct ids in plan order (a resend joins its original).
    group_ids: int | None = None
    #: FIFO only: each planned message's MessageGroupId, instead of ``group_ids``.
    group_key: Callable[[Outgoing], str] | None = field(default=None, compare=False)
    #: FIFO only: how MessageDeduplicationId is chosen, one of `DEDUP_MODES`.
    dedup_id: str = DEDUP_RANDOM
    #: SendMessageBatch calls in flight at once (1..32) when ``rate == 0``. ``None``: 4 at rate 0.
    #: A FIFO queue or a ``rate > 0`` always uses 1 (see `in_flight`).
    max_in_flight: int | None = None

    def __post_init__(self) -> None:
        if self.bodies is not None and not isinstance(self.bodies, tuple):
            object.__setattr__(self, "bodies", tuple(self.bodies))
        for name in ("body_file", "ledger"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))
        self._validate()

    def _validate(self) -> None:
        if not self.queue_url or not self.queue_url.strip():
            raise ConfigError(f"queue_url is required: pass --queue-url or set {ENV_QUEUE_URL}")
        if self.n is not None:
            _check_range("n (--n)", self.n, 0, MAX_N)
        _check_range("rate (--rate)", self.rate, 0.0, 1_000_000.0)
        _check_range("batch_size (--batch-size)", self.batch_size, 1, MAX_BATCH)
        _check_range("duplicate_ids (--duplicate-ids)", self.duplicate_ids, 0.0, 1.0)
        if self.max_in_flight is not None:
            if not isinstance(self.max_in_flight, int) or isinstance(self.max_in_flight, bool):
                raise ConfigError(
                    f"max_in_flight (--max-in-flight, {ENV_PREFIX}MAX_IN_FLIGHT) must be a whole "
                    f"number in 1..{MAX_IN_FLIGHT}, got {self.max_in_flight!r}"
                )
            _check_range(
                f"max_in_flight (--max-in-flight, {ENV_PREFIX}MAX_IN_FLIGHT)",
                self.max_in_flight,
                1,
                MAX_IN_FLIGHT,
            )
        self._validate_sources()

    def _validate_sources(self) -> None:
        if self.max_message_size is not None:
            _check_range(
                "max_message_size",
                self.max_message_size,
                MIN_MESSAGE_SIZE_BYTES,
                MAX_MESSAGE_SIZE_BYTES,
            )
        if self.bodies is not None and self.body_file is not None:
            raise ConfigError("give either bodies or body_file (--body-file), not both")
        if self.verbatim:
            if self.duplicate_ids:
                raise ConfigError(
                    "duplicate_ids (--duplicate-ids) applies to generated payloads only; "
                    "put the duplicates in the bodies themselves"
                )
            if self.bodies is not None and self.n is not None and self.n != len(self.bodies):
                raise ConfigError(
                    f"n={self.n} does not match the {len(self.bodies)} bodies given: leave n unset"
                )
        if self.bodies is not None:
            for index, body in enumerate(self.bodies):
                if not isinstance(body, str):
                    raise ConfigError(
                        f"bodies[{index}] is a {type(body).__name__}: every body must be a str"
                    )
        self._validate_fifo()

    def _validate_fifo(self) -> None:
        check_fifo_id("message_group_id", self.message_group_id)
        if self.dedup_id not in DEDUP_MODES:
            raise ConfigError(
                f"dedup_id (--dedup-id, {ENV_PREFIX}DEDUP_ID)={self.dedup_id!r} is not one of "
                f"{', '.join(DEDUP_MODES)}"
            )
        if self.group_ids is not None:
            name = f"group_ids (--group-ids, {ENV_PREFIX}GROUP_IDS)"
            if not isinstance(self.group_ids, int) or isinstance(self.group_ids, bool):
                raise ConfigError(
                    f"{name} must be a whole number in 1..{MAX_GROUP_IDS}, got {self.group_ids!r}"
                )
            _check_range(name, self.group_ids, 1, MAX_GROUP_IDS)
            if self.group_key is not None:
                raise ConfigError(f"give either {name} or group_key, not both")
            last = f"{self.message_group_id}-{self.group_ids - 1}"
            if len(last) > MAX_FIFO_ID_LENGTH:
                raise ConfigError(
                    f"{name}={self.group_ids} makes group names like {last!r}, longer than "
                    f"{MAX_FIFO_ID_LENGTH} characters: shorten message_group_id"
                )
        if self.is_fifo:
            return
        # On a standard queue these would silently mean nothing: refuse rather than mislead.
        standard = (
            f"applies to FIFO queues only (a queue URL ending in .fifo), not {self.queue_url}"
        )
        if self.group_ids is not None:
            raise ConfigError(f"group_ids (--group-ids, {ENV_PREFIX}GROUP_IDS) {standard}")
        if self.group_key is not None:
            raise ConfigError(f"group_key {standard}")
        if self.dedup_id != DEDUP_RANDOM:
            raise ConfigError(
                f"dedup_id (--dedup-id, {ENV_PREFIX}DEDUP_ID)={self.dedup_id} {standard}"
            )

    @property
    def verbatim(self) -> bool:
        """True when the bodies are given (a list or a file) rather than generated."""
        return self.bodies is not None or self.body_file is not None

    @property
    def generated_count(self) -> int:
        """How many payloads to generate (meaningless when ``verbatim``)."""
        return DEFAULT_N if self.n is None else self.n

    @property
    def is_fifo(self) -> bool:
        return self.queue_url.rstrip("/").endswith(".fifo")

    @property
    def in_flight(self) -> int:
        """SendMessageBatch calls this run keeps in flight at once.

        1 for a FIFO queue (so order within the message group holds) and for ``rate > 0`` (the
        pacer sends one batch when its last message is due); otherwise ``max_in_flight``, or
        `DEFAULT_MAX_IN_FLIGHT` when it is unset.
        """
        if self.is_fifo or self.rate > 0:
            return 1
        return DEFAULT_MAX_IN_FLIGHT if self.max_in_flight is None else self.max_in_flight

    def with_changes(self, **changes: Any) -> SendConfig:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> SendConfig:
        """Build a config from the environment, read now; keyword ``overrides`` win over it.

        Reads ``QUEUE_URL``, ``AWS_REGION`` (or ``AWS_DEFAULT_REGION``), ``AWS_PROFILE``,
        ``AWS_ENDPOINT_URL`` and ``PRODUCE_<FIELD>`` for the rest (``PRODUCE_N``,
        ``PRODUCE_RATE``, ``PRODUCE_BATCH_SIZE``, ``PRODUCE_SEED``, ``PRODUCE_BODY_FILE``,
        ``PRODUCE_DUPLICATE_IDS``, ``PRODUCE_LEDGER``, ``PRODUCE_MAX_IN_FLIGHT``,
        ``PRODUCE_GROUP_IDS``, ``PRODUCE_DEDUP_ID``).
        """
        source = os.environ if env is None else env
        values: dict[str, Any] = {}
        plain = {
            "queue_url": (ENV_QUEUE_URL,),
            "region": (ENV_REGION, contract.ENV_AWS_DEFAULT_REGION),
            "profile": (ENV_PROFILE,),
            "endpoint_url": (contract.ENV_AWS_ENDPOINT_URL_SQS, ENV_ENDPOINT_URL),
        }
        for name, variables in plain.items():
            for variable in variables:
                if source.get(variable):
                    values[name] = source[variable]
                    break
        typed: dict[str, type] = {
            "n": int,
            "rate": float,
            "batch_size": int,
            "seed": int,
            "body_file": Path,
            "duplicate_ids": float,
            "ledger": Path,
            "max_in_flight": int,
            "group_ids": int,
            "dedup_id": str,
        }
        for name, kind in typed.items():
            variable = f"{ENV_PREFIX}{name.upper()}"
            raw = source.get(variable)
            if raw is None or raw == "":
                continue
            try:
                values[name] = kind(raw)
            except ValueError:
                raise ConfigError(f"{variable}={raw!r} is not a valid {kind.__name__}") from None
        values.update(overrides)
        return cls(**values)


def check_fifo_id(name: str, value: object) -> None:
    """Refuse a MessageGroupId / MessageDeduplicationId that SQS would reject."""
    if not isinstance(value, str) or _FIFO_ID.fullmatch(value) is None:
        raise ConfigError(f"{name}={value!r} is not a valid FIFO id: it must be {FIFO_ID_RULE}")


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number in {low}..{high}, got {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} is out of range: allowed {low}..{high}")
