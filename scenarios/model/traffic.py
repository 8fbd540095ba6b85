"""What a phase sends: generated payloads, then poison bodies verbatim; or a shape over time."""

from __future__ import annotations

from dataclasses import dataclass, replace

from core.errors import ConfigError
from producer.config import DEDUP_MODES, DEDUP_RANDOM, DEFAULT_GROUP_ID, MAX_GROUP_IDS
from scenarios.judging.facts import message_key
from scenarios.settings import Knobs


@dataclass(frozen=True)
class Segment:
    """One stretch of a traffic shape: ``count`` payloads at ``rate`` msg/s (0: at once), then
    ``hold_s`` seconds before the next segment. ``Segment(0, hold_s=10)`` is a quiet spell."""

    count: int
    rate: float = 0.0
    hold_s: float = 0.0
    label: str = ""

    def __post_init__(self) -> None:
        if self.count < 0 or self.rate < 0 or self.hold_s < 0:
            raise ConfigError(
                f"traffic segment {self.label or '?'}: count={self.count}, rate={self.rate} and "
                f"hold_s={self.hold_s} must all be >= 0"
            )

    @property
    def duration_s(self) -> float:
        """How long the segment lasts when the producer keeps its rate (0 for a burst)."""
        return (self.count / self.rate if self.rate and self.count else 0.0) + self.hold_s


@dataclass(frozen=True)
class Traffic:
    """What the producer sends: ``count`` generated payloads, then ``poison`` bodies verbatim.

    On a FIFO queue the payloads are spread round-robin over ``groups`` message groups, each
    send deduplicated as ``dedup_id`` says (the producer's ``--group-ids`` / ``--dedup-id``).
    ``poison_after`` sends the poison bodies after that many payloads instead of after all of
    them, into group ``poison_group``: on a FIFO queue they then block the payloads of their
    group sent after them.

    With a ``shape`` the traffic is sent *while the consumers run*, segment after segment (a
    steady rate, a burst, a quiet spell); ``count`` is then the sum of the segments' counts and
    the poison bodies are spread over the segments, so they arrive throughout the run.
    """

    count: int
    rate: float = 0.0
    batch_size: int = 10
    seed: int | None = None
    poison: tuple[str, ...] = ()
    duplicate_ids: float = 0.0
    #: FIFO only: message groups the payloads are spread over (None: the producer's one group)
    groups: int | None = None
    #: FIFO only: ``random``, ``payload-id`` or ``content`` (producer.config.DEDUP_MODES)
    dedup_id: str = DEDUP_RANDOM
    #: send the poison bodies after this many payloads (None: after all of them)
    poison_after: int | None = None
    #: FIFO only: the index of the group the poison bodies join (``sqs-kit-<index>``)
    poison_group: int = 0
    #: segments sent while the consumers run (empty: everything is sent before they start)
    shape: tuple[Segment, ...] = ()

    def __post_init__(self) -> None:
        if self.shape and self.count != sum(s.count for s in self.shape):
            raise ConfigError(
                f"traffic count {self.count} differs from its shape's "
                f"{sum(s.count for s in self.shape)}: build it with Traffic.shaped()"
            )
        if self.shape and (self.groups is not None or self.poison_after is not None):
            raise ConfigError(
                "traffic: a shape cannot be combined with FIFO groups or poison_after "
                "(the shaped sender spreads the poison bodies over its segments)"
            )
        if self.dedup_id not in DEDUP_MODES:
            raise ConfigError(
                f"traffic dedup_id={self.dedup_id!r} is invalid: choose one of "
                f"{', '.join(DEDUP_MODES)}"
            )
        if self.groups is not None and not 1 <= self.groups <= MAX_GROUP_IDS:
            raise ConfigError(
                f"traffic groups={self.groups} is out of range: allowed 1..{MAX_GROUP_IDS}"
            )
        if self.poison_after is not None and not 0 <= self.poison_after <= self.count:
            raise ConfigError(
                f"traffic poison_after={self.poison_after} is out of range: allowed "
                f"0..{self.count} (the payload count)"
            )
        if not 0 <= self.poison_group < (self.groups or 1):
            raise ConfigError(
                f"traffic poison_group={self.poison_group} is out of range: allowed "
                f"0..{(self.groups or 1) - 1} (one of the {self.groups or 1} groups)"
            )

    @classmethod
    def from_knobs(cls, k: Knobs, **overrides: object) -> Traffic:
        """``k.count`` payloads at ``k.rate`` in batches of ``k.batch_size``, then ``overrides``."""
        base = cls(k.count, rate=k.rate, batch_size=k.batch_size, seed=k.seed)
        return replace(base, **overrides)  # type: ignore[arg-type]

    @classmethod
    def shaped(cls, k: Knobs, segments: tuple[Segment, ...], **overrides: object) -> Traffic:
        """Traffic sent during the run, ``segments`` in order (batch size and seed from ``k``)."""
        if not segments:
            raise ConfigError("a traffic shape needs at least one segment")
        base = cls(
            sum(s.count for s in segments),
            batch_size=k.batch_size,
            seed=k.seed,
            shape=segments,
        )
        return replace(base, **overrides)  # type: ignore[arg-type]

    @property
    def during_run(self) -> bool:
        """True when the traffic is sent while the consumers run (a shape)."""
        return bool(self.shape)

    @property
    def requested(self) -> int:
        return self.count + len(self.poison)

    @property
    def poison_keys(self) -> tuple[str, ...]:
        return tuple(message_key(b) for b in self.poison)

    @property
    def poison_group_id(self) -> str:
        """The MessageGroupId the poison bodies are sent with (the producer's group names)."""
        if self.groups is None:
            return DEFAULT_GROUP_ID
        return f"{DEFAULT_GROUP_ID}-{self.poison_group}"

    @property
    def duration_s(self) -> float:
        """How long sending a shape takes at its rates (0 without a shape)."""
        return sum(s.duration_s for s in self.shape)
