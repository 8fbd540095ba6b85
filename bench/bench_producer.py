"""Producer numbers (issue 3), measured in one run against the embedded emulator (MiniStack).

1. Throughput at ``--rate 0`` against a raw ``SendMessageBatch`` loop with the same client, batch
   size and payload size: the producer at its default setting (``max_in_flight`` 4) and with
   ``max_in_flight=1`` (one call at a time, like the raw loop). Each round runs all three on
   fresh queues, rotating which goes first, and the medians are compared, so a noisy neighbour
   on a shared machine hits all of them alike.
2. The achieved rate at ``--rate 50`` over 10 s (500 messages).

``BENCH_PRODUCER_N`` (default 2000) and ``BENCH_PRODUCER_ROUNDS`` (default 9) scale part 1;
``SQSKIT_BENCH_ENDPOINT`` uses an emulator that is already running instead of starting one.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench._emulator import bench_endpoint
from core.aws import client as aws_client
from producer import SendConfig, send
from producer.config import DEFAULT_MAX_IN_FLIGHT
from producer.payloads import plan

RATE_TARGET = 50.0
RATE_SECONDS = 10.0


@contextlib.contextmanager
def _queue(sqs: Any) -> Iterator[str]:
    url: str = sqs.create_queue(QueueName=f"bench-producer-{uuid.uuid4().hex[:10]}")["QueueUrl"]
    try:
        yield url
    finally:
        sqs.delete_queue(QueueUrl=url)


def _raw_loop(sqs: Any, url: str, bodies: list[str]) -> float:
    """Messages per second of the plainest possible SendMessageBatch loop."""
    start = time.perf_counter()
    for offset in range(0, len(bodies), 10):
        chunk = bodies[offset : offset + 10]
        response = sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(chunk)],
        )
        if response.get("Failed"):
            raise RuntimeError(f"raw loop: {len(response['Failed'])} entries failed")
    return len(bodies) / (time.perf_counter() - start)


def _producer(sqs: Any, url: str, n: int, ledger: Path, max_in_flight: int | None) -> float:
    """Messages per second of `producer.send` at rate 0, timed from outside (setup included).

    ``max_in_flight=None`` is the default setting.
    """
    start = time.perf_counter()
    config = SendConfig(
        queue_url=url, n=n, rate=0, batch_size=10, ledger=ledger, max_in_flight=max_in_flight
    )
    report = send(config, sqs=sqs)
    wall = time.perf_counter() - start
    if report.failed:
        raise RuntimeError(f"producer: {report.failed} messages failed")
    return report.sent / wall


def run() -> list[tuple[str, str]]:
    n = int(os.environ.get("BENCH_PRODUCER_N", "2000"))
    rounds = int(os.environ.get("BENCH_PRODUCER_ROUNDS", "9"))
    results: list[tuple[str, str]] = []
    with bench_endpoint() as endpoint, tempfile.TemporaryDirectory() as tmp:
        sqs = aws_client("sqs", endpoint_url=endpoint, region="us-east-1")
        print(f"emulator: MiniStack at {endpoint}; {n} messages per round, {rounds} rounds")
        # The same payloads (and so the same sizes) the producer generates.
        bodies = [m.render(int(time.time() * 1000)) for m in plan(SendConfig(queue_url="q", n=n))]
        print(f"payload size: {min(map(len, bodies))}..{max(map(len, bodies))} bytes")
        with _queue(sqs) as warm:  # first-call costs (connection, emulator lazy init) off the clock
            _raw_loop(sqs, warm, bodies[:50])
            send(SendConfig(queue_url=warm, n=200), sqs=sqs)  # the pool's extra connections
        sides = ("raw", "default", "serial")
        rates: dict[str, list[float]] = {side: [] for side in sides}
        for index in range(rounds):
            # Rotate which side goes first, so drift in the emulator favours none of them.
            for side in sides[index % 3 :] + sides[: index % 3]:
                with _queue(sqs) as url:
                    if side == "raw":
                        rates[side].append(_raw_loop(sqs, url, bodies))
                    else:
                        ledger = Path(tmp) / f"ledger-{index}-{side}.jsonl"
                        in_flight = None if side == "default" else 1
                        rates[side].append(_producer(sqs, url, n, ledger, in_flight))
            print(
                f"round {index + 1}: raw {rates['raw'][-1]:8.1f} msg/s   "
                f"producer {rates['default'][-1]:8.1f} msg/s   "
                f"producer in-flight 1 {rates['serial'][-1]:8.1f} msg/s"
            )
        raw_median = statistics.median(rates["raw"])
        default_median = statistics.median(rates["default"])
        serial_median = statistics.median(rates["serial"])
        ratio, serial_ratio = default_median / raw_median, serial_median / raw_median
        print(
            f"median: raw {raw_median:.1f} msg/s, producer {default_median:.1f} msg/s "
            f"(ratio {ratio:.3f}), producer in-flight 1 {serial_median:.1f} msg/s "
            f"(ratio {serial_ratio:.3f})"
        )
        results += [
            ("raw SendMessageBatch loop, batch 10 (msg/s, median)", f"{raw_median:.1f}"),
            (
                f"producer --rate 0, in-flight {DEFAULT_MAX_IN_FLIGHT} (default), ledger on, msg/s",
                f"{default_median:.1f}",
            ),
            ("producer --rate 0, --max-in-flight 1, ledger on, msg/s", f"{serial_median:.1f}"),
            ("producer (default) / raw throughput (target >= 0.9)", f"{ratio:.3f}"),
            ("producer (in-flight 1) / raw throughput", f"{serial_ratio:.3f}"),
        ]

        count = int(RATE_TARGET * RATE_SECONDS)
        with _queue(sqs) as url:
            start = time.perf_counter()
            report = send(SendConfig(queue_url=url, n=count, rate=RATE_TARGET), sqs=sqs)
            wall = time.perf_counter() - start
        error = (report.achieved_rate - RATE_TARGET) / RATE_TARGET * 100
        print(
            f"--rate {RATE_TARGET:g}: {report.sent} messages in {report.elapsed_s:.3f} s "
            f"(wall {wall:.3f} s incl. setup) -> {report.achieved_rate:.2f} msg/s ({error:+.2f}%)"
        )
        results += [
            (
                f"--rate {RATE_TARGET:g} over {RATE_SECONDS:g} s: achieved (msg/s)",
                f"{report.achieved_rate:.2f}",
            ),
            (f"--rate {RATE_TARGET:g}: deviation from target (limit +-5%)", f"{error:+.2f}%"),
        ]
    return results


if __name__ == "__main__":
    for label, value in run():
        print(f"{label:<62} {value}")
