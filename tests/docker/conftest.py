"""Docker-tier fixtures: the locally built images and an emulator container (testcontainers).

Everything runs with host networking on loopback and free ports, with Ryuk disabled (there
is no registry to pull it from). The emulator is LocalStack when its image is present
locally, otherwise the MiniStack image built offline from the same base and wheelhouse.
"""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.fixtures.tiers import skip_or_fail

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

CONSUMER_IMAGE = os.environ.get("SQSKIT_CONSUMER_IMAGE", "sqs-kit-consumer:local")
MINISTACK_IMAGE = os.environ.get("SQSKIT_MINISTACK_IMAGE", "sqs-kit-ministack:local")
LOCALSTACK_IMAGE = os.environ.get("SQSKIT_TEST_LOCALSTACK_IMAGE", "localstack/localstack:4.14.0")
READY_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float, *, true_key: str | None = None) -> None:
    """Wait until ``url`` answers 2xx (and, with ``true_key``, its JSON has that key true)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback only
                if true_key is None or json.loads(resp.read()).get(true_key) is True:
                    return
        except (OSError, ValueError) as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout:.0f} s: {last}")


@pytest.fixture(scope="session")
def docker_client(require_docker: str) -> Iterator[Any]:
    import docker

    client = docker.from_env(timeout=120)
    yield client
    client.close()


def _image_or_skip(client: Any, image: str) -> str:
    import docker

    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        skip_or_fail(
            f"Docker tier skipped: image {image} is not built "
            "(python -m local.docker build all, or .ci/docker-setup.sh start)",
            required_by="REQUIRE_DOCKER",
        )
    return image


@pytest.fixture(scope="session")
def consumer_image(docker_client: Any) -> str:
    return _image_or_skip(docker_client, CONSUMER_IMAGE)


@dataclass(frozen=True)
class EmulatorContainer:
    endpoint: str
    image: str
    kind: str


def _has_image(client: Any, image: str) -> bool:
    import docker

    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        return False
    return True


@pytest.fixture(scope="session")
def emulator_container(docker_client: Any) -> Iterator[EmulatorContainer]:
    """An emulator in a container on host networking: LocalStack if present, else MiniStack."""
    from testcontainers.core.container import DockerContainer

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    if _has_image(docker_client, LOCALSTACK_IMAGE):
        kind, image = "localstack", LOCALSTACK_IMAGE
        container = DockerContainer(image).with_envs(
            GATEWAY_LISTEN=f"127.0.0.1:{port}",
            SERVICES="sqs,dynamodb,sts",
            SQS_ENDPOINT_STRATEGY="path",
            LOCALSTACK_HOST=f"127.0.0.1:{port}",
        )
        ready: tuple[str, str | None] = (
            f"{endpoint}/_localstack/init/ready",
            "completed",
        )
    else:
        kind, image = "ministack", _image_or_skip(docker_client, MINISTACK_IMAGE)
        container = DockerContainer(image).with_envs(
            GATEWAY_PORT=str(port), BIND_HOST="127.0.0.1", LOG_LEVEL="WARNING"
        )
        ready = (f"{endpoint}/_localstack/health", None)
    container = container.with_kwargs(
        network_mode="host", labels={"sqs-kit.managed": "true", "sqs-kit.run": "tests-emulator"}
    )
    container.start()
    try:
        wait_http(ready[0], READY_TIMEOUT_S, true_key=ready[1])
        yield EmulatorContainer(endpoint=endpoint, image=image, kind=kind)
    finally:
        container.stop()


@pytest.fixture
def container_stack(emulator_container: EmulatorContainer) -> Iterator[Any]:
    """A fresh, uniquely named stack on the container emulator, destroyed afterwards."""
    from core.provisioners.api import ApiProvisioner
    from core.stack import StackSpec, unique_prefix

    provisioner = ApiProvisioner(endpoint_url=emulator_container.endpoint, region="us-east-1")
    handle = provisioner.provision(
        StackSpec(prefix=unique_prefix("dkr"), visibility_timeout=5, receive_wait=1)
    )
    try:
        yield handle
    finally:
        provisioner.destroy(handle)


def send_messages(handle: Any, n: int, *, tag: str = "m") -> list[str]:
    import json

    import boto3

    sqs = boto3.client("sqs", endpoint_url=handle.endpoint_url, region_name=handle.region)
    ids = [f"{tag}-{i}" for i in range(n)]
    for start in range(0, n, 10):
        sqs.send_message_batch(
            QueueUrl=handle.queue_url,
            Entries=[
                {
                    "Id": str(i),
                    "MessageBody": json.dumps({"id": mid, "sent_at": int(time.time() * 1000)}),
                }
                for i, mid in enumerate(ids[start : start + 10])
            ],
        )
    return ids


# Fast, self-terminating consumers: no sleeps, exit 0 after 3 idle seconds.
FAST_CONSUMER_ENV = {
    "WAIT_TIME_SECONDS": "1",
    "SLEEP_MIN_SECONDS": "0",
    "SLEEP_MAX_SECONDS": "0",
    "IDLE_TIMEOUT_SECONDS": "3",
}
