"""poison: bad payloads reach the DLQ after exactly maxReceiveCount receives; then a redrive.

The corpus is what the consumer must never crash on: text that is not JSON, truncated JSON,
JSON that is not an object, and an object whose id is not a scalar. Each receive of a poison
message is logged and released with a short backoff, never deleted, so the queue's redrive
policy moves it to the DLQ on the receive after ``maxReceiveCount``. The good messages
complete meanwhile. Once the DLQ holds the whole corpus it is redriven to the source queue -
``StartMessageMoveTask`` where the target supports it, a manual receive/send/delete where it
does not - and the corpus, still poison, dead-letters again: the DLQ ends holding exactly it.
"""

from __future__ import annotations

from collections.abc import Sequence

from core import capabilities as cap
from scenarios.catalogue.common import BASE_NEEDS
from scenarios.judging.expectations import (
    DeadLetteredAfterMaxReceives,
    Redriven,
    SurvivedPoison,
)
from scenarios.model import Need, Phase, Traffic
from scenarios.running.faults import RedriveDlq
from scenarios.running.scenario import Scenario
from scenarios.settings import Knobs

#: Bodies the consumer must treat as poison (consumer/message.py), each distinct.
POISON_CORPUS: tuple[str, ...] = (
    "this is not json",
    '{"id": "truncated", "work": ',
    "[1, 2, 3]",
    "42",
    '"just a string"',
    '{"id": ["not", "a", "scalar"], "work": 1}',
    "null",
    "true",
)


class Poison(Scenario):
    name = "poison"
    summary = "Poison payloads dead-letter after exactly maxReceiveCount receives; then a redrive."
    defaults = Knobs(
        count=10,
        consumers=2,
        poison=6,
        visibility_timeout=3,
        # each receive of a poison body costs a 1 s release backoff, and the corpus goes
        # through the receives twice (before and after the redrive): 2 receives, not 3, is 2 s
        # less, and still shows that SQS counts receives and moves on the one after the limit
        max_receive_count=2,
        sleep_max=0.02,
    )
    expected_s = 7.0
    plugged_in = "it must survive every poison body and never delete one"
    needs = (
        *BASE_NEEDS,
        Need(cap.SQS_DLQ),
        Need(cap.SQS_MOVE_TASK, shim="manual DLQ redrive (receive, send, delete)"),
    )

    def phases(self, k: Knobs) -> Sequence[Phase]:
        corpus = tuple(POISON_CORPUS[i % len(POISON_CORPUS)] for i in range(k.poison))
        if len(set(corpus)) < len(corpus):
            corpus = tuple(
                body if i < len(POISON_CORPUS) else f"not json #{i}"
                for i, body in enumerate(corpus)
            )
        return [
            Phase.from_knobs(
                k,
                traffic=Traffic.from_knobs(k, poison=corpus),
                faults=(RedriveDlq(when_dlq_holds=len(corpus)),) if corpus else (),
                expect=(DeadLetteredAfterMaxReceives(), Redriven(), SurvivedPoison()),
            )
        ]
