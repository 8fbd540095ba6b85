"""LocalStack's StartMessageMoveTask keeps a redriven message's MessageId and receive count.

AWS documents a redriven message as new; LocalStack (the SQS of the per-service split) keeps
both. That is the emulator's difference, not the consumer's fault: the oracle must pass it.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from scenarios.judging.expectations import DeadLetteredAfterMaxReceives, Redriven
from scenarios.judging.facts import FaultRecord, QueuedMessage
from scenarios.judging.oracle import judge
from tests.scenarios.factories import T0, event, poison_facts, with_events

pytestmark = pytest.mark.unit


def _redriven_as_localstack_does(receives_after: int):
    facts = poison_facts(3)
    redrive = FaultRecord(
        kind="redrive",
        at=T0 + 10,
        detail="StartMessageMoveTask",
        data={"moved": 1, "method": "StartMessageMoveTask"},
    )
    # the same MessageId comes back, its ApproximateReceiveCount going on from 3
    again = [
        event(
            "message.received",
            T0 + 11 + i,
            message_id="sqs-p",
            sqs_message_id="sqs-p",
            receive_count=4 + i,
        )
        for i in range(receives_after)
    ]
    dlq = (QueuedMessage("sqs-p", "this is not json", 3 + receives_after),)
    return replace(
        with_events(facts, *again),
        faults=(redrive,),
        dlq=dlq,
        expectations=(DeadLetteredAfterMaxReceives(), Redriven()),
    )


@pytest.mark.parametrize("receives_after", [0, 1])
def test_a_redrive_that_keeps_message_id_and_receive_count_passes(receives_after):
    verdict = judge(_redriven_as_localstack_does(receives_after))
    assert verdict.passed, [(c.name, c.detail) for c in verdict.failed]


def test_the_same_run_without_the_poison_back_in_the_dlq_fails():
    # the check can fail: the redriven message is neither in the DLQ nor anywhere else
    facts = replace(_redriven_as_localstack_does(1), dlq=())
    assert not judge(facts).passed
