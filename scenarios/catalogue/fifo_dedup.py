"""fifo-dedup: the producer resends ids with the same deduplication id inside the window.

SQS accepts each resend (the ledger lists it) and delivers nothing for it: each id is delivered
once, runs once and has one effect. Two phases, one per way of deduplicating:
- ``payload-id``: the producer sends the payload's id as ``MessageDeduplicationId``;
- ``content``: the queue has ``ContentBasedDeduplication``, and the resend repeats its
  original's body byte for byte, so SQS's SHA-256 of the body matches.

The oracle knows which sends were meant to be deduplicated (an earlier ledger line with the
same deduplication id, less than 5 minutes before): a second delivery of such an id fails the
run even though the idempotency records would have kept its effect once.
"""

from __future__ import annotations

from collections.abc import Sequence

from core import capabilities as cap
from producer.config import DEDUP_CONTENT, DEDUP_PAYLOAD_ID
from scenarios.catalogue.common import BASE_NEEDS
from scenarios.judging.expectations import NotRedelivered
from scenarios.judging.fifo import ResendsDeduplicated
from scenarios.model import FifoQueue, Need, Phase, Traffic
from scenarios.running.scenario import Scenario
from scenarios.settings import Knobs


class FifoDedup(Scenario):
    name = "fifo-dedup"
    summary = "Resends with the same deduplication id inside the window: one copy is delivered."
    defaults = Knobs(count=20, groups=4, consumers=2, duplicate_ids=0.5, visibility_timeout=5)
    expected_s = 4.5
    needs = (*BASE_NEEDS, Need(cap.SQS_FIFO), Need(cap.SQS_FIFO_DEDUP))

    def phases(self, k: Knobs) -> Sequence[Phase]:
        expect = (ResendsDeduplicated(), NotRedelivered(why="one delivery per id"))
        return [
            Phase.from_knobs(
                k,
                name=mode,
                traffic=Traffic.from_knobs(
                    k, groups=k.groups, dedup_id=mode, duplicate_ids=k.duplicate_ids
                ),
                fifo=FifoQueue(content_based_deduplication=mode == DEDUP_CONTENT),
                expect=expect,
                note=note,
            )
            for mode, note in (
                (DEDUP_PAYLOAD_ID, "deduplication id = the payload id"),
                (DEDUP_CONTENT, "content-based deduplication (SHA-256 of the body)"),
            )
        ]
