"""The AWS timing model: defaults, validation, SQSKIT_AWS_TIMINGS, and replaying a real run's."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from core.errors import ConfigError
from scenarios.aws.timings import REPORT_KEY, AwsTimings, timings_from_spec

pytestmark = pytest.mark.unit

EMULATOR = "http://127.0.0.1:4566"


def test_the_defaults_model_fargate_not_an_emulator() -> None:
    t = AwsTimings()
    # tens of seconds to start, logs in 5 s batches, a deprovisioning wait before STOPPED
    assert 10 <= t.startup_s <= 120
    assert t.startup_s == t.provisioning_s + t.pending_s
    assert t.log_batch_s == 5.0
    assert t.max_log_delay_s == t.log_batch_s + t.log_ingest_s
    assert t.deprovisioning_s > 0
    assert t.to_dict()["startup_s"] == t.startup_s


@pytest.mark.parametrize("bad", [-1.0, float("nan"), 601.0])
def test_out_of_range_timings_are_refused_by_name(bad: float) -> None:
    with pytest.raises(ConfigError, match="pending_s"):
        AwsTimings(pending_s=bad)


def test_spec_off_aws_and_refusal_on_real_aws() -> None:
    assert timings_from_spec(None, endpoint_url=EMULATOR) is None
    assert timings_from_spec("off", endpoint_url=EMULATOR) is None
    assert timings_from_spec("AWS", endpoint_url=EMULATOR) == AwsTimings()
    with pytest.raises(ConfigError, match="SQSKIT_AWS_TIMINGS=aws: modelled timings are for an"):
        timings_from_spec("aws", endpoint_url=None)
    with pytest.raises(ConfigError, match="use off, aws, or the path of a report"):
        timings_from_spec("fast", endpoint_url=EMULATOR)


def _report(tmp_path: Path, recorded: Mapping[str, object]) -> str:
    path = tmp_path / "happy.json"
    path.write_text(json.dumps({"target_info": {REPORT_KEY: recorded}}))
    return str(path)


def test_a_real_runs_report_replaces_the_assumptions(tmp_path: Path) -> None:
    recorded = {
        "measured_on": "aws",
        "metrics": {
            "provisioning_s": {"n": 4, "median": 7.5},
            "pending_s": {"n": 4, "median": 31.0},
            "log_batch_delay_s": {"n": 40, "median": 2.4},
            "deprovisioning_s": {"n": 4, "median": None},
        },
    }
    t = timings_from_spec(_report(tmp_path, recorded), endpoint_url=EMULATOR)
    assert t is not None
    assert (t.provisioning_s, t.pending_s, t.log_batch_s) == (7.5, 31.0, 2.4)
    # what the run did not measure keeps the model's default
    assert t.deprovisioning_s == AwsTimings().deprovisioning_s
    assert t.source.startswith("recorded: ")


def test_a_report_measured_on_an_emulator_is_not_aws(tmp_path: Path) -> None:
    recorded = {"measured_on": "emulator", "metrics": {"pending_s": {"median": 1.0}}}
    with pytest.raises(ConfigError, match="measured on emulator, not on AWS"):
        timings_from_spec(_report(tmp_path, recorded), endpoint_url=EMULATOR)
    with pytest.raises(ConfigError, match="measured none"):
        timings_from_spec(
            _report(tmp_path, {"measured_on": "aws", "metrics": {}}), endpoint_url=EMULATOR
        )
    (tmp_path / "plain.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"no target_info\.aws_timings"):
        timings_from_spec(str(tmp_path / "plain.json"), endpoint_url=EMULATOR)
