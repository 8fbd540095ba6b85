"""Embedded emulators: time to ready, and SQS send / receive / delete throughput by backlog.

For each embedded emulator (MiniStack, moto server) on a free port:
- time to ready: spawn -> health check answers (median of 3 starts);
- with a backlog of 100 and of 5,000 messages already in the queue, one client thread:
  send 300 messages (SendMessageBatch, 10 per call), receive 300 (MaxNumberOfMessages=10,
  visibility 300 s so nothing comes back) and delete them (DeleteMessageBatch).
The measurement is ``local.matrix.measure_throughput``, which `make emulator-matrix` uses too:
the backlog stays queued while measuring, and each phase has a time budget.
"""

from __future__ import annotations

import statistics

from local.emulators import EMBEDDED, embedded
from local.matrix import BACKLOGS, FILL_BUDGET_S, measure_throughput

STARTS = 3


def _time_to_ready(kind: str) -> float:
    samples = []
    for _ in range(STARTS):
        emulator = embedded(kind, None, ready_timeout=20.0)
        emulator.start()
        samples.append(emulator.time_to_ready or 0.0)
        emulator.stop()
    return statistics.median(samples)


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
                t = measure_throughput(emulator.endpoint, backlog)
                label = f"backlog {backlog:,}"
                if t.depth < backlog:
                    label += f" (only {t.depth:,} reached in {FILL_BUDGET_S:.0f} s)"
                emit(f"{kind}: send, {label}", f"{t.send:,.0f} msg/s")
                emit(f"{kind}: receive, {label}", f"{t.receive:,.0f} msg/s")
                emit(f"{kind}: delete, {label}", f"{t.delete:,.0f} msg/s")
    return results


if __name__ == "__main__":
    run()
