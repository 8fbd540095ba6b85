"""Payloads: shape, reproducibility with a seed, duplicates, and body files."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from typing import Any

import pytest

from producer import SendConfig, send
from producer.payloads import body_id, plan
from tests.producer.conftest import drain

pytestmark = pytest.mark.unit

URL = "https://sqs.us-east-1.amazonaws.com/123456789012/q"


def _pairs(**settings: Any) -> list[tuple[object, int | None]]:
    return [(m.ledger_id, m.work) for m in plan(SendConfig(queue_url=URL, **settings))]


def test_generated_payload_shape(sqs, queue_url):
    before = int(time.time() * 1000)
    send(SendConfig(queue_url=queue_url, n=20), sqs=sqs)
    after = int(time.time() * 1000)
    for message in drain(sqs, queue_url):
        body = json.loads(message["Body"])
        assert set(body) == {"id", "work", "sent_at"}
        assert uuid.UUID(body["id"]).version == 4
        assert 1 <= body["work"] <= 1000
        assert before <= body["sent_at"] <= after


def test_seed_makes_ids_and_work_reproducible():
    first, again, other = _pairs(n=50, seed=7), _pairs(n=50, seed=7), _pairs(n=50, seed=8)
    assert first == again
    assert first != other
    assert len({i for i, _ in first}) == 50
    assert all(uuid.UUID(str(i)).version == 4 for i, _ in first)


def test_without_a_seed_runs_differ():
    assert _pairs(n=5) != _pairs(n=5)


def test_seeded_runs_send_the_same_ids(sqs, make_queue):
    sent = []
    for _ in range(2):
        url = make_queue()
        report = send(SendConfig(queue_url=url, n=15, seed=99), sqs=sqs)
        sent.append([e.id for e in report.ledger])
    assert sent[0] == sent[1]


@pytest.mark.parametrize(
    ("n", "fraction", "distinct"),
    [(20, 1.0, 10), (20, 0.25, 16), (20, 0.0, 20), (1, 1.0, 1), (7, 0.5, 5)],
)
def test_duplicate_ids_keep_n_as_the_total(n, fraction, distinct):
    pairs = _pairs(n=n, seed=1, duplicate_ids=fraction)
    counts = Counter(i for i, _ in pairs)
    assert len(pairs) == n
    assert len(counts) == distinct
    assert set(counts.values()) <= {1, 2}


def test_a_duplicate_comes_after_its_original_with_the_same_work():
    pairs = _pairs(n=200, seed=3, duplicate_ids=0.5)
    first_seen: dict[object, int] = {}
    for position, (message_id, work) in enumerate(pairs):
        if message_id in first_seen:
            assert pairs[first_seen[message_id]] == (message_id, work)
            assert position > first_seen[message_id]
        else:
            first_seen[message_id] = position
    # Spread through the run rather than all at the end.
    second_copies = [p for p, (i, _) in enumerate(pairs) if first_seen[i] != p]
    assert min(second_copies) < 100


def test_duplicates_are_reproducible_with_a_seed():
    assert _pairs(n=50, seed=5, duplicate_ids=0.3) == _pairs(n=50, seed=5, duplicate_ids=0.3)


def test_duplicate_ids_arrive_as_separate_messages(sqs, queue_url):
    report = send(SendConfig(queue_url=queue_url, n=10, seed=2, duplicate_ids=1.0), sqs=sqs)
    bodies = [json.loads(m["Body"]) for m in drain(sqs, queue_url)]
    assert len(bodies) == 10 == report.sent
    assert set(Counter(b["id"] for b in bodies).values()) == {2}
    assert len({e.message_id for e in report.ledger}) == 10


def test_body_file_lines_are_sent_verbatim(sqs, queue_url, tmp_path):
    path = tmp_path / "poison.jsonl"
    path.write_bytes(b'{"id": "p1"}\r\n\n  leading spaces kept  \n{"id": "\xc3\xa9"}\nnot json')
    report = send(SendConfig(queue_url=queue_url, body_file=path), sqs=sqs)
    assert report.sent == 4
    assert sorted(m["Body"] for m in drain(sqs, queue_url)) == sorted(
        ['{"id": "p1"}', "  leading spaces kept  ", '{"id": "é"}', "not json"]
    )
    assert [e.id for e in report.ledger] == ["p1", None, "é", None]


@pytest.mark.parametrize(
    ("body", "expected"),
    [('{"id": "a"}', "a"), ('{"id": 3}', 3), ('{"id": true}', None), ("[1]", None), ("x", None)],
)
def test_body_id(body, expected):
    assert body_id(body) == expected


def test_fifo_queue_gets_group_and_deduplication_ids(sqs, spy, make_queue):
    url = make_queue(FifoQueue="true")
    report = send(SendConfig(queue_url=url, n=12, seed=1, duplicate_ids=0.2), sqs=sqs)
    entries = [e for call in spy.calls for e in call]
    assert all(e["MessageGroupId"] == "sqs-kit" for e in entries)
    assert len({e["MessageDeduplicationId"] for e in entries}) == 12
    assert report.sent == 12 and len(drain(sqs, url)) == 12
