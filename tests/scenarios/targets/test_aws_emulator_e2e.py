"""The whole `aws` target path rehearsed on this machine, in one command (Docker tier, slow).

``scenario run happy --target aws --emulator ministack``: Docker check -> the consumer image
(built or reused) -> a private MiniStack (no `make local-up` here) with terraform/ applied
through tflocal -> the run's workspace -> RunTask (the consumer runs as a container on the
Docker engine) -> events from CloudWatch Logs -> the oracle -> destroy -> the emulator and its
task containers stopped. Then the same scenario on ``--target local`` and ``scenario diff``:
only target-specific fields may differ.

`tests/local/test_local_up_terraform.py` runs the other way: reusing `make local-up`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# terraform apply of two roots on a loaded 2-core machine: far beyond the default 300 s budget
pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1200)]

BIN = Path(sys.executable).parent


def _scenario(
    *args: str, env: dict[str, str], timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "scenario"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def _ministack_containers(port: int) -> list[str]:
    return subprocess.run(
        ["docker", "ps", "-aq", "--filter", "label=ministack=ecs", "--filter",
         f"label=ministack.instance={os.uname().nodename}:{port}"],
        capture_output=True, text=True, check=False,
    ).stdout.split()  # fmt: skip


def test_happy_rehearsed_in_one_command_is_at_parity_with_local(
    require_docker: str, require_terraform: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    env["SQSKIT_STATE_DIR"] = str(tmp_path / "no-local-up")  # never reuse a developer's
    env.pop("SQSKIT_AWS_NETWORK_MODE", None)

    # WHEN happy runs on the aws target with an emulator named, and nothing else
    aws = _scenario(
        "run", "happy", "--target", "aws", "--emulator", "ministack", "--count", "10",
        "--report-dir", str(tmp_path / "aws"), "--no-png", env=env,
    )  # fmt: skip
    assert aws.returncode == 0, aws.stdout[-3000:] + aws.stderr[-3000:]
    (aws_report,) = (tmp_path / "aws").glob("*/happy.json")
    report = json.loads(aws_report.read_text())
    info = report["target_info"]
    # THEN the oracle passed it, on ECS tasks through Terraform, and the report says how
    assert report["passed"] is True and report["counts"]["completed"] == 10
    assert info["rehearsal"] is True and info["emulator"] == "ministack"
    assert info["network_mode"] == "host"
    assert (info["runner"], info["provisioner"]) == ("ecs", "terraform")
    assert info["main_infrastructure"].startswith("started ministack")
    assert all(c["exit_code"] == 0 for c in report["phases"][0]["consumers"])
    # AND what it started is gone: the private emulator and its task containers
    port = int(info["endpoint"].rsplit(":", 1)[1])
    assert _ministack_containers(port) == []

    # AND the same scenario on the local target is at parity with it
    local = _scenario(
        "run", "happy", "--target", "local", "--emulator", "ministack", "--count", "10",
        "--report-dir", str(tmp_path / "local"), "--no-png", env=env,
    )  # fmt: skip
    assert local.returncode == 0, local.stdout[-3000:] + local.stderr[-3000:]
    (local_report,) = (tmp_path / "local").glob("*/happy.json")
    diff = _scenario("diff", str(local_report), str(aws_report), env=env, timeout=60)
    assert diff.returncode == 0, diff.stdout
