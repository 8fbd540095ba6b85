"""The scenario template method: a scenario declares, the base class runs every phase.

A concrete scenario (``scenarios.catalogue``) only declares its knobs (defaults), the
capabilities it needs, and its phases (traffic, consumer groups, fault plan, expectations).
It holds no plumbing.

It also declares how it treats a user's consumer seen only from outside (``--consumer-cmd``,
``--consumer-image``), which has no chaos knobs and keeps no kit records: it runs as it is
(``plugged_in = None``), runs other phases driven by external faults (``outside_phases``, and
``plugged_in`` says how), or needs the kit's own worker (``needs_kit_consumer``: skipped, with
that reason). A ``--handler`` runs inside the kit's worker, so every scenario applies to it.
"""

from __future__ import annotations

import abc
import enum
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from local.emulators import emulators_with
from scenarios.judging.expectations import CrossExpectation
from scenarios.judging.facts import CheckResult
from scenarios.judging.oracle import explained_by_slowness, prefixed
from scenarios.model import Need, Phase
from scenarios.model.ecs import EcsSupport
from scenarios.running.apifaults import check_phases, load_user_plan
from scenarios.running.phase import PhaseExecution, PhaseResult, ProgressFn
from scenarios.settings import Knobs, RunSettings
from scenarios.targets.base import Target


class Status(enum.StrEnum):
    """How a scenario run ended; the CLI's exit code is derived from it."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    ERROR = "error"


@dataclass
class ScenarioResult:
    """A scenario's outcome: ``passed``, ``failed``, ``skipped`` or ``error``."""

    scenario: str
    summary: str
    status: Status
    started_at: float
    duration_s: float
    target: dict[str, Any]
    knobs: dict[str, Any] = field(default_factory=dict)
    phases: list[PhaseResult] = field(default_factory=list)
    cross_checks: list[CheckResult] = field(default_factory=list)
    shims: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    fault_plan: list[str] = field(default_factory=list)
    calibration: str | None = None

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED

    @property
    def checks(self) -> list[CheckResult]:
        """Every check; prefixed with the phase name when the scenario has several phases."""
        out: list[CheckResult] = []
        for p in self.phases:
            out += (
                list(p.verdict.checks)
                if len(self.phases) == 1
                else prefixed(p.name, p.verdict.checks)
            )
        return out + self.cross_checks


class Scenario(abc.ABC):
    """A scenario declares, the base class runs: subclasses set class attributes and phases()."""

    name: ClassVar[str]
    summary: ClassVar[str]
    defaults: ClassVar[Knobs] = Knobs()
    needs: ClassVar[tuple[Need, ...]] = ()
    #: how the chaos knobs are calibrated against maxReceiveCount (chaos scenarios)
    calibration: ClassVar[str | None] = None
    #: whether and how it runs on the aws target, whose consumers are ECS tasks
    ecs: ClassVar[EcsSupport] = EcsSupport()
    #: a timing phenomenon that extra load would make unreliable: ``--parallel`` runs it
    #: alone, after the others
    exclusive: ClassVar[bool] = False
    #: it drains a backlog as fast as the CPU allows: ``--parallel`` never runs two such side by
    #: side (each would take about twice as long, and slow every other scenario down)
    cpu_bound: ClassVar[bool] = False
    #: its phenomenon needs a consumer started within a window of seconds (a takeover before a
    #: visibility timeout runs out): ``--parallel`` never runs it beside a ``cpu_bound`` one
    start_window: ClassVar[bool] = False
    #: roughly how long a run takes on the embedded default, in seconds, measured one after
    #: the other (beside three others it takes longer): ``--parallel`` plans its order on it
    expected_s: ClassVar[float] = 5.0
    #: for a consumer seen from outside: what changes (None: it runs as it is)
    plugged_in: ClassVar[str | None] = None
    #: why it cannot judge a consumer seen from outside (then such a run is skipped)
    needs_kit_consumer: ClassVar[str | None] = None
    #: it must see when a consumer seen from outside receives a message (to time a signal,
    #: to start a second consumer): only a target with a pass-through can show that
    needs_receives: ClassVar[bool] = False

    @abc.abstractmethod
    def phases(self, k: Knobs) -> Sequence[Phase]:
        """The phases to run, in order, for knobs ``k``."""

    def outside_phases(self, k: Knobs) -> Sequence[Phase]:
        """The phases for a consumer seen from outside (by default the same as ``phases``)."""
        return self.phases(k)

    def applicability(self) -> tuple[bool, str]:
        """(applies, how) for a consumer seen from outside, for `scenario list`."""
        if self.needs_kit_consumer:
            return False, self.needs_kit_consumer
        how = self.plugged_in or "as it is"
        return True, how + ("; local target only (the pass-through)" if self.needs_receives else "")

    def across(self, k: Knobs) -> Sequence[CrossExpectation]:
        """Phenomena visible only by comparing phases (e.g. throughput 1 vs 3 consumers)."""
        return ()

    def knobs(self, settings: RunSettings) -> Knobs:
        """The defaults (on the aws target: the ECS ones), then the user's flags."""
        on_ecs = settings.target == "aws"
        return (self.ecs.apply(self.defaults) if on_ecs else self.defaults).override(settings)

    def run_phases(self, k: Knobs, settings: RunSettings) -> list[Phase]:
        """The phases a run with ``settings`` goes through: a plugged-in consumer's own
        (:meth:`outside_phases`) or the kit consumer's (:meth:`phases`)."""
        return list(self.outside_phases(k) if settings.plugged.external else self.phases(k))

    def execute(
        self,
        target: Target,
        settings: RunSettings,
        *,
        run_dir: Path,
        on_progress: ProgressFn | None = None,
    ) -> ScenarioResult:
        """Run every phase through setup -> act -> collect -> judge -> teardown."""
        started = time.time()
        k = self.knobs(settings)
        outside = settings.plugged.external
        plan = self.run_phases(k, settings)
        # the CLI checks this before anything starts; a library caller gets the same error
        check_phases(load_user_plan(settings.faults), self.name, [p.name for p in plan])
        result = ScenarioResult(
            scenario=self.name,
            summary=self.summary,
            status=Status.PASSED,
            started_at=started,
            duration_s=0.0,
            target={**target.describe(), "consumer": settings.plugged.describe()},
            knobs=k.to_dict(),
            fault_plan=[f"{p.name}: {f.label}" for p in plan for f in p.faults],
            calibration=self.calibration,
        )
        if settings.target == "aws" and self.ecs.unsupported is not None:
            result.status = Status.SKIPPED
            result.reason = f"unsupported on ECS: {self.ecs.unsupported}"
            result.duration_s = time.time() - started
            return result
        if outside and self.needs_kit_consumer:
            result.status = Status.SKIPPED
            result.reason = (
                f"needs the kit's own consumer, not {settings.plugged.describe()}: "
                f"{self.needs_kit_consumer}"
            )
            result.duration_s = time.time() - started
            return result
        if outside and self.needs_receives and not target.sees_calls():
            result.status = Status.SKIPPED
            result.reason = (
                f"needs to see when {settings.plugged.describe()} receives a message: the "
                "pass-through that records its calls runs on the local target only (process "
                "runner, or docker on the host network)"
            )
            result.duration_s = time.time() - started
            return result
        missing, result.shims = resolve_needs(self.needs, target.capabilities())
        if missing:
            result.status = Status.SKIPPED
            result.reason = lacking(missing, self.needs)
            result.duration_s = time.time() - started
            return result
        for phase in plan:
            execution = PhaseExecution(
                self.name, phase, target, settings, run_dir, on_progress, result.shims
            )
            result.phases.append(execution.run())
        # Some fields (an ECS cluster, task definition, launch type) exist only once a stack
        # was provisioned: describe the target again and let what it knows now win.
        result.target = {**result.target, **target.describe()}
        result.target["consumer"] = settings.plugged.describe()
        facts = {p.name: p.facts for p in result.phases}
        result.cross_checks = [x.check(facts) for x in self.across(k)]
        result.duration_s = time.time() - started
        errors = [p.teardown_error for p in result.phases if p.teardown_error]
        failed = [c for c in result.checks if not c.passed]
        slow = [p.facts.too_slow for p in result.phases if p.facts.too_slow]
        unseen = unobservable_phenomena(result.checks)
        if errors:
            result.status, result.reason = Status.ERROR, "; ".join(errors)
        elif unseen and not failed:
            # Nothing failed, but nothing the scenario exists to show could be seen either.
            result.status = Status.SKIPPED
            result.reason = (
                f"its phenomenon cannot be observed for {settings.plugged.describe()} here: "
                f"{unseen}"
            )
        elif failed and slow and all(explained_by_slowness(c) for c in failed):
            # Cut short by a slow system while messages still drained: not a verdict on the
            # consumer. Anything else that failed (a loss, a doubled effect) still fails the run.
            result.status, result.reason = Status.SKIPPED, slow[0]
        elif failed:
            result.status = Status.FAILED
        return result


def lacking(missing: Sequence[str], needs: Sequence[Need]) -> str:
    """Why a scenario is skipped: the missing capabilities, and the emulators that have them
    and every other need without a shim (the matrix in docs/emulators.md)."""
    reason = "the target lacks " + ", ".join(missing)
    fit = emulators_with(*(n.capability for n in needs if not n.shim))
    if fit:
        return reason + f"; {', '.join(fit)} {'has' if len(fit) == 1 else 'have'} all it needs"
    partial = emulators_with(*missing)
    if partial:
        return reason + f"; proven on {', '.join(partial)} (docs/emulators.md)"
    return reason + "; no emulator the kit knows has it (docs/emulators.md): run it on AWS"


def unobservable_phenomena(checks: Sequence[CheckResult]) -> str | None:
    """Why, when every phenomenon check of a run was not observable; None otherwise."""
    phenomena = [c for c in checks if "phenomenon:" in c.name]
    if not phenomena or any(c.observable for c in phenomena):
        return None
    return phenomena[0].detail.removeprefix("not observable: ")


def resolve_needs(
    needs: Sequence[Need], available: frozenset[str] | None
) -> tuple[list[str], dict[str, str]]:
    """(missing capabilities with no shim, shims in use); ``None`` means "assume everything"."""
    if available is None:
        return [], {}
    missing, shims = [], {}
    for need in needs:
        if need.capability in available:
            continue
        if need.shim:
            shims[need.capability] = need.shim
        else:
            missing.append(need.capability)
    return missing, shims
