"""What a phase sends: generated payloads, then poison bodies verbatim."""

from __future__ import annotations

from dataclasses import dataclass, replace

from core.errors import ConfigError
from producer.config import DEDUP_MODES, DEDUP_RANDOM, DEFAULT_GROUP_ID, MAX_GROUP_IDS
from scenarios.judging.facts import message_key
from scenarios.settings import Knobs


@dataclass(frozen=True)
class Traffic:
    """What the producer sends: ``count`` generated payloads, then ``poison`` bodies verbatim.

    On a FIFO queue the payloads are spread round-robin over ``groups`` message groups, each
    send deduplicated as ``dedup_id`` says (the producer's ``--group-ids`` / ``--dedup-id``).
    ``poison_after`` sends the poison bodies after that many payloads instead of after all of
    them, into group ``poison_group``: on a FIFO queue they then block the payloads of their
    group sent after them.
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

    def __post_init__(self) -> None:
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
