"""Region resolution: the flag, the environment, the SDK's own profile config, then the default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core import aws
from core.errors import ConfigError
from core.terraform import MAIN_ROOT

pytestmark = pytest.mark.unit


@pytest.fixture
def no_region(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No region exported and an empty AWS config file; returns the config file's path."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "config"
    config.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    return config


def test_the_default_is_the_main_infrastructures_default(no_region: Path) -> None:
    # The kit's last resort is where `make aws-up` puts the cluster by default.
    variables = (MAIN_ROOT / "variables.tf").read_text()
    match = re.search(r'variable "aws_region" \{[^}]*default\s*=\s*"([^"]+)"', variables)
    assert match is not None
    assert aws.DEFAULT_REGION == match.group(1) == "us-west-1"
    choice = aws.region_choice()
    assert choice.region == "us-west-1"
    assert not choice.chosen


def test_the_profile_region_in_the_aws_config_is_used_before_the_default(
    no_region: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN ~/.aws/config with a default region and a named profile
    no_region.write_text("[default]\nregion = eu-north-1\n\n[profile p]\nregion = ap-south-1\n")
    # THEN the default profile's region wins over the kit's default
    assert aws.resolve_region() == "eu-north-1"
    assert "profile" in aws.region_choice().source
    # AND a named profile (argument or AWS_PROFILE) gives its own
    assert aws.resolve_region(profile="p") == "ap-south-1"
    monkeypatch.setenv("AWS_PROFILE", "p")
    assert aws.resolve_region() == "ap-south-1"
    # AND the boto3 client is built in that region, not in a hard-coded one
    assert aws.client("sqs").meta.region_name == "ap-south-1"


def test_environment_and_flag_win_in_order(
    no_region: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_region.write_text("[default]\nregion = eu-north-1\n")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    assert aws.region_choice() == aws.RegionChoice("eu-west-3", "AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "eu-west-2")
    assert aws.region_choice() == aws.RegionChoice("eu-west-2", "AWS_REGION")
    choice = aws.region_choice("ca-central-1")
    assert choice.region == "ca-central-1" and choice.chosen


def test_an_unknown_profile_is_one_clear_line(no_region: Path) -> None:
    with pytest.raises(ConfigError, match="AWS_PROFILE='nope' names no profile"):
        aws.resolve_region(profile="nope")
