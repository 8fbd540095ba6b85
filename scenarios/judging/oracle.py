"""The oracle: a pure function from the facts of one run to a verdict.

It knows nothing about targets, emulators or processes. Its inputs are the facts
(:mod:`scenarios.judging.facts`) plus what the scenario expected (the poison set and the
phenomenon it exists to show). Every check returns a :class:`CheckResult`; the verdict passes
only when all of them do.

What it proves, per valid message id: the message was neither lost nor left unfinished, its
side effect was applied exactly once (the effects table), its record completed exactly once
(the idempotency tables and ``message.completed``), and any second execution of its handler had
a cause the consumer could not avoid (:mod:`scenarios.judging.executions`). On a FIFO queue,
also: each message group's effects were applied in send order with no gaps, and the sends SQS
was meant to deduplicate were delivered once (:mod:`scenarios.judging.fifo`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from consumer.contract import EV_COMPLETED, EXIT_OK
from scenarios.judging.executions import repeats
from scenarios.judging.facts import (
    MAX_LISTED,
    CheckResult,
    Facts,
    ids,
    listed,
    not_observable,
)
from scenarios.judging.fifo import FIFO_CHECKS, is_fifo
from scenarios.settings import KIT

STATUS_COMPLETED = "COMPLETED"
_ONE_COMPLETION = f"exactly one {EV_COMPLETED} per id"
NO_LOSS = "no message lost"
NOTHING_UNFINISHED = "nothing left unfinished"
EFFECT_ONCE = "no side effect applied twice"
EFFECT_APPLIED = "every message's effect applied"
NO_AVOIDABLE_REPEAT = "no avoidable second execution"
QUEUE_EMPTY = "queue ends empty"
SETTLED = "settled before the deadline"
#: the checks a run cut short by a slow system fails without anything being wrong
PROGRESS_CHECKS = frozenset({NOTHING_UNFINISHED, QUEUE_EMPTY, SETTLED})
#: why the kit's own records say nothing about a consumer seen from outside
_KIT_RECORDS = "a plugged-in consumer keeps none of the kit's records; its effects are judged"


# -- the checks ----------------------------------------------------------------------------------


def check_accepted(facts: Facts) -> CheckResult:
    """The producer's ledger lists every message the scenario asked for."""
    got = len(facts.ledger)
    if facts.requested is None:
        return CheckResult("producer accepted every message", True, f"{got} sent (no target count)")
    ok = got == facts.requested
    return CheckResult(
        "producer accepted every message",
        ok,
        f"{got} of {facts.requested} in the ledger"
        + ("" if ok else f"; {facts.requested - got} never reached the queue"),
    )


def check_lost(facts: Facts) -> CheckResult:
    """No valid id is gone from the queue and from the DLQ without an effect (or a record)."""
    lost = facts.lost
    if not lost:
        detail = f"all {len(facts.valid_ids)} valid ids accounted for"
        where = []
        if facts.unfinished:
            where.append(f"{len(facts.unfinished)} still in the queue: unfinished, not lost")
        dead = facts.valid_ids & facts.dead_lettered
        if dead:
            where.append(f"{len(dead)} in the DLQ")
        return CheckResult(NO_LOSS, True, detail + (f" ({'; '.join(where)})" if where else ""))
    if facts.unread:
        detail = (
            f"at least {facts.lost_count} of these {len(lost)} valid ids are gone from the queue "
            f"and the DLQ without an effect: {listed(lost)}; {facts.unread} messages still "
            "in the queue could not be read"
        )
    else:
        detail = (
            f"{len(lost)} of {len(facts.valid_ids)} valid ids are gone from the queue and the "
            f"DLQ without an effect: {listed(lost)}"
        )
    return CheckResult(NO_LOSS, False, detail)


def check_unfinished(facts: Facts) -> CheckResult:
    """No valid id was still waiting in the queue (visible, in flight, delayed) at the end."""
    left = facts.unfinished
    if not left:
        return CheckResult(NOTHING_UNFINISHED, True, "no valid id left in the queue")
    detail = (
        f"{len(left)} of {len(facts.valid_ids)} valid ids were still in the queue when the "
        f"phase ended: {listed(left)}"
    )
    if facts.too_slow:
        detail += f"; {facts.too_slow}"
    elif facts.timed_out:
        detail += "; they stopped draining before the deadline"
    return CheckResult(NOTHING_UNFINISHED, False, detail)


def check_effects_applied(facts: Facts) -> CheckResult:
    """Every valid id (that finished) has at least one applied effect, and no other id has one."""
    if not facts.effects_table:
        return CheckResult(EFFECT_APPLIED, True, "no effects table on this stack")
    effects = facts.effects
    missing = facts.valid_ids - facts.unfinished - {i for i in effects if effects[i]}
    unknown = [i for i in effects if i not in facts.valid_ids]
    problems = []
    if missing and not effects and facts.consumer != KIT:
        problems.append(
            f"nothing was written to EFFECTS_TABLE for any of {ids(len(missing))}: your consumer "
            "must write one item per applied effect (docs/consumer-contract.md)"
        )
    elif missing:
        problems.append(f"{ids(len(missing))} without an applied effect ({listed(missing)})")
    if unknown:
        problems.append(f"{len(unknown)} effects for ids never sent ({listed(unknown)})")
    if problems:
        return CheckResult(EFFECT_APPLIED, False, "; ".join(problems))
    done = len(facts.valid_ids - facts.unfinished)
    return CheckResult(EFFECT_APPLIED, True, f"{done} of {len(facts.valid_ids)} ids have an effect")


def check_effects_once(facts: Facts) -> CheckResult:
    """At most one applied effect per id: a downstream keyed by the message id saw it once."""
    if not facts.effects_table:
        return CheckResult(EFFECT_ONCE, True, "no effects table on this stack")
    doubled = {i: n for i, n in facts.effects.items() if n > 1}
    if doubled:
        worst = ", ".join(f"{i} x{n}" for i, n in sorted(doubled.items())[:MAX_LISTED])
        more = len(doubled) - MAX_LISTED
        whose = "the" if facts.consumer == KIT else "your"
        return CheckResult(
            EFFECT_ONCE,
            False,
            f"{len(doubled)} of {len(facts.valid_ids)} messages had their effect applied more "
            f"than once (ids {worst}" + (f" (+{more} more)" if more > 0 else "") + f"): "
            f"{whose} consumer is not idempotent under redelivery. An effect is applied once "
            "only when it is keyed by the message id",
        )
    total = sum(facts.effects.values())
    return CheckResult(EFFECT_ONCE, True, f"{total} effects, at most one per id")


def check_avoidable_repeats(facts: Facts) -> CheckResult:
    """No second execution the consumer could have avoided (prefetch, release while running)."""
    if facts.external and not facts.executions:
        return not_observable(
            NO_AVOIDABLE_REPEAT, "the consumer logs no handler.started/handler.finished events"
        )
    found = repeats(facts)
    bad = [(r.message_id, c) for r in found for c in r.avoidable]
    if bad:
        shown = "; ".join(f"{mid}: {c.kind} ({c.detail})" for mid, c in bad[:3])
        more = f" (+{len(bad) - 3} more)" if len(bad) > 3 else ""
        return CheckResult(
            NO_AVOIDABLE_REPEAT,
            False,
            f"{len(bad)} second executions the consumer could have avoided: {shown}{more}",
        )
    if not found:
        return CheckResult(NO_AVOIDABLE_REPEAT, True, "no message executed twice")
    kinds = sorted({c.kind for r in found for c in r.causes})
    return CheckResult(
        NO_AVOIDABLE_REPEAT,
        True,
        f"{ids(len(found))} executed more than once, none avoidably ({', '.join(kinds)})",
    )


def check_completed_items(facts: Facts) -> CheckResult:
    """The completed table holds exactly one item per valid id, and nothing else."""
    if facts.external:
        return not_observable("exactly one completed item per id", _KIT_RECORDS)
    counts = facts.completed_ids
    missing = [i for i in facts.valid_ids - facts.unfinished if counts[i] == 0]
    doubled = [i for i, n in counts.items() if n > 1]
    unknown = [i for i in counts if i not in facts.valid_ids]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing ({listed(missing)})")
    if doubled:
        problems.append(f"{len(doubled)} with several items ({listed(doubled)})")
    if unknown:
        problems.append(f"{len(unknown)} items for ids never sent ({listed(unknown)})")
    if problems:
        return CheckResult("exactly one completed item per id", False, "; ".join(problems))
    return CheckResult(
        "exactly one completed item per id", True, f"{len(facts.valid_ids)} items, one per id"
    )


def check_completed_events(facts: Facts) -> CheckResult:
    """Exactly one ``message.completed`` event per valid id: no double processing.

    A consumer killed (or crashed by chaos) between recording a completion and logging it
    leaves a completed item and no event; such an id is explained, not missing, when its one
    completed item names a consumer that died.
    """
    if facts.external:
        return not_observable(_ONE_COMPLETION, _KIT_RECORDS)
    counts = facts.completions
    missing = [i for i in facts.valid_ids - facts.unfinished if counts[i] == 0]
    died = {c.consumer_id for c in facts.consumers if c.exit_code not in (None, EXIT_OK)}
    owner = {str(i.get("message_id")): str(i.get("owner")) for i in facts.completed_items}
    unlogged = [i for i in missing if facts.completed_ids[i] == 1 and owner.get(i) in died]
    missing = [i for i in missing if i not in unlogged]
    doubled = {i: n for i, n in counts.items() if n > 1}
    unknown = [i for i in counts if i not in facts.valid_ids]
    problems = []
    if doubled:
        worst = ", ".join(f"{i} x{n}" for i, n in sorted(doubled.items())[:MAX_LISTED])
        problems.append(f"{len(doubled)} ids completed more than once ({worst})")
    if missing:
        problems.append(f"{len(missing)} ids never logged as completed ({listed(missing)})")
    if unknown:
        problems.append(f"{len(unknown)} completions of ids never sent ({listed(unknown)})")
    if problems:
        return CheckResult(_ONE_COMPLETION, False, "; ".join(problems))
    detail = f"{sum(counts.values())} completion events for {len(facts.valid_ids)} ids"
    if unlogged:
        detail += (
            f"; {len(unlogged)} recorded by a consumer that died before logging it "
            f"({listed(unlogged)})"
        )
    return CheckResult(_ONE_COMPLETION, True, detail)


def check_status(facts: Facts) -> CheckResult:
    """The status table marks every valid id COMPLETED (no STARTED record left behind)."""
    if not facts.status_table:
        return CheckResult("status table says COMPLETED", True, "no status table on this stack")
    if facts.external:
        return not_observable("status table says COMPLETED", _KIT_RECORDS)
    status = {str(i.get("message_id")): str(i.get("status")) for i in facts.status_items}
    wrong = {
        i: status.get(i, "absent")
        for i in facts.valid_ids - facts.unfinished
        if status.get(i) != STATUS_COMPLETED
    }
    if wrong:
        shown = ", ".join(f"{i}={s}" for i, s in sorted(wrong.items())[:MAX_LISTED])
        return CheckResult(
            "status table says COMPLETED", False, f"{len(wrong)} ids not COMPLETED: {shown}"
        )
    return CheckResult("status table says COMPLETED", True, f"{len(facts.valid_ids)} ids COMPLETED")


def check_dlq(facts: Facts) -> CheckResult:
    """The DLQ holds exactly the expected poison set: no valid message, no missing poison."""
    found = Counter(d.key for d in facts.dlq)
    expected = Counter(facts.expected_poison)
    if found == expected:
        detail = f"{sum(found.values())} dead letters, all expected poison"
        return CheckResult("DLQ holds exactly the poison set", True, detail)
    extra = found - expected
    missing = expected - found
    problems = []
    valid_in_dlq = [k for k in extra if k in facts.valid_ids]
    if valid_in_dlq:
        problems.append(
            f"{len(valid_in_dlq)} valid messages dead-lettered ({listed(valid_in_dlq)})"
        )
    other = [k for k in extra if k not in facts.valid_ids]
    if other:
        problems.append(f"{sum(extra[k] for k in other)} unexpected dead letters")
    if missing:
        problems.append(f"{sum(missing.values())} expected poison messages not in the DLQ")
    return CheckResult("DLQ holds exactly the poison set", False, "; ".join(problems))


def check_queue_empty(facts: Facts) -> CheckResult:
    """Nothing is left in the queue, visible or in flight."""
    d = facts.depth
    ok = d.total == 0
    detail = f"visible={d.visible} in_flight={d.in_flight}" + (
        f" delayed={d.delayed}" if d.delayed else ""
    )
    return CheckResult(QUEUE_EMPTY, ok, detail)


def check_settled(facts: Facts) -> CheckResult:
    """The run reached its end state before the deadline (counted from the traffic)."""
    end = facts.ended_at if facts.settled_at is None else facts.settled_at
    took = max(0.0, end - facts.started_at)
    if facts.timed_out:
        why = f": {facts.timeout_reason}" if facts.timeout_reason else ""
        return CheckResult(SETTLED, False, f"still not settled after {took:.1f} s{why}")
    return CheckResult(SETTLED, True, f"settled in {took:.1f} s")


CORE_CHECKS = (
    check_accepted,
    check_lost,
    check_unfinished,
    check_effects_applied,
    check_effects_once,
    check_completed_items,
    check_completed_events,
    check_status,
    check_dlq,
    check_avoidable_repeats,
    check_queue_empty,
    check_settled,
)


@dataclass(frozen=True)
class PhaseVerdict:
    """The oracle's answer on one phase: every check result, and whether they all passed."""

    checks: tuple[CheckResult, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def not_observable(self) -> tuple[CheckResult, ...]:
        """The checks this run could not decide (they pass, and the report names them)."""
        return tuple(c for c in self.checks if not c.observable)

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if not c.passed)

    def to_list(self) -> list[dict[str, Any]]:
        return [c.to_dict() for c in self.checks]


def judge(facts: Facts) -> PhaseVerdict:
    """The verdict on one run: the core checks (and the FIFO ones), then the phenomena."""
    checks = [c(facts) for c in CORE_CHECKS]
    if is_fifo(facts):
        checks += [c(facts) for c in FIFO_CHECKS]
    for expectation in facts.expectations:
        try:
            checks.append(expectation.check(facts))
        except Exception as exc:  # a broken expectation fails the verdict, loudly
            checks.append(CheckResult(expectation.name, False, f"could not evaluate: {exc!r}"))
    return PhaseVerdict(tuple(checks))


def explained_by_slowness(check: CheckResult) -> bool:
    """Whether a failed check is what a run cut short by a slow system fails anyway.

    The progress checks and the phenomena (a run that did not finish may not have shown its
    phenomenon yet); never a loss, a doubled effect or record, or a dead-lettered valid message.
    """
    name = check.name.rsplit(": ", 1)[-1] if ": " in check.name else check.name
    return name in PROGRESS_CHECKS or "phenomenon:" in check.name


def prefixed(prefix: str, checks: Sequence[CheckResult]) -> list[CheckResult]:
    """Checks renamed ``<prefix>: <name>`` (multi-phase scenarios)."""
    return [CheckResult(f"{prefix}: {c.name}", c.passed, c.detail, c.observable) for c in checks]
