"""The Docker engine as the kit uses it: a client, the labels on its containers, leftovers.

Every container the kit starts carries ``sqs-kit.managed=true`` and ``sqs-kit.run=<run id>``,
so :func:`remove_labelled_containers` (``python -m local.docker clean``) always finds leftovers.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from consumer.contract import (
    ENV_AWS_ENDPOINT_URL,
    ENV_AWS_ENDPOINT_URL_DYNAMODB,
    ENV_AWS_ENDPOINT_URL_SQS,
    ENV_QUEUE_URL,
)
from core.errors import ConfigError, InfrastructureError

log = logging.getLogger(__name__)

DEFAULT_IMAGE = "sqs-kit-consumer:local"
HOST_NETWORK = "host"
HOST_GATEWAY_NAME = "host.docker.internal"
LABEL_MANAGED = "sqs-kit.managed"
LABEL_RUN = "sqs-kit.run"
LABEL_SLOT = "sqs-kit.slot"
LABEL_CONSUMER = "sqs-kit.consumer-id"
# Variables whose URLs a container on a non-host network must reach differently.
URL_VARIABLES = (
    ENV_AWS_ENDPOINT_URL,
    ENV_QUEUE_URL,
    "DLQ_URL",
    ENV_AWS_ENDPOINT_URL_SQS,
    ENV_AWS_ENDPOINT_URL_DYNAMODB,
)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0"})


def docker_module() -> Any:
    """The Docker SDK module, or an InfrastructureError that says how to install it."""
    try:
        import docker
    except ImportError as exc:  # the kit extra installs it
        raise InfrastructureError(
            "the Docker SDK is missing: pip install 'sqs-kit[kit]' (or pip install docker)"
        ) from exc
    return docker


def docker_client(timeout: int = 60) -> Any:
    """A Docker SDK client for the engine in DOCKER_HOST (or the default socket)."""
    docker = docker_module()
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except docker.errors.DockerException as exc:
        raise InfrastructureError(f"no Docker engine answers: {exc}") from exc
    return client


def docker_runner_available(image: str = DEFAULT_IMAGE) -> tuple[bool, str]:
    """(True, engine version) when an engine answers and ``image`` exists locally.

    What ``--runner auto`` asks before choosing docker over process. Never pulls.
    """
    try:
        docker = docker_module()
    except InfrastructureError as exc:
        return False, str(exc)
    try:
        client = docker.from_env(timeout=5)
        version = client.version().get("Version", "?")
    except Exception as exc:  # any failure here just means "use the process runner"
        return False, f"no Docker engine answers: {exc}"
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        return False, f"image {image} is not built (python -m local.docker build consumer)"
    except docker.errors.DockerException as exc:
        return False, f"cannot inspect image {image}: {exc}"
    finally:
        client.close()
    return True, f"engine {version}, image {image}"


def container_safe_env(env: Mapping[str, str], endpoint_host: str) -> dict[str, str]:
    """``env`` with loopback URLs pointed at ``endpoint_host`` (``host`` or ``host:port``).

    >>> container_safe_env({"QUEUE_URL": "http://127.0.0.1:4566/000/q"}, "localstack:4566")
    {'QUEUE_URL': 'http://localstack:4566/000/q'}
    """
    if not endpoint_host or "/" in endpoint_host:
        raise ConfigError(
            f"endpoint_host={endpoint_host!r} is invalid: give host or host:port, e.g. "
            "localstack:4566"
        )
    out = dict(env)
    for name in URL_VARIABLES:
        value = out.get(name)
        if value:
            out[name] = _rewrite_loopback(value, endpoint_host)
    return out


def _rewrite_loopback(url: str, endpoint_host: str) -> str:
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK_HOSTS:
        return url
    netloc = endpoint_host
    if ":" not in endpoint_host and parts.port is not None:
        netloc = f"{endpoint_host}:{parts.port}"  # same port, reached through another host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def remove_labelled_containers(*, run_id: str | None = None, client: Any = None) -> list[str]:
    """Force-remove the kit's containers (one run's, or all); returns their names."""
    own = client is None
    client = client or docker_client()
    labels = [f"{LABEL_MANAGED}=true"] + ([f"{LABEL_RUN}={run_id}"] if run_id else [])
    removed = []
    try:
        for container in client.containers.list(all=True, filters={"label": labels}):
            with contextlib.suppress(Exception):
                container.remove(force=True)
                removed.append(container.name)
    finally:
        if own:
            client.close()
    if removed:
        log.info("docker.containers_removed", extra={"count": len(removed), "run": run_id})
    return removed
