"""The soak scenario: a long paced stream, 4 consumers, and every kind of chaos throughout.

Chaos calibration. Every crash and kill hands back what the process holds, each message with
one more receive on its count; a receive asks for at most the free handler slots, so a process
holds at most ``CONCURRENCY`` (4) messages. With ``maxReceiveCount=5``:
- ``CRASH_RATE=0.002`` (seeded per incarnation) crashes at a random point of a message; a
  message is exposed to its own crash and to those of the 3 others in hand, so a receive fails
  with p ~ 4 x 0.002 = 0.008, and five failures in a row - a valid message dead-lettered - have
  p ~ 3e-11 per message: none expected at 100,000;
- ``CRASH_AFTER_RECEIVE=800`` (``count // 5`` below 4,000 messages, at least 20, so a short
  soak crashes too): each incarnation crashes on its N-th message after recording it, before
  the delete: the redelivery is found completed and not run again; at N=60 a message is in
  hand at a crash with p ~ 4/60, five in a row p ~ 1e-6;
- one SIGKILL per 1,000 messages (at least 3), spread over the run (the j-th once j/(n+1) of
  the messages are done), each at a consumer in turn that holds a message received under 0.3 s
  ago and was not killed before: at most 4 more receives per kill;
- 1% of the sends repeat an id (the producer's ``duplicate_ids``; about 2 per segment in a
  short soak): the second copy is found completed, or in progress elsewhere, and never runs the
  effect twice;
- 20 poison bodies spread over the stream: each dead-letters after 5 receives, never more
  (SQS's own receive count, logged at each receive; a consumer killed with a poison message
  in hand never logged that receive, so the soak cannot ask for exactly 5 logged receives).
  MiniStack delivers a message once more when it becomes visible between its DLQ sweep and its
  receive (seen once in a 10,000 soak: receive 6, 3.0 s after release 5): noted, not failed;
- the visibility timeout (5 s) bounds how long a crashed or killed message stays hidden, and
  how long a dead consumer's lease blocks the id: a copy of it received meanwhile (a
  duplicate send) is released as in progress elsewhere, each time with one more receive. With
  the kit's 1 s release backoff its 5 receives fit in the 5 s lease and the copy - a valid
  message - is dead-lettered (a 300-message soak showed it); ``RELEASE_BACKOFF_S=3`` puts its
  5th receive >= 12 s after its 1st, past the lease, so it is taken over or found completed.

The stream is cut into 10 segments at ``rate`` msg/s (0: each segment at once), so poison and
duplicates arrive throughout; latency is send -> completion.
"""

from __future__ import annotations

import signal
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from consumer.contract import EV_RECEIVED
from scenarios.catalogue.common import BASE_NEEDS
from scenarios.catalogue.poison import POISON_CORPUS
from scenarios.judging.expectations import CrashedAndRestarted, IdempotencyHeld
from scenarios.judging.facts import (
    CheckResult,
    Expectation,
    Facts,
    FaultRecord,
    as_int,
    listed,
)
from scenarios.model import (
    ConsumerGroup,
    ConsumerSettings,
    ConsumerSlot,
    Fault,
    LiveView,
    Phase,
    Segment,
    Traffic,
)
from scenarios.running.faults import CrashAfterReceive, CrashRate
from scenarios.running.scenario import Scenario
from scenarios.settings import Knobs

SEGMENTS = 10
#: one SIGKILL per this many messages, and at least MIN_KILLS
KILL_EVERY = 1000
MIN_KILLS = 3
DUPLICATE_IDS = 0.01
#: seconds a released message stays hidden: (maxReceiveCount - 1) x this outlasts a lease
RELEASE_BACKOFF_S = 3
#: the soak's deadline: consumer seconds to drain what is left once the stream is all sent
DRAIN_BUDGET_S = 300.0


@dataclass(eq=False)
class KillInTurn(Fault):
    """The ``nth`` SIGKILL of a series, once ``at_completed`` messages are done: to the first
    consumer, from slot ``nth`` on, that holds a message it received under ``max_age_s`` ago
    (mid-work) and that the series has not killed yet (``killed`` is shared)."""

    nth: int
    at_completed: int
    killed: set[str] = field(default_factory=set)
    max_age_s: float = 0.3
    triggered: bool = True

    @property
    def label(self) -> str:
        return f"SIGKILL #{self.nth + 1}, mid-message, once {self.at_completed} are done"

    def _victim(self, run: LiveView) -> ConsumerSlot | None:
        slots: list[ConsumerSlot] = []
        while (handle := run.slot(len(slots))) is not None:
            slots.append(handle)
        for i in range(len(slots)):
            h = slots[(self.nth + i) % len(slots)]
            fresh = h.running and h.consumer_id not in self.killed
            if fresh and run.in_flight(h, max_age_s=self.max_age_s):
                return h
        return None

    def due(self, run: LiveView) -> bool:
        return run.completed_count() >= self.at_completed and self._victim(run) is not None

    def fire(self, run: LiveView) -> FaultRecord:
        handle = self._victim(run)
        assert handle is not None
        held = tuple(run.in_flight(handle))
        self.killed.add(handle.consumer_id)
        at = time.time()
        run.signal(handle, signal.SIGKILL)
        return FaultRecord(
            kind="signal",
            at=at,
            signal="SIGKILL",
            consumer_id=handle.consumer_id,
            message_ids=held,
            detail=f"SIGKILL #{self.nth + 1} to {handle.consumer_id} while it held "
            f"{len(held)} message(s)",
        )


@dataclass(frozen=True)
class KillsRecovered:
    """Every planned SIGKILL hit a consumer holding messages, and every valid message it held
    ended with exactly one completed record and one effect (redelivered, or found done)."""

    planned: int

    @property
    def name(self) -> str:
        return "phenomenon: every SIGKILL's messages completed once"

    def check(self, facts: Facts) -> CheckResult:
        kills = [f for f in facts.faults if f.kind == "signal" and f.signal == "SIGKILL"]
        held = {m for k in kills for m in k.message_ids if m in facts.valid_ids}
        bad = sorted(m for m in held if facts.completed_ids[m] != 1 or facts.effects[m] != 1)
        again = {
            str(e.get("message_id"))
            for e in facts.of(EV_RECEIVED)
            if as_int(e.get("receive_count")) > 1
        }
        problems = []
        if len(kills) < self.planned:
            problems.append(f"only {len(kills)} of {self.planned} SIGKILLs fired")
        if any(not k.message_ids for k in kills):
            problems.append("a SIGKILL hit a consumer that held nothing")
        if bad:
            problems.append(f"{len(bad)} held message(s) not completed exactly once: {listed(bad)}")
        detail = (
            f"{len(kills)} SIGKILL(s) hit {len(held)} message(s) in hand: "
            f"{len(held & again)} redelivered, every one completed once with one effect"
            if not problems
            else "; ".join(problems)
        )
        return CheckResult(self.name, not problems, detail)


@dataclass(frozen=True)
class PoisonDeadLetteredInTime:
    """Under chaos: no poison message was received past maxReceiveCount (SQS's own count; one
    more is the emulator's race, noted), and at least one logged its maxReceiveCount-th
    receive. That each one ended in the DLQ, and no valid message did, is the oracle's DLQ
    check."""

    @property
    def name(self) -> str:
        return "phenomenon: poison dead-lettered after maxReceiveCount receives, never later"

    def check(self, facts: Facts) -> CheckResult:
        poison = {e.message_id for e in facts.ledger if e.id is None}
        if not poison:
            return CheckResult(self.name, False, "no poison message was sent: nothing to show")
        want = facts.max_receive_count
        counts: dict[str, set[int]] = defaultdict(set)
        for e in facts.of(EV_RECEIVED):
            sqs_id = str(e.get("sqs_message_id"))
            if sqs_id in poison:
                counts[sqs_id].add(as_int(e.get("receive_count")))
        # SQS's count, not the consumer's: one receive past it is the emulator's (MiniStack
        # sweeps its DLQ, then collects visible messages a moment later: one that became
        # visible in between is delivered once more); the DLQ check still sees it dead-lettered
        late = sorted(m for m, seen in counts.items() if max(seen) > want + 1)
        once_more = sorted(m for m, seen in counts.items() if max(seen) == want + 1)
        reached = sum(1 for m in poison if want in counts.get(m, set()))
        if late:
            shown = ", ".join(f"{m[:8]}: {max(counts[m])}" for m in late[:5])
            return CheckResult(
                self.name, False, f"{len(late)} poison messages received past {want + 1} ({shown})"
            )
        if not reached:
            return CheckResult(
                self.name, False, f"no poison message logged its receive number {want}"
            )
        detail = (
            f"{len(poison) - len(once_more)} of {len(poison)} poison messages never received past "
            f"{want}; {reached} logged receive {want}"
        )
        if reached < len(poison):
            detail += " (the others' was in the hands of a consumer that died)"
        if once_more:
            detail += (
                f"; {len(once_more)} received once more ({listed(once_more)}) by the emulator's "
                "sweep-then-receive race, then dead-lettered"
            )
        return CheckResult(self.name, True, detail)


def crash_after_for(count: int, knob: int) -> int:
    """The soak's CRASH_AFTER_RECEIVE: the knob, or ``count // 5`` (at least 20) if smaller, so
    a short soak's consumers crash too."""
    return min(knob, max(20, count // 5)) if knob else 0


def duplicate_fraction(count: int) -> float:
    """The share of ids sent twice: ``DUPLICATE_IDS``, or enough that each segment of a short
    soak repeats about 2 ids (the producer rounds a segment's share to whole messages)."""
    per_segment = max(1, count // SEGMENTS)
    return min(1.0, max(DUPLICATE_IDS, 2.0 / per_segment))


def kills_for(count: int) -> int:
    """How many SIGKILLs a soak of ``count`` messages gets."""
    return max(MIN_KILLS, count // KILL_EVERY)


class Soak(Scenario):
    name = "soak"
    summary = "A long stream under crashes, SIGKILLs, duplicate sends and poison: none lost."
    defaults = Knobs(
        count=10_000,
        consumers=4,
        rate=0.0,
        max_messages=4,
        concurrency=4,
        visibility_timeout=5,
        max_receive_count=5,
        crash_after_receive=800,
        crash_rate=0.002,
        sleep_min=0.0,
        sleep_max=0.01,
        poison=20,
        timeout_s=DRAIN_BUDGET_S,
    )
    needs = BASE_NEEDS
    calibration = __doc__.split("Chaos calibration. ", 1)[1].strip() if __doc__ else None

    def traffic(self, k: Knobs) -> Traffic:
        """``k.count`` payloads in SEGMENTS pieces at ``k.rate``, with the poison spread."""
        n = min(SEGMENTS, max(1, k.count))
        sizes = [k.count // n + (1 if i < k.count % n else 0) for i in range(n)]
        corpus = tuple(
            POISON_CORPUS[i] if i < len(POISON_CORPUS) else f"soak poison #{i}, not json"
            for i in range(k.poison)
        )
        return Traffic.shaped(
            k,
            tuple(
                Segment(size, rate=k.rate, label=f"part {i + 1}") for i, size in enumerate(sizes)
            ),
            poison=corpus,
            duplicate_ids=duplicate_fraction(k.count),
        )

    def phases(self, k: Knobs) -> Sequence[Phase]:
        killed: set[str] = set()
        n = kills_for(k.count)
        # spread over the run: the j-th once j/(n+1) of the messages are done
        faults: list[Fault] = [
            KillInTurn(nth=j, at_completed=(j + 1) * k.count // (n + 1), killed=killed)
            for j in range(n)
        ]
        if crash_after := crash_after_for(k.count, k.crash_after_receive):
            faults.append(CrashAfterReceive(crash_after))
        if k.crash_rate:
            faults.append(CrashRate(k.crash_rate))
        expect: list[Expectation] = [
            CrashedAndRestarted(),
            KillsRecovered(planned=n),
            IdempotencyHeld(),
        ]
        if k.poison:
            expect.append(PoisonDeadLetteredInTime())
        return [
            Phase.from_knobs(
                k,
                name="soak",
                note=f"{k.count} messages, {k.consumers} consumers, chaos throughout",
                traffic=self.traffic(k),
                consumers=(
                    ConsumerGroup(
                        k.consumers,
                        ConsumerSettings.from_knobs(k, release_backoff_seconds=RELEASE_BACKOFF_S),
                    ),
                ),
                faults=faults,
                expect=expect,
            )
        ]
