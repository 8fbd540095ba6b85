"""The Makefile's aws-* targets, dry-run (`make -n`): nothing reaches AWS."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.fixtures.tiers import skip_or_fail
from tests.terraform.conftest import REPO_ROOT

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _require_make() -> None:
    # CI runs the suite through make, so a missing make there is a failure, not a skip
    if shutil.which("make") is None:
        skip_or_fail("make is not on PATH", required_by="CI")


def _make_n(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"TAG", "COUNT", "MAKEFLAGS"}}
    return subprocess.run(
        ["make", "-n", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_aws_up_without_a_tag_is_refused_with_the_next_step():
    # WHEN aws-up would start the service (default desired_count 1) with no image tag
    proc = _make_n("aws-up")
    # THEN make stops before terraform runs, naming TAG and how to get one
    assert proc.returncode != 0
    assert "TAG=<image tag> is required" in proc.stderr
    assert "make aws-build-push" in proc.stderr
    assert "terraform" not in proc.stdout


def test_aws_up_with_a_tag_passes_it_to_terraform():
    proc = _make_n("aws-up", "TAG=3f9a1c2b7d4e", "COUNT=2")
    assert proc.returncode == 0, proc.stderr
    assert "-var container_image_tag=3f9a1c2b7d4e -var desired_count=2" in proc.stdout


def test_aws_up_with_count_0_needs_no_tag():
    # The first deploy creates the ECR repository, before any image can be pushed.
    proc = _make_n("aws-up", "COUNT=0")
    assert proc.returncode == 0, proc.stderr
    assert "-var desired_count=0" in proc.stdout
    assert "container_image_tag" not in proc.stdout
