"""Batching boundaries: at most 10 entries and 1 MiB of bodies per SendMessageBatch call."""

from __future__ import annotations

import pytest

from producer import MAX_BATCH_PAYLOAD_BYTES, SendConfig, send
from producer.batching import pack
from producer.payloads import Outgoing
from tests.producer.conftest import drain, entry_id

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("n", "expected_sizes"),
    [(1, [1]), (10, [10]), (11, [10, 1]), (25, [10, 10, 5])],
)
def test_batching_boundaries(sqs, spy, queue_url, n, expected_sizes):
    # GIVEN n generated messages and the default batch size of 10
    # WHEN they are sent, one call at a time (so the calls' order is the plan's)
    report = send(SendConfig(queue_url=queue_url, n=n, max_in_flight=1), sqs=sqs)
    # THEN the calls carry exactly these entry counts, and the queue holds every message once
    assert spy.sizes == expected_sizes
    assert report.sent == n and report.failed == 0 and report.batches == len(expected_sizes)
    sent_ids = [entry_id(e) for call in spy.calls for e in call]
    assert len(set(sent_ids)) == n
    assert sorted(m["MessageId"] for m in drain(sqs, queue_url)) == sorted(
        e.message_id for e in report.ledger
    )


def test_batch_size_flag_is_honoured(sqs, spy, queue_url):
    send(SendConfig(queue_url=queue_url, n=7, batch_size=3, max_in_flight=1), sqs=sqs)
    assert spy.sizes == [3, 3, 1]


def test_batch_entry_ids_are_unique_within_each_call(sqs, spy, queue_url):
    send(SendConfig(queue_url=queue_url, n=25), sqs=sqs)
    for call in spy.calls:
        ids = [e["Id"] for e in call]
        assert len(ids) == len(set(ids))


def test_zero_messages_sends_nothing(sqs, spy, queue_url):
    report = send(SendConfig(queue_url=queue_url, n=0), sqs=sqs)
    assert spy.calls == [] and report.sent == 0 and report.ok


def _sized(sizes: list[int]) -> list[Outgoing]:
    return [Outgoing(seq=i, ledger_id=None, size=s, body="x") for i, s in enumerate(sizes)]


def test_pack_closes_a_batch_before_the_byte_limit():
    batches = list(pack(_sized([300_000] * 7), 10))
    assert [len(b) for b in batches] == [3, 3, 1]
    assert all(sum(m.size for m in b) <= MAX_BATCH_PAYLOAD_BYTES for b in batches)


def test_pack_takes_an_exactly_full_batch():
    half = MAX_BATCH_PAYLOAD_BYTES // 2
    assert [len(b) for b in pack(_sized([half, half, 1]), 10)] == [2, 1]


def test_pack_keeps_order():
    batches = list(pack(_sized([10] * 23), 10))
    assert [m.seq for b in batches for m in b] == list(range(23))


def test_large_bodies_are_split_by_bytes_against_moto(sqs, spy, queue_url):
    # GIVEN four 400 KB bodies: any three together exceed the 1 MiB batch limit, which moto enforces
    bodies = [f'{{"id": "big-{i}", "pad": "{"x" * 400_000}"}}' for i in range(4)]
    # WHEN they are sent with batch size 10
    report = send(SendConfig(queue_url=queue_url, bodies=bodies), sqs=sqs)
    # THEN they go two per call and all arrive
    assert spy.sizes == [2, 2]
    assert report.sent == 4
    assert {e.id for e in report.ledger} == {f"big-{i}" for i in range(4)}


def test_a_single_body_of_exactly_one_mib_is_sent_alone(sqs, spy, queue_url):
    body = "y" * MAX_BATCH_PAYLOAD_BYTES
    report = send(SendConfig(queue_url=queue_url, bodies=["small", body, "small"]), sqs=sqs)
    assert spy.sizes == [1, 1, 1]
    assert report.sent == 3
