"""Sending a phase's traffic through the producer library, keeping its ledger as ground truth."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import producer
from core.errors import ConfigError, InfrastructureError
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


def send(traffic: Traffic, *, sqs: Any, queue_url: str, ledger_dir: Path) -> SendOutcome:
    """Send the valid payloads, then the poison corpus; ledgers go to ``ledger_dir``."""
    runs: list[tuple[Any, bool]] = []  # (report, is_poison)
    try:
        if traffic.count:
            runs.append(
                (
                    producer.send(
                        producer.SendConfig(
                            queue_url=queue_url,
                            n=traffic.count,
                            rate=traffic.rate,
                            batch_size=traffic.batch_size,
                            seed=traffic.seed,
                            duplicate_ids=traffic.duplicate_ids,
                            ledger=ledger_dir / "ledger.jsonl",
                        ),
                        sqs=sqs,
                    ),
                    False,
                )
            )
        if traffic.poison:
            runs.append(
                (
                    producer.send(
                        producer.SendConfig(
                            queue_url=queue_url,
                            bodies=traffic.poison,
                            batch_size=traffic.batch_size,
                            ledger=ledger_dir / "ledger-poison.jsonl",
                        ),
                        sqs=sqs,
                    ),
                    True,
                )
            )
    except producer.ConfigError as exc:
        raise ConfigError(f"producer: {exc}") from exc
    except producer.SendAborted as exc:
        raise InfrastructureError(f"producer aborted: {exc}") from exc
    # Poison bodies are known by their body, whatever "id" the producer read from them.
    ledger = tuple(
        Sent(
            id=None if poison or e.id is None else str(e.id),
            message_id=e.message_id,
            sent_at_ms=e.sent_at,
        )
        for r, poison in runs
        for e in r.ledger
    )
    return SendOutcome(
        ledger=ledger,
        failed=sum(r.failed for r, _ in runs),
        elapsed_s=sum(r.elapsed_s for r, _ in runs),
        reports=tuple(r.summary() for r, _ in runs),
    )
