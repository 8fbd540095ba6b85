"""A user's consumer as containers: `--consumer-image` and a `--handler` mounted into the kit's."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from consumer.contract import EV_CONSUMER_STARTED
from scenarios.runners import handler_image_problem
from tests.docker.conftest import MINISTACK_IMAGE, free_port

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
HANDLER = "examples.idempotent_python.handler:handle"


def scenario(*args: str, reports: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """`scenario run happy --runner docker ...` from the repository root, on its own emulator."""
    argv = [str(Path(sys.executable).with_name("scenario")), "run", "happy", "--runner", "docker"]
    argv += ["--emulator", "ministack", "--emulator-port", str(free_port()), "--no-png"]
    argv += ["--report-dir", str(reports), *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False, cwd=ROOT)
    found = list(reports.glob("*/happy.json"))
    return proc, json.loads(found[0].read_text()) if found else {}


def test_an_image_is_judged_from_outside_through_the_pass_through(
    consumer_image: str, tmp_path: Path
) -> None:
    # GIVEN the kit's own image, used as somebody else's consumer image
    proc, report = scenario("--consumer-image", consumer_image, reports=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert report["consumer"] == f"--consumer-image {consumer_image}"
    assert report["target_info"]["runner"] == "docker" and report["target_info"]["passthrough"]
    # THEN it was judged from outside: the kit's records are not observable, the calls were seen
    assert "exactly one completed item per id" in report["not_observable"]
    logs = Path(report["phases"][0]["log_dir"])
    assert (logs / "passthrough-slot0.jsonl").read_text().count('"ReceiveMessage"') >= 1


def test_a_handler_runs_in_the_kits_image_with_the_working_directory_mounted(
    consumer_image: str, tmp_path: Path
) -> None:
    proc, report = scenario("--handler", HANDLER, "--image-tag", consumer_image, reports=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert report["consumer"] == f"--handler {HANDLER}"
    assert report["counts"]["effects"] == report["counts"]["sent"]
    assert report["not_observable"] == []  # the kit's worker: everything is seen
    # AND it was the user's handler that ran, not the image's own simulated work
    logs = Path(report["phases"][0]["log_dir"])
    started = [
        json.loads(line)
        for log in logs.glob("*.log")
        for line in log.read_text().splitlines()
        if EV_CONSUMER_STARTED in line
    ]
    assert started and all(e["settings"]["handler"] == HANDLER for e in started)


def test_a_missing_image_is_a_usage_error_before_anything_starts(
    docker_client: object, tmp_path: Path
) -> None:
    proc, report = scenario("--consumer-image", "sqs-kit-no-such:image", reports=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--consumer-image sqs-kit-no-such:image cannot run: the image is not on" in proc.stderr
    assert report == {}


@pytest.fixture
def stale_image(docker_client: Any, consumer_image: str) -> Iterator[str]:
    """The kit's image with its contract rewritten as it was before HANDLER; removed after."""
    tag = f"sqs-kit-consumer:stale-{free_port()}"
    dockerfile = (
        f"FROM {consumer_image}\n"
        "USER root\n"
        "RUN sed -i 's/HANDLER_PATH/UNKNOWN_PATH/g' /opt/sqs-kit/app/consumer/contract.py\n"
    )
    docker_client.images.build(
        fileobj=io.BytesIO(dockerfile.encode()), tag=tag, network_mode="none", rm=True
    )
    yield tag
    docker_client.images.remove(tag, force=True)


def test_an_image_that_predates_handlers_never_judges_one(
    consumer_image: str, stale_image: str, tmp_path: Path
) -> None:
    # GIVEN an image whose worker would ignore HANDLER and run its own work (and pass)
    assert handler_image_problem(consumer_image) is None
    assert "built before --handler support" in str(handler_image_problem(stale_image))
    assert "does not hold the kit's worker" in str(handler_image_problem(MINISTACK_IMAGE))
    # THEN --runner docker refuses it, before anything starts
    proc, report = scenario("--handler", HANDLER, "--image-tag", stale_image, reports=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"--handler with --runner docker: image {stale_image} was built before" in proc.stderr
    assert report == {}
