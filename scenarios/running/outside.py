"""Faults aimed from outside the consumer, through the pass-through in front of it.

A consumer the kit did not write has no chaos knobs, but the pass-through sees every call it
makes. :class:`KillBetweenEffectAndDelete` holds one of a slot's deletes - the consumer has
applied its effect and now waits for an answer SQS never got - and kills the consumer then:
the crash the kit's own ``CRASH_RATE`` aims at its ``after_work`` point, for any consumer.
"""

from __future__ import annotations

import logging
import signal as signals
import time
from dataclasses import dataclass, field

from scenarios.judging.expectations import AIMED_KILL
from scenarios.judging.facts import FaultRecord
from scenarios.model import Fault, LiveView

log = logging.getLogger(__name__)

#: how long the kill waits for the pass-through to record the held delete's messages
_RECORD_WAIT_S = 3.0
_POLL_S = 0.05
#: ``FaultRecord.kind`` when the fault could not be aimed (no pass-through in front)
UNAIMED = "kill not aimed"


@dataclass(eq=False)  # it keeps state (armed) for one phase run
class KillBetweenEffectAndDelete(Fault):
    """SIGKILL slot ``slot``'s consumer while the pass-through holds its delete.

    ``after``: deletes of the slot that pass first (the kill lands mid-run, not on the first
    message). Without a pass-through it fires at once and records that it could not aim.
    """

    slot: int = 0
    after: int = 0
    triggered: bool = True
    _armed: bool = field(default=False, init=False, repr=False)
    _unaimed: bool = field(default=False, init=False, repr=False)

    @property
    def label(self) -> str:
        return (
            f"SIGKILL consumer {self.slot} between its effect and its delete (its delete held "
            f"by the pass-through, after {self.after} passed)"
        )

    def due(self, run: LiveView) -> bool:
        handle = run.slot(self.slot)
        if handle is None or not handle.running:
            return False
        if not self._armed:
            self._armed = True
            self._unaimed = not run.hold_next_delete(handle, after=self.after)
            return self._unaimed
        return run.delete_held(handle)

    def fire(self, run: LiveView) -> FaultRecord:
        handle = run.slot(self.slot)
        assert handle is not None
        at = time.time()
        if self._unaimed:
            return FaultRecord(
                kind=UNAIMED,
                at=at,
                consumer_id=handle.consumer_id,
                detail="no pass-through in front of this consumer: the kill was not aimed",
            )
        who = handle.consumer_id
        run.signal(handle, signals.SIGKILL)
        # The pass-through records the held delete once the dead consumer's connection closes.
        held: tuple[str, ...] = ()
        deadline = time.monotonic() + _RECORD_WAIT_S
        while not held and time.monotonic() < deadline:
            calls = [c for c in run.held_calls(handle) if c.consumer_id == who]
            held = tuple(m for c in calls for m in c.message_ids if m)
            if not held:
                time.sleep(_POLL_S)
        log.info("fault.aimed_kill", extra={"consumer_id": who, "message_ids": list(held)})
        return FaultRecord(
            kind=AIMED_KILL,
            at=at,
            signal="SIGKILL",
            consumer_id=who,
            message_ids=held,
            detail=f"SIGKILL to {who} while its delete of {len(held)} message(s) was held",
        )
