"""FIFO queues: message groups, deduplication ids, and the ledger fields the oracle reads."""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ConnectionClosedError

from producer import ConfigError, LedgerEntry, RetryPolicy, SendConfig, read_ledger, send
from producer.payloads import plan
from tests.producer.conftest import FaultyClient, drain

pytestmark = pytest.mark.unit

FAST = RetryPolicy(max_attempts=3, base_delay_s=0.001, max_delay_s=0.002)
INTERNAL = {"Code": "InternalError", "Message": "injected", "SenderFault": False}
FIFO_KEYS = {"id", "MessageId", "sent_at", "group", "dedup_id", "seq_in_group", "SequenceNumber"}


def _entries(calls: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [entry for call in calls for entry in call]


def _by_group(ledger: list[LedgerEntry]) -> dict[str, list[LedgerEntry]]:
    groups: dict[str, list[LedgerEntry]] = defaultdict(list)
    for entry in ledger:
        assert entry.group is not None
        groups[entry.group].append(entry)
    return groups


def _receive_all(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every message in the queue with its attributes, received and deleted in order."""
    messages: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
        if not got.get("Messages"):
            return messages
        for message in got["Messages"]:
            messages.append(message)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _fail_seq_once(seq: int) -> Any:
    """Fail the batch entry of plan position ``seq`` on its first attempt only."""
    done: set[str] = set()

    def fail(entry: dict[str, Any]) -> dict[str, Any] | None:
        if entry["Id"] == str(seq) and entry["Id"] not in done:
            done.add(entry["Id"])
            return INTERNAL
        return None

    return fail


# -- groups -------------------------------------------------------------------------------------


def test_group_ids_spread_the_messages_round_robin(sqs, spy, make_queue, tmp_path):
    # GIVEN a FIFO queue and 3 groups
    url = make_queue(FifoQueue="true")
    ledger = tmp_path / "sent.jsonl"
    # WHEN 14 messages are sent
    report = send(SendConfig(queue_url=url, n=14, seed=2, group_ids=3, ledger=ledger), sqs=sqs)
    # THEN the k-th message goes to group k mod 3
    groups = [e["MessageGroupId"] for e in _entries(spy.calls)]
    assert groups == [f"sqs-kit-{k % 3}" for k in range(14)]
    assert report.sent == 14
    # AND each group's ledger lines are numbered 0.. in send order
    lines = read_ledger(ledger)
    assert [e.group for e in lines] == groups
    for k, entries in _by_group(lines).items():
        assert [e.seq_in_group for e in entries] == list(range(len(entries))), k
    # AND the queue hands each group out in that order
    received: dict[str, list[str]] = defaultdict(list)
    for message in _receive_all(sqs, url):
        received[message["Attributes"]["MessageGroupId"]].append(json.loads(message["Body"])["id"])
    assert received == {group: [e.id for e in es] for group, es in _by_group(lines).items()}


def test_grouping_is_deterministic_and_a_resend_keeps_its_group():
    # GIVEN a plan with resent ids over 4 groups
    config = SendConfig(queue_url="q.fifo", n=40, seed=9, group_ids=4, duplicate_ids=0.5)
    first, again = plan(config), plan(config)
    # THEN the same seed gives the same ids in the same groups
    assert [(m.ledger_id, m.group) for m in first] == [(m.ledger_id, m.group) for m in again]
    # AND the distinct ids go round-robin in order of their first send
    originals = [m for m in first if not m.duplicate]
    assert [m.group for m in originals] == [f"sqs-kit-{k % 4}" for k in range(len(originals))]
    # AND every resend is marked, and sits in its original's group
    group_of = {m.ledger_id: m.group for m in originals}
    resends = [m for m in first if m.duplicate]
    assert len(resends) == 40 - len(originals) > 0
    assert all(m.group == group_of[m.ledger_id] for m in resends)


def test_one_group_by_default(sqs, spy, make_queue):
    url = make_queue(FifoQueue="true")
    send(SendConfig(queue_url=url, n=5), sqs=sqs)
    assert {e["MessageGroupId"] for e in _entries(spy.calls)} == {"sqs-kit"}


def test_a_group_key_function_chooses_each_group(sqs, spy, make_queue, tmp_path):
    # GIVEN bodies keyed by customer, and a key function that reads the customer
    url = make_queue(FifoQueue="true")
    bodies = [json.dumps({"id": f"o-{i}", "customer": "abc"[i % 3]}) for i in range(7)]

    def customer(message):
        return "customer-" + json.loads(message.body)["customer"]

    ledger = tmp_path / "sent.jsonl"
    send(SendConfig(queue_url=url, bodies=bodies, group_key=customer, ledger=ledger), sqs=sqs)
    # THEN each entry carries its customer's group, and the ledger numbers each group
    assert [e["MessageGroupId"] for e in _entries(spy.calls)] == [
        f"customer-{'abc'[i % 3]}" for i in range(7)
    ]
    by_group = _by_group(read_ledger(ledger))
    assert [e.id for e in by_group["customer-a"]] == ["o-0", "o-3", "o-6"]
    assert [e.seq_in_group for e in by_group["customer-a"]] == [0, 1, 2]


def test_a_group_key_that_returns_a_bad_id_is_refused_before_sending(sqs, spy, make_queue):
    url = make_queue(FifoQueue="true")
    with pytest.raises(ConfigError) as err:
        send(
            SendConfig(queue_url=url, bodies=["a", "b"], group_key=lambda m: f"group {m.seq}"),
            sqs=sqs,
        )
    assert "group_key's MessageGroupId for bodies[0]='group 0' is not a valid FIFO id" in str(
        err.value
    )
    assert spy.calls == []


# -- the ledger ---------------------------------------------------------------------------------


def test_fifo_ledger_lines_carry_group_dedup_order_and_sequence_number(sqs, make_queue, tmp_path):
    # GIVEN a FIFO queue
    url = make_queue(FifoQueue="true")
    ledger = tmp_path / "sent.jsonl"
    # WHEN 12 messages go out, 2 ids of them twice
    send(
        SendConfig(queue_url=url, n=12, seed=4, duplicate_ids=0.2, group_ids=2, ledger=ledger),
        sqs=sqs,
    )
    # THEN every line has the FIFO fields, with SQS's SequenceNumber from the response
    raw = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert all(set(line) == FIFO_KEYS | {"duplicate"} for line in raw)
    assert [line["duplicate"] for line in raw].count(True) == 2
    for entries in _by_group(read_ledger(ledger)).values():
        assert [e.seq_in_group for e in entries] == list(range(len(entries)))
    received = {m["MessageId"]: m["Attributes"] for m in _receive_all(sqs, url)}
    assert len(received) == 12  # random dedup ids: a resend is a separate message
    for line in raw:
        attributes = received[line["MessageId"]]
        assert line["SequenceNumber"] == attributes["SequenceNumber"]
        assert line["group"] == attributes["MessageGroupId"]
        assert line["dedup_id"] == attributes["MessageDeduplicationId"]


def test_ledger_entry_fifo_fields_round_trip_and_stay_off_standard_lines():
    fifo = LedgerEntry("a", "m", 5, "g-1", "d-1", 3, "18851", True)
    assert LedgerEntry.from_dict(json.loads(fifo.to_json())) == fifo
    assert json.loads(fifo.to_json())["SequenceNumber"] == "18851"
    assert fifo.is_fifo
    standard = LedgerEntry("a", "m", 5)
    assert set(json.loads(standard.to_json())) == {"id", "MessageId", "sent_at"}
    assert not standard.is_fifo
    # an old line reads as a standard one
    assert LedgerEntry.from_dict({"id": "a", "MessageId": "m", "sent_at": 5}) == standard


# -- deduplication ------------------------------------------------------------------------------


def test_payload_id_mode_resends_an_id_with_its_dedup_id_and_sqs_drops_it(
    sqs, spy, make_queue, tmp_path
):
    # GIVEN 10 ids, each sent twice, with the payload id as the deduplication id
    url = make_queue(FifoQueue="true")
    ledger = tmp_path / "sent.jsonl"
    config = SendConfig(
        queue_url=url, n=20, seed=5, duplicate_ids=1.0, dedup_id="payload-id", ledger=ledger
    )
    report = send(config, sqs=sqs)
    # THEN every send is accepted and in the ledger, the resends marked
    assert report.sent == 20
    lines = read_ledger(ledger)
    assert all(e.dedup_id == e.id for e in lines)
    assert [e.duplicate for e in lines].count(True) == 10
    assert [e["MessageDeduplicationId"] for e in _entries(spy.calls)] == [e.id for e in lines]
    # AND the queue delivers each id once (the resends fell inside the deduplication window)
    delivered = [json.loads(m["Body"])["id"] for m in drain(sqs, url)]
    assert sorted(delivered) == sorted({str(e.id) for e in lines})
    assert len(delivered) == 10


def test_random_mode_delivers_a_resent_id_twice(sqs, make_queue):
    url = make_queue(FifoQueue="true")
    report = send(SendConfig(queue_url=url, n=20, seed=5, duplicate_ids=1.0), sqs=sqs)
    assert len({e.dedup_id for e in report.ledger}) == 20
    assert len(drain(sqs, url)) == 20


def test_content_mode_sends_no_dedup_id_and_resends_the_same_bytes(sqs, spy, make_queue):
    # GIVEN a queue with content-based deduplication, and 6 ids sent twice
    url = make_queue(FifoQueue="true", ContentBasedDeduplication="true")
    report = send(
        SendConfig(queue_url=url, n=12, seed=6, duplicate_ids=1.0, dedup_id="content"), sqs=sqs
    )
    entries = _entries(spy.calls)
    # THEN no entry carries a deduplication id, and a resend repeats its original's body exactly
    assert all("MessageDeduplicationId" not in e for e in entries)
    body_of: dict[str, str] = {}
    for entry in entries:
        body = entry["MessageBody"]
        assert body_of.setdefault(json.loads(body)["id"], body) == body
    # AND the ledger's dedup_id is the body's SHA-256, as SQS computes it
    by_seq = {int(e["Id"]): e["MessageBody"] for e in entries}
    assert [e.dedup_id for e in report.ledger] == [
        hashlib.sha256(by_seq[k].encode()).hexdigest() for k in range(12)
    ]
    # AND the queue delivers each id once
    assert len(drain(sqs, url)) == 6


def test_content_mode_is_refused_when_the_queue_lacks_content_based_deduplication(
    sqs, spy, make_queue
):
    url = make_queue(FifoQueue="true")
    with pytest.raises(ConfigError) as err:
        send(SendConfig(queue_url=url, n=3, dedup_id="content"), sqs=sqs)
    assert str(err.value) == (
        f"--dedup-id content needs ContentBasedDeduplication=true on the queue, and {url} has it "
        "off: enable it on the queue, or use --dedup-id random or payload-id"
    )
    assert spy.calls == []


def test_content_mode_reads_the_attribute_even_with_a_size_given(sqs, spy, make_queue):
    url = make_queue(FifoQueue="true")
    with pytest.raises(ConfigError, match="ContentBasedDeduplication=true"):
        send(SendConfig(queue_url=url, n=3, dedup_id="content", max_message_size=500), sqs=sqs)
    assert spy.calls == []


def test_payload_id_mode_needs_an_id_in_every_body(sqs, spy, make_queue):
    url = make_queue(FifoQueue="true")
    with pytest.raises(ConfigError) as err:
        send(
            SendConfig(queue_url=url, bodies=['{"id": "a"}', "no id"], dedup_id="payload-id"),
            sqs=sqs,
        )
    assert "bodies[1] has no id, which --dedup-id payload-id needs" in str(err.value)
    with pytest.raises(ConfigError) as err:
        send(SendConfig(queue_url=url, bodies=['{"id": "a b"}'], dedup_id="payload-id"), sqs=sqs)
    assert "the id of bodies[0] (--dedup-id payload-id)='a b' is not a valid FIFO id" in str(
        err.value
    )
    assert spy.calls == []


# -- retries ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "attributes"),
    [
        ("random", {}),
        ("payload-id", {}),
        ("content", {"ContentBasedDeduplication": "true"}),
    ],
)
def test_a_retried_entry_reuses_its_dedup_id_group_and_body(sqs, make_queue, mode, attributes):
    # GIVEN an entry that fails once inside its SendMessageBatch
    url = make_queue(FifoQueue="true", **attributes)
    client = FaultyClient(sqs, _fail_seq_once(3))
    # WHEN the run retries it
    report = send(
        SendConfig(queue_url=url, n=6, seed=7, group_ids=2, dedup_id=mode, retry=FAST),
        sqs=client,
    )
    # THEN the retry is the first attempt byte for byte: same group, same dedup id, same body
    assert [len(c) for c in client.calls] == [6, 1]
    (first,) = [e for e in client.calls[0] if e["Id"] == "3"]
    assert client.calls[1] == [first]
    assert report.sent == 6 and report.retried_entries == 1
    assert len(drain(sqs, url)) == 6


@pytest.mark.usefixtures("sqs")  # moto
def test_a_call_resent_by_botocore_carries_the_same_dedup_ids():
    # GIVEN a client with standard retries whose first SendMessageBatch request is lost
    client = boto3.client(
        "sqs", region_name="us-east-1", config=Config(retries={"mode": "standard"})
    )
    url = client.create_queue(QueueName="producer-resend.fifo", Attributes={"FifoQueue": "true"})[
        "QueueUrl"
    ]
    requests: list[bytes] = []

    def lose_the_first(request, **_):
        requests.append(request.body)
        if len(requests) == 1:
            raise ConnectionClosedError(endpoint_url=request.url)

    client.meta.events.register_first("before-send.sqs.SendMessageBatch", lose_the_first)
    try:
        # WHEN the producer sends one batch
        report = send(SendConfig(queue_url=url, n=4, seed=8, dedup_id="payload-id"), sqs=client)
        # THEN botocore sent the very same request again, deduplication ids included
        assert len(requests) == 2 and requests[0] == requests[1]
        assert report.sent == 4 and len(drain(client, url)) == 4
    finally:
        client.delete_queue(QueueUrl=url)


def test_a_retry_that_lands_after_its_group_is_numbered_as_sqs_has_it(
    sqs, make_queue, tmp_path, caplog
):
    # GIVEN one group, and its first entry fails once while the rest of its batch is accepted
    url = make_queue(FifoQueue="true")
    ledger = tmp_path / "sent.jsonl"
    client = FaultyClient(sqs, _fail_seq_once(0))
    planned = [m.ledger_id for m in plan(SendConfig(queue_url=url, n=4, seed=9))]
    # WHEN the run retries it
    with caplog.at_level(logging.WARNING, logger="producer"):
        send(
            SendConfig(queue_url=url, n=4, seed=9, retry=FAST, ledger=ledger, max_in_flight=1),
            sqs=client,
        )
    # THEN seq_in_group follows the order SQS accepted them in, and the reordering is logged
    lines = read_ledger(ledger)
    assert [e.id for e in lines] == planned[1:] + planned[:1]
    assert [e.seq_in_group for e in lines] == [0, 1, 2, 3]
    (record,) = [r for r in caplog.records if r.message == "producer.fifo.reordered"]
    assert (record.group, record.seq) == ("sqs-kit", 0)
    assert [json.loads(m["Body"])["id"] for m in drain(sqs, url)] == [e.id for e in lines]
