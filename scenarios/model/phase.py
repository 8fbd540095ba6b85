"""A scenario's phases: each one is traffic, consumer groups, a fault plan and expectations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from consumer.contract import ENV_CONCURRENCY, ENV_MAX_MESSAGES, ENV_MESSAGE_LIMIT
from scenarios.judging.facts import Expectation
from scenarios.model.consumer import ConsumerSettings, RestartPolicy
from scenarios.model.fault import Fault
from scenarios.model.queue import FifoQueue
from scenarios.model.scaling import ScalingPolicy
from scenarios.model.traffic import Traffic
from scenarios.settings import Knobs


@dataclass(frozen=True)
class Need:
    """A capability the scenario needs; ``shim`` describes the fallback when it is missing."""

    capability: str
    shim: str | None = None


@dataclass(frozen=True)
class ConsumerGroup:
    """``n`` consumers with ``settings``.

    The group starts once ``start_after_s`` have passed since the traffic was sent *and* the
    consumers already running have logged ``after_received`` receives - so "a second consumer,
    later" means later than the first one's first message, however slow start-up is.

    ``let_finish_s``: once the phase has settled, wait up to this long for the group's
    consumers to exit by themselves (a ``MESSAGE_LIMIT``) before the engine stops them. A
    phenomenon that needs a slow consumer to finish its work - its late completion refused -
    is then shown instead of being cut short by the engine's SIGTERM.

    ``scaling``: the group is a fleet the engine scales by backlog per consumer (``n`` is its
    first desired count), as ECS target tracking scales a service; a scale-in SIGTERMs
    consumers, which drain.
    """

    n: int
    settings: ConsumerSettings = field(default_factory=ConsumerSettings)
    start_after_s: float = 0.0
    after_received: int = 0
    restart: RestartPolicy = RestartPolicy.ON_FAILURE
    label: str = "consumers"
    let_finish_s: float = 0.0
    scaling: ScalingPolicy | None = None

    def describe(self) -> str:
        """``2 consumers (work 0.0-0.02 s)``, for `scenario list` and the report."""
        s = self.settings
        low = "?" if s.sleep_min_seconds is None else str(s.sleep_min_seconds)
        high = "?" if s.sleep_max_seconds is None else str(s.sleep_max_seconds)
        parts = [f"work {low}-{high} s" if low != high else f"work {low} s"]
        if s.heartbeat_seconds:
            parts.append(f"heartbeat {s.heartbeat_seconds} s")
        for name, value in (
            (ENV_MAX_MESSAGES, s.max_messages),
            (ENV_CONCURRENCY, s.concurrency),
            (ENV_MESSAGE_LIMIT, s.message_limit),
        ):
            if value not in (None, 0, 1):
                parts.append(f"{name}={value}")
        if self.start_after_s or self.after_received:
            parts.append(
                f"starts after {self.start_after_s:g} s and {self.after_received} receive(s)"
            )
        if self.let_finish_s:
            parts.append(f"left to finish, up to {self.let_finish_s:g} s")
        if self.scaling is not None:
            parts.append(self.scaling.describe())
        return f"{self.n} {self.label} ({', '.join(parts)})"


@dataclass(frozen=True)
class Phase:
    """One self-contained run on its own stack: traffic, consumers, faults, expectations."""

    name: str
    traffic: Traffic
    consumers: tuple[ConsumerGroup, ...]
    visibility_timeout: int = 3
    receive_wait: int = 1
    max_receive_count: int = 5
    faults: tuple[Fault, ...] = ()
    expect: tuple[Expectation, ...] = ()
    timeout_s: float = 60.0
    settle_s: float = 0.0
    note: str = ""
    #: a FIFO queue (and FIFO DLQ) with these settings; None: a standard queue
    fifo: FifoQueue | None = None

    @classmethod
    def from_knobs(
        cls,
        k: Knobs,
        *,
        name: str = "main",
        traffic: Traffic | None = None,
        consumers: Sequence[ConsumerGroup] | None = None,
        faults: Sequence[Fault] = (),
        expect: Sequence[Expectation] = (),
        note: str = "",
        fifo: FifoQueue | None = None,
    ) -> Phase:
        """A phase whose queue, deadline and defaults come from the knobs ``k``.

        Without ``traffic``, ``k.count`` payloads; without ``consumers``, ``k.consumers``
        consumers with the knobs' settings.
        """
        groups = (
            tuple(consumers)
            if consumers is not None
            else (ConsumerGroup(k.consumers, ConsumerSettings.from_knobs(k)),)
        )
        return cls(
            name=name,
            note=note,
            traffic=traffic if traffic is not None else Traffic.from_knobs(k),
            consumers=groups,
            visibility_timeout=k.visibility_timeout,
            receive_wait=k.receive_wait,
            max_receive_count=k.max_receive_count,
            faults=tuple(faults),
            expect=tuple(expect),
            timeout_s=k.timeout_s,
            settle_s=k.settle_s,
            fifo=fifo,
        )

    @property
    def shutdown_timeout_s(self) -> float:
        """The longest drain any of the phase's consumers is allowed."""
        return max(
            (g.settings.shutdown_timeout_seconds or 0.0 for g in self.consumers), default=0.0
        )
