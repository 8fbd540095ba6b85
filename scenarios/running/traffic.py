"""Sending a phase's traffic through the producer library, keeping its ledger as ground truth."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import producer
from core.errors import ConfigError, InfrastructureError
from producer.config import DEDUP_CONTENT, DEDUP_RANDOM
from scenarios.judging.facts import Sent
from scenarios.model import Traffic


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
    """Send the valid payloads and the poison corpus; ledgers go to ``ledger_dir``."""
    reports: list[tuple[Any, bool]] = []  # (report, is_poison)
    try:
        for run in plan(traffic, queue_url=queue_url, ledger_dir=ledger_dir):
            reports.append((producer.send(run.config, sqs=sqs), run.poison))
    except producer.ConfigError as exc:
        raise ConfigError(f"producer: {exc}") from exc
    except producer.SendAborted as exc:
        raise InfrastructureError(f"producer aborted: {exc}") from exc
    return SendOutcome(
        ledger=_ledger(reports),
        failed=sum(r.failed for r, _ in reports),
        elapsed_s=sum(r.elapsed_s for r, _ in reports),
        reports=tuple(r.summary() for r, _ in reports),
    )


def _ledger(reports: list[tuple[Any, bool]]) -> tuple[Sent, ...]:
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
