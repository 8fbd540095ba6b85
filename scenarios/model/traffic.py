"""What a phase sends: generated payloads, then poison bodies verbatim."""

from __future__ import annotations

from dataclasses import dataclass, replace

from scenarios.judging.facts import message_key
from scenarios.settings import Knobs


@dataclass(frozen=True)
class Traffic:
    """What the producer sends: ``count`` generated payloads, then ``poison`` bodies verbatim."""

    count: int
    rate: float = 0.0
    batch_size: int = 10
    seed: int | None = None
    poison: tuple[str, ...] = ()
    duplicate_ids: float = 0.0

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
