"""The .env file: one syntax (consumer.contract), read under the environment (core.dotenv)."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumer.__main__ import load_env_file
from consumer.contract import parse_env_file
from core import dotenv
from core.errors import ConfigError

pytestmark = pytest.mark.unit

LOCAL_UP_ENV = """\
# Written by `make local-up`
QUEUE_URL=http://127.0.0.1:4566/000000000000/sqs-demo-queue
export AWS_REGION="us-west-1"
AWS_ENDPOINT_URL='http://127.0.0.1:4566'
MESSAGE_STATUS_TABLE=sqs-demo-message-status
"""


def test_the_syntax_skips_comments_and_non_assignments_and_strips_quotes() -> None:
    text = "A=1\n\n# c=2\nexport B=\"x y\"\nlower=3\n9X=1\nC_2='q'\nno assignment\nD=a=b\nE=\n"
    assert parse_env_file(text) == {"A": "1", "B": "x y", "C_2": "q", "D": "a=b", "E": ""}


def test_an_exported_value_wins_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(LOCAL_UP_ENV)
    env = {"SQSKIT_ENV_FILE": str(path), "AWS_REGION": "eu-west-1"}
    merged = dotenv.layered(env)
    assert merged["AWS_REGION"] == "eu-west-1"
    assert merged["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert dotenv.lookup("AWS_ENDPOINT_URL", env) == "http://127.0.0.1:4566"
    assert dotenv.lookup("NOT_THERE", env) is None


def test_a_missing_file_is_empty_and_the_default_is_dot_env_here(tmp_path: Path) -> None:
    assert dotenv.read_env_file(tmp_path / "absent") == {}
    assert dotenv.env_file_path({}) == Path(".env")
    assert dotenv.env_file_path({"SQSKIT_ENV_FILE": "/x/y"}) == Path("/x/y")


def test_writing_the_same_values_again_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "sub" / ".env"
    values = {"QUEUE_URL": "http://q", "AWS_REGION": "us-west-1"}
    assert dotenv.write_env_file(path, values, header="written by a test") is True
    first = path.stat().st_mtime_ns
    assert dotenv.write_env_file(path, values, header="written by a test") is False
    assert path.stat().st_mtime_ns == first
    assert dotenv.read_env_file(path) == values
    assert dotenv.write_env_file(path, {**values, "AWS_REGION": "eu-west-1"}) is True
    assert dotenv.read_env_file(path)["AWS_REGION"] == "eu-west-1"


def test_main_dotenv_names_what_the_outputs_lack() -> None:
    outputs = {"queue_url": "http://q", "dlq_arn": "arn:dlq", "aws_region": "us-west-1"}
    with pytest.raises(ConfigError, match="lack ECR_REPO, MESSAGE_STATUS_TABLE"):
        dotenv.main_dotenv(outputs)
    complete = {
        **outputs,
        "ecr_repository_url": "1.dkr/x",
        "message_status_table": "s",
        "message_completed_table": "c",
        "dlq_url": "http://dlq",
    }
    values = dotenv.main_dotenv(complete, endpoint_url="http://127.0.0.1:1")
    assert values["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1" and values["DLQ_URL"] == "http://dlq"


# -- python -m consumer ---------------------------------------------------------------------------


def test_the_consumer_fills_what_is_not_exported_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(LOCAL_UP_ENV)
    environ = {"SQSKIT_ENV_FILE": str(path), "AWS_REGION": "eu-west-1"}
    added = load_env_file(environ)
    assert sorted(added) == [
        "AWS_ENDPOINT_URL",
        "MESSAGE_STATUS_TABLE",
        "QUEUE_URL",
    ]
    assert environ["QUEUE_URL"].endswith("sqs-demo-queue")
    assert environ["AWS_REGION"] == "eu-west-1"  # the exported value won


def test_a_launcher_that_sets_queue_url_owns_the_whole_environment(tmp_path: Path) -> None:
    # GIVEN a runner's environment (QUEUE_URL set, no tables: the in-memory store on purpose)
    path = tmp_path / ".env"
    path.write_text(LOCAL_UP_ENV)
    environ = {"SQSKIT_ENV_FILE": str(path), "QUEUE_URL": "http://127.0.0.1:1/0/run-queue"}
    # THEN the main stack's tables in .env do not leak into it
    assert load_env_file(environ) == []
    assert "MESSAGE_STATUS_TABLE" not in environ
