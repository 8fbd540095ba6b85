"""LocalStack: the Docker image through compose where one is present, else on the host.

``choose_backend`` is the rule; ``localstack_emulator`` builds what it chose. The image runs
where it is already on the machine (``localstack/localstack:4.14.0``, the last one without a
token, or the current one when ``LOCALSTACK_AUTH_TOKEN`` is set); otherwise ``localstack-core``
runs as our subprocess (``localstack_host``). ``SQSKIT_LOCALSTACK_BACKEND=image|host`` forces one.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError, EmulatorUnavailable
from local.emulators.base import Emulator, wait_until
from local.emulators.compose import (
    ComposeEmulator,
    docker_available,
    localstack_image,
    localstack_init_ready,
)
from local.emulators.localstack_host import LocalStackHostEmulator
from local.emulators.localstack_install import Progress

BACKEND_ENV = "SQSKIT_LOCALSTACK_BACKEND"
BACKENDS = ("auto", "image", "host")


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


@dataclass(frozen=True)
class BackendChoice:
    """``image`` (docker compose) or ``host`` (localstack-core), and why, in one line."""

    backend: str
    reason: str


def image_present(image: str) -> bool:
    """True when the Docker engine already has ``image`` (nothing is pulled)."""
    try:
        proc = subprocess.run(
            ["docker", "image", "inspect", image],
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def choose_backend(
    env: Mapping[str, str] | None = None,
    *,
    docker: Callable[[], tuple[bool, str]] = docker_available,
    has_image: Callable[[str], bool] = image_present,
) -> BackendChoice:
    """The image where Docker and the image are both here, else the host; or what is forced."""
    env = os.environ if env is None else env
    wanted = env.get(BACKEND_ENV, "").strip() or "auto"
    if wanted not in BACKENDS:
        raise ConfigError(
            f"{BACKEND_ENV}={wanted!r} is invalid: choose one of {', '.join(BACKENDS)}"
        )
    if wanted == "host":
        return BackendChoice("host", f"{BACKEND_ENV}=host")
    image = localstack_image(dict(env))
    ok, detail = docker()
    if wanted == "image":
        if not ok:
            raise EmulatorUnavailable(
                f"{BACKEND_ENV}=image but Docker cannot run it: {detail}; "
                f"unset {BACKEND_ENV} to run localstack-core on the host instead"
            )
        return BackendChoice("image", f"{BACKEND_ENV}=image ({image})")
    if not ok:
        return BackendChoice("host", f"LocalStack's image needs Docker ({detail})")
    if not has_image(image):
        token = (
            ""
            if env.get("LOCALSTACK_AUTH_TOKEN")
            else "; `latest` also needs LOCALSTACK_AUTH_TOKEN since 2026-03-23"
        )
        return BackendChoice(
            "host", f"LocalStack's image {image} is not on this machine and needs a registry{token}"
        )
    return BackendChoice("image", f"the image {image} is present")


def localstack_emulator(
    port: int | None = None,
    *,
    env: Mapping[str, str] | None = None,
    detached: bool = False,
    log_dir: Path | str | None = None,
    progress: Progress | None = None,
    choice: BackendChoice | None = None,
) -> tuple[Emulator, BackendChoice]:
    """The LocalStack backend ``choose_backend`` picks, not started.

    The image uses ``port`` or 4566; the host process uses ``port`` or a free port.
    """
    choice = choice or choose_backend(env)
    if choice.backend == "image":
        return LocalStackEmulator(port=port), choice
    host = LocalStackHostEmulator(
        port=port,
        use_free_port=port is None,
        detached=detached,
        log_dir=log_dir,
        why=choice.reason,
        progress=progress,
    )
    return host, choice
