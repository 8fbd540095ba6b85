"""Scenarios declare how they run on ECS: knob defaults there, or unsupported with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from scenarios import catalogue
from scenarios.catalogue.duplicates import Duplicates
from scenarios.catalogue.happy import Happy
from scenarios.catalogue.kill_mid_run import KillMidRun
from scenarios.model.ecs import ECS_MIN_TIMEOUT_S, EcsSupport
from scenarios.running.scenario import Status
from scenarios.settings import Knobs, RunSettings
from tests.scenarios.fakes import InstantTarget

pytestmark = pytest.mark.unit


def test_an_unsupported_scenario_is_skipped_on_the_aws_target_with_its_reason(
    tmp_path: Path,
) -> None:
    target = InstantTarget()
    result = KillMidRun().execute(target, RunSettings(target="aws"), run_dir=tmp_path)
    assert result.status is Status.SKIPPED
    assert result.reason is not None and "unsupported on ECS" in result.reason
    assert "StopTask sends SIGTERM" in result.reason
    assert target.last_stack is None  # nothing was provisioned


def test_ecs_knob_defaults_apply_on_the_aws_target_and_the_users_flags_win() -> None:
    local = Duplicates().knobs(RunSettings())
    aws = Duplicates().knobs(RunSettings(target="aws"))
    assert local.slow_seconds == 3.5 and local.timeout_s == 60
    assert aws.slow_seconds == 75.0 and aws.settle_s == 70.0
    assert aws.timeout_s == ECS_MIN_TIMEOUT_S
    mine = Duplicates().knobs(
        RunSettings(target="aws", slow_seconds=9, knobs=(("timeout_s", "99"),))
    )
    assert mine.slow_seconds == 9 and mine.timeout_s == 99
    # a scenario without its own declaration still gets a deadline that allows a cold start
    assert Happy().knobs(RunSettings(target="aws")).timeout_s == ECS_MIN_TIMEOUT_S


def test_every_declaration_is_valid_and_listed() -> None:
    for cls in catalogue.ALL:
        scenario = cls()
        if scenario.ecs.supported:
            k = scenario.knobs(RunSettings(target="aws"))
            assert k.timeout_s >= ECS_MIN_TIMEOUT_S, scenario.name
            assert scenario.ecs.describe().startswith("yes")
        else:
            assert scenario.ecs.describe().startswith("unsupported: ")
    assert not KillMidRun.ecs.supported


def test_a_declaration_naming_an_unknown_knob_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown knobs: slow"):
        EcsSupport(knobs={"slow": 1.0}).apply(Knobs())
