"""Embedded emulators: time to ready, and SQS send / receive / delete throughput by backlog.

For each embedded emulator (MiniStack, moto server) on a free port:
- time to ready: spawn -> health check answers (median of 3 starts);
- with a backlog of 100 and of 5,000 messages already in the queue, one client thread:
  send 300 messages (SendMessageBatch, 10 per call), receive 300 (MaxNumberOfMessages=10,
  visibility 300 s so nothing comes back) and delete them (DeleteMessageBatch).
The backlog stays in the queue while measuring: this is where moto, whose send and receive
scan the whole queue, slows down with depth. Each phase has a time budget, so a slow emulator
costs minutes, not hours: a backlog not reached within FILL_BUDGET_S is reported as the depth
actually reached, and a phase cut short reports the rate over what it did.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from core.aws import client
from local.emulators import EMBEDDED, embedded

BACKLOGS = (100, 5_000)
MEASURED = 300
STARTS = 3
BATCH = 10
FILL_BUDGET_S = 60.0
PHASE_BUDGET_S = 15.0


def _time_to_ready(kind: str) -> float:
    samples = []
    for _ in range(STARTS):
        emulator = embedded(kind, None, ready_timeout=20.0)
        emulator.start()
        samples.append(emulator.time_to_ready or 0.0)
        emulator.stop()
    return statistics.median(samples)


def _fill(sqs: Any, url: str, n: int) -> int:
    """Send ``n`` backlog messages (4 threads) within FILL_BUDGET_S; returns how many were sent."""
    deadline = time.monotonic() + FILL_BUDGET_S

    def send(start: int) -> int:
        if time.monotonic() > deadline:
            return 0
        entries = [{"Id": str(i), "MessageBody": f"backlog-{start + i}"} for i in range(BATCH)]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
        return BATCH

    with ThreadPoolExecutor(max_workers=4) as pool:
        return sum(pool.map(send, range(0, n, BATCH)))


def _rate(done: int, start: float) -> float:
    return done / max(time.perf_counter() - start, 1e-9)


def _throughput(endpoint: str, backlog: int) -> tuple[int, float, float, float]:
    sqs = client("sqs", endpoint_url=endpoint)
    url = sqs.create_queue(
        QueueName=f"bench-{backlog}-{time.monotonic_ns()}", Attributes={"VisibilityTimeout": "300"}
    )["QueueUrl"]
    try:
        depth = _fill(sqs, url, backlog)

        start, sent = time.perf_counter(), 0
        while sent < MEASURED and time.perf_counter() - start < PHASE_BUDGET_S:
            entries = [{"Id": str(i), "MessageBody": f"measured-{sent + i}"} for i in range(BATCH)]
            sqs.send_message_batch(QueueUrl=url, Entries=entries)
            sent += BATCH
        send_rate = _rate(sent, start)

        start, handles = time.perf_counter(), list[str]()
        while len(handles) < MEASURED and time.perf_counter() - start < PHASE_BUDGET_S:
            msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=BATCH, WaitTimeSeconds=0)
            handles += [m["ReceiptHandle"] for m in msgs.get("Messages", [])]
        receive_rate = _rate(len(handles), start)

        start, deleted = time.perf_counter(), 0
        for j in range(0, len(handles), BATCH):
            if time.perf_counter() - start > PHASE_BUDGET_S:
                break
            chunk = handles[j : j + BATCH]
            entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(chunk)]
            sqs.delete_message_batch(QueueUrl=url, Entries=entries)
            deleted += len(chunk)
        return depth, send_rate, receive_rate, _rate(deleted, start)
    finally:
        sqs.delete_queue(QueueUrl=url)


def run() -> list[tuple[str, str]]:
    results: list[tuple[str, str]] = []

    def emit(label: str, value: str) -> None:
        print(f"{label:<62} {value}", flush=True)
        results.append((label, value))

    for kind in EMBEDDED:
        emit(f"{kind}: time to ready (median of {STARTS})", f"{_time_to_ready(kind):.2f} s")
    for kind in EMBEDDED:
        with embedded(kind, None, ready_timeout=20.0) as emulator:
            for backlog in BACKLOGS:
                depth, send, receive, delete = _throughput(emulator.endpoint, backlog)
                label = f"backlog {backlog:,}"
                if depth < backlog:
                    label += f" (only {depth:,} reached in {FILL_BUDGET_S:.0f} s)"
                emit(f"{kind}: send, {label}", f"{send:,.0f} msg/s")
                emit(f"{kind}: receive, {label}", f"{receive:,.0f} msg/s")
                emit(f"{kind}: delete, {label}", f"{delete:,.0f} msg/s")
    return results


if __name__ == "__main__":
    run()
