"""The ledger: one line per accepted message, matching what is actually in the queue."""

from __future__ import annotations

import json

import pytest

from producer import ConfigError, LedgerEntry, SendConfig, read_ledger, send
from tests.producer.conftest import drain

pytestmark = pytest.mark.unit


def test_ledger_matches_the_queue(sqs, queue_url, tmp_path):
    # GIVEN a run of 25 generated messages with a ledger
    ledger = tmp_path / "sent.jsonl"
    report = send(SendConfig(queue_url=queue_url, n=25, ledger=ledger), sqs=sqs)
    # WHEN the queue is drained
    messages = drain(sqs, queue_url)
    # THEN every queued message has exactly one ledger line with its MessageId, id and sent_at
    lines = ledger.read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    assert all(set(e) == {"id", "MessageId", "sent_at"} for e in entries)
    by_message_id = {e["MessageId"]: e for e in entries}
    assert len(by_message_id) == len(entries) == len(messages) == 25
    for message in messages:
        body = json.loads(message["Body"])
        entry = by_message_id[message["MessageId"]]
        assert entry["id"] == body["id"]
        assert entry["sent_at"] == body["sent_at"]
    # AND the report carries the same entries as the file (the report in plan order, the file in
    # the order the responses came back, which differs when calls overlap)
    assert sorted(report.ledger, key=str) == sorted(read_ledger(ledger), key=str)


def test_verbatim_bodies_get_their_json_id_or_null(sqs, queue_url, tmp_path):
    bodies = [
        "plain text, not JSON",
        '{"id": "abc", "work": 3}',
        '{"id": 17}',
        '{"no_id": true}',
        '["id"]',
        '{"id": {"nested": 1}}',
        '{"id": tru',
    ]
    ledger = tmp_path / "sent.jsonl"
    report = send(SendConfig(queue_url=queue_url, bodies=bodies, ledger=ledger), sqs=sqs)
    assert [e.id for e in read_ledger(ledger)] == [None, "abc", 17, None, None, None, None]
    # The bodies arrive verbatim.
    assert sorted(m["Body"] for m in drain(sqs, queue_url)) == sorted(bodies)
    assert report.sent == len(bodies)


def test_ledger_is_flushed_after_every_batch(sqs, queue_url, tmp_path):
    # GIVEN a ledger file, read back from inside the progress callback (as a crash would leave it)
    ledger = tmp_path / "sent.jsonl"
    seen: list[tuple[int, int]] = []

    def on_progress(progress):
        lines = len(ledger.read_text().splitlines()) if ledger.exists() else 0
        seen.append((progress.sent, lines))

    send(
        SendConfig(queue_url=queue_url, n=25, ledger=ledger, max_in_flight=1),
        sqs=sqs,
        on_progress=on_progress,
    )
    # THEN after each batch the file already holds every accepted message
    assert seen == [(0, 0), (10, 10), (20, 20), (25, 25)]


def test_ledger_overwrites_a_previous_run(sqs, queue_url, tmp_path):
    ledger = tmp_path / "sent.jsonl"
    send(SendConfig(queue_url=queue_url, n=5, ledger=ledger), sqs=sqs)
    send(SendConfig(queue_url=queue_url, n=3, ledger=ledger), sqs=sqs)
    assert len(read_ledger(ledger)) == 3


def test_read_ledger_refuses_a_broken_line(tmp_path):
    path = tmp_path / "broken.jsonl"
    good = LedgerEntry("a", "m-1", 1).to_json()
    path.write_text(f'{good}\n{{"id": "b"}}\n')
    with pytest.raises(ConfigError, match="line 2 is not a ledger entry"):
        read_ledger(path)


def test_ledger_entry_round_trips():
    entry = LedgerEntry(id=None, message_id="m", sent_at=1_700_000_000_000)
    assert json.loads(entry.to_json()) == {
        "id": None,
        "MessageId": "m",
        "sent_at": 1_700_000_000_000,
    }
    assert LedgerEntry.from_dict(json.loads(entry.to_json())) == entry


def test_unwritable_ledger_is_a_config_error(sqs, queue_url, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="cannot write the ledger"):
        send(SendConfig(queue_url=queue_url, n=1, ledger=blocker / "sent.jsonl"), sqs=sqs)


def test_send_bodies_helper(sqs, queue_url, tmp_path):
    from producer import send_bodies

    ledger = tmp_path / "poison.jsonl"
    # one call at a time: with two in flight the two lines may come back in either order
    report = send_bodies(
        queue_url, ["<xml/>", '{"id": "k"}'], sqs=sqs, ledger=ledger, batch_size=1, max_in_flight=1
    )
    assert report.sent == 2 and report.batches == 2
    assert [e.id for e in read_ledger(ledger)] == [None, "k"]
