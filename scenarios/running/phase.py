"""One phase through the template: setup, act, collect, judge, teardown (always).

setup   -> provision an isolated stack, start sampling, send the traffic
act     -> start the consumers, inject the triggered faults, wait until the system settles
collect -> events, tables, DLQ, queue depth: the facts
judge   -> the oracle's verdict
teardown-> always: on success, failure, exception and Ctrl-C (``--keep`` skips it)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from consumer.contract import EXIT_OK
from core.errors import ConfigError, InfrastructureError, KitError
from core.stack import DEDUP_SCOPE_QUEUE, StackSpec, unique_prefix
from local.faultproxy import Plan
from scenarios.judging.facts import EXTERNAL, ConsumerRun, Facts, Sample
from scenarios.judging.oracle import PhaseVerdict, judge
from scenarios.model import ConsumerGroup, Fault, Phase, RestartPolicy
from scenarios.runners.base import ConsumerHandle
from scenarios.running import observe
from scenarios.running.apifaults import load_user_plan, phase_plan, planned_kinds
from scenarios.running.autoscaler import FleetScaler
from scenarios.running.deadline import Deadline, consumer_seconds
from scenarios.running.deadline import now as clock_now
from scenarios.running.live import LiveRun
from scenarios.running.traffic import SendOutcome, TrafficSender
from scenarios.settings import KIT, RunSettings
from scenarios.targets.base import Target

log = logging.getLogger(__name__)

_LOOP_S = 0.1
_STOP_GRACE_S = 5.0
_STRANDED = "every consumer exited, and none will be restarted"
#: the longest wait for in-flight leftovers to become readable at the end of a phase
_MAX_SURFACE_WAIT_S = 30.0
#: a consumer that exits non-zero this many times in a row, each time before it logged an event
#: or made a call, cannot start: the run stops with its stderr instead of restarting it for ever
FAILED_STARTS = 3


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
    verdict: PhaseVerdict
    stack_prefix: str
    send: SendOutcome
    log_dir: str | None = None
    teardown_error: str | None = None
    #: seconds the target took to provision the stack (not part of the settle time)
    provision_s: float = 0.0


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
        #: why the phase stopped although messages were still draining (a slow emulator)
        self.too_slow: str | None = None
        #: why the phase stopped waiting before it settled
        self.timeout_reason: str | None = None
        #: the scalers of the groups with a scaling policy, and those groups' labels
        self.scalers: list[FleetScaler] = []
        self.scaled: set[str] = set()
        #: the fault proxy's plan for this phase (None: no API faults)
        self.plan: Plan | None = None

    # -- template ----------------------------------------------------------------------------

    def run(self) -> PhaseResult:
        spec = self.spec()
        # API faults: the scenario's plan for this phase, then the user's --faults file
        self.plan = phase_plan(self.phase, load_user_plan(self.settings.faults))
        self.target.arm_faults(self.plan)
        self.progress("provisioning")
        provision_started = time.monotonic()
        stack = self.target.provision(spec)
        self.provision_s = time.monotonic() - provision_started
        live: LiveRun | None = None
        sampler: observe.DepthSampler | None = None
        sender: TrafficSender | None = None
        teardown_error: str | None = None
        try:
            live = LiveRun(self.target, stack, self.shims, consumer=self.settings.plugged.kind)
            sampler = observe.DepthSampler(live.sqs, stack)
            sampler.start()
            sender = self.setup(live)
            if sender.done:  # plain traffic: all sent before the consumers start
                live.know(sender.wait().ledger)
            self.act(live, sender, sampler)
            if not sender.done:  # the phase gave up while traffic was still being sent
                sender.stop()
            outcome = sender.wait()
            facts = self.collect(live, outcome, sampler)
        except (ClientError, BotoCoreError) as exc:
            raise InfrastructureError(
                f"{self.scenario}/{self.phase.name}: AWS call failed: {exc}"
            ) from exc
        finally:
            if sender is not None:
                sender.stop()
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
            log_dir=str(self.target.log_dir) if self.target.log_dir else None,
            teardown_error=teardown_error,
            provision_s=self.provision_s,
        )

    def spec(self) -> StackSpec:
        return self.spec_for(self.scenario, self.phase)

    @staticmethod
    def spec_for(scenario: str, phase: Phase) -> StackSpec:
        """The isolated stack one phase of ``scenario`` runs on, under a unique prefix."""
        base = f"sqskit-{scenario}"[:30].rstrip("-")
        return StackSpec(
            prefix=unique_prefix(base),
            visibility_timeout=phase.visibility_timeout,
            receive_wait=phase.receive_wait,
            max_receive_count=phase.max_receive_count,
            message_retention=3600,
            dlq_retention=3600,
            tags={"sqs-kit-scenario": scenario},
            **(phase.fifo.stack_fields() if phase.fifo else {}),
        )

    # -- setup ---------------------------------------------------------------------------------

    def setup(self, live: LiveRun) -> TrafficSender:
        """Send the traffic now, or start sending it in the background when it has a shape."""
        traffic = self.phase.traffic
        self.progress("sending", expected=traffic.requested)
        ledger_dir = self.run_dir / "ledgers" / live.stack.prefix
        self.traffic_at = time.time()
        sender = TrafficSender(
            traffic, sqs=live.sqs, queue_url=live.stack.queue_url, ledger_dir=ledger_dir
        )
        if traffic.during_run:
            sender.start()
        else:
            sender.run()
            sender.wait()  # a failed send fails here, before any consumer starts
        return sender

    # -- act -------------------------------------------------------------------------------------

    def act(self, live: LiveRun, sender: TrafficSender, sampler: observe.DepthSampler) -> None:
        phase = self.phase
        groups = list(phase.consumers)
        pending = [f for f in phase.faults if f.triggered]
        valid: set[str] | None = None  # known once the traffic is all sent
        # The deadline counts consumer time: never provisioning (a Terraform apply, an ECS
        # cluster), nor a consumer's start-up, nor a time when every consumer was down. Traffic
        # sent during the run adds its own duration: the budget is for draining it.
        deadline = Deadline(phase.timeout_s + phase.traffic.duration_s)
        sent_at = time.monotonic()
        sent_wall = clock_now()  # queue samples older than this predate the traffic
        while True:
            waited = time.monotonic() - sent_at
            due = [
                g for g in groups if g.start_after_s <= waited and live.received >= g.after_received
            ]
            for group in due[:1]:  # in declaration order, one per turn
                groups.remove(group)
                self.start_group(live, group)
            live.refresh()
            latest = sampler.latest
            if latest is not None and latest.t < sent_wall:
                latest = None  # a sample from before the traffic
            self.check_started(live)
            self.intervene(live, pending, latest)
            if valid is None and sender.done:
                ledger = sender.wait().ledger
                live.know(ledger)
                valid = {e.id for e in ledger if e.id is not None} - set(phase.traffic.poison_keys)
            if (
                not groups
                and not pending
                and valid is not None
                and all(s.at_rest for s in self.scalers)
                and self.settled(live, valid)
            ):
                break
            if not groups and _stranded(live.handles):
                self.timed_out, self.timeout_reason = True, _STRANDED
                log.warning("phase.timeout", extra={"phase": phase.name, "why": _STRANDED})
                break
            up_s = consumer_seconds(live.incarnations, live.first_event, clock_now())
            if latest is not None:
                deadline.observe(up_s, latest.visible + latest.in_flight)
            if deadline.expired(up_s, down_s=time.monotonic() - sent_at - up_s):
                self.timed_out, self.timeout_reason = True, deadline.reason
                self.too_slow = deadline.too_slow
                log.warning("phase.timeout", extra={"phase": phase.name, "why": deadline.reason})
                break
            self.progress("running", live=live, sent=sender.sent, sampler=sampler)
            time.sleep(_LOOP_S)
        self.settled_at = time.time()
        if not self.timed_out:
            self.let_finish(live, sender.sent, sampler)
        if phase.settle_s:
            self.progress("settling", live=live, sent=sender.sent, sampler=sampler)
            time.sleep(phase.settle_s)

    def intervene(self, live: LiveRun, pending: list[Fault], latest: Sample | None) -> None:
        """One turn of what the engine does to the system: scale the scaled groups on the
        latest queue sample, and fire the triggered faults that are due (each once)."""
        if latest is not None:
            for scaler in self.scalers:
                if (record := scaler.tick(latest.visible)) is not None:
                    live.faults.append(record)
        for fault in list(pending):
            if fault.due(live):
                record = fault.fire(live)
                live.faults.append(record)
                pending.remove(fault)
                log.info("fault.fired", extra={"fault": fault.label, "detail": record.detail})

    def start_group(self, live: LiveRun, group: ConsumerGroup) -> list[ConsumerHandle]:
        """Start ``group``'s consumers, with the chaos knobs of the faults that apply to it.

        A group with a scaling policy gets a scaler, which the act loop ticks from then on.
        """
        chaos = {
            k: v
            for f in self.phase.faults
            if f.applies_to(group.label)
            for k, v in f.overrides().items()
        }
        handles = self.target.start_consumers(
            group.n, group.settings.with_(**chaos), restart=group.restart
        )
        live.handles += handles
        live.groups.setdefault(group.label, []).extend(handles)
        live.consumers_started_at = live.consumers_started_at or time.time()
        if group.scaling is not None and group.label not in self.scaled:
            self.scaled.add(group.label)
            fleet = _GroupFleet(self, live, group)
            self.scalers.append(FleetScaler(group.scaling, fleet, clock=clock_now))
        return handles

    def check_started(self, live: LiveRun) -> None:
        """Stop the run when a consumer cannot start (``FAILED_STARTS`` silent failures)."""
        runner = self.target.runner
        for handle in live.handles:
            last = handle.incarnations[-FAILED_STARTS:]
            if len(last) < FAILED_STARTS or not all(
                inc.exit_code not in (None, EXIT_OK)
                and not inc.signals_sent
                and inc.consumer_id not in live.first_event
                for inc in last
            ):
                continue
            tail = runner.stderr_tail(last[-1]) if runner is not None else ""
            lines = [line.strip() for line in tail.splitlines() if line.strip()]
            said = f"; its stderr ends: {' | '.join(lines[-3:])[-400:]}" if lines else ""
            plug = self.settings.plugged
            why = (
                f"the consumer ({plug.describe()}) cannot start: it exited with code "
                f"{last[-1].exit_code} {FAILED_STARTS} times in a row before it logged an event "
                f"or made a call{said}"
            )
            if plug.kind == KIT:
                raise InfrastructureError(why)
            raise ConfigError(why)

    def let_finish(self, live: LiveRun, sent: int, sampler: observe.DepthSampler) -> None:
        """Wait for the groups that must finish by themselves (``let_finish_s``) to exit.

        A consumer seen from outside may ignore ``MESSAGE_LIMIT`` and never exit by itself: it
        is finished once it holds no message (its late work done, its delete made).
        """
        for group in self.phase.consumers:
            handles = live.groups.get(group.label, [])
            if not group.let_finish_s or not handles:
                continue
            until = time.monotonic() + group.let_finish_s
            self.progress("finishing", live=live, sent=sent, sampler=sampler)
            while self.busy(live, handles) and time.monotonic() < until:
                time.sleep(_LOOP_S)
                live.refresh()
            if self.busy(live, handles):
                log.warning(
                    "phase.group_unfinished",
                    extra={"group": group.label, "waited_s": group.let_finish_s},
                )

    @staticmethod
    def busy(live: LiveRun, handles: Sequence[ConsumerHandle]) -> bool:
        """Whether any of ``handles`` still runs (seen from outside: still holds a message)."""
        if live.external:
            return any(h.running and live.in_flight(h) for h in handles)
        return any(h.running for h in handles)

    def settled(self, live: LiveRun, valid: set[str]) -> bool:
        """Every valid id completed, the queue is empty and the DLQ holds the poison.

        A consumer seen from outside writes no completion the engine could wait for: it has
        settled once the queue is empty and the DLQ holds the poison (the oracle then finds
        out whether every effect was applied, once).
        """
        if live.consumer not in EXTERNAL and not valid <= live.completed | live.found_completed:
            return False
        if observe.depth(live.sqs, live.stack.queue_url).total:
            return False
        return live.dlq_depth() == len(self.phase.traffic.poison)

    # -- collect ---------------------------------------------------------------------------------

    def collect(self, live: LiveRun, outcome: SendOutcome, sampler: observe.DepthSampler) -> Facts:
        self.progress("collecting", live=live, sent=len(outcome.ledger), sampler=sampler)
        # Read again just before: a queue that is empty now, after the traffic, stays empty,
        # so the consumers need not finish the idle long poll they are in.
        settled = not self.timed_out and observe.depth(live.sqs, live.stack.queue_url).total == 0
        self.target.stop_consumers(timeout=self.phase_stop_timeout(), settled=settled)
        live.refresh()
        sampler.sample()
        ddb = self.target.client("dynamodb")
        phase, stack = self.phase, live.stack
        facts = Facts(
            ledger=outcome.ledger,
            completed_items=tuple(observe.scan(ddb, stack.completed_table)),
            status_items=tuple(observe.scan(ddb, stack.status_table)),
            effect_items=tuple(observe.scan(ddb, stack.effects_table))
            if stack.effects_table
            else (),
            effects_table=stack.effects_table is not None,
            dlq=tuple(observe.read_dlq(live.sqs, stack.dlq_url)),
            depth=observe.depth(live.sqs, stack.queue_url),
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
            timeout_reason=self.timeout_reason,
            too_slow=self.too_slow,
            dedup_scope=phase.fifo.deduplication_scope if phase.fifo else DEDUP_SCOPE_QUEUE,
            consumer=live.consumer,
            calls=tuple(sorted(live.calls, key=lambda c: c.ts)),
            passthrough=live.passthrough,
            api_faults=tuple(self.target.api_faults()),
            planned_faults=planned_kinds(self.plan),
        )
        return self.read_leftovers(live, facts)

    def read_leftovers(self, live: LiveRun, facts: Facts) -> Facts:
        """What the queue still holds, read so that a message still in it is never called lost.

        Only when a valid id is unaccounted for: messages in flight are given until their
        visibility runs out (bounded) to become readable.
        """
        sqs, stack = live.sqs, live.stack
        if not facts.depth.total or not facts.unaccounted:
            return facts
        remaining = observe.peek(sqs, stack.queue_url, expected=facts.depth.visible)
        facts = replace(facts, remaining=tuple(remaining))
        if facts.unaccounted and (facts.depth.in_flight or facts.depth.delayed):
            wait_s = min(self.phase.visibility_timeout + 2.0, _MAX_SURFACE_WAIT_S)
            surfaced = observe.wait_visible(sqs, stack.queue_url, timeout_s=wait_s)
            remaining += observe.peek(sqs, stack.queue_url, expected=surfaced.visible)
        # Reading is a receive: a message past maxReceiveCount moved to the DLQ instead of being
        # returned. It was still in the queue at the end, so it counts as left there.
        seen = {d.message_id for d in facts.dlq}
        moved = observe.depth(sqs, stack.dlq_url).visible
        if moved:
            remaining += [
                m
                for m in observe.peek(sqs, stack.dlq_url, expected=moved)
                if m.message_id not in seen
            ]
        unread = max(0, facts.depth.total - len(remaining))
        return replace(facts, remaining=tuple(remaining), unread=unread)

    def phase_stop_timeout(self) -> float:
        """The consumers' longest drain plus a grace period (the target may stretch it)."""
        return self.phase.shutdown_timeout_s + _STOP_GRACE_S

    # -- teardown --------------------------------------------------------------------------------

    def teardown(self) -> str | None:
        """Stop consumers and destroy the stack (``--keep``: consumers only). Never raises."""
        self.progress("teardown")
        try:
            self.target.stop_consumers(timeout=self.phase_stop_timeout())
            self.target.teardown()  # targets honour --keep: the stack stays, consumers stop
            self.target.arm_faults(None)
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


class _GroupFleet:
    """A scaled consumer group of the running phase, as its :class:`FleetScaler` sees it."""

    def __init__(self, execution: PhaseExecution, live: LiveRun, group: ConsumerGroup) -> None:
        self.execution, self.live, self.group = execution, live, group

    def running(self) -> list[ConsumerHandle]:
        return [h for h in self.live.groups.get(self.group.label, []) if h.running]

    def is_up(self, handle: ConsumerHandle) -> bool:
        return handle.consumer_id in self.live.first_event

    def start(self, n: int) -> list[ConsumerHandle]:
        if n <= 0:
            return []
        return self.execution.start_group(self.live, replace(self.group, n=n))

    def signal(self, handle: ConsumerHandle, sig: int) -> None:
        self.live.signal(handle, sig)


def _stranded(handles: Sequence[ConsumerHandle]) -> bool:
    """Consumers were started, every one has exited, and none will be restarted: nothing more
    can happen, so waiting for the deadline would only waste it."""
    return bool(handles) and not any(
        h.running
        or (h.restart is RestartPolicy.ON_FAILURE and h.current.exit_code not in (None, EXIT_OK))
        for h in handles
    )


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
