"""Phenomena a scenario exists to show, as declarative expectations the oracle evaluates.

A crash scenario in which nothing crashed, or a duplicates scenario that saw no redelivery,
proves nothing: it is a failed demonstration, and these checks say so. Each expectation is a
small frozen object with a ``name`` and a pure ``check(facts) -> CheckResult``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from consumer.contract import (
    EV_COMPLETED,
    EV_CONSUMER_CRASH,
    EV_CONSUMER_STOPPED,
    EV_DUPLICATE,
    EV_FENCED,
    EV_IN_PROGRESS_ELSEWHERE,
    EV_LEFT_IN_FLIGHT,
    EV_POISON,
    EV_RECEIVED,
    EV_RELEASED,
    EXIT_OK,
)
from local.faultproxy.protocol import RECEIVE_MESSAGE
from scenarios.judging.executions import repeats
from scenarios.judging.facts import (
    DELETE_OPS,
    FROM_PASSTHROUGH,
    MAX_LISTED,
    RETRIED_BY_CALLER,
    RETRIED_BY_SDK,
    RETRY_WINDOW_S,
    VISIBILITY_OPS,
    ApiFault,
    CheckResult,
    Facts,
    FaultRecord,
    as_int,
    event_time,
    fired_summary,
    ids,
    listed,
    not_observable,
)
from scenarios.judging.metrics import throughput

#: events by which the idempotency layer shows it kept a redelivery from running the handler
IDEMPOTENCY_EVENTS = (EV_DUPLICATE, EV_IN_PROGRESS_ELSEWHERE)
_OUTCOMES = frozenset({EV_COMPLETED, EV_DUPLICATE, EV_FENCED})


def _signals(facts: Facts, name: str) -> list[FaultRecord]:
    return [f for f in facts.faults if f.kind == "signal" and f.signal == name]


def _after(event: Mapping[str, Any], t: float) -> bool:
    ts = event_time(event)
    return ts is None or ts >= t - 0.05  # log stamps are millisecond-rounded


#: ``FaultRecord.kind`` of a kill aimed between a consumer's effect and its delete
AIMED_KILL = "kill between effect and delete"
#: why receives cannot be judged (a consumer seen from outside, no pass-through, no events)
NO_RECEIVES = (
    "no pass-through recorded this consumer's calls here, and it logs no message.received "
    "events (docs/consumer-contract.md)"
)
#: what the kit's own records show and a consumer seen from outside does not keep
KIT_RECORDS = (
    "the kit's idempotency records (leases, completions) belong to its own worker; a plugged-in "
    "consumer is judged by its effects instead"
)
NO_EXECUTIONS = (
    "handler executions: the consumer logs no handler.started events; its redeliveries show "
    "what reached it twice"
)
NOT_IDEMPOTENT = "your consumer is not idempotent under redelivery"


def _doubled(facts: Facts, message_ids: list[str]) -> dict[str, int]:
    """Of ``message_ids``, those whose effect was applied a number of times other than once."""
    return {m: facts.effects[m] for m in message_ids if facts.effects[m] != 1}


@dataclass(frozen=True)
class Redelivered:
    """SQS delivered at least ``at_least`` messages again (``receive_count`` > 1)."""

    at_least: int = 1
    why: str = "redelivery"

    @property
    def name(self) -> str:
        return f"phenomenon: {self.why} happened"

    def check(self, facts: Facts) -> CheckResult:
        if facts.receive_source is None:
            return not_observable(self.name, NO_RECEIVES)
        n = facts.redeliveries
        ok = n >= self.at_least
        detail = f"{n} redeliveries (receive_count > 1)"
        if facts.receive_source == FROM_PASSTHROUGH:
            detail = f"{n} redeliveries seen by the pass-through"
        if not ok:
            detail += f"; expected at least {self.at_least}: a failed demonstration"
        return CheckResult(self.name, ok, detail)


@dataclass(frozen=True)
class NotRedelivered:
    """No message was delivered twice."""

    why: str = "no redelivery"

    @property
    def name(self) -> str:
        return f"phenomenon: {self.why}"

    def check(self, facts: Facts) -> CheckResult:
        if facts.receive_source is None:
            return not_observable(self.name, NO_RECEIVES)
        n = facts.redeliveries
        detail = f"{n} redeliveries (expected none)"
        if n and facts.external:
            again = facts.redelivered_ids
            detail += f": {listed(again)} reached your consumer again"
        return CheckResult(self.name, n == 0, detail)


@dataclass(frozen=True)
class CrashedAndRestarted:
    """Consumers crashed at least ``at_least`` times and were replaced."""

    at_least: int = 1

    @property
    def name(self) -> str:
        return "phenomenon: consumers crashed and were restarted"

    def check(self, facts: Facts) -> CheckResult:
        if facts.external:
            return not_observable(self.name, "the kit's chaos crashes apply to its own worker")
        crashes = len(facts.of(EV_CONSUMER_CRASH))
        slots = Counter(c.slot for c in facts.consumers)
        restarts = sum(n - 1 for n in slots.values())
        ok = crashes >= self.at_least and restarts >= 1
        detail = f"{crashes} {EV_CONSUMER_CRASH} events, {restarts} restarts"
        if not ok:
            detail += f"; expected at least {self.at_least} crash(es) and a restart"
        return CheckResult(self.name, ok, detail)


@dataclass(frozen=True)
class Restarted:
    """At least ``at_least`` consumers were replaced after dying (as an ECS service would)."""

    at_least: int = 1

    @property
    def name(self) -> str:
        return "phenomenon: a dead consumer was replaced"

    def check(self, facts: Facts) -> CheckResult:
        slots = Counter(c.slot for c in facts.consumers)
        restarts = sum(n - 1 for n in slots.values())
        ok = restarts >= self.at_least
        return CheckResult(
            self.name, ok, f"{restarts} replacement(s) (expected at least {self.at_least})"
        )


@dataclass(frozen=True)
class IdempotencyHeld:
    """The idempotency layer kept a redelivered message from running its handler again.

    Only ``message.duplicate`` (found completed at the receive) and
    ``message.in_progress_elsewhere`` count: in both the handler did not run. A fenced
    completion (``message.fenced``) or one that found the id completed (``message.duplicate``
    with ``source: completion``) is the opposite - the second execution ran to the end and only
    its record was refused - and is shown by :class:`LateRecordRefused`.
    """

    at_least: int = 1

    @property
    def name(self) -> str:
        return "phenomenon: idempotency kept a redelivery from running again"

    def check(self, facts: Facts) -> CheckResult:
        if facts.external:
            return not_observable(self.name, KIT_RECORDS)
        stopped = [e for e in facts.of(*IDEMPOTENCY_EVENTS) if not _late_record(e)]
        seen = Counter(_label(e) for e in stopped)
        ok = len(stopped) >= self.at_least
        parts = ", ".join(f"{k}={v}" for k, v in sorted(seen.items())) or "none"
        detail = f"handler not run again: {parts}" + (
            "" if ok else f"; expected at least {self.at_least}"
        )
        return CheckResult(self.name, ok, detail)


@dataclass(frozen=True)
class ExecutedAgain:
    """Some message's handler ran more than once (the at-least-once delivery, made visible)."""

    at_least: int = 1

    @property
    def name(self) -> str:
        return "phenomenon: a message's handler ran a second time"

    def check(self, facts: Facts) -> CheckResult:
        if facts.external and not facts.executions:
            return not_observable(self.name, NO_EXECUTIONS)
        found = repeats(facts)
        ok = len(found) >= self.at_least
        if not found:
            return CheckResult(self.name, False, "every handler ran once: a failed demonstration")
        shown = "; ".join(
            f"{r.message_id[:8]} x{r.executions} ({', '.join(c.kind for c in r.causes)})"
            for r in found[:MAX_LISTED]
        )
        detail = f"{ids(len(found))} executed more than once: {shown}"
        if not ok:
            detail += f"; expected at least {self.at_least}"
        return CheckResult(self.name, ok, detail)


@dataclass(frozen=True)
class EffectAppliedOnce:
    """Every message executed more than once still had its effect applied exactly once."""

    @property
    def name(self) -> str:
        return "phenomenon: the side effect was still applied once"

    def check(self, facts: Facts) -> CheckResult:
        if facts.external and not facts.executions:
            return self._from_outside(facts)
        again = [r.message_id for r in repeats(facts)]
        if not again:
            return CheckResult(self.name, False, "no message ran twice: nothing to show")
        if not facts.effects_table:
            return CheckResult(self.name, False, "no effects table on this stack")
        wrong = _doubled(facts, again)
        if wrong:
            shown = ", ".join(f"{m} x{n}" for m, n in sorted(wrong.items())[:MAX_LISTED])
            return CheckResult(
                self.name,
                False,
                f"{len(wrong)} of {ids(len(again))} executed more than once had their effect "
                f"applied a number of times other than once: {shown}",
            )
        return CheckResult(
            self.name,
            True,
            f"{ids(len(again))} executed more than once, each effect applied once "
            f"({listed(again)})",
        )

    def _from_outside(self, facts: Facts) -> CheckResult:
        """Every message delivered more than once had its effect applied once."""
        if facts.receive_source is None:
            return not_observable(self.name, NO_RECEIVES)
        again = sorted(facts.redelivered_ids)
        if not again:
            return CheckResult(self.name, False, "no message was delivered twice: nothing to show")
        if not facts.effects_table:
            return CheckResult(self.name, False, "no effects table on this stack")
        wrong = _doubled(facts, again)
        if wrong:
            shown = ", ".join(f"{m} x{n}" for m, n in sorted(wrong.items())[:MAX_LISTED])
            how = "more than once" if min(wrong.values()) > 1 else "other than once"
            return CheckResult(
                self.name,
                False,
                f"{len(wrong)} of {ids(len(again))} delivered more than once: effect applied "
                f"{how} ({shown}); {NOT_IDEMPOTENT}",
            )
        return CheckResult(
            self.name,
            True,
            f"{ids(len(again))} delivered more than once, each effect applied once "
            f"({listed(again)})",
        )


@dataclass(frozen=True)
class LateRecordRefused:
    """A late execution ran to the end, and its record was refused (fenced or found completed).

    That is how the record stays exactly-once when the handler ran twice: the completion of the
    execution that lost the lease is refused by its fencing token (``message.fenced``), or finds
    the id completed already (``message.duplicate`` with ``source: completion``).
    """

    @property
    def name(self) -> str:
        return "phenomenon: a late execution ran to the end and its record was refused"

    def check(self, facts: Facts) -> CheckResult:
        if facts.external:
            return not_observable(self.name, KIT_RECORDS)
        late = [e for e in facts.of(EV_FENCED, EV_DUPLICATE) if _late_record(e)]
        if not late:
            return CheckResult(
                self.name,
                False,
                "no completion was refused: every execution that finished recorded its message "
                "(a failed demonstration)",
            )
        fenced = {str(e.get("message_id")) for e in late if e.get("event") == EV_FENCED}
        found = {str(e.get("message_id")) for e in late if e.get("event") == EV_DUPLICATE}
        parts = []
        if fenced:
            parts.append(
                f"fenced ({EV_FENCED}: a newer attempt held the lease) for {listed(fenced)}"
            )
        if found:
            parts.append(f"found completed ({EV_DUPLICATE}, source completion) for {listed(found)}")
        return CheckResult(self.name, True, f"{len(late)} refused: " + "; ".join(parts))


def _late_record(event: Mapping[str, Any]) -> bool:
    """A refused completion: the handler had run to the end (not a heartbeat's fencing)."""
    kind = event.get("event")
    if kind == EV_FENCED:
        return event.get("during") != "heartbeat"
    return kind == EV_DUPLICATE and event.get("source") == "completion"


def _label(event: Mapping[str, Any]) -> str:
    kind = str(event.get("event"))
    return f"{kind} (source {event['source']})" if event.get("source") else kind


@dataclass(frozen=True)
class SeenByTwoConsumers:
    """At least one message was received by two different consumers (the seed's duplicate)."""

    @property
    def name(self) -> str:
        return "phenomenon: a message reached two consumers"

    def check(self, facts: Facts) -> CheckResult:
        if facts.receive_source is None:
            return not_observable(self.name, NO_RECEIVES)
        owners: dict[str, set[str]] = {}
        for r in facts.receives:
            owners.setdefault(r.message_id, set()).add(r.consumer_id)
        shared = [m for m, who in owners.items() if len(who) > 1]
        ok = bool(shared)
        detail = (
            f"{len(shared)} messages received by two or more consumers ({listed(shared)})"
            if ok
            else "every message was received by one consumer only: a failed demonstration"
        )
        return CheckResult(self.name, ok, detail)


@dataclass(frozen=True)
class WorkOverranVisibility:
    """Some message took longer to process than the queue's visibility timeout."""

    @property
    def name(self) -> str:
        return "phenomenon: work outlasted the visibility timeout"

    def check(self, facts: Facts) -> CheckResult:
        if facts.external:
            return self._from_outside(facts)
        # From a consumer's receive to its own outcome: a completion, or - when another
        # consumer got there first - the duplicate or fenced completion attempt.
        received: dict[tuple[str, str], float] = {}
        longest = 0.0
        for e in facts.events:
            key = (str(e.get("consumer_id")), str(e.get("message_id")))
            ts = event_time(e)
            if ts is None:
                continue
            if e.get("event") == EV_RECEIVED:
                received.setdefault(key, ts)
            elif e.get("event") in _OUTCOMES and key in received:
                longest = max(longest, ts - received[key])
        ok = longest > facts.visibility_timeout
        return CheckResult(
            self.name,
            ok,
            f"longest receive-to-outcome {longest:.1f} s vs visibility timeout "
            f"{facts.visibility_timeout} s",
        )

    def _from_outside(self, facts: Facts) -> CheckResult:
        """From a consumer's receive of a message to its own delete of it (the pass-through)."""
        if facts.receive_source != FROM_PASSTHROUGH:
            return not_observable(self.name, "receive-to-delete times need the pass-through")
        received: dict[tuple[str, str], float] = {}
        longest = 0.0
        for call in facts.calls:
            for sqs_id in call.sqs_ids:
                key = (call.consumer_id, sqs_id)
                if call.operation == RECEIVE_MESSAGE and call.ok:
                    received.setdefault(key, call.answered_at)
                elif call.operation in DELETE_OPS and key in received:
                    longest = max(longest, call.ts - received[key])
        ok = longest > facts.visibility_timeout
        detail = (
            f"longest receive-to-delete {longest:.1f} s vs visibility timeout "
            f"{facts.visibility_timeout} s"
        )
        if not ok:
            detail += (
                "; a consumer that ignores SLEEP_MIN_SECONDS/SLEEP_MAX_SECONDS cannot be made "
                "to overrun (a failed demonstration)"
            )
        return CheckResult(self.name, ok, detail)


@dataclass(frozen=True)
class DeadLetteredAfterMaxReceives:
    """Each poison message was received exactly maxReceiveCount times, then dead-lettered."""

    @property
    def name(self) -> str:
        return "phenomenon: poison dead-lettered after exactly maxReceiveCount receives"

    def check(self, facts: Facts) -> CheckResult:
        poison = [e.message_id for e in facts.ledger if e.id is None]
        if not poison:
            return CheckResult(self.name, False, "no poison message was sent: nothing to show")
        if facts.external and facts.receive_source is None:
            return not_observable(self.name, NO_RECEIVES)
        redrives = [f.at for f in facts.faults if f.kind == "redrive"]
        cutoff = min(redrives) if redrives else float("inf")
        receives: Counter[str] = Counter()
        for r in facts.receives:
            if r.ts is not None and r.ts >= cutoff:
                continue
            receives[str(r.sqs_message_id)] += 1
        if not any(receives[m] for m in poison):  # consumers that log only message.poison
            for e in facts.of(EV_POISON):
                ts = event_time(e)
                if ts is None or ts < cutoff:
                    receives[str(e.get("sqs_message_id"))] += 1
        want = facts.max_receive_count
        wrong = {m: receives[m] for m in poison if receives[m] != want}
        if wrong:
            shown = ", ".join(f"{m[:8]}: {n}" for m, n in list(wrong.items())[:5])
            return CheckResult(
                self.name,
                False,
                f"{len(wrong)} of {len(poison)} poison messages were not received exactly "
                f"{want} times before dead-lettering ({shown})",
            )
        return CheckResult(
            self.name, True, f"all {len(poison)} poison messages received exactly {want} times"
        )


@dataclass(frozen=True)
class Redriven:
    """The DLQ was redriven to the source queue, and every dead letter moved."""

    @property
    def name(self) -> str:
        return "phenomenon: the DLQ was redriven"

    def check(self, facts: Facts) -> CheckResult:
        records = [f for f in facts.faults if f.kind == "redrive"]
        if not records:
            return CheckResult(self.name, False, "no redrive happened")
        rec = records[0]
        moved = as_int(rec.data.get("moved"))
        want = len(facts.expected_poison)
        ok = moved == want and want > 0
        return CheckResult(
            self.name, ok, f"{moved} of {want} dead letters moved back ({rec.detail})"
        )


@dataclass(frozen=True)
class KilledMessageRecovered:
    """A SIGKILLed consumer's in-flight messages reappeared and were completed exactly once."""

    @property
    def name(self) -> str:
        return "phenomenon: killed consumer's message reappeared and completed"

    def check(self, facts: Facts) -> CheckResult:
        kills = _signals(facts, "SIGKILL")
        if not kills:
            return CheckResult(self.name, False, "no consumer was killed")
        if facts.receive_source is None:
            return not_observable(self.name, NO_RECEIVES)
        problems = []
        recovered = 0
        for kill in kills:
            if not kill.message_ids:
                problems.append(f"{kill.consumer_id} was not processing anything when killed")
            for mid in kill.message_ids:
                again = [
                    r
                    for r in facts.receives
                    if r.message_id == mid
                    and r.consumer_id != kill.consumer_id
                    and (r.ts is None or r.ts >= kill.at - 0.05)
                ]
                # seen from outside, "completed" is the effect; the kit's worker logs it
                done = facts.effects[mid] if facts.external else facts.completions[mid]
                if not again:
                    problems.append(f"{mid} never reappeared after the kill")
                elif done != 1:
                    what = "had its effect applied" if facts.external else "completed"
                    problems.append(f"{mid} {what} {done} times")
                else:
                    recovered += 1
        if problems:
            return CheckResult(self.name, False, "; ".join(problems[:5]))
        return CheckResult(
            self.name,
            True,
            f"{len(kills)} kill(s); {recovered} in-flight message(s) redelivered, completed once",
        )


@dataclass(frozen=True)
class DrainedOnSigterm:
    """A SIGTERMed consumer finished or released its in-flight work and exited 0.

    A message whose handler was still running at the shutdown deadline is left in flight (never
    released while it runs, so no second execution overlaps it) and counts as drained.
    """

    @property
    def name(self) -> str:
        return "phenomenon: SIGTERM drained in-flight work"

    def check(self, facts: Facts) -> CheckResult:
        terms = _signals(facts, "SIGTERM")
        if not terms:
            return CheckResult(self.name, False, "no consumer got SIGTERM")
        problems = []
        finished = released = left = 0
        for term in terms:
            who = term.consumer_id
            runs = [c for c in facts.consumers if c.consumer_id == who]
            if not runs or runs[0].exit_code != EXIT_OK:
                code = runs[0].exit_code if runs else "unknown"
                problems.append(f"{who} exited with {code}, expected 0 after a drain")
            mine = [e for e in facts.events if e.get("consumer_id") == who]
            if not facts.external and not any(e.get("event") == EV_CONSUMER_STOPPED for e in mine):
                problems.append(f"{who} never logged {EV_CONSUMER_STOPPED}")
            if not term.message_ids:
                problems.append(f"{who} was not processing anything at SIGTERM")
            if facts.external:
                done = _drained_from_outside(facts, term)
                finished += done.count("finished")
                released += done.count("released")
                left += done.count("left")
                problems += [d for d in done if d not in ("finished", "released", "left")]
                continue
            for mid in term.message_ids:
                outcome = {
                    str(e.get("event"))
                    for e in mine
                    if str(e.get("message_id")) == mid and _after(e, term.at)
                }
                if outcome & {EV_COMPLETED, EV_DUPLICATE}:
                    finished += 1
                elif EV_RELEASED in outcome:
                    released += 1
                elif EV_LEFT_IN_FLIGHT in outcome:
                    # Its handler outlasted the shutdown timeout: never released while it ran,
                    # it reappears after its visibility timeout (the core checks see it complete).
                    left += 1
                else:
                    problems.append(f"{mid} was neither finished nor released by {who}")
        if problems:
            return CheckResult(self.name, False, "; ".join(problems[:5]))
        return CheckResult(
            self.name,
            True,
            f"{len(terms)} SIGTERM(s): {finished} in-flight finished, {released} released, "
            f"{left} left in flight while still running, exit 0",
        )


def _drained_from_outside(facts: Facts, term: FaultRecord) -> list[str]:
    """Per message the consumer held at SIGTERM: ``finished`` (it deleted it), ``released``
    (it changed its visibility), ``left`` (another consumer received it later), or a problem."""
    if facts.receive_source != FROM_PASSTHROUGH:
        return [f"what {term.consumer_id} did after SIGTERM: {NO_RECEIVES}"]
    out = []
    for mid in term.message_ids:
        after = [c for c in facts.calls if c.ts >= term.at - 0.05 and mid in c.message_ids]
        mine = {c.operation for c in after if c.consumer_id == term.consumer_id}
        if mine & DELETE_OPS:
            out.append("finished")
        elif mine & VISIBILITY_OPS:
            out.append("released")
        elif any(
            r.message_id == mid and r.consumer_id != term.consumer_id
            for r in _later(facts, term.at)
        ):
            out.append("left")
        else:
            out.append(f"{mid} was neither finished nor handed back by {term.consumer_id}")
    return out


def _later(facts: Facts, t: float) -> list[Any]:
    return [r for r in facts.receives if r.ts is not None and r.ts >= t - 0.05]


@dataclass(frozen=True)
class SurvivedPoison:
    """No consumer died by itself while poison bodies were in the queue."""

    @property
    def name(self) -> str:
        return "phenomenon: the consumers survived the poison bodies"

    def check(self, facts: Facts) -> CheckResult:
        died = [c for c in facts.consumers if c.exit_code not in (None, EXIT_OK) and not c.signals]
        if died:
            shown = ", ".join(f"{c.consumer_id} (exit {c.exit_code})" for c in died[:MAX_LISTED])
            return CheckResult(
                self.name,
                False,
                f"{len(died)} consumer(s) exited by themselves while poison bodies were queued: "
                f"{shown}. A consumer must survive a malformed message and leave it to the "
                "redrive policy (the DLQ)",
            )
        return CheckResult(
            self.name, True, f"{len(facts.consumers)} consumer run(s), none died on a poison body"
        )


@dataclass(frozen=True)
class KilledBetweenEffectAndDelete:
    """A kill landed after a consumer applied its effect and before its delete reached SQS.

    The pass-through held the consumer's delete and the engine killed it then; the message is
    redelivered, and an idempotent consumer does not apply its effect again.
    """

    @property
    def name(self) -> str:
        return "phenomenon: a kill between the effect and the delete was redelivered"

    def check(self, facts: Facts) -> CheckResult:
        if not facts.passthrough:
            return not_observable(
                self.name, "aiming a kill between the effect and the delete needs the pass-through"
            )
        kills = [f for f in facts.faults if f.kind == AIMED_KILL]
        if not kills:
            return CheckResult(
                self.name,
                False,
                "no kill landed between an effect and its delete: the consumer never deleted "
                "a message while the pass-through was waiting for it",
            )
        problems, shown = [], []
        for kill in kills:
            held = set(kill.message_ids) | {
                m
                for c in facts.calls
                if c.consumer_id == kill.consumer_id and c.fault is not None
                for m in c.message_ids
                if m
            }
            if not held:
                problems.append(f"the delete held from {kill.consumer_id} named no known message")
            for mid in sorted(held):
                again = [r for r in _later(facts, kill.at) if r.message_id == mid]
                if not again:
                    problems.append(f"{mid} was not delivered again after the kill")
                elif facts.effects[mid] > 1:
                    problems.append(
                        f"{mid} was killed between its effect and its delete, delivered again, "
                        f"and its effect applied {facts.effects[mid]} times: {NOT_IDEMPOTENT}"
                    )
                else:
                    shown.append(mid)
        if problems:
            return CheckResult(self.name, False, "; ".join(problems[:3]))
        return CheckResult(
            self.name,
            True,
            f"{ids(len(shown))} killed between effect and delete, delivered again, effect "
            f"applied once ({listed(shown)})",
        )


@dataclass(frozen=True)
class OverrunHandled:
    """Work outlasted the visibility timeout, and the consumer coped, whichever way it does.

    Either it extended the visibility (no redelivery), or the messages were redelivered and
    each effect was still applied once. For a consumer seen from outside, whose heartbeat the
    kit cannot switch on or off.
    """

    @property
    def name(self) -> str:
        return "phenomenon: an overrun was absorbed (visibility extended, or idempotent)"

    def check(self, facts: Facts) -> CheckResult:
        if facts.receive_source is None:
            return not_observable(self.name, NO_RECEIVES)
        extended = sum(1 for c in facts.calls if c.operation in VISIBILITY_OPS and c.ok)
        again = sorted(facts.redelivered_ids)
        if not again:
            return CheckResult(
                self.name,
                True,
                f"no redelivery: the consumer extended the visibility ({extended} "
                "ChangeMessageVisibility calls)",
            )
        wrong = _doubled(facts, again)
        if wrong:
            shown = ", ".join(f"{m} x{n}" for m, n in sorted(wrong.items())[:MAX_LISTED])
            return CheckResult(
                self.name,
                False,
                f"{len(wrong)} of {ids(len(again))} redelivered after the overrun had their "
                f"effect applied more than once ({shown}): {NOT_IDEMPOTENT}, and it does not "
                "extend the visibility of long work (ChangeMessageVisibility)",
            )
        return CheckResult(
            self.name,
            True,
            f"{ids(len(again))} redelivered after the overrun ({extended} visibility "
            f"extensions), each effect applied once ({listed(again)})",
        )


@dataclass(frozen=True)
class BacklogPeaked:
    """The queue really held a backlog of at least ``at_least`` messages at once."""

    at_least: int

    @property
    def name(self) -> str:
        return "phenomenon: the burst built a backlog"

    def check(self, facts: Facts) -> CheckResult:
        peak = max((s.visible + s.in_flight for s in facts.samples), default=0)
        ok = peak >= self.at_least
        return CheckResult(
            self.name, ok, f"peak backlog {peak} messages (expected at least {self.at_least})"
        )


# -- API faults (the fault proxy) ------------------------------------------------------------------

#: why the API-fault phenomena cannot be seen: no fault proxy stood in front of the consumers
NO_PROXY = (
    "no fault proxy stood between the consumers and the endpoint (API faults run on the local "
    "target, with the consumers on this machine's loopback)"
)


def _per_operation(ops: Mapping[str, int]) -> str:
    return ", ".join(f"{op} {n}" for op, n in ops.items())


@dataclass(frozen=True)
class FaultsFired:
    """The fault proxy fired every fault kind in ``kinds`` at least once."""

    kinds: tuple[str, ...]

    @property
    def name(self) -> str:
        return "phenomenon: every planned API fault fired"

    def check(self, facts: Facts) -> CheckResult:
        fired = fired_summary(facts.api_faults)
        shown = "; ".join(
            f"{kind} x{sum(ops.values())} ({_per_operation(ops)})" for kind, ops in fired.items()
        )
        silent = [k for k in self.kinds if k not in fired]
        if silent:
            return CheckResult(
                self.name,
                False,
                f"never fired: {', '.join(silent)}"
                + (f"; fired: {shown}" if shown else "; nothing fired")
                + ": a failed demonstration",
            )
        return CheckResult(self.name, True, shown or "no fault planned")


@dataclass(frozen=True)
class CallsRetried:
    """Calls the proxy failed were retried by the SDK.

    Where the faulted call carried the SDK's retry headers, only a later attempt of the same
    invocation counts: the consumer calling again by its own loop (a new invocation) is told
    apart and does not. Without the headers, a successful call of the same operation (for a
    delete or a visibility change: of the same receipt handles) soon after counts.
    ``at_least`` failed calls must have been retried, and at least ``min_share`` of them: a
    consumer that gives up on the first error (no SDK retries) retries none.
    """

    at_least: int = 1
    min_share: float = 0.5

    @property
    def name(self) -> str:
        return "phenomenon: the failed calls were retried"

    def check(self, facts: Facts) -> CheckResult:
        failed = [f for f in facts.api_faults if f.retried is not None]
        if not failed:
            if not facts.api_faults and not facts.planned_faults:
                return CheckResult(self.name, False, NO_PROXY)
            return CheckResult(self.name, False, "no call failed: nothing to retry")
        retried = [f for f in failed if _retried_by_sdk(f)]
        share = len(retried) / len(failed)
        ok = len(retried) >= self.at_least and share >= self.min_share
        by_sdk = sum(1 for f in failed if f.retried_by == RETRIED_BY_SDK)
        by_caller = sum(1 for f in failed if f.retried_by == RETRIED_BY_CALLER)
        unattributed = len(retried) - by_sdk
        detail = (
            f"{len(retried)} of {len(failed)} failed calls were retried: {by_sdk} by the SDK "
            f"(a later attempt of the same amz-sdk-invocation-id, within {RETRY_WINDOW_S:g} s)"
        )
        if unattributed:
            detail += (
                f", {unattributed} by a successful call of the same operation (the same receipt "
                "handles) from the same consumer slot (the client sent no SDK retry headers)"
            )
        if by_caller:
            detail += (
                f"; {by_caller} made again by the consumer's own loop (a new invocation), "
                "not counted"
            )
        by_op = Counter(f.operation for f in failed if not _retried_by_sdk(f))
        if by_op:
            detail += f"; not retried: {_per_operation(dict(sorted(by_op.items())))}"
        if not ok:
            detail += (
                f"; expected at least {self.at_least} and {self.min_share:.0%}: a consumer that "
                "does not retry throttling, 5xx and resets fails on every transient error"
            )
        return CheckResult(self.name, ok, detail)


def _retried_by_sdk(fault: ApiFault) -> bool:
    """The SDK retried the faulted call: by its headers when it sent them, else the heuristic."""
    if fault.sdk_evidence:
        return fault.retried_by == RETRIED_BY_SDK
    return bool(fault.retried)


#: how the runners record that the engine itself stopped a consumer (not a crash)
_STOPPED_BY_ENGINE = frozenset({"SIGTERM", "SIGKILL"})


@dataclass(frozen=True)
class NoConsumerCrashed:
    """No consumer crashed or exited with an error: transient API faults are not fatal.

    Not a phenomenon but part of the verdict: a run cut short by a slow system does not
    excuse it.
    """

    @property
    def name(self) -> str:
        return "no consumer crashed"

    def check(self, facts: Facts) -> CheckResult:
        crashed = [
            c
            for c in facts.consumers
            if c.exit_code not in (None, EXIT_OK) and not _STOPPED_BY_ENGINE & set(c.signals)
        ]
        events = facts.of(EV_CONSUMER_CRASH)
        if not crashed and not events:
            return CheckResult(
                self.name, True, f"{len(facts.consumers)} consumer runs, none exited with an error"
            )
        problems = []
        if crashed:
            shown = ", ".join(f"{c.consumer_id} (exit {c.exit_code})" for c in crashed[:3])
            more = f" (+{len(crashed) - 3} more)" if len(crashed) > 3 else ""
            problems.append(f"{len(crashed)} consumer runs exited with an error: {shown}{more}")
        if events:
            problems.append(f"{len(events)} {EV_CONSUMER_CRASH} events")
        return CheckResult(
            self.name,
            False,
            "; ".join(problems) + ": a transient API error (a failed delete, a throttled write) "
            "must not stop a consumer - retry it, or let the message come back",
        )


# -- across phases --------------------------------------------------------------------------------


class CrossExpectation(Protocol):
    """A phenomenon visible only by comparing the phases of one scenario."""

    @property
    def name(self) -> str: ...

    def check(self, phases: Mapping[str, Facts]) -> CheckResult: ...


@dataclass(frozen=True)
class FasterWith:
    """Phase ``scaled`` drained its backlog at least ``min_ratio`` times faster than ``base``."""

    base: str
    scaled: str
    min_ratio: float

    @property
    def name(self) -> str:
        return f"phenomenon: '{self.scaled}' is faster than '{self.base}'"

    def check(self, phases: Mapping[str, Facts]) -> CheckResult:
        a = throughput(phases[self.base]) if self.base in phases else None
        b = throughput(phases[self.scaled]) if self.scaled in phases else None
        if not a or not b:
            return CheckResult(self.name, False, "throughput could not be measured")
        ratio = b / a
        return CheckResult(
            self.name,
            ratio >= self.min_ratio,
            f"{a:.1f} -> {b:.1f} msg/s ({ratio:.2f}x, expected at least {self.min_ratio:.1f}x)",
        )
