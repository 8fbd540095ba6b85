"""MiniStack: a one-process Python emulator (``python -m ministack``), ready in ~0.4 s."""

from __future__ import annotations

import sys

from core import capabilities as cap
from local.emulators.embedded import EmbeddedEmulator


class MiniStackEmulator(EmbeddedEmulator):
    """MiniStack as our subprocess; its SQS cost does not grow with queue depth."""

    name = "ministack"
    cmdline_marker = "ministack"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "ministack"]

    def environment(self) -> dict[str, str]:
        return {
            "GATEWAY_PORT": str(self.port),
            "BIND_HOST": self.host,
            "LOG_LEVEL": "WARNING",
        }

    @property
    def health_url(self) -> str:
        return f"{self.endpoint}/_ministack/health"

    @property
    def reset_url(self) -> str:
        return f"{self.endpoint}/_ministack/reset"

    def capabilities(self) -> frozenset[str]:
        return CAPABILITIES


# What the probe proved on MiniStack 1.5.33 (`make emulator-matrix` re-measures).
CAPABILITIES: frozenset[str] = cap.ALL - {
    cap.SQS_MOVE_TASK,
    cap.SQS_MOVE_TASK_RULES,
    cap.SQS_REDRIVE_AS_NEW,
    cap.SQS_VISIBILITY_LIMIT,
    cap.SQS_EXPIRED_HANDLE,
    cap.SQS_FIFO_RECEIVE_ATTEMPT,
    cap.SQS_FIFO_DLQ,
    cap.SQS_FIFO_MOVE_TASK,
    cap.ECS_RUNS_CONTAINERS,
}
