"""Target tracking on backlog per consumer: the decisions (pure), and the fleet they drive.

:class:`Autoscaler` decides as Application Auto Scaling does for an ECS service tracking
``ApproximateNumberOfMessagesVisible / RunningTaskCount`` (the Terraform module's policy):

- every ``period_s`` one data point: ``visible / max(running, 1)`` (the module's divisor is
  never 0 either);
- the desired count is ``ceil(visible / target)`` within min..max: the count at which the
  backlog per consumer would be the target;
- the high alarm fires after ``scale_out_points`` points in a row above the target, and scales
  out to the desired count unless a scale-out cooldown runs; the low alarm fires after
  ``scale_in_points`` points below it, and scales in unless a scale-in cooldown runs. A
  scale-out cuts a scale-in cooldown short; a scale-in never cuts a scale-out's;
- a count below the minimum is raised to it at once (a service keeps its minimum).

It sees only numbers and a clock, so its tests use a fake clock and a fake backlog.
:class:`FleetScaler` applies its decisions to a consumer group of a running phase: a scale-out
starts consumers, a scale-in SIGTERMs the newest ones that are up (each drains and exits 0), and
each activity is recorded for the report and the oracle.
"""

from __future__ import annotations

import logging
import math
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from scenarios.judging.facts import FaultRecord
from scenarios.judging.scaling import SCALE_IN, SCALE_OUT
from scenarios.model import ScalingPolicy
from scenarios.runners.base import ConsumerHandle

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    """One scaling activity: from ``current`` to ``desired`` consumers, and why."""

    at: float
    kind: str  # SCALE_OUT | SCALE_IN
    current: int
    desired: int
    visible: int
    reason: str


class Autoscaler:
    """Target-tracking decisions for one fleet; ``observe`` once per loop, with the time."""

    def __init__(self, policy: ScalingPolicy, capacity: int) -> None:
        self.policy = policy
        #: the desired count (the scalable target's capacity), not the consumers up right now
        self.capacity = capacity
        self._high = 0
        self._low = 0
        self._next_point: float | None = None
        self._out_until = float("-inf")
        self._in_until = float("-inf")

    def desired(self, visible: int) -> int:
        """The count that would bring the backlog per consumer to the target, within bounds."""
        p = self.policy
        wanted = math.ceil(visible / p.target_backlog) if visible > 0 else 0
        return min(p.max_consumers, max(p.min_consumers, wanted))

    def observe(self, now: float, visible: int, running: int) -> Decision | None:
        """Take a data point when one is due; a scaling activity when an alarm fires."""
        p = self.policy
        if self._next_point is not None and now < self._next_point:
            return None
        self._next_point = now + p.period_s
        if self.capacity < p.min_consumers:
            return self._scale(now, SCALE_OUT, p.min_consumers, visible, "below the minimum")
        per_consumer = visible / max(running, 1)
        if per_consumer > p.target_backlog:
            self._high, self._low = self._high + 1, 0
        elif per_consumer < p.target_backlog:
            self._high, self._low = 0, self._low + 1
        else:
            self._high = self._low = 0
        desired = self.desired(visible)
        metric = f"backlog per consumer {per_consumer:.1f} vs target {p.target_backlog:g}"
        if self._high >= p.scale_out_points and desired > self.capacity:
            if now < self._out_until:
                return None
            return self._scale(
                now, SCALE_OUT, desired, visible, f"{metric} for {self._high} points"
            )
        if (
            self._low >= p.scale_in_points
            and desired < self.capacity
            and not p.disable_scale_in
            and now >= self._in_until
        ):
            return self._scale(now, SCALE_IN, desired, visible, f"{metric} for {self._low} points")
        return None

    def _scale(self, now: float, kind: str, desired: int, visible: int, why: str) -> Decision:
        p = self.policy
        decision = Decision(now, kind, self.capacity, desired, visible, why)
        self.capacity = desired
        self._high = self._low = 0
        if kind == SCALE_OUT:
            self._out_until = now + p.scale_out_cooldown_s
            self._in_until = float("-inf")  # a scale-out cuts a scale-in cooldown short
        else:
            self._in_until = now + p.scale_in_cooldown_s
        return decision


class Fleet(Protocol):
    """What the scaler needs of the running phase."""

    def running(self) -> list[ConsumerHandle]:
        """The group's consumers that run and were not stopped by a scale-in, oldest first."""
        ...

    def is_up(self, handle: ConsumerHandle) -> bool:
        """Whether the consumer has logged its first event (its signal handlers are set)."""
        ...

    def start(self, n: int) -> list[ConsumerHandle]: ...

    def signal(self, handle: ConsumerHandle, sig: int) -> None: ...


class FleetScaler:
    """Applies an :class:`Autoscaler`'s decisions to one consumer group of a running phase.

    A scale-in stops the newest consumers that are up: one still starting has no signal handler
    yet and would die of the SIGTERM instead of draining, so it is stopped on a later turn, once
    up, and added to the same activity's ``stopped`` list.
    """

    def __init__(self, policy: ScalingPolicy, fleet: Fleet, *, clock: Callable[[], float]) -> None:
        """``clock``: epoch seconds, the time activities are recorded at."""
        self.fleet = fleet
        self.clock = clock
        self.autoscaler = Autoscaler(policy, capacity=len(fleet.running()))
        self._stopped: set[int] = set()  # slots a scale-in SIGTERMed
        self._to_stop = 0  # consumers the last scale-in still has to stop
        self._stopping: list[str] = []  # that scale-in's record of the consumers it stopped

    @property
    def at_rest(self) -> bool:
        """Back at the minimum (or never to scale in) with nothing left to stop: a phase with a
        scaled fleet settles only then, so its scale-in is seen however slow the drain was."""
        p = self.autoscaler.policy
        back = self.autoscaler.capacity <= p.min_consumers or p.disable_scale_in
        return back and self._to_stop == 0

    def running(self) -> list[ConsumerHandle]:
        """The group's consumers that count: running, and not stopped by a scale-in."""
        return [h for h in self.fleet.running() if h.slot not in self._stopped]

    def tick(self, visible: int) -> FaultRecord | None:
        """One turn of the loop with the latest visible count; the activity, if any."""
        now = self.clock()
        self._stop_pending()
        running = self.running()
        decision = self.autoscaler.observe(now, visible, len(running))
        if decision is None:
            return None
        data: dict[str, object] = {
            "from": decision.current,
            "to": decision.desired,
            "visible": decision.visible,
        }
        if decision.kind == SCALE_OUT:
            self._to_stop = 0  # what a scale-in had left to stop now stays
            started = self.fleet.start(max(0, decision.desired - len(running)))
            data["started"] = [h.consumer_id for h in started]
            what = f"started {len(started)}"
        else:
            self._to_stop = max(0, len(running) - decision.desired)
            self._stopping = []
            data["stopped"] = self._stopping
            self._stop_pending()
            what = f"SIGTERM to {self._to_stop + len(self._stopping)}"
        detail = (
            f"{decision.kind} {decision.current} -> {decision.desired} at {decision.visible} "
            f"visible ({decision.reason}): {what}"
        )
        log.info("autoscaler.scaled", extra={"kind": decision.kind, "detail": detail})
        return FaultRecord(kind=decision.kind, at=now, detail=detail, data=data)

    def _stop_pending(self) -> None:
        if self._to_stop <= 0:
            return
        up = [h for h in reversed(self.running()) if self.fleet.is_up(h)]
        for h in up[: self._to_stop]:
            self._stopped.add(h.slot)
            self.fleet.signal(h, signal.SIGTERM)
            self._stopping.append(h.consumer_id)
            self._to_stop -= 1
