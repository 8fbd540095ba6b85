"""The aws target against MiniStack with AWS's timings injected (Docker tier, slow).

``SQSKIT_AWS_TIMINGS=aws``: every task is PROVISIONING and PENDING for 30 s before the
emulator's RunTask runs it, DEPROVISIONING for 30 s after its container exits, and its log
lines reach the engine in 5 s batches (scenarios/aws/timings.py). ``happy``, ``crash`` and
``duplicates`` must still pass, through Terraform, RunTask and CloudWatch Logs, with their ECS
declarations; ``kill-mid-run`` is declared unsupported on ECS and is skipped with the reason.
The reports carry what the recorder measured, labelled as the emulator's and the model's.

As in test_aws_emulator_e2e.py, the tasks run with ``networkMode=host`` (CI's dockerd has no
bridge network).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.tiers import docker_available, skip_or_fail, terraform_available

# Minutes per run (a Terraform apply, then 30 s start-up and 30 s teardown per task): `make
# test-long`. `make test` keeps the rehearsal at parity (test_aws_emulator_e2e.py) and the unit
# tests of the timing model and of the ECS declarations.
pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.long]

IMAGE = os.environ.get("SQSKIT_CONSUMER_IMAGE", "sqs-kit-consumer:local")
BIN = Path(sys.executable).parent
REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _require_tools() -> None:
    for ok, detail, var in (
        (*docker_available(), "REQUIRE_DOCKER"),
        (*terraform_available(), "REQUIRE_TERRAFORM"),
    ):
        if not ok:
            skip_or_fail(f"rehearsal with timings skipped: {detail}", required_by=var)
    probe = subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False)
    if probe.returncode != 0:
        skip_or_fail(
            f"consumer image {IMAGE} is missing (make image)", required_by="REQUIRE_DOCKER"
        )


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A MiniStack whose ECS runs containers, the main infrastructure in it, the run's env."""
    _require_tools()
    from core.terraform import MAIN_ROOT
    from core.terraform.cli import copy_config
    from core.terraform.main_infra import MainInfrastructure

    base = tmp_path_factory.mktemp("timings")
    port = _free_port()
    log = (base / "ministack.log").open("w")
    env = {**os.environ, "GATEWAY_PORT": str(port), "BIND_HOST": "127.0.0.1", "LOG_LEVEL": "INFO"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ministack"], stdout=log, stderr=subprocess.STDOUT, env=env
    )
    endpoint = f"http://127.0.0.1:{port}"
    project = f"e2e-timed-{secrets.token_hex(3)}"  # never matches cleanup's sqskit-* default
    workdir = Path(tempfile.mkdtemp(prefix="sqskit-e2e-timed-"))
    main: MainInfrastructure | None = None
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=1):  # noqa: S310
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"MiniStack did not start; see {log.name}") from None
                time.sleep(0.1)
        main = MainInfrastructure(
            endpoint_url=endpoint,
            region=REGION,
            variables={"aws_region": REGION, "project_name": project, "desired_count": 0},
            workdir=copy_config(MAIN_ROOT, workdir),
        )
        (base / "main.json").write_text(json.dumps(main.apply(), default=str))
        yield {
            "endpoint": endpoint,
            "reports": str(base / "reports"),
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "SQSKIT_AWS_TIMINGS": "aws",
            "SQSKIT_AWS_NETWORK_MODE": "host",
            "SQSKIT_AWS_CONTAINER_IMAGE": IMAGE,
            "SQSKIT_AWS_MAIN_OUTPUTS": str(base / "main.json"),
        }
    finally:
        try:
            if main is not None:
                main.destroy()
        finally:
            cluster_arn = f"arn:aws:ecs:{REGION}:000000000000:cluster/{project}"
            ids = subprocess.run(
                [
                    "docker",
                    "ps",
                    "-aq",
                    "--filter",
                    f"label=com.amazonaws.ecs.cluster={cluster_arn}",
                ],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.split()
            if ids:
                subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, check=False)
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
            shutil.rmtree(workdir, ignore_errors=True)


def _run(name: str, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], Any]:
    """`scenario run NAME --target aws` against the rehearsal; (process, its JSON report)."""
    reports = Path(env["reports"]) / name
    proc = subprocess.run(
        [
            str(BIN / "scenario"), "run", name, "--target", "aws", "--endpoint", env["endpoint"],
            "--region", REGION, "--report-dir", str(reports), "--json",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **{k: v for k, v in env.items() if k.isupper()}},
        timeout=1500,
        check=False,
    )  # fmt: skip
    found = list(reports.glob(f"*/{name}.json"))
    return proc, json.loads(found[0].read_text()) if found else None


@pytest.mark.timeout(1800)
@pytest.mark.parametrize(
    "name",
    ["happy", "crash", "duplicates"],
)
def test_scenarios_pass_with_aws_timings(rehearsal: dict[str, str], name: str) -> None:
    proc, report = _run(name, rehearsal)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert report is not None and report["passed"] is True
    info = report["target_info"]
    # THEN it ran on the modelled timings: 10 s PROVISIONING and 30 s DEPROVISIONING per task,
    # as AWS's own timestamps (the model's here) say, and the report labels them as such
    assert info["timing_model"]["startup_s"] == 30.0
    recorded = info["aws_timings"]
    assert recorded["measured_on"] == "emulator" and "timing model" in recorded["note"]
    metrics = recorded["metrics"]
    assert metrics["provisioning_s"]["n"] >= 1 and metrics["provisioning_s"]["max"] == 10.0
    assert metrics["deprovisioning_s"]["n"] >= 1 and metrics["deprovisioning_s"]["min"] == 30.0
    assert metrics["log_delay_s"]["n"] > 0
    # AND a consumer counts as started only once its task ran (never before RunTask returned)
    assert all(c["exit_code"] is not None for p in report["phases"] for c in p["consumers"])


@pytest.mark.timeout(300)
def test_kill_mid_run_is_skipped_on_ecs_with_the_reason(rehearsal: dict[str, str]) -> None:
    proc, report = _run("kill-mid-run", rehearsal)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert report is not None and report["status"] == "skipped"
    assert "ECS cannot SIGKILL" in report["reason"]
