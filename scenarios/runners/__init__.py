"""Consumer runners: `process` (subprocesses), `docker` (containers), `ecs` (Fargate tasks)."""

from __future__ import annotations

from pathlib import Path

from core.errors import ConfigError, InfrastructureError
from local.docker.engine import docker_runner_available
from scenarios.model import RestartPolicy
from scenarios.runners.base import ConsumerHandle, ConsumerRunner, parse_event
from scenarios.runners.docker import DockerRunner
from scenarios.runners.process import ProcessRunner

__all__ = [
    "ConsumerHandle",
    "ConsumerRunner",
    "RestartPolicy",
    "docker_image",
    "get_runner",
    "parse_event",
    "resolve_runner",
]

LOCAL_RUNNERS = ("auto", "process", "docker")
IMAGE_REPOSITORY = "sqs-kit-consumer"


def docker_image(image_tag: str | None) -> str:
    """The consumer image for ``--image-tag`` (``sqs-kit-consumer:local`` by default)."""
    if image_tag and (":" in image_tag or "/" in image_tag):
        return image_tag  # a full reference
    return f"{IMAGE_REPOSITORY}:{image_tag or 'local'}"


def resolve_runner(name: str, *, image_tag: str | None = None) -> tuple[str, str]:
    """(runner name, why) for ``--runner auto|process|docker``.

    ``auto`` picks docker when an engine answers and the consumer image is built, and the
    process runner otherwise.
    """
    if name not in LOCAL_RUNNERS:
        raise ConfigError(f"--runner {name!r} is invalid: choose one of {', '.join(LOCAL_RUNNERS)}")
    if name == "process":
        return "process", "--runner process was asked for"
    ok, why = docker_runner_available(docker_image(image_tag))
    if name == "docker":
        if not ok:
            raise InfrastructureError(f"--runner docker cannot run: {why}")
        return "docker", f"--runner docker was asked for ({why})"
    if ok:
        return "docker", f"a Docker engine and the consumer image are available ({why})"
    return "process", f"no docker runner: {why}"


def get_runner(
    name: str,
    *,
    log_dir: Path,
    image_tag: str | None = None,
    run_id: str | None = None,
) -> ConsumerRunner:
    """Build the runner called ``name`` (``process`` or ``docker``; resolve ``auto`` first)."""
    if name == "process":
        return ProcessRunner(log_dir)
    if name == "docker":
        return DockerRunner(docker_image(image_tag), run_id=run_id, log_dir=log_dir)
    raise ConfigError(f"unknown runner {name!r}: choose 'process' or 'docker'")
