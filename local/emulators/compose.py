"""Container emulators through ``docker compose``: one profile per emulator in docker-compose.yml.

The compose file (repo root) declares the services ``localstack``, ``ministack`` and ``moto``,
each under a profile of the same name, publishing ``${SQSKIT_EMULATOR_PORT:-4566}`` on the
host, with a healthcheck so ``up --wait`` returns once the emulator is ready.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

from core import capabilities as cap
from core.errors import ConfigError, EmulatorUnavailable
from local.emulators.base import DEFAULT_PORT, LOOPBACK, Emulator, port_in_use, wait_until

log = logging.getLogger(__name__)

COMPOSE_SERVICES = ("localstack", "ministack", "moto")
COMPOSE_READY_TIMEOUT_S = 180.0
_HEALTH_PATHS = {
    "localstack": "/_localstack/health",
    "ministack": "/_ministack/health",
    "moto": "/moto-api/",
}


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def compose_command() -> list[str] | None:
    """``docker compose`` (the plugin), else a standalone ``docker-compose``, else None."""
    try:
        plugin = subprocess.run(
            ["docker", "compose", "version", "--short"],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        plugin = None
    if plugin is not None and plugin.returncode == 0:
        return ["docker", "compose"]
    standalone = shutil.which("docker-compose")
    return [standalone] if standalone else None


def docker_available() -> tuple[bool, str]:
    """(True, server version) when a Docker engine and docker compose answer."""
    if shutil.which("docker") is None:
        return False, "no docker client on PATH"
    try:
        info = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
        if info.returncode != 0:
            return False, f"docker engine not reachable: {info.stderr.strip()[:200]}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"docker not usable: {exc}"
    if compose_command() is None:
        return False, "neither the docker compose plugin nor docker-compose is installed"
    return True, info.stdout.strip()


class ComposeEmulator(Emulator):
    """One compose service (``localstack``, ``ministack`` or ``moto``) on the host port."""

    kind = "compose"

    def __init__(
        self,
        service: str,
        *,
        port: int | None = None,
        compose_file: Path | str | None = None,
        ready_timeout: float = COMPOSE_READY_TIMEOUT_S,
        env: dict[str, str] | None = None,
    ) -> None:
        if service not in COMPOSE_SERVICES:
            raise ConfigError(
                f"unknown compose emulator {service!r}: choose {', '.join(COMPOSE_SERVICES)}"
            )
        self.service = service
        self.name = service
        self.port = port or DEFAULT_PORT
        self.compose_file = (
            Path(compose_file) if compose_file else repo_root() / "docker-compose.yml"
        )
        self.ready_timeout = ready_timeout
        self.extra_env = dict(env or {})
        self.started_by_us = False

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def health_url(self) -> str:
        return self.endpoint + _HEALTH_PATHS[self.service]

    def compose_env(self) -> dict[str, str]:
        return {**os.environ, "SQSKIT_EMULATOR_PORT": str(self.port), **self.extra_env}

    def compose(
        self, *args: str, timeout: float = COMPOSE_READY_TIMEOUT_S
    ) -> subprocess.CompletedProcess[str]:
        """Run ``docker compose -f FILE --profile SERVICE ARGS``."""
        base = compose_command() or ["docker", "compose"]
        argv = [*base, "-f", str(self.compose_file), "--profile", self.service, *args]
        log.info("emulator.compose", extra={"argv": " ".join(argv)})
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.compose_env(),
            check=False,
        )

    def start(self) -> None:
        if self.ready(0):
            return
        ok, detail = docker_available()
        if not ok:
            raise EmulatorUnavailable(f"cannot start {self.service} with docker compose: {detail}")
        if not self.compose_file.is_file():
            raise EmulatorUnavailable(
                f"{self.compose_file} is missing; it declares the compose emulators"
            )
        if port_in_use(self.port):
            raise EmulatorUnavailable(
                f"cannot start {self.service}: port {self.port} is already in use by something "
                "that is not a ready emulator; stop it or set SQSKIT_EMULATOR_PORT"
            )
        proc = self.compose("up", "-d", "--wait", self.service)
        if proc.returncode != 0:
            raise EmulatorUnavailable(
                f"`docker compose up {self.service}` failed: {proc.stderr.strip()[-800:]}"
            )
        self.started_by_us = True
        if not self.ready(self.ready_timeout):
            raise EmulatorUnavailable(f"{self.service} did not become ready at {self.health_url}")

    def stop(self) -> None:
        """Stop and remove this service's container only (when this object started it)."""
        if self.started_by_us:
            proc = self.compose("rm", "--stop", "--force", self.service, timeout=120)
            self.started_by_us = False
            if proc.returncode != 0:
                raise EmulatorUnavailable(
                    f"`docker compose rm {self.service}` failed: {proc.stderr.strip()[-800:]}"
                )

    def down(self) -> None:
        """``docker compose --profile SERVICE down``: everything in this emulator's profile."""
        proc = self.compose("down", "--remove-orphans", timeout=120)
        if proc.returncode != 0:
            raise EmulatorUnavailable(f"`docker compose down` failed: {proc.stderr.strip()[-800:]}")

    def capabilities(self) -> frozenset[str]:
        return cap.ALL - {cap.ECS_RUNS_CONTAINERS}


# The last LocalStack image that starts without LOCALSTACK_AUTH_TOKEN (since 2026-03-23
# `latest` needs one). With a token, LOCALSTACK_IMAGE_WITH_TOKEN picks the pinned current tag.
LOCALSTACK_FREE_IMAGE = "localstack/localstack:4.14.0"
LOCALSTACK_TOKEN_IMAGE = "localstack/localstack-pro:4.14.0"  # noqa: S105 - an image name


def localstack_image(env: dict[str, str] | None = None) -> str:
    """The LocalStack image to run: LOCALSTACK_IMAGE wins, then the token decides."""
    env = dict(os.environ) if env is None else env
    if env.get("LOCALSTACK_IMAGE"):
        return env["LOCALSTACK_IMAGE"]
    if env.get("LOCALSTACK_AUTH_TOKEN"):
        return env.get("LOCALSTACK_IMAGE_WITH_TOKEN") or LOCALSTACK_TOKEN_IMAGE
    return LOCALSTACK_FREE_IMAGE


def localstack_init_ready(endpoint: str, timeout: float = 1.0) -> bool:
    """True when LocalStack reports its init scripts (ready.d) completed."""
    try:
        with urllib.request.urlopen(f"{endpoint}/_localstack/init/ready", timeout=timeout) as resp:  # noqa: S310
            body = json.loads(resp.read() or b"{}")
    except (OSError, ValueError):
        return False
    return bool(body.get("completed"))


def wait_localstack(endpoint: str, timeout: float) -> bool:
    return wait_until(lambda: localstack_init_ready(endpoint), timeout)
