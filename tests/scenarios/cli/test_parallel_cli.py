"""`--parallel`: its bounds and where it applies, before anything starts."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from scenarios.cli import cli

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("value", ["0", "17", "many"])
def test_parallel_out_of_range_is_a_usage_error(value):
    out = CliRunner().invoke(cli, ["run", "all", "--parallel", value])
    assert out.exit_code == 2
    assert "--parallel" in out.output


def test_parallel_on_aws_is_refused_naming_the_flag_and_the_target(tmp_path):
    out = CliRunner().invoke(
        cli,
        [
            "run",
            "happy",
            "crash",
            "--parallel",
            "2",
            "--target",
            "aws",
            "--report-dir",
            str(tmp_path),
        ],
    )
    assert out.exit_code == 2
    assert "--parallel 2 runs on --target local only" in out.output
    assert not list(tmp_path.iterdir())  # refused before anything was created
