"""The consumer image against an emulator image, both through testcontainers-python."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.docker.conftest import FAST_CONSUMER_ENV, EmulatorContainer, send_messages

pytestmark = pytest.mark.docker


def test_consumer_container_completes_every_message(
    emulator_container: EmulatorContainer, container_stack: Any, consumer_image: str
) -> None:
    from testcontainers.core.container import DockerContainer

    # GIVEN 25 messages on a fresh queue in the container emulator
    ids = send_messages(container_stack, 25)
    env = {
        **container_stack.consumer_env(),
        **FAST_CONSUMER_ENV,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "CONSUMER_ID": "tc-consumer",
    }
    # WHEN the consumer image runs (host networking, read-only root) until it idles out
    consumer = (
        DockerContainer(consumer_image)
        .with_envs(**env)
        .with_tmpfs_mount("/tmp")
        .with_kwargs(
            network_mode="host",
            read_only=True,
            labels={"sqs-kit.managed": "true", "sqs-kit.run": "tests-tc"},
        )
    )
    consumer.start()
    try:
        wrapped = consumer.get_wrapped_container()
        result = wrapped.wait(timeout=120)
        stdout = wrapped.logs(stdout=True, stderr=False).decode()
    finally:
        consumer.stop()
    events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    completed = {e["message_id"] for e in events if e["event"] == "message.completed"}
    # THEN it exits 0 and completed each message exactly once
    assert result["StatusCode"] == 0, stdout[-2000:]
    assert completed == set(ids)
    assert sum(e["event"] == "message.completed" for e in events) == len(ids)
    assert all(e["consumer_id"] == "tc-consumer" for e in events)


def test_emulator_container_answers_on_loopback(emulator_container: EmulatorContainer) -> None:
    import boto3

    sqs = boto3.client("sqs", endpoint_url=emulator_container.endpoint, region_name="us-east-1")
    name = f"tc-probe-{int(time.time() * 1000)}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    try:
        assert name in url
        assert emulator_container.endpoint.startswith("http://127.0.0.1:")
    finally:
        sqs.delete_queue(QueueUrl=url)
