"""The fault interface, and the view of a running phase that triggered faults act on.

Two kinds of fault:
- *chaos knobs* the consumer applies to itself: they contribute consumer-settings
  ``overrides`` to every consumer of the phase;
- *triggered faults* the engine injects from outside when a condition holds: ``due()`` is
  polled during the run and ``fire()`` runs once, returning a record for the report and the
  oracle.

The concrete faults live in :mod:`scenarios.running.faults`.
"""

from __future__ import annotations

from typing import Any, Protocol

from core.stack import StackHandle
from scenarios.judging.facts import Call, FaultRecord


class ConsumerSlot(Protocol):
    """One consumer slot as a fault sees it."""

    @property
    def slot(self) -> int: ...

    @property
    def consumer_id(self) -> str: ...

    @property
    def running(self) -> bool: ...

    @property
    def event_delay_s(self) -> float:
        """How late this slot's events can arrive (0: at once; ECS: log delivery)."""
        ...


class LiveView(Protocol):
    """The running phase as triggered faults see it."""

    @property
    def sqs(self) -> Any: ...

    @property
    def stack(self) -> StackHandle: ...

    def slot(self, index: int) -> ConsumerSlot | None: ...

    def in_flight(self, handle: ConsumerSlot, *, max_age_s: float | None = None) -> list[str]: ...

    def completed_by(self, handle: ConsumerSlot) -> int: ...

    def completed_count(self) -> int:
        """Valid ids done so far (completed, or found completed), every consumer together."""
        ...

    def dlq_depth(self) -> int: ...

    def shimmed(self, capability: str) -> bool: ...

    def add_shim(self, capability: str, why: str) -> None: ...

    def signal(self, handle: ConsumerSlot, sig: int) -> None: ...

    # -- the pass-through in front of a consumer seen from outside (False/[] without one) --

    def hold_next_delete(self, handle: ConsumerSlot, *, after: int = 0) -> bool: ...

    def delete_held(self, handle: ConsumerSlot) -> bool: ...

    def held_calls(self, handle: ConsumerSlot) -> list[Call]: ...


class Fault:
    """Base: no overrides, never due. Subclasses override what they need."""

    triggered: bool = False

    @property
    def label(self) -> str:
        return type(self).__name__

    def overrides(self) -> dict[str, object]:
        """Consumer-settings fields the phase's consumers get (chaos knobs)."""
        return {}

    def applies_to(self, group: str) -> bool:
        """Whether the group labelled ``group`` gets the ``overrides`` (every group by default)."""
        del group
        return True

    def due(self, run: LiveView) -> bool:
        """True when a triggered fault should fire now."""
        return False

    def fire(self, run: LiveView) -> FaultRecord:
        """Inject the fault once; the record goes to the report and the oracle."""
        raise NotImplementedError
