"""The scenario engine: a template method that every scenario runs through.

    setup   -> provision an isolated stack, start sampling, send the traffic
    act     -> start the consumers, inject the triggered faults, wait until the system settles
    collect -> events, tables, DLQ, queue depth: the facts
    judge   -> the oracle's verdict
    teardown-> always: on success, failure, exception and Ctrl-C (``--keep`` skips it)

A concrete scenario only declares: its knobs (defaults), the capabilities it needs, and its
phases (traffic, consumer groups, fault plan, expectations). It holds no plumbing.
"""

from __future__ import annotations

import abc
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from botocore.exceptions import BotoCoreError, ClientError

from core.errors import InfrastructureError, KitError
from core.stack import StackHandle, StackSpec, unique_prefix
from scenarios import observe
from scenarios.expectations import CrossExpectation
from scenarios.faults import Fault
from scenarios.oracle import (
    EV_COMPLETED,
    EV_CRASH,
    EV_DUPLICATE,
    EV_ELSEWHERE,
    EV_FAILED,
    EV_POISON,
    EV_RECEIVED,
    EV_RELEASED,
    Check,
    ConsumerRun,
    Depth,
    Expectation,
    Facts,
    FaultRecord,
    Verdict,
    event_time,
    judge,
    prefixed,
)
from scenarios.runners.base import ConsumerHandle, RestartPolicy
from scenarios.settings import Knobs, RunSettings
from scenarios.targets.base import Target
from scenarios.traffic import SendOutcome, Traffic
from scenarios.traffic import send as send_traffic

log = logging.getLogger(__name__)

_LOOP_S = 0.1
_TERMINAL = frozenset(
    {EV_COMPLETED, EV_DUPLICATE, EV_ELSEWHERE, EV_POISON, EV_FAILED, EV_RELEASED, "message.fenced"}
)
_STOP_GRACE_S = 5.0


# -- declarations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Need:
    """A capability the scenario needs; ``shim`` describes the fallback when it is missing."""

    capability: str
    shim: str | None = None


@dataclass(frozen=True)
class ConsumerGroup:
    """``n`` consumers with ``env``.

    The group starts once ``start_after_s`` have passed since the traffic was sent *and* the
    consumers already running have logged ``after_received`` receives - so "a second consumer,
    later" means later than the first one's first message, however slow start-up is.
    """

    n: int
    env: Mapping[str, str] = field(default_factory=dict)
    start_after_s: float = 0.0
    after_received: int = 0
    restart: RestartPolicy = RestartPolicy.ON_FAILURE
    label: str = "consumers"

    def describe(self) -> str:
        """``2 consumers (work 0-0.02 s)``, for `scenario list` and the report."""
        env = self.env
        low, high = env.get("SLEEP_MIN_SECONDS", "?"), env.get("SLEEP_MAX_SECONDS", "?")
        parts = [f"work {low}-{high} s" if low != high else f"work {low} s"]
        if float(env.get("HEARTBEAT_SECONDS", "0") or 0):
            parts.append(f"heartbeat {env['HEARTBEAT_SECONDS']} s")
        for key in ("MAX_MESSAGES", "CONCURRENCY", "MESSAGE_LIMIT"):
            if env.get(key, "1") not in ("1", "0"):
                parts.append(f"{key}={env[key]}")
        if self.start_after_s or self.after_received:
            parts.append(
                f"starts after {self.start_after_s:g} s and {self.after_received} receive(s)"
            )
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


def consumer_env(k: Knobs, **extra: object) -> dict[str, str]:
    """The consumer environment for knobs ``k`` (the stack's addresses are added by the target)."""
    env: dict[str, object] = {
        "WAIT_TIME_SECONDS": k.receive_wait,
        "MAX_MESSAGES": k.max_messages,
        "CONCURRENCY": k.concurrency,
        "SLEEP_MIN_SECONDS": k.sleep_min,
        "SLEEP_MAX_SECONDS": k.sleep_max,
        "HEARTBEAT_SECONDS": k.heartbeat_seconds,
        "SHUTDOWN_TIMEOUT_SECONDS": k.shutdown_timeout,
        # A safety net only: the engine stops consumers once the run has settled.
        "IDLE_TIMEOUT_SECONDS": round(k.timeout_s + 30),
        "CHAOS_SEED": k.seed,
        "RELEASE_BACKOFF_SECONDS": 1,
        "LOG_LEVEL": "INFO",
    }
    env.update(extra)
    return {key: str(value) for key, value in env.items()}


# -- live state (what triggered faults look at) ---------------------------------------------------


class LiveRun:
    """The running phase as faults and the settle check see it; events are indexed incrementally."""

    def __init__(self, target: Target, stack: StackHandle, shims: dict[str, str]) -> None:
        self.target = target
        self.stack = stack
        self.sqs = target.client("sqs")
        self.shims = shims
        self.handles: list[ConsumerHandle] = []
        self.events: list[dict[str, Any]] = []
        self.faults: list[FaultRecord] = []
        self.consumers_started_at: float | None = None
        self._reset_index()

    def _reset_index(self) -> None:
        self._seen = 0
        self._last: object = None
        self.completed: set[str] = set()
        self.crashes = 0
        self.received = 0
        self._done_by: Counter[str] = Counter()
        self._holding: dict[str, dict[str, float]] = {}

    def refresh(self) -> None:
        """Pull the consumers' events and index what is new."""
        events = self.target.consumer_events()
        if self._seen and (len(events) < self._seen or events[self._seen - 1] is not self._last):
            self._reset_index()  # the target re-ordered its events: index them all again
        for e in events[self._seen :]:
            self._index(e)
        self._seen = len(events)
        self._last = events[-1] if events else None
        self.events = events

    def _index(self, e: Mapping[str, Any]) -> None:
        kind, who, mid = e.get("event"), str(e.get("consumer_id")), str(e.get("message_id"))
        if kind == EV_RECEIVED:
            self.received += 1
            self._holding.setdefault(who, {})[mid] = event_time(e) or time.time()
        elif kind in _TERMINAL:
            self._holding.get(who, {}).pop(mid, None)
            if kind == EV_COMPLETED:
                self.completed.add(mid)
                self._done_by[who] += 1
        elif kind == EV_CRASH:
            self.crashes += 1

    def slot(self, index: int) -> ConsumerHandle | None:
        return self.handles[index] if 0 <= index < len(self.handles) else None

    def in_flight(self, handle: ConsumerHandle, *, max_age_s: float | None = None) -> list[str]:
        """Message ids the slot's current consumer received and has not finished."""
        held = self._holding.get(handle.consumer_id, {})
        now = time.time()
        return [m for m, t in held.items() if max_age_s is None or now - t <= max_age_s]

    def completed_by(self, handle: ConsumerHandle) -> int:
        return self._done_by[handle.consumer_id]

    def dlq_depth(self) -> int:
        return observe.depth(self.sqs, self.stack.dlq_url).total

    def shimmed(self, capability: str) -> bool:
        return capability in self.shims

    def add_shim(self, capability: str, why: str) -> None:
        self.shims[capability] = why


# -- results ---------------------------------------------------------------------------------------


@dataclass
class Progress:
    """What the engine reports while a phase runs (rendered by the CLI)."""

    scenario: str
    phase: str
    stage: str
    elapsed_s: float = 0.0
    sent: int = 0
    expected: int = 0
    completed: int = 0
    visible: int = 0
    in_flight: int = 0
    dlq: int = 0
    crashes: int = 0
    consumers: int = 0


ProgressFn = Callable[[Progress], None]


@dataclass
class PhaseResult:
    """One phase: its facts, the verdict, and where its stack and logs were."""

    name: str
    note: str
    facts: Facts
    verdict: Verdict
    stack_prefix: str
    send: SendOutcome
    log_dir: str | None = None
    teardown_error: str | None = None
    #: seconds the target took to provision the stack (not part of the settle time)
    provision_s: float = 0.0


@dataclass
class ScenarioResult:
    """A scenario's outcome: ``passed``, ``failed``, ``skipped`` or ``error``."""

    scenario: str
    summary: str
    status: str
    started_at: float
    duration_s: float
    target: dict[str, Any]
    knobs: dict[str, Any] = field(default_factory=dict)
    phases: list[PhaseResult] = field(default_factory=list)
    cross_checks: list[Check] = field(default_factory=list)
    shims: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    fault_plan: list[str] = field(default_factory=list)
    calibration: str | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def checks(self) -> list[Check]:
        """Every check; prefixed with the phase name when the scenario has several phases."""
        out: list[Check] = []
        for p in self.phases:
            out += (
                list(p.verdict.checks)
                if len(self.phases) == 1
                else prefixed(p.name, p.verdict.checks)
            )
        return out + self.cross_checks


# -- the template method ---------------------------------------------------------------------------


class Scenario(abc.ABC):
    """A scenario declares, the base class runs: subclasses set class attributes and phases()."""

    name: ClassVar[str]
    summary: ClassVar[str]
    defaults: ClassVar[Knobs] = Knobs()
    needs: ClassVar[tuple[Need, ...]] = ()
    #: how the chaos knobs are calibrated against maxReceiveCount (chaos scenarios)
    calibration: ClassVar[str | None] = None

    @abc.abstractmethod
    def phases(self, k: Knobs) -> Sequence[Phase]:
        """The phases to run, in order, for knobs ``k``."""

    def across(self, k: Knobs) -> Sequence[CrossExpectation]:
        """Phenomena visible only by comparing phases (e.g. throughput 1 vs 3 consumers)."""
        return ()

    def knobs(self, settings: RunSettings) -> Knobs:
        return self.defaults.override(settings)

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
        plan = list(self.phases(k))
        result = ScenarioResult(
            scenario=self.name,
            summary=self.summary,
            status="passed",
            started_at=started,
            duration_s=0.0,
            target=target.describe(),
            knobs=k.to_dict(),
            fault_plan=[f"{p.name}: {f.label}" for p in plan for f in p.faults],
            calibration=self.calibration,
        )
        missing, result.shims = resolve_needs(self.needs, target.capabilities())
        if missing:
            result.status = "skipped"
            result.reason = "the target lacks " + ", ".join(missing)
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
        facts = {p.name: p.facts for p in result.phases}
        result.cross_checks = [x.check(facts) for x in self.across(k)]
        result.duration_s = time.time() - started
        errors = [p.teardown_error for p in result.phases if p.teardown_error]
        if errors:
            result.status, result.reason = "error", "; ".join(errors)
        elif not all(c.passed for c in result.checks):
            result.status = "failed"
        return result


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


class PhaseExecution:
    """One phase through the template: setup, act, collect, judge, teardown (always)."""

    def __init__(  # noqa: PLR0917 - built in one place, by Scenario.execute
        self,
        scenario: str,
        phase: Phase,
        target: Target,
        settings: RunSettings,
        run_dir: Path,
        on_progress: ProgressFn | None,
        shims: dict[str, str],
    ) -> None:
        self.scenario = scenario
        self.phase = phase
        self.target = target
        self.settings = settings
        self.run_dir = run_dir
        self.on_progress = on_progress
        self.shims = shims
        self.started = time.time()
        #: when the traffic started (after provisioning): the clock "settled in" counts from
        self.traffic_at: float | None = None
        #: when the act loop ended: settled, or the deadline passed
        self.settled_at: float | None = None
        self.provision_s = 0.0
        self.timed_out = False

    # -- template ----------------------------------------------------------------------------

    def run(self) -> PhaseResult:
        spec = self.spec()
        self.progress("provisioning")
        provision_started = time.monotonic()
        stack = self.target.provision(spec)
        self.provision_s = time.monotonic() - provision_started
        live: LiveRun | None = None
        sampler: observe.DepthSampler | None = None
        teardown_error: str | None = None
        try:
            live = LiveRun(self.target, stack, self.shims)
            sampler = observe.DepthSampler(live.sqs, stack)
            sampler.start()
            outcome = self.setup(live)
            self.act(live, outcome, sampler)
            facts = self.collect(live, outcome, sampler)
        except (ClientError, BotoCoreError) as exc:
            raise InfrastructureError(
                f"{self.scenario}/{self.phase.name}: AWS call failed: {exc}"
            ) from exc
        finally:
            if sampler is not None:
                sampler.stop()
            teardown_error = self.teardown()
        self.progress("judging")
        verdict = judge(facts)
        return PhaseResult(
            name=self.phase.name,
            note=self.phase.note,
            facts=facts,
            verdict=verdict,
            stack_prefix=stack.prefix,
            send=outcome,
            log_dir=str(self.log_dir) if self.log_dir else None,
            teardown_error=teardown_error,
            provision_s=self.provision_s,
        )

    def spec(self) -> StackSpec:
        base = f"sqskit-{self.scenario}"[:30].rstrip("-")
        return StackSpec(
            prefix=unique_prefix(base),
            visibility_timeout=self.phase.visibility_timeout,
            receive_wait=self.phase.receive_wait,
            max_receive_count=self.phase.max_receive_count,
            message_retention=3600,
            dlq_retention=3600,
            tags={"sqs-kit-scenario": self.scenario},
        )

    @property
    def log_dir(self) -> Path | None:
        return getattr(self.target, "log_dir", None)

    # -- setup ---------------------------------------------------------------------------------

    def setup(self, live: LiveRun) -> SendOutcome:
        self.progress("sending", expected=self.phase.traffic.requested)
        ledger_dir = self.run_dir / "ledgers" / live.stack.prefix
        self.traffic_at = time.time()
        return send_traffic(
            self.phase.traffic, sqs=live.sqs, queue_url=live.stack.queue_url, ledger_dir=ledger_dir
        )

    # -- act -------------------------------------------------------------------------------------

    def act(self, live: LiveRun, outcome: SendOutcome, sampler: observe.DepthSampler) -> None:
        phase = self.phase
        chaos = {k: v for f in phase.faults for k, v in f.env().items()}
        groups = list(phase.consumers)
        pending = [f for f in phase.faults if f.triggered]
        valid = {e.id for e in outcome.ledger if e.id is not None} - set(phase.traffic.poison_keys)
        # The deadline counts from the traffic, never from provisioning (a Terraform apply or
        # an ECS cluster can take minutes before the first message is sent).
        sent_at = time.monotonic()
        deadline = sent_at + phase.timeout_s
        while True:
            waited = time.monotonic() - sent_at
            due = [
                g for g in groups if g.start_after_s <= waited and live.received >= g.after_received
            ]
            for group in due[:1]:  # in declaration order, one per turn
                groups.remove(group)
                env = {**group.env, **chaos}
                live.handles += self.target.start_consumers(group.n, env, restart=group.restart)
                live.consumers_started_at = live.consumers_started_at or time.time()
            live.refresh()
            for fault in list(pending):
                if fault.due(live):
                    record = fault.fire(live)
                    live.faults.append(record)
                    pending.remove(fault)
                    log.info("fault.fired", extra={"fault": fault.label, "detail": record.detail})
            if not groups and not pending and self.settled(live, valid):
                break
            if time.monotonic() > deadline:
                self.timed_out = True
                log.warning("phase.timeout", extra={"phase": phase.name})
                break
            self.progress("running", live=live, sent=len(outcome.ledger), sampler=sampler)
            time.sleep(_LOOP_S)
        self.settled_at = time.time()
        if phase.settle_s:
            self.progress("settling", live=live, sent=len(outcome.ledger), sampler=sampler)
            time.sleep(phase.settle_s)

    def settled(self, live: LiveRun, valid: set[str]) -> bool:
        """Every valid id completed, the queue is empty and the DLQ holds the poison."""
        if not valid <= live.completed:
            return False
        if observe.depth(live.sqs, live.stack.queue_url).total:
            return False
        return live.dlq_depth() == len(self.phase.traffic.poison)

    # -- collect ---------------------------------------------------------------------------------

    def collect(self, live: LiveRun, outcome: SendOutcome, sampler: observe.DepthSampler) -> Facts:
        self.progress("collecting", live=live, sent=len(outcome.ledger), sampler=sampler)
        self.target.stop_consumers(timeout=self.phase_stop_timeout())
        live.refresh()
        sampler.sample()
        ddb = self.target.client("dynamodb")
        phase = self.phase
        return Facts(
            ledger=outcome.ledger,
            completed_items=tuple(observe.scan(ddb, live.stack.completed_table)),
            status_items=tuple(observe.scan(ddb, live.stack.status_table)),
            dlq=tuple(observe.read_dlq(live.sqs, live.stack.dlq_url)),
            depth=observe.depth(live.sqs, live.stack.queue_url),
            events=tuple(live.events),
            expected_poison=phase.traffic.poison_keys,
            expectations=phase.expect,
            requested=phase.traffic.requested,
            consumers=tuple(_runs(live.handles)),
            faults=tuple(live.faults),
            samples=sampler.samples,
            max_receive_count=phase.max_receive_count,
            visibility_timeout=phase.visibility_timeout,
            started_at=self.traffic_at if self.traffic_at is not None else self.started,
            consumers_started_at=live.consumers_started_at,
            settled_at=self.settled_at,
            ended_at=time.time(),
            timed_out=self.timed_out,
        )

    def phase_stop_timeout(self) -> float:
        shutdown = max(
            (float(g.env.get("SHUTDOWN_TIMEOUT_SECONDS", 0)) for g in self.phase.consumers),
            default=0.0,
        )
        return shutdown + _STOP_GRACE_S

    # -- teardown --------------------------------------------------------------------------------

    def teardown(self) -> str | None:
        """Stop consumers and destroy the stack (``--keep``: consumers only). Never raises."""
        self.progress("teardown")
        try:
            self.target.stop_consumers(timeout=self.phase_stop_timeout())
            self.target.teardown()  # targets honour --keep: the stack stays, consumers stop
        except KitError as exc:
            log.error("teardown.failed", extra={"error": str(exc)})
            return str(exc)
        except (ClientError, BotoCoreError) as exc:
            log.error("teardown.failed", extra={"error": str(exc)})
            return f"teardown failed: {exc}"
        return None

    # -- progress --------------------------------------------------------------------------------

    def progress(
        self,
        stage: str,
        *,
        live: LiveRun | None = None,
        sent: int = 0,
        expected: int | None = None,
        sampler: observe.DepthSampler | None = None,
    ) -> None:
        if self.on_progress is None:
            return
        p = Progress(
            scenario=self.scenario,
            phase=self.phase.name,
            stage=stage,
            elapsed_s=time.time() - self.started,
            sent=sent,
            expected=self.phase.traffic.requested if expected is None else expected,
        )
        if live is not None:
            p.completed = len(live.completed)
            p.crashes = live.crashes
            p.consumers = sum(1 for h in live.handles if h.running)
        latest = sampler.latest if sampler is not None else None
        if latest is not None:
            p.visible, p.in_flight, p.dlq = latest.visible, latest.in_flight, latest.dlq
        try:
            self.on_progress(p)
        except Exception:  # a rendering problem must never break a run
            log.exception("progress.callback_failed")


def _runs(handles: Sequence[ConsumerHandle]) -> list[ConsumerRun]:
    return [
        ConsumerRun(
            slot=h.slot,
            consumer_id=inc.consumer_id,
            started_at=inc.started_at,
            ended_at=inc.ended_at,
            exit_code=inc.exit_code,
            signals=tuple(inc.signals_sent),
        )
        for h in handles
        for inc in h.incarnations
    ]


__all__ = [
    "ConsumerGroup",
    "Depth",
    "LiveRun",
    "Need",
    "Phase",
    "PhaseResult",
    "Progress",
    "Scenario",
    "ScenarioResult",
    "consumer_env",
]
