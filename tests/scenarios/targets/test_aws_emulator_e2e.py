"""The whole `aws` target path with MiniStack standing in for AWS (Docker tier, slow).

terraform apply (main infrastructure + the run's workspace, through tflocal) -> RunTask ->
the consumer image runs as an ECS task on the Docker engine -> its JSON events are read back
from CloudWatch Logs -> the oracle -> terraform destroy. Then the same scenario on
``--target local`` and ``scenario diff``: only target-specific fields may differ.

The one deviation from AWS: the task runs with ``networkMode=host``. MiniStack puts awsvpc
tasks on Docker's default bridge, which CI's dockerd (``--bridge=none``) does not have, so an
awsvpc consumer cannot reach the emulator (see docs/aws.md, "Emulator-backed runs").
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

import pytest

from tests.fixtures.tiers import skip_or_fail

pytestmark = [pytest.mark.docker, pytest.mark.slow]

IMAGE = os.environ.get("SQSKIT_CONSUMER_IMAGE", "sqs-kit-consumer:local")
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def ministack_with_docker(require_docker: str, tmp_path: Path) -> Iterator[str]:
    """A MiniStack of our own whose ECS runs task containers on the Docker engine."""
    probe = subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False)
    if probe.returncode != 0:
        skip_or_fail(
            f"consumer image {IMAGE} is missing (make docker-build)", required_by="REQUIRE_DOCKER"
        )
    port = _free_port()
    log = (tmp_path / "ministack.log").open("w")
    env = {**os.environ, "GATEWAY_PORT": str(port), "BIND_HOST": "127.0.0.1", "LOG_LEVEL": "INFO"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ministack"], stdout=log, stderr=subprocess.STDOUT, env=env
    )
    endpoint = f"http://127.0.0.1:{port}"
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
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _remove_task_containers(cluster_arn: str) -> None:
    ids = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=com.amazonaws.ecs.cluster={cluster_arn}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, check=False)


def _scenario(
    *args: str, env: dict[str, str], timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "scenario"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=timeout,
        check=False,
    )


def test_happy_runs_through_terraform_ecs_and_cloudwatch_at_parity_with_local(
    ministack_with_docker: str, require_terraform: str, tmp_path: Path
) -> None:
    from core.terraform import MAIN_ROOT
    from core.terraform.cli import copy_config
    from core.terraform.main_infra import MainInfrastructure

    endpoint = ministack_with_docker
    region = "us-east-1"
    project = f"e2e-main-{secrets.token_hex(3)}"  # never matches cleanup's sqskit-* default
    workdir = Path(tempfile.mkdtemp(prefix="sqskit-e2e-main-"))
    main = MainInfrastructure(
        endpoint_url=endpoint,
        region=region,
        variables={"aws_region": region, "project_name": project, "desired_count": 0},
        workdir=copy_config(MAIN_ROOT, workdir),
    )
    env = {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "SQSKIT_AWS_NETWORK_MODE": "host",
        "SQSKIT_AWS_CONTAINER_IMAGE": IMAGE,
        "SQSKIT_AWS_MAIN_OUTPUTS": str(tmp_path / "main.json"),
    }
    cluster_arn = f"arn:aws:ecs:{region}:000000000000:cluster/{project}"
    try:
        # GIVEN the main infrastructure, applied with tflocal (its service scaled to 0)
        (tmp_path / "main.json").write_text(json.dumps(main.apply(), default=str))

        # WHEN happy runs on the aws target (Terraform workspace, ECS tasks, CloudWatch)
        aws = _scenario(
            "run", "happy", "--target", "aws", "--endpoint", endpoint, "--region", region,
            "--count", "10", "--report-dir", str(tmp_path / "aws"), "--json",
            env=env,
        )  # fmt: skip
        assert aws.returncode == 0, aws.stdout[-3000:] + aws.stderr[-3000:]
        (aws_report,) = (tmp_path / "aws").glob("*/happy.json")
        report = json.loads(aws_report.read_text())
        # THEN the oracle passed it, on ECS tasks, and nothing was lost
        assert report["passed"] is True
        assert report["target_info"]["runner"] == "ecs"
        assert report["target_info"]["provisioner"] == "terraform"
        assert report["counts"]["completed"] == 10 and report["counts"]["lost"] == 0
        assert all(c["exit_code"] == 0 for c in report["phases"][0]["consumers"])

        # AND the same scenario on the local target is at parity with it
        local = _scenario(
            "run", "happy", "--target", "local", "--emulator", "external", "--endpoint",
            endpoint, "--region", region, "--count", "10", "--report-dir",
            str(tmp_path / "local"), "--json",
            env=env,
        )  # fmt: skip
        assert local.returncode == 0, local.stdout[-3000:] + local.stderr[-3000:]
        (local_report,) = (tmp_path / "local").glob("*/happy.json")
        diff = _scenario("diff", str(local_report), str(aws_report), env=env, timeout=60)
        assert diff.returncode == 0, diff.stdout

        # AND the run left nothing running behind (only the deregistered revision remains)
        cleanup = _scenario(
            "cleanup", "--target", "aws", "--endpoint-url", endpoint, "--region", region,
            env=env, timeout=120,
        )  # fmt: skip
        assert cleanup.returncode == 0, cleanup.stderr
        live = [
            line
            for line in cleanup.stdout.splitlines()
            if line.startswith("  ") and "(inactive)" not in line
        ]
        assert live == [], cleanup.stdout
    finally:
        try:
            main.destroy()
        finally:
            _remove_task_containers(cluster_arn)
            shutil.rmtree(workdir, ignore_errors=True)
