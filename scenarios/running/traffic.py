"""Sending a phase's traffic through the producer library, keeping its ledger as ground truth.

Plain traffic is sent before the consumers start. A shaped traffic (``Traffic.shape``) is sent
by a :class:`TrafficSender` thread while they run: segment after segment, each at its own rate,
with the poison bodies spread over the segments.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import producer
from core.errors import ConfigError, InfrastructureError
from producer.config import DEDUP_CONTENT, DEDUP_RANDOM
from scenarios.judging.facts import Sent
from scenarios.model import Traffic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendOutcome:
    """The combined ledger of one phase, and how the producer did."""

    ledger: tuple[Sent, ...]
    failed: int
    elapsed_s: float
    reports: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def rate(self) -> float:
        return len(self.ledger) / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass(frozen=True)
class _Run:
    """One producer call of the phase: its ledger file, and whether it sends the poison."""

    config: producer.SendConfig
    poison: bool


def plan(traffic: Traffic, *, queue_url: str, ledger_dir: Path) -> list[_Run]:
    """The producer calls, in send order: payloads, the poison corpus, then any payloads left.

    The calls run one after the other, so on a FIFO queue each group's order across them is
    the order of the calls.
    """
    fifo = queue_url.rstrip("/").endswith(".fifo")
    # Passed on a standard queue too: the producer refuses groups there rather than ignore them.
    fifo_payloads: dict[str, Any] = {"group_ids": traffic.groups, "dedup_id": traffic.dedup_id}
    first = traffic.count if traffic.poison_after is None else traffic.poison_after
    runs: list[_Run] = []

    def payloads(n: int, name: str, seed: int | None) -> None:
        config = producer.SendConfig(
            queue_url=queue_url,
            n=n,
            rate=traffic.rate,
            batch_size=traffic.batch_size,
            seed=seed,
            duplicate_ids=traffic.duplicate_ids,
            ledger=ledger_dir / name,
            **fifo_payloads,
        )
        runs.append(_Run(config, poison=False))

    if first:
        payloads(first, "ledger.jsonl", traffic.seed)
    if traffic.poison:
        # A body without an id has no payload-id to deduplicate by; content works on any body.
        dedup = traffic.dedup_id if traffic.dedup_id == DEDUP_CONTENT else DEDUP_RANDOM
        group = traffic.poison_group_id
        fifo_poison: dict[str, Any] = (
            {"group_key": lambda _outgoing: group, "dedup_id": dedup} if fifo else {}
        )
        config = producer.SendConfig(
            queue_url=queue_url,
            bodies=traffic.poison,
            batch_size=traffic.batch_size,
            ledger=ledger_dir / "ledger-poison.jsonl",
            **fifo_poison,
        )
        runs.append(_Run(config, poison=True))
    if traffic.count - first:
        # Another seed: the same one would generate the first call's ids again.
        seed = None if traffic.seed is None else traffic.seed + 1
        payloads(traffic.count - first, "ledger-after-poison.jsonl", seed)
    return runs


def send(traffic: Traffic, *, sqs: Any, queue_url: str, ledger_dir: Path) -> SendOutcome:
    """Send the valid payloads, then the poison corpus; ledgers go to ``ledger_dir``."""
    sender = TrafficSender(traffic, sqs=sqs, queue_url=queue_url, ledger_dir=ledger_dir)
    sender.run()
    return sender.wait()


class _Stopped(Exception):
    """Raised from the producer's progress callback to stop a background send."""


class TrafficSender:
    """Sends one phase's traffic, now (``run``) or in a background thread (``start``).

    ``sent`` counts the messages accepted so far; ``wait()`` returns the outcome once done and
    re-raises what stopped the sending.
    """

    def __init__(self, traffic: Traffic, *, sqs: Any, queue_url: str, ledger_dir: Path) -> None:
        self.traffic = traffic
        self._sqs = sqs
        self._queue_url = queue_url
        self._ledger_dir = ledger_dir
        self._runs: list[tuple[producer.SendReport, bool]] = []  # (report, is_poison)
        self._base = 0  # accepted by the producer runs already finished
        self._current = 0  # accepted so far by the run in progress
        self._stop = threading.Event()
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    # -- control ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Send in a background thread (the consumers run meanwhile)."""
        self._thread = threading.Thread(target=self.run, name="traffic-sender", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop a background send after the batch in progress (the phase is being torn down)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def sent(self) -> int:
        """Messages the queue accepted so far."""
        return self._base + self._current

    def wait(self, timeout: float | None = None) -> SendOutcome:
        """The outcome once everything was sent; re-raises the error that stopped the sending."""
        if not self._done.wait(timeout):
            raise InfrastructureError(f"the producer did not finish within {timeout} s")
        if self._error is not None:
            raise self._error
        return self._outcome()

    # -- sending ---------------------------------------------------------------------------------

    def run(self) -> None:
        """Send everything in this thread; errors are kept for ``wait()``."""
        try:
            if self.traffic.shape:
                self._send_shape()
            else:
                # In plan order, one call after the other: a FIFO group's order across the
                # calls is the order of the calls.
                for call in plan(
                    self.traffic, queue_url=self._queue_url, ledger_dir=self._ledger_dir
                ):
                    self._producer(call.config)
        except _Stopped:
            log.info("traffic.stopped", extra={"sent": self.sent})
        except producer.ConfigError as exc:
            self._error = ConfigError(f"producer: {exc}")
        except producer.SendAborted as exc:
            self._error = InfrastructureError(f"producer aborted: {exc}")
        except Exception as exc:  # a background thread must always report back
            self._error = exc
        finally:
            self._done.set()

    def _send_shape(self) -> None:
        t = self.traffic
        n = len(t.shape)
        for i, seg in enumerate(t.shape):
            suffix = f"-{i}"
            log.info(
                "traffic.segment",
                extra={"segment": seg.label or i, "count": seg.count, "rate": seg.rate},
            )
            if seg.count:
                # a seed per segment: the same seed would draw the same ids again
                seed = None if t.seed is None else t.seed + i
                self._generated(seg.count, seg.rate, seed, suffix, smooth=True)
            self._poison(t.poison[i::n], suffix)
            if seg.hold_s and self._stop.wait(seg.hold_s):
                raise _Stopped

    def _generated(
        self, n: int, rate: float, seed: int | None, suffix: str, *, smooth: bool = False
    ) -> None:
        batch = self.traffic.batch_size
        if smooth and rate:
            # A paced batch leaves when its last message is due: at 1 msg/s a batch of 10 would
            # be 10 s of silence, then a burst. A batch holds at most a second of a shape's rate.
            batch = max(1, min(batch, int(rate)))
        config = producer.SendConfig(
            queue_url=self._queue_url,
            n=n,
            rate=rate,
            batch_size=batch,
            seed=seed,
            duplicate_ids=self.traffic.duplicate_ids,
            ledger=self._ledger_dir / f"ledger{suffix}.jsonl",
        )
        self._producer(config)

    def _poison(self, bodies: tuple[str, ...], suffix: str) -> None:
        if not bodies:
            return
        config = producer.SendConfig(
            queue_url=self._queue_url,
            bodies=bodies,
            batch_size=self.traffic.batch_size,
            ledger=self._ledger_dir / f"ledger-poison{suffix}.jsonl",
        )
        self._producer(config)

    def _producer(self, config: producer.SendConfig) -> None:
        if self._stop.is_set():
            raise _Stopped
        self._current = 0
        started = time.monotonic()
        try:
            report = producer.send(config, sqs=self._sqs, on_progress=self._progress)
        except _Stopped:
            # What the queue accepted before the stop is in the ledger file: keep it, so the
            # oracle knows those messages were sent.
            self._keep(config, _partial(config, time.monotonic() - started))
            raise
        self._keep(config, report)

    def _keep(self, config: producer.SendConfig, report: producer.SendReport) -> None:
        self._base += report.sent
        self._current = 0
        self._runs.append((report, config.bodies is not None))  # bodies: the poison corpus

    def _progress(self, p: producer.Progress) -> None:
        self._current = p.sent
        if self._stop.is_set():
            raise _Stopped

    def _outcome(self) -> SendOutcome:
        return SendOutcome(
            ledger=_ledger(self._runs),
            failed=sum(r.failed for r, _ in self._runs),
            elapsed_s=sum(r.elapsed_s for r, _ in self._runs),
            reports=tuple(r.summary() for r, _ in self._runs),
        )


def _partial(config: producer.SendConfig, elapsed_s: float) -> producer.SendReport:
    """The report of a producer run stopped part way, from the ledger it wrote so far."""
    path = config.ledger
    entries = tuple(producer.read_ledger(path)) if path is not None and path.exists() else ()
    return producer.SendReport(
        requested=len(entries),
        sent=len(entries),
        failed=0,
        elapsed_s=elapsed_s,
        target_rate=config.rate,
        batches=0,
        retried_entries=0,
        failures=(),
        ledger=entries,
    )


def _ledger(reports: list[tuple[producer.SendReport, bool]]) -> tuple[Sent, ...]:
    """Every call's ledger in send order; ``seq_in_group`` counted over the whole phase.

    Poison bodies are known by their body, whatever "id" the producer read from them.
    """
    ledger: list[Sent] = []
    before: Counter[str] = Counter()  # a group's messages in the earlier calls
    for report, poison in reports:
        in_call: Counter[str] = Counter()
        for e in report.ledger:
            seq = None
            if e.group is not None and e.seq_in_group is not None:
                seq = before[e.group] + e.seq_in_group
                in_call[e.group] += 1
            ledger.append(
                Sent(
                    id=None if poison or e.id is None else str(e.id),
                    message_id=e.message_id,
                    sent_at_ms=e.sent_at,
                    group=e.group,
                    dedup_id=e.dedup_id,
                    seq_in_group=seq,
                    sequence_number=e.sequence_number,
                    duplicate=e.duplicate,
                )
            )
        before.update(in_call)
    return tuple(ledger)
