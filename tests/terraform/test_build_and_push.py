"""scripts/build_and_push.sh against stub `aws` and `docker` commands: an existing tag is kept."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.terraform.conftest import REPO_ROOT

pytestmark = pytest.mark.integration

REPO = "123456789012.dkr.ecr.us-west-1.amazonaws.com/sqs-demo"
TAG = "3f9a1c2b7d4e"

# `aws ecr describe-images`: $DESCRIBE picks the answer; every call is logged.
AWS_STUB = """#!/usr/bin/env bash
echo "aws $*" >>"$CALLS"
case "$1 $2" in
  "ecr describe-images")
    case "$DESCRIBE" in
      found) echo '{"imageDetails": [{"imageTags": ["x"]}]}' ;;
      missing) echo "An error occurred (ImageNotFoundException) when calling the DescribeImages" \\
        "operation: The image with imageId {imageTag:x} does not exist" >&2; exit 254 ;;
      *) echo "An error occurred (AccessDeniedException) when calling the DescribeImages" \\
        "operation: not authorized to perform: ecr:DescribeImages" >&2; exit 254 ;;
    esac ;;
  "ecr get-login-password") echo password ;;
esac
"""
DOCKER_STUB = """#!/usr/bin/env bash
echo "docker $*" >>"$CALLS"
[[ $1 == buildx ]] && exit 1  # no buildx: the plain `docker build` path
[[ $1 == login ]] && cat >/dev/null
exit 0
"""


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    shutil.copytree(REPO_ROOT / "scripts", tmp_path / "scripts")
    (tmp_path / ".wheelhouse" / "consumer").mkdir(parents=True)
    (tmp_path / ".env").write_text(f"ECR_REPO={REPO}\nAWS_REGION=us-west-1\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("aws", AWS_STUB), ("docker", DOCKER_STUB)):
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755 | stat.S_IEXEC)
    return tmp_path


def _run(checkout: Path, describe: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    calls = checkout / "calls.log"
    calls.touch()
    keep = {k: v for k, v in os.environ.items() if k not in {"ECR_REPO", "AWS_REGION", "DRY_RUN"}}
    env = {
        **keep,
        "PATH": f"{checkout / 'bin'}:{os.environ['PATH']}",
        "IMAGE_TAG": TAG,
        "CALLS": str(calls),
        "DESCRIBE": describe,
    }
    proc = subprocess.run(
        ["bash", str(checkout / "scripts" / "build_and_push.sh")],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return proc, calls.read_text().splitlines()


def test_a_tag_already_in_ecr_is_neither_built_nor_pushed(checkout: Path):
    # GIVEN the tag was pushed by an earlier run on the same commit
    proc, calls = _run(checkout, "found")
    # THEN the script says so, exits 0 and never touches docker
    assert proc.returncode == 0, proc.stderr
    assert f"{REPO}:{TAG} is already in ECR (tags are immutable): nothing to build or push" in (
        proc.stdout
    )
    assert f"make aws-up TAG={TAG}" in proc.stdout
    assert (
        f"aws ecr describe-images --region us-west-1 --repository-name sqs-demo "
        f"--image-ids imageTag={TAG}"
    ) in calls
    assert not [c for c in calls if c.startswith("docker")], calls


def test_a_new_tag_is_built_and_pushed(checkout: Path):
    proc, calls = _run(checkout, "missing")
    assert proc.returncode == 0, proc.stderr
    assert f"pushed {REPO}:{TAG}" in proc.stdout
    assert any(c.startswith("docker build --platform linux/amd64") for c in calls), calls
    assert f"docker push {REPO}:{TAG}" in calls


def test_a_failed_check_stops_before_building(checkout: Path):
    # An unreadable repository is not "the tag is missing": building would only fail at the push.
    proc, calls = _run(checkout, "denied")
    assert proc.returncode != 0
    assert "cannot check" in proc.stderr and "AccessDeniedException" in proc.stderr
    assert not [c for c in calls if c.startswith("docker")], calls
