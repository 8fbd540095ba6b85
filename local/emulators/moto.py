"""moto server: ``python -m moto.server``, the emulator behind ``mock_aws``, as a subprocess."""

from __future__ import annotations

import sys

from core import capabilities as cap
from local.emulators.embedded import EmbeddedEmulator


class MotoEmulator(EmbeddedEmulator):
    """moto server as our subprocess; its SQS receive slows down linearly with queue depth."""

    name = "moto"
    cmdline_marker = "moto"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)]

    @property
    def health_url(self) -> str:
        return f"{self.endpoint}/moto-api/"

    @property
    def reset_url(self) -> str:
        return f"{self.endpoint}/moto-api/reset"

    def capabilities(self) -> frozenset[str]:
        return CAPABILITIES


# What the probe proved on moto server 5.2.5 (`make emulator-matrix` re-measures).
CAPABILITIES: frozenset[str] = cap.ALL - {
    cap.SQS_MOVE_TASK,
    cap.SQS_MOVE_TASK_RULES,
    cap.SQS_REDRIVE_AS_NEW,
    cap.SQS_RECEIPT_HANDLES,
    cap.SQS_EXPIRED_HANDLE,
    cap.SQS_DLQ_SOURCE_ARN,
    cap.SQS_FIFO,
    cap.SQS_FIFO_DEDUP,
    cap.SQS_FIFO_DEDUP_SCOPE,
    cap.SQS_FIFO_RECEIVE_ATTEMPT,
    cap.SQS_FIFO_MOVE_TASK,
    cap.ECS_API,
    cap.ECS_RUNS_CONTAINERS,
}
