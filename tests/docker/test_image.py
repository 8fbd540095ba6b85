"""The consumer image itself: size budget, non-root, read-only root, runtime deps only."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.docker

MAX_IMAGE_BYTES = 200 * 1024 * 1024


def _run(client: Any, image: str, *args: str, **kwargs: Any) -> str:
    out = client.containers.run(
        image,
        list(args),
        entrypoint=["python3", "-c"],
        network_mode="host",
        read_only=True,
        tmpfs={"/tmp": "rw,size=8m"},
        remove=True,
        labels={"sqs-kit.managed": "true", "sqs-kit.run": "tests-image"},
        **kwargs,
    )
    return str(out.decode().strip())


def test_image_is_within_the_size_budget(docker_client: Any, consumer_image: str) -> None:
    size = docker_client.images.get(consumer_image).attrs["Size"]
    assert 0 < size <= MAX_IMAGE_BYTES, f"{consumer_image} is {size / 1e6:.0f} MB"


def test_image_runs_as_non_root_on_a_read_only_root(
    docker_client: Any, consumer_image: str
) -> None:
    # WHEN the image starts with a read-only root filesystem
    out = _run(
        docker_client,
        consumer_image,
        "import os, pathlib\n"
        "print(os.getuid())\n"
        "try:\n"
        "    pathlib.Path('/opt/sqs-kit/x').write_text('x'); print('writable')\n"
        "except OSError: print('read-only')\n",
    )
    uid, writable = out.splitlines()
    # THEN it is not root, and nothing under / can be written
    assert int(uid) != 0
    assert writable == "read-only"


def test_image_has_python_313_and_only_the_runtime_dependencies(
    docker_client: Any, consumer_image: str
) -> None:
    out = _run(
        docker_client,
        consumer_image,
        "import sys, importlib.util as u\n"
        "print('%d.%d' % sys.version_info[:2])\n"
        "print(','.join(m for m in ('boto3','cachetools','consumer','click','rich','moto',"
        "'ministack','scenarios','producer') if u.find_spec(m)))\n",
    )
    version, present = out.splitlines()
    assert version == "3.13"
    assert present.split(",") == ["boto3", "cachetools", "consumer"]


def test_consumer_without_configuration_exits_with_the_config_code(
    docker_client: Any, consumer_image: str
) -> None:
    # GIVEN no QUEUE_URL: the consumer must refuse to start, naming the variable
    container = docker_client.containers.run(
        consumer_image,
        detach=True,
        network_mode="host",
        read_only=True,
        tmpfs={"/tmp": "rw,size=8m"},
        labels={"sqs-kit.managed": "true", "sqs-kit.run": "tests-image"},
    )
    try:
        result = container.wait(timeout=60)
        logs = container.logs().decode()
    finally:
        container.remove(force=True)
    assert result["StatusCode"] == 2  # EXIT_CONFIG
    assert "QUEUE_URL" in logs
