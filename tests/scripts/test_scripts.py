"""The seed's scripts, in dry-run mode: tag naming, .env loading, linux/amd64, ECR login."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.tiers import skip_or_fail

pytestmark = pytest.mark.integration

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
REPO = "123456789012.dkr.ecr.us-west-1.amazonaws.com/sqs-demo"


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        skip_or_fail("git is not on PATH", required_by="CI")
    shutil.copytree(SCRIPTS, tmp_path / "scripts")
    (tmp_path / ".wheelhouse" / "consumer").mkdir(parents=True)
    (tmp_path / ".env").write_text(
        f"# written by terraform\nQUEUE_URL=https://sqs.example/q\nECR_REPO={REPO}\n"
        "AWS_REGION=us-west-1\n"
    )
    (tmp_path / "tracked").write_text("a\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "tracked")
    _git(tmp_path, "commit", "-qm", "init")
    return tmp_path


def _run(checkout: Path, script: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"ECR_REPO", "QUEUE_URL", "IMAGE_TAG"}}
    clean.pop("AWS_REGION", None)
    return subprocess.run(
        ["bash", str(checkout / "scripts" / script), *args],
        cwd=checkout,
        capture_output=True,
        text=True,
        env={**clean, "DRY_RUN": "1", **env},
        timeout=60,
        check=False,
    )


def test_build_and_push_tags_with_the_git_sha_and_logs_in_to_ecr(checkout: Path) -> None:
    sha = _git(checkout, "rev-parse", "--short=12", "HEAD")
    result = _run(checkout, "build_and_push.sh")
    assert result.returncode == 0, result.stderr
    assert "--platform linux/amd64" in result.stderr
    assert f"-t {REPO}:{sha} " in result.stderr
    assert "aws ecr get-login-password --region us-west-1" in result.stderr
    assert f"--password-stdin {REPO.split('/', maxsplit=1)[0]}" in result.stderr
    assert f"docker push {REPO}:{sha}" in result.stderr
    assert f"-var container_image_tag={sha}" in result.stdout


def test_a_dirty_tree_gets_a_timestamped_tag(checkout: Path) -> None:
    (checkout / "tracked").write_text("changed\n")
    sha = _git(checkout, "rev-parse", "--short=12", "HEAD")
    result = _run(checkout, "build_and_push.sh")
    assert result.returncode == 0, result.stderr
    assert f"{REPO}:{sha}-dirty-" in result.stdout


def test_explicit_tag_and_environment_win_over_dotenv(checkout: Path) -> None:
    result = _run(checkout, "build_and_push.sh", IMAGE_TAG="v1", ECR_REPO="other/repo")
    assert "pushed other/repo:v1" in result.stdout


def test_missing_ecr_repo_is_a_clear_error(checkout: Path) -> None:
    (checkout / ".env").write_text("AWS_REGION=us-west-1\n")
    result = _run(checkout, "build_and_push.sh")
    assert result.returncode != 0
    assert "ECR_REPO is not set" in result.stderr


def test_set_env_prints_exports_from_dotenv(checkout: Path) -> None:
    result = _run(checkout, "set_env.sh", "--print")
    assert result.returncode == 0, result.stderr
    assert "export QUEUE_URL=https://sqs.example/q" in result.stdout
    assert "export AWS_REGION=us-west-1" in result.stdout
