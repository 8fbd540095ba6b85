"""Which docker images get the settled stop: the label the consumer image declares it by."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from consumer.contract import IMAGE_LABEL_SETTLED_STOP, SIGNAL_SETTLED_STOP
from scenarios.runners.docker import DockerRunner

pytestmark = pytest.mark.unit

DOCKERFILE = Path(__file__).resolve().parents[3] / "consumer" / "Dockerfile"


class _Images:
    def __init__(self, labels: dict[str, str] | None, missing: bool = False) -> None:
        self.labels = labels
        self.missing = missing

    def get(self, image: str) -> Any:
        if self.missing:
            raise LookupError(f"no such image: {image}")
        return SimpleNamespace(labels=self.labels)


def _runner(images: _Images) -> DockerRunner:
    return DockerRunner("sqs-kit-consumer:t", client=SimpleNamespace(images=images))


@pytest.mark.parametrize(
    ("labels", "missing", "expected"),
    [
        ({IMAGE_LABEL_SETTLED_STOP: "SIGUSR1"}, False, SIGNAL_SETTLED_STOP),
        ({"sqs-kit.image": "consumer"}, False, None),  # built before the settled stop
        ({IMAGE_LABEL_SETTLED_STOP: "SIGUSR2"}, False, None),  # not the contract's signal
        (None, False, None),  # an image with no labels at all
        ({IMAGE_LABEL_SETTLED_STOP: "SIGUSR1"}, True, None),  # not built: the launch says so
    ],
    ids=["declared", "predates-it", "other-signal", "no-labels", "not-built"],
)
def test_only_an_image_that_declares_the_contracts_signal_gets_it(
    labels: dict[str, str] | None, missing: bool, expected: int | None
) -> None:
    assert _runner(_Images(labels, missing)).image_settled_stop() == expected


def test_the_consumer_image_declares_the_contracts_settled_stop() -> None:
    found = re.search(
        rf'{re.escape(IMAGE_LABEL_SETTLED_STOP)}="([A-Z0-9]+)"', DOCKERFILE.read_text()
    )
    assert found is not None, f"consumer/Dockerfile has no {IMAGE_LABEL_SETTLED_STOP} label"
    assert found.group(1) == SIGNAL_SETTLED_STOP.name
