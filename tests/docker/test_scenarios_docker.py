"""The CI contract: `scenario run happy|crash|kill-mid-run --target local --runner docker`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docker.conftest import free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.mark.parametrize("scenario", ["happy", "crash", "kill-mid-run"])
def test_scenario_passes_with_the_docker_runner(
    scenario: str, consumer_image: str, docker_client: object, tmp_path: Path
) -> None:
    scenario_cli = Path(sys.executable).with_name("scenario")
    argv = [str(scenario_cli), "run", scenario, "--target", "local", "--runner", "docker"]
    # the embedded emulator on a free port: never 4566, which other runs may hold
    argv += ["--emulator", "ministack", "--emulator-port", str(free_port())]
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert f"{scenario} PASSED" in out
    assert "runner docker" in out
    # every consumer container of this run's stacks was removed at teardown
    (report,) = tmp_path.glob(f"reports/*/{scenario}.json")
    stacks = [phase["stack"] for phase in json.loads(report.read_text())["phases"]]
    assert stacks
    for stack in stacks:
        leftovers = docker_client.containers.list(  # type: ignore[attr-defined]
            all=True, filters={"label": f"sqs-kit.run={stack}"}
        )
        assert leftovers == [], f"{len(leftovers)} container(s) of {stack} left behind"
