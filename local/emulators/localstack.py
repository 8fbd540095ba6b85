"""LocalStack through docker compose: the emulator most users know, gated on init/ready."""

from __future__ import annotations

from pathlib import Path

from local.emulators.base import wait_until
from local.emulators.compose import ComposeEmulator, localstack_image, localstack_init_ready


class LocalStackEmulator(ComposeEmulator):
    """The ``localstack`` compose profile; 4.14.0 without a token, a pinned tag with one."""

    def __init__(
        self,
        *,
        port: int | None = None,
        compose_file: Path | str | None = None,
        ready_timeout: float = 180.0,
    ) -> None:
        super().__init__(
            "localstack",
            port=port,
            compose_file=compose_file,
            ready_timeout=ready_timeout,
            env={"LOCALSTACK_IMAGE": localstack_image()},
        )

    def ready(self, timeout: float = 0.0) -> bool:
        return wait_until(lambda: localstack_init_ready(self.endpoint), timeout)
