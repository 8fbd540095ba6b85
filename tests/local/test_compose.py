"""Container emulators through the compose profiles (docker tier: skipped without an engine).

No registry is reachable here, so a profile runs only when its image is present locally. CI
builds `sqs-kit-ministack:local` offline, so the ministack profile always runs there; the
LocalStack and moto profiles run wherever their public images have been pulled.
"""

from __future__ import annotations

import subprocess

import pytest

from core import capabilities as cap
from local.conformance import run_probe
from local.emulators import select
from local.emulators.base import free_port, identify
from local.emulators.compose import docker_available
from tests.fixtures.tiers import skip_or_fail

LOCAL_MINISTACK_IMAGE = "sqs-kit-ministack:local"
PUBLIC_IMAGES = {
    "localstack": "localstack/localstack:4.14.0",
    "moto": "motoserver/moto:5.2.5",
}


def _image_present(image: str) -> bool:
    proc = subprocess.run(
        ["docker", "image", "inspect", image], capture_output=True, check=False, timeout=30
    )
    return proc.returncode == 0


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize("service", ["ministack", "moto", "localstack"])
def test_compose_profile_starts_answers_and_stops(require_docker, service, monkeypatch):
    ok, why = docker_available()
    if not ok:
        skip_or_fail(f"compose emulators skipped: {why}", required_by="REQUIRE_DOCKER")
    if service == "ministack":
        if not _image_present(LOCAL_MINISTACK_IMAGE):
            skip_or_fail(
                f"{LOCAL_MINISTACK_IMAGE} is not built (python -m local.docker build all)",
                required_by="REQUIRE_DOCKER",
            )
        # The offline image, on the host network (this machine's dockerd has no bridge).
        monkeypatch.setenv("MINISTACK_IMAGE", LOCAL_MINISTACK_IMAGE)
        monkeypatch.setenv("SQSKIT_EMULATOR_NETWORK", "host")
        monkeypatch.setenv("SQSKIT_EMULATOR_BIND", "127.0.0.1")
    elif not _image_present(PUBLIC_IMAGES[service]):
        # Not a missing tool: no registry can be reached here, so the image cannot exist. A
        # machine that can pull it sets REQUIRE_PUBLIC_IMAGES=1 to make this a failure.
        skip_or_fail(
            f"{PUBLIC_IMAGES[service]} is not present locally and cannot be pulled",
            required_by="REQUIRE_PUBLIC_IMAGES",
        )
    kind = "localstack" if service == "localstack" else f"compose:{service}"
    port = free_port()
    with select(kind, port=port) as sel:
        assert sel.owned, sel.reason
        assert sel.emulator.ready(0)
        assert identify(sel.endpoint) == service
        report = run_probe(sel.endpoint, emulator=service, only="sqs.dlq")
        assert cap.SQS_DLQ in report.capabilities(), [r.detail for r in report.failed]
    assert not sel.emulator.ready(0)
