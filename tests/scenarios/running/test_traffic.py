"""A phase's traffic through the producer: the FIFO ledger fields reach the oracle's facts.

In-process moto: a FIFO queue, groups, the poison corpus sent in the middle of a group.
"""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from core.errors import ConfigError
from core.stack import StackSpec
from scenarios.model import FifoQueue, Phase, Traffic
from scenarios.running.phase import PhaseExecution
from scenarios.running.traffic import send
from scenarios.settings import Knobs

pytestmark = pytest.mark.unit

REGION = "us-east-1"


def _fifo_queue(sqs, name: str = "t-queue.fifo") -> str:
    url: str = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"})["QueueUrl"]
    return url


def test_the_poison_joins_its_group_in_the_middle_and_the_group_order_spans_the_calls(tmp_path):
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        url = _fifo_queue(sqs)
        # GIVEN 6 payloads over 2 groups, the poison after the first 2, into group 1
        traffic = Traffic(
            count=6, seed=3, groups=2, poison=("not json",), poison_after=2, poison_group=1
        )
        outcome = send(traffic, sqs=sqs, queue_url=url, ledger_dir=tmp_path)
    # THEN the ledger is in send order: 2 payloads, the poison, 4 payloads
    ledger = outcome.ledger
    assert len(ledger) == 7 and ledger[2].id is None
    assert ledger[2].group == "sqs-kit-1"
    # AND each group's seq_in_group counts over the three producer calls
    group1 = [(e.id is None, e.seq_in_group) for e in ledger if e.group == "sqs-kit-1"]
    assert group1 == [(False, 0), (True, 1), (False, 2), (False, 3)]
    group0 = [e.seq_in_group for e in ledger if e.group == "sqs-kit-0"]
    assert group0 == [0, 1, 2]
    # AND the calls after the poison generated new ids (another seed)
    ids = [e.id for e in ledger if e.id is not None]
    assert len(set(ids)) == 6
    assert {p.name for p in tmp_path.iterdir()} == {
        "ledger.jsonl",
        "ledger-poison.jsonl",
        "ledger-after-poison.jsonl",
    }


def test_resends_carry_their_deduplication_id_and_the_duplicate_flag(tmp_path):
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        url = _fifo_queue(sqs)
        traffic = Traffic(count=8, seed=1, groups=2, dedup_id="payload-id", duplicate_ids=1.0)
        ledger = send(traffic, sqs=sqs, queue_url=url, ledger_dir=tmp_path).ledger
    resends = [e for e in ledger if e.duplicate]
    assert len(resends) == 4
    for e in resends:
        [original] = [o for o in ledger if o.id == e.id and not o.duplicate]
        assert (e.dedup_id, e.group) == (original.dedup_id, original.group) == (e.id, e.group)


def test_a_standard_queue_keeps_its_ledger_without_fifo_fields(tmp_path):
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName="t-std")["QueueUrl"]
        ledger = send(Traffic(count=3, seed=1), sqs=sqs, queue_url=url, ledger_dir=tmp_path).ledger
    assert [(e.group, e.seq_in_group, e.duplicate) for e in ledger] == [(None, None, False)] * 3


def test_groups_on_a_standard_queue_are_a_usage_error(tmp_path):
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName="t-std2")["QueueUrl"]
        with pytest.raises(ConfigError, match="group_ids"):
            send(Traffic(count=3, groups=2), sqs=sqs, queue_url=url, ledger_dir=tmp_path)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"dedup_id": "uuid"}, "traffic dedup_id='uuid' is invalid: choose one of random"),
        ({"poison_after": 4}, "poison_after=4 is out of range: allowed 0..3"),
        ({"groups": 2, "poison_group": 2}, "poison_group=2 is out of range: allowed 0..1"),
        ({"groups": 0}, "groups=0 is out of range"),
    ],
)
def test_bad_traffic_is_refused_when_declared(fields, message):
    with pytest.raises(ConfigError, match=message):
        Traffic(count=3, **fields)


def test_a_fifo_phase_runs_on_a_fifo_stack():
    k = Knobs()
    spec = PhaseExecution.spec_for("fifo-x", Phase.from_knobs(k, fifo=FifoQueue()))
    assert spec.fifo and spec.queue_name.endswith("-queue.fifo")
    assert spec.dlq_name.endswith("-dlq.fifo")
    assert not PhaseExecution.spec_for("std", Phase.from_knobs(k)).fifo
    content = FifoQueue(content_based_deduplication=True)
    assert PhaseExecution.spec_for(
        "fifo-c", Phase.from_knobs(k, fifo=content)
    ).content_based_deduplication
    with pytest.raises(ConfigError, match="needs deduplication_scope=messageGroup"):
        FifoQueue(throughput_limit="perMessageGroupId")
    assert isinstance(spec, StackSpec)
