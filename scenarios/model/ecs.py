"""How a scenario runs on the aws target, whose consumers are ECS tasks.

ECS is not a faster or slower local runner; three of its rules change what a scenario can show:

- a task needs tens of seconds before it runs (PROVISIONING, PENDING), and every crash restart
  is such a cold start, with DEPROVISIONING before the old task is STOPPED;
- the engine sees a consumer's events through CloudWatch Logs, seconds after they happened;
- StopTask is the only signal there is: SIGTERM first, SIGKILL only after ``stopTimeout``.

So a scenario declares, with :class:`EcsSupport`, whether it runs on ECS and with which knob
defaults there (the user's flags and ``--knob`` still win). ``scenario list`` shows it; a run
of an unsupported scenario on the aws target is skipped with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from core.errors import ConfigError
from scenarios.settings import Knobs

#: every phase on ECS gets at least this deadline: a consumer needs tens of seconds to start,
#: and a crash restart waits for DEPROVISIONING and a new cold start (scenarios.aws.timings)
ECS_MIN_TIMEOUT_S = 240.0

#: why a hard kill cannot be shown on ECS
NO_SIGKILL_ON_ECS = (
    "ECS cannot SIGKILL a task: StopTask sends SIGTERM and waits stopTimeout (30 s) first, so "
    "the consumer drains and exits 0 - a drain, not a kill, and no restart follows. A hard "
    "crash mid-message on ECS is what `crash` shows (CRASH_AFTER_RECEIVE exits without the "
    "delete)"
)


@dataclass(frozen=True)
class EcsSupport:
    """Whether a scenario runs on ECS (``unsupported`` says why not) and its knobs there."""

    #: None: it runs on ECS; otherwise why it cannot
    unsupported: str | None = None
    #: knob defaults on ECS, over the scenario's own (the user's flags still win)
    knobs: Mapping[str, Any] = field(default_factory=dict)
    #: why those knobs
    why: str = ""

    @property
    def supported(self) -> bool:
        return self.unsupported is None

    def ecs_knobs(self) -> dict[str, Any]:
        """The knob defaults on ECS: the phase deadline for cold starts, then the scenario's."""
        return {"timeout_s": ECS_MIN_TIMEOUT_S, **self.knobs}

    def apply(self, defaults: Knobs) -> Knobs:
        """``defaults`` as they are on ECS (an unknown knob name fails at once)."""
        changes = self.ecs_knobs()
        unknown = sorted(set(changes) - {f.name for f in fields(Knobs)})
        if unknown:
            raise ConfigError(f"ECS knob defaults name unknown knobs: {', '.join(unknown)}")
        if "timeout_s" not in self.knobs:
            changes["timeout_s"] = max(defaults.timeout_s, ECS_MIN_TIMEOUT_S)
        return replace(defaults, **changes)

    def describe(self) -> str:
        """One line for ``scenario list``."""
        if self.unsupported is not None:
            return f"unsupported: {self.unsupported}"
        knobs = " ".join(f"{k}={v:g}" for k, v in self.ecs_knobs().items())
        return f"yes ({knobs})" + (f": {self.why}" if self.why else "")
