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
    unset = {"ECR_REPO", "QUEUE_URL", "IMAGE_TAG", "AWS_REGION", "AWS_ENDPOINT_URL"}
    unset |= {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "SQSKIT_ENV_FILE"}
    clean = {k: v for k, v in os.environ.items() if k not in unset}
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


LOCAL_UP_ENV = """\
# Written by `make local-up`
QUEUE_URL=http://127.0.0.1:4599/000000000000/sqs-demo-queue
AWS_REGION=us-east-1
AWS_ENDPOINT_URL=http://127.0.0.1:4599
AWS_ACCESS_KEY_ID=test
AWS_SECRET_ACCESS_KEY=test
"""


def _fake_produce(bin_dir: Path) -> None:
    bin_dir.mkdir()
    script = bin_dir / "produce"
    script.write_text(
        '#!/usr/bin/env bash\necho "args: $*"\necho "endpoint: ${AWS_ENDPOINT_URL:-none}"\n'
        'echo "key: ${AWS_ACCESS_KEY_ID:-none}"\n'
    )
    script.chmod(0o755)


def test_run_producer_reaches_the_local_emulator_from_dotenv_alone(checkout: Path) -> None:
    # GIVEN the .env `make local-up` writes, and nothing exported
    (checkout / ".env").write_text(LOCAL_UP_ENV)
    _fake_produce(checkout / "bin")
    path = f"{checkout / 'bin'}:{os.environ['PATH']}"
    result = _run(checkout, "run_producer.sh", "--n", "25", "--rate", "5", PATH=path)
    # THEN produce gets the queue, region, endpoint and the emulator's keys from it
    assert result.returncode == 0, result.stderr
    assert "--queue-url http://127.0.0.1:4599/000000000000/sqs-demo-queue" in result.stdout
    assert "--region us-east-1 --n 25 --rate 5" in result.stdout
    assert "endpoint: http://127.0.0.1:4599" in result.stdout
    assert "key: test\n" in result.stdout


def test_an_exported_value_wins_and_sqskit_env_file_names_another_file(checkout: Path) -> None:
    other = checkout / "elsewhere.env"
    other.write_text(LOCAL_UP_ENV)
    _fake_produce(checkout / "bin")
    path = f"{checkout / 'bin'}:{os.environ['PATH']}"
    result = _run(
        checkout, "run_producer.sh", PATH=path, SQSKIT_ENV_FILE=str(other), AWS_REGION="eu-west-1"
    )
    assert result.returncode == 0, result.stderr
    assert "sqs-demo-queue --region eu-west-1" in result.stdout
    assert "endpoint: http://127.0.0.1:4599" in result.stdout


# -- make aws-rehearsal ----------------------------------------------------------------------------

FAKE_SCENARIO = """#!/usr/bin/env bash
# Records each call; `run` writes a report where the real one would, `diff` exits $DIFF_RC.
echo "$*" >> "$CALLS"
if [[ $1 == run ]]; then
  while [[ $# -gt 0 ]]; do [[ $1 == --report-dir ]] && dir=$2; shift; done
  [[ ${FAIL_RUN:-} == "$dir" ]] && exit 3
  mkdir -p "$dir/20260101-000000-x" && echo '{}' > "$dir/20260101-000000-x/happy.json"
  exit 0
fi
exit "${DIFF_RC:-0}"
"""


@pytest.fixture
def rehearsal_checkout(checkout: Path) -> Path:
    (checkout / ".venv" / "bin").mkdir(parents=True)
    fake = checkout / ".venv" / "bin" / "scenario"
    fake.write_text(FAKE_SCENARIO)
    fake.chmod(0o755)
    return checkout


def _calls(checkout: Path) -> list[str]:
    return (checkout / "calls.log").read_text().splitlines()


def test_aws_rehearsal_runs_both_targets_then_diffs_local_against_aws(
    rehearsal_checkout: Path,
) -> None:
    out = rehearsal_checkout / "out"
    env = {"CALLS": str(rehearsal_checkout / "calls.log"), "REHEARSAL_DIR": str(out)}
    result = _run(rehearsal_checkout, "aws_rehearsal.sh", "happy", "--count", "10", **env)
    assert result.returncode == 0, result.stderr
    assert _calls(rehearsal_checkout) == [
        f"run happy --target aws --emulator auto --report-dir {out}/aws --count 10",
        f"run happy --target local --report-dir {out}/local --count 10",
        f"diff {out}/local/20260101-000000-x/happy.json {out}/aws/20260101-000000-x/happy.json",
    ]


def test_aws_rehearsal_fails_with_the_diff_or_the_failed_run(rehearsal_checkout: Path) -> None:
    out = rehearsal_checkout / "out"
    env = {"CALLS": str(rehearsal_checkout / "calls.log"), "REHEARSAL_DIR": str(out)}
    # a difference beyond the target fails the target
    assert _run(rehearsal_checkout, "aws_rehearsal.sh", **env, DIFF_RC="1").returncode == 1
    # a failed rehearsal stops there, with its own exit code, before the local run
    (rehearsal_checkout / "calls.log").unlink()
    env["REHEARSAL_DIR"] = f"{out}2"
    failed = _run(rehearsal_checkout, "aws_rehearsal.sh", **env, FAIL_RUN=f"{out}2/aws")
    assert failed.returncode == 3
    assert len(_calls(rehearsal_checkout)) == 1
