"""Traffic sent while the consumers run: segments in order, poison spread, a stop that stops."""

from __future__ import annotations

import time
from collections.abc import Sequence

import boto3
import pytest
from moto import mock_aws

from core.errors import ConfigError
from scenarios.model import ConsumerGroup, ConsumerSettings, Phase, Segment, Traffic
from scenarios.running.scenario import Scenario
from scenarios.running.traffic import TrafficSender
from scenarios.settings import Knobs, RunSettings
from tests.scenarios.fakes import InstantTarget

pytestmark = pytest.mark.unit

REGION = "us-east-1"


def test_a_shape_counts_its_segments_and_refuses_what_does_not_add_up():
    k = Knobs(seed=3)
    shape = (Segment(4, rate=2.0), Segment(0, hold_s=1.5, label="quiet"), Segment(6))
    traffic = Traffic.shaped(k, shape)
    assert traffic.count == 10 and traffic.during_run
    assert traffic.duration_s == pytest.approx(2.0 + 1.5)
    assert not Traffic(count=3).during_run and Traffic(count=3).duration_s == 0
    with pytest.raises(ConfigError, match="differs from its shape"):
        Traffic(count=3, shape=shape)
    with pytest.raises(ConfigError, match="at least one segment"):
        Traffic.shaped(k, ())
    with pytest.raises(ConfigError, match="must all be >= 0"):
        Segment(-1)
    # A shape spreads its poison over the segments: FIFO placement would be silently ignored
    with pytest.raises(ConfigError, match="cannot be combined with FIFO groups"):
        Traffic.shaped(k, shape, groups=2)
    with pytest.raises(ConfigError, match="cannot be combined with FIFO groups"):
        Traffic.shaped(k, shape, poison_after=1)


def _queue() -> tuple[object, str]:
    sqs = boto3.client("sqs", region_name=REGION)
    return sqs, sqs.create_queue(QueueName="shape-q")["QueueUrl"]


def test_segments_go_out_in_order_with_their_holds_and_the_poison_spread(tmp_path):
    poison = ("not json", "[1]", "42")
    traffic = Traffic.shaped(
        Knobs(seed=5),
        (Segment(3), Segment(0, hold_s=0.4), Segment(3)),
        poison=poison,
    )
    with mock_aws():
        sqs, url = _queue()
        sender = TrafficSender(traffic, sqs=sqs, queue_url=url, ledger_dir=tmp_path)
        sender.start()
        outcome = sender.wait(timeout=30)
    assert sender.done and sender.sent == 9
    valid = [e for e in outcome.ledger if e.id is not None]
    bad = [e for e in outcome.ledger if e.id is None]
    # THEN six distinct payload ids (a seed per segment), and the three poison bodies
    assert len({e.id for e in valid}) == 6 and len(bad) == 3
    # AND the second batch of payloads left after the quiet spell
    first, second = valid[:3], valid[3:]
    assert min(e.sent_at_ms for e in second) - max(e.sent_at_ms for e in first) >= 350
    # AND each segment's poison went with it (one per segment), not all at the start
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ledger-0.jsonl",
        "ledger-2.jsonl",
        "ledger-poison-0.jsonl",
        "ledger-poison-1.jsonl",
        "ledger-poison-2.jsonl",
    ]


def test_stop_ends_a_paced_send_after_the_batch_in_progress(tmp_path):
    traffic = Traffic.shaped(Knobs(batch_size=1), (Segment(1000, rate=20.0),))
    with mock_aws():
        sqs, url = _queue()
        sender = TrafficSender(traffic, sqs=sqs, queue_url=url, ledger_dir=tmp_path)
        sender.start()
        time.sleep(0.5)
        sender.stop()
        outcome = sender.wait(timeout=5)
    # THEN it stopped long before its 50 s, with what it had sent in the ledger
    assert sender.done and 0 < len(outcome.ledger) < 100


def test_a_failed_send_is_raised_by_wait(tmp_path):
    traffic = Traffic.shaped(Knobs(), (Segment(5),))
    with mock_aws():
        sqs, _ = _queue()
        missing = "https://sqs.us-east-1.amazonaws.com/123456789012/no-such-queue"
        sender = TrafficSender(traffic, sqs=sqs, queue_url=missing, ledger_dir=tmp_path)
        sender.start()
        with pytest.raises(ConfigError, match="no-such-queue does not exist"):
            sender.wait(timeout=30)


class Ramp(Scenario):
    name = "ramp"
    summary = "traffic that keeps coming while the consumer runs"

    def phases(self, k: Knobs) -> Sequence[Phase]:
        shape = (Segment(5), Segment(0, hold_s=1.0), Segment(5, rate=10.0))
        return [
            Phase(
                "only",
                Traffic.shaped(k, shape),
                (ConsumerGroup(1, ConsumerSettings.from_knobs(k)),),
                timeout_s=20,
            )
        ]


def test_the_engine_runs_the_consumers_while_the_traffic_is_still_coming(tmp_path):
    with mock_aws():
        result = Ramp().execute(InstantTarget(), RunSettings(), run_dir=tmp_path)
    assert result.status == "passed", [c for c in result.checks if not c.passed]
    (phase,) = result.phases
    facts = phase.facts
    assert len(facts.ledger) == 10 and len(phase.send.ledger) == 10
    # THEN the consumer was up before the last message was sent: sending overlapped consuming
    last_sent = max(e.sent_at_ms for e in facts.ledger) / 1000.0
    assert facts.consumers_started_at is not None and facts.consumers_started_at < last_sent


def test_a_paced_segment_trickles_instead_of_waiting_to_fill_a_batch(tmp_path):
    # GIVEN batches of 10 and a segment of 4 messages at 2 msg/s
    traffic = Traffic.shaped(Knobs(batch_size=10), (Segment(4, rate=2.0),))
    with mock_aws():
        sqs, url = _queue()
        sender = TrafficSender(traffic, sqs=sqs, queue_url=url, ledger_dir=tmp_path)
        sender.run()
        outcome = sender.wait()
    # THEN they went out a second's worth at a time, not as one batch once the last was due
    times = sorted(e.sent_at_ms for e in outcome.ledger)
    assert len(times) == 4 and times[-1] - times[0] >= 900
