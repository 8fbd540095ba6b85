"""The oracle on FIFO queues: order per message group, deduplication, and the FIFO phenomena.

The checks run when the ledger says the queue was FIFO (its lines carry a ``group``).

**Order.** Per group, the ledger's ``seq_in_group`` is the send order. Each valid id's place in
the order it took effect is decided by this evidence, first to last:

1. its effect's ``applied_at`` (epoch ms) in the effects table, the earliest when there are
   several;
2. when two effects share a millisecond: the start (``handler.started`` ``ts``) of the handler
   executions that applied them (the effect item's ``execution_id``), then the order of those
   events in the logs;
3. an id without an effect item (a stack without an effects table, a consumer that writes
   none): its first ``message.completed`` (``completed_at``, else the event's ``ts``).

A later message of a group that took effect before an earlier one is a reordering; an earlier
message with no effect while a later one has one is a gap - unless the earlier one left the
group by the DLQ (poison, or a valid message the DLQ check fails on its own). Ties the evidence
cannot break are not called a reordering.

**Deduplication.** A send is *meant to be deduplicated* when an earlier line of the ledger has
the same ``dedup_id`` (and the same ``group`` under ``DeduplicationScope=messageGroup``) and was
sent less than 5 minutes before it (docs/producer.md, "The FIFO ledger"). SQS accepts such a
send and delivers nothing for it: its id must be delivered once (one SQS message received, by
its ``sqs_message_id``) and have one effect. Such a line is skipped in its group's order.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from consumer.contract import (
    EFFECT_APPLIED_AT,
    EFFECT_EXECUTION_ID,
    EFFECT_HASH_KEY,
    EV_COMPLETED,
    EV_CONSUMER_CRASH,
    EV_HANDLER_STARTED,
    EV_POISON,
    EV_RECEIVED,
)
from core.stack import DEDUP_SCOPE_MESSAGE_GROUP
from scenarios.judging.facts import MAX_LISTED, CheckResult, Facts, Sent, event_time, ids, listed

#: SQS's deduplication interval (SendMessage, MessageDeduplicationId)
DEDUP_WINDOW_MS = 5 * 60 * 1000
GROUP_ORDER = "FIFO: each group's effects in send order, no gaps"
DEDUPLICATED_ONCE = "FIFO: deduplicated sends delivered once"

#: (epoch ms, handler start in epoch s, log position): how an id's effect is placed in time
_When = tuple[float, float, int]
_INF = float("inf")


def is_fifo(facts: Facts) -> bool:
    """Whether the run's queue was FIFO: its ledger lines carry a message group."""
    return any(e.group is not None for e in facts.ledger)


# -- deduplication -------------------------------------------------------------------------------


def deduplicated(facts: Facts) -> tuple[int, ...]:
    """Positions in the ledger of the sends SQS was meant to deduplicate (see the module doc)."""
    window_start: dict[tuple[str | None, str], int] = {}
    found: list[int] = []
    for index, e in enumerate(facts.ledger):
        if e.dedup_id is None:
            continue
        key = (e.group if facts.dedup_scope == DEDUP_SCOPE_MESSAGE_GROUP else None, e.dedup_id)
        start = window_start.get(key)
        if start is not None and 0 <= e.sent_at_ms - start < DEDUP_WINDOW_MS:
            found.append(index)
        else:
            window_start[key] = e.sent_at_ms  # a new message: its window starts here
    return tuple(found)


def deliveries(facts: Facts) -> dict[str, set[str]]:
    """The distinct SQS messages received per payload id (a redelivery is the same message)."""
    got: dict[str, set[str]] = defaultdict(set)
    for e in facts.of(EV_RECEIVED, EV_HANDLER_STARTED):
        sqs_id = e.get("sqs_message_id")
        if isinstance(sqs_id, str) and sqs_id:
            got[str(e.get("message_id"))].add(sqs_id)
    return got


def check_deduplicated_once(facts: Facts) -> CheckResult:
    """Every id sent again inside its deduplication window was delivered once, with one effect."""
    meant = [facts.ledger[i] for i in deduplicated(facts)]
    if not meant:
        return CheckResult(
            DEDUPLICATED_ONCE,
            True,
            f"no send was meant to be deduplicated ({len(facts.ledger)} sends, every "
            "deduplication id new within 5 minutes)",
        )
    targets = sorted({e.id for e in meant if e.id is not None and e.id in facts.valid_ids})
    seen = deliveries(facts)
    observable = any(seen.get(i) for i in targets)
    problems = []
    for i in targets:
        copies = seen.get(i, set())
        if len(copies) > 1:
            problems.append(f"{i} delivered {len(copies)} times (MessageIds {listed(copies)})")
        if facts.effects_table and i not in facts.unfinished and facts.effects[i] != 1:
            problems.append(f"{i} has {facts.effects[i]} effects")
    if problems:
        more = f" (+{len(problems) - MAX_LISTED} more)" if len(problems) > MAX_LISTED else ""
        return CheckResult(
            DEDUPLICATED_ONCE,
            False,
            f"{len(meant)} sends were meant to be deduplicated, but: "
            + "; ".join(problems[:MAX_LISTED])
            + more,
        )
    how = "one SQS message received" if observable else "deliveries not logged (no receives)"
    return CheckResult(
        DEDUPLICATED_ONCE,
        True,
        f"{len(meant)} sends meant to be deduplicated, for {ids(len(targets))}: each {how}, "
        "one effect",
    )


# -- order per group -------------------------------------------------------------------------------


def group_orders(facts: Facts) -> dict[str, list[Sent]]:
    """Per group, the valid sends in send order; deduplicated sends and repeats of an id skipped."""
    skip = set(deduplicated(facts))
    groups: dict[str, list[Sent]] = defaultdict(list)
    placed: set[str] = set()
    ordered = sorted(
        (
            (e.group, e.seq_in_group, i, e)
            for i, e in enumerate(facts.ledger)
            if e.group is not None and e.seq_in_group is not None
        ),
        key=lambda t: (t[0], t[1], t[2]),
    )
    for group, _seq, index, e in ordered:
        if index in skip or e.id is None or e.id not in facts.valid_ids or e.id in placed:
            continue
        placed.add(e.id)
        groups[group].append(e)
    return dict(groups)


def took_effect(facts: Facts) -> dict[str, _When]:
    """When each id took effect, by the evidence the module doc lists (earliest first)."""
    starts: dict[str, tuple[float, int]] = {}
    for position, e in enumerate(facts.events):
        xid = e.get("execution_id")
        if e.get("event") == EV_HANDLER_STARTED and isinstance(xid, str) and xid not in starts:
            ts = event_time(e)
            starts[xid] = (_INF if ts is None else ts, position)
    when: dict[str, _When] = {}
    for item in facts.effect_items:
        mid = str(item.get(EFFECT_HASH_KEY))
        applied = _number(item.get(EFFECT_APPLIED_AT))
        if applied is None:
            continue
        start, position = starts.get(str(item.get(EFFECT_EXECUTION_ID)), (_INF, 1 << 62))
        candidate = (applied, start, position)
        if mid not in when or candidate < when[mid]:
            when[mid] = candidate
    for position, e in enumerate(facts.events):
        mid = str(e.get("message_id"))
        if e.get("event") != EV_COMPLETED or mid in when:
            continue
        completed = _number(e.get("completed_at"))
        ts = event_time(e)
        if completed is None and ts is not None:
            completed = ts * 1000
        if completed is not None:
            when[mid] = (completed, _INF if ts is None else ts, position)
    return when


@dataclass(frozen=True)
class OrderFinding:
    """One break of a group's order: ``later`` took effect before ``earlier``, or a gap."""

    group: str
    earlier: Sent
    later: Sent
    kind: str  # "reordered" | "gap"

    def describe(self) -> str:
        a, b = self.earlier, self.later
        if self.kind == "gap":
            return (
                f"group {self.group}: {a.id} (#{a.seq_in_group}) has no effect, but {b.id} "
                f"(#{b.seq_in_group}), sent after it, has one"
            )
        return (
            f"group {self.group}: {b.id} (#{b.seq_in_group}) took effect before {a.id} "
            f"(#{a.seq_in_group}), sent before it"
        )


def order_findings(facts: Facts) -> list[OrderFinding]:
    """Every reordering and gap, per group, in send order."""
    when = took_effect(facts)
    out: list[OrderFinding] = []
    for group, sends in sorted(group_orders(facts).items()):
        kept = [e for e in sends if e.id not in facts.dead_lettered]
        latest: tuple[Sent, _When] | None = None  # the send that took effect last so far
        missing: Sent | None = None  # the first send with no effect since the last one with
        for e in kept:
            at = when.get(e.id or "")
            if at is None:
                missing = missing or e
                continue
            if missing is not None:
                out.append(OrderFinding(group, missing, e, "gap"))
                missing = None
            if latest is not None and at < latest[1]:
                out.append(OrderFinding(group, latest[0], e, "reordered"))
            else:
                latest = (e, at)
    return out


def check_group_order(facts: Facts) -> CheckResult:
    """Per group, effects were applied in send order, with no gaps."""
    groups = group_orders(facts)
    findings = order_findings(facts)
    if findings:
        reordered = sum(1 for f in findings if f.kind == "reordered")
        shown = "; ".join(f.describe() for f in findings[:3])
        more = f" (+{len(findings) - 3} more)" if len(findings) > 3 else ""
        return CheckResult(
            GROUP_ORDER,
            False,
            f"{reordered} reordering(s), {len(findings) - reordered} gap(s) in "
            f"{len({f.group for f in findings})} of {len(groups)} groups: {shown}{more}",
        )
    placed = sum(len(v) for v in groups.values())
    evidence = "effects' applied_at" if facts.effect_items else f"{EV_COMPLETED} events"
    return CheckResult(
        GROUP_ORDER,
        True,
        f"{placed} messages in {len(groups)} groups took effect in send order ({evidence})",
    )


FIFO_CHECKS = (check_group_order, check_deduplicated_once)


# -- phenomena -------------------------------------------------------------------------------------


def _completed_at(facts: Facts) -> dict[str, float]:
    """Each id's first ``message.completed``, in epoch seconds."""
    out: dict[str, float] = {}
    for e in facts.of(EV_COMPLETED):
        ts = event_time(e)
        mid = str(e.get("message_id"))
        if ts is not None and mid not in out:
            out[mid] = ts
    return out


def _group_of(facts: Facts) -> dict[str, str]:
    return {e.id: e.group for e in facts.ledger if e.id is not None and e.group is not None}


@dataclass(frozen=True)
class GroupResumedAfterFault:
    """A crash or a kill hit a group in its middle, and its later messages completed after it.

    The interrupted message is the one a ``consumer.crash`` names, or one the killed consumer
    held; "later" means sent after it in its group.
    """

    at_least: int = 1

    @property
    def name(self) -> str:
        return "phenomenon: a crash or kill interrupted a group, which resumed in order"

    def check(self, facts: Facts) -> CheckResult:
        hits: list[tuple[str, float, str]] = []  # (message id, when, what)
        for e in facts.of(EV_CONSUMER_CRASH):
            ts = event_time(e)
            if ts is not None and e.get("message_id") is not None:
                hits.append((str(e.get("message_id")), ts, "crash"))
        for f in facts.faults:
            if f.kind == "signal":
                hits += [(m, f.at, str(f.signal)) for m in f.message_ids]
        groups = group_orders(facts)
        group_of = _group_of(facts)
        done = _completed_at(facts)
        resumed: list[str] = []
        for mid, at, what in hits:
            group = group_of.get(mid)
            order = [e.id for e in groups.get(group or "", [])]
            if mid not in order:
                continue
            later = [i for i in order[order.index(mid) + 1 :] if i is not None]
            after = [i for i in later if done.get(i, -_INF) > at]
            if after:
                resumed.append(f"{what} on {mid} in {group}: {len(after)} later message(s) after")
        ok = len(resumed) >= self.at_least
        if not hits:
            return CheckResult(self.name, False, "nothing crashed or was killed mid-message")
        if not ok:
            return CheckResult(
                self.name,
                False,
                f"{len(hits)} crash(es)/kill(s), none in the middle of a group with later "
                "messages completed after it: a failed demonstration",
            )
        return CheckResult(self.name, True, "; ".join(resumed[:3]))


@dataclass(frozen=True)
class ResendsDeduplicated:
    """The producer resent ids with the same deduplication id inside the window (at least
    ``at_least`` of them), and SQS delivered each id once."""

    at_least: int = 1

    @property
    def name(self) -> str:
        return "phenomenon: resends inside the deduplication window were not delivered"

    def check(self, facts: Facts) -> CheckResult:
        meant = [facts.ledger[i] for i in deduplicated(facts)]
        if len(meant) < self.at_least:
            return CheckResult(
                self.name,
                False,
                f"{len(meant)} sends meant to be deduplicated, expected at least "
                f"{self.at_least}: a failed demonstration",
            )
        seen = deliveries(facts)
        twice = [e.id for e in meant if e.id is not None and len(seen.get(e.id, ())) > 1]
        if twice:
            return CheckResult(
                self.name,
                False,
                f"delivered again despite the same deduplication id: {listed(twice)}",
            )
        originals = {e.message_id for e in facts.ledger if not e.duplicate}
        echoed = sum(1 for e in meant if e.message_id in originals)
        return CheckResult(
            self.name,
            True,
            f"{len(meant)} resends accepted by SQS and not delivered; each id delivered once"
            + (f"; {echoed} answered with their original's MessageId" if echoed else ""),
        )


@dataclass(frozen=True)
class GroupBlockedByPoison:
    """A poison message held its group until it was dead-lettered, while other groups flowed.

    The block: the poison's group's later messages all completed after the poison's last
    receive (the ``maxReceiveCount``-th: the next receive moves it to the DLQ), and messages of
    other groups completed between its first and its last receive.
    """

    @property
    def name(self) -> str:
        return "phenomenon: a poison message blocked only its own group until dead-lettered"

    def check(self, facts: Facts) -> CheckResult:
        poison = [e for e in facts.ledger if e.id is None and e.group is not None]
        if not poison:
            return CheckResult(self.name, False, "no poison message was sent to a group")
        done = _completed_at(facts)
        group_of = _group_of(facts)
        problems, shown = [], []
        for p in poison:
            receives = _receives(facts, p.message_id, EV_RECEIVED) or _receives(
                facts, p.message_id, EV_POISON
            )
            if not receives:
                problems.append(f"poison {p.message_id[:8]} in {p.group} was never received")
                continue
            first, last = receives[0], receives[-1]
            later = [
                e.id
                for e in facts.ledger
                if e.group == p.group
                and e.id is not None
                and (e.seq_in_group or 0) > (p.seq_in_group or 0)
            ]
            if not later:
                problems.append(f"nothing was sent behind the poison in {p.group}")
                continue
            early = [i for i in later if done.get(i, _INF) < last]
            if early:
                problems.append(
                    f"{p.group}'s {listed(early)} completed while the poison still held the group"
                )
                continue
            flowed = [
                i for i, t in done.items() if first <= t <= last and group_of.get(i) != p.group
            ]
            if not flowed:
                problems.append(
                    f"no other group completed a message while the poison blocked {p.group} "
                    f"({last - first:.1f} s)"
                )
                continue
            shown.append(
                f"{p.group} blocked {last - first:.1f} s by poison {p.message_id[:8]} (received "
                f"{len(receives)} times): its {len(later)} later messages completed after its "
                f"last receive; {len(flowed)} messages of other groups completed meanwhile"
            )
        if problems:
            return CheckResult(self.name, False, "; ".join(problems[:3]))
        return CheckResult(self.name, True, "; ".join(shown[:3]))


def _receives(facts: Facts, sqs_message_id: str, event: str) -> list[float]:
    """When the SQS message was received, by the consumers' ``event`` events, in order."""
    return sorted(
        t
        for e in facts.of(event)
        if e.get("sqs_message_id") == sqs_message_id and (t := event_time(e)) is not None
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except (TypeError, ValueError):
        return None
