"""Guardrails: confirmation, identity, the cost estimate, and teardown on failure and Ctrl-C."""

from __future__ import annotations

import io
import os
import signal
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from rich.console import Console

from core.errors import ConfigError
from scenarios.aws.guardrails import (
    CONFIRM_ENV,
    caller_identity,
    confirmation_given,
    estimate_cost,
    preflight_text,
    require_confirmation,
    teardown_guard,
)
from scenarios.cli.progress import ProgressView
from scenarios.settings import RunSettings
from scenarios.targets import Target, get_target

pytestmark = pytest.mark.unit


class Recorder:
    def __init__(self, *, interrupt_during_teardown: bool = False) -> None:
        self.teardowns = 0
        self.finished = False
        self.interrupt = interrupt_during_teardown

    def teardown(self) -> None:
        self.teardowns += 1
        if self.interrupt:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while destroying
        self.finished = True


def test_nothing_is_created_without_confirmation() -> None:
    with pytest.raises(ConfigError, match="--yes"):
        require_confirmation(target="aws", yes=False, endpoint_url=None, environ={})
    with pytest.raises(ConfigError, match="--target aws"):
        require_confirmation(target="local", yes=True, endpoint_url=None, environ={})
    require_confirmation(target="aws", yes=True, endpoint_url=None, environ={})
    require_confirmation(target="aws", yes=False, endpoint_url=None, environ={CONFIRM_ENV: "1"})
    # an emulator standing in for AWS creates nothing on AWS
    require_confirmation(target="aws", yes=False, endpoint_url="http://127.0.0.1:1", environ={})


def test_confirmation_env_values() -> None:
    assert confirmation_given(False, {CONFIRM_ENV: "yes"})
    assert not confirmation_given(False, {CONFIRM_ENV: "0"})
    with pytest.raises(ConfigError, match=CONFIRM_ENV):
        confirmation_given(False, {CONFIRM_ENV: "maybe"})


def test_identity_and_preflight_name_account_region_prefix_and_cost(moto_account: None) -> None:
    identity = caller_identity(boto3.client("sts", region_name="us-west-1"), "us-west-1")
    assert identity.account == "123456789012"
    estimate = estimate_cost(consumers=2, minutes=10, messages=1000)
    text = preflight_text(
        identity, prefix="sqskit-abc123", consumers=2, image="repo:abc", estimate=estimate
    )
    assert "123456789012" in text and "us-west-1" in text
    assert "sqskit-abc123-queue" in text and "repo:abc" in text
    assert f"~${estimate.total:.4f}" in text
    assert "scenario cleanup --target aws --prefix sqskit-abc123" in text


def test_cost_estimate_is_task_time_plus_per_message_charges() -> None:
    # us-west-1 (the default region): $0.04656 per vCPU-hour, $0.00511 per GB-hour
    estimate = estimate_cost(consumers=2, minutes=30, messages=0, region="us-west-1")
    per_task_hour = 0.25 * 0.04656 + 0.5 * 0.00511
    assert estimate.fargate == pytest.approx(2 * 0.5 * per_task_hour)
    assert estimate.task_hours == pytest.approx(1.0)
    assert estimate.sqs == estimate.dynamodb == estimate.logs == 0
    assert "us-west-1 list prices" in estimate.lines()[-1]
    # Fargate bills at least a minute per task
    assert estimate_cost(consumers=1, minutes=0, messages=0).fargate == pytest.approx(
        per_task_hour / 60
    )
    assert estimate_cost(consumers=0, minutes=1, messages=1_000_000).sqs == pytest.approx(1.6)
    with pytest.raises(ConfigError):
        estimate_cost(consumers=-1, minutes=1, messages=1)
    with pytest.raises(ConfigError):
        estimate_cost(consumers=1, minutes=1, messages=1, restarts=-1)


def test_cost_estimate_rates_per_region() -> None:
    east = estimate_cost(consumers=1, minutes=60, messages=0, region="us-east-1")
    assert east.fargate == pytest.approx(0.25 * 0.04048 + 0.5 * 0.004445)
    # a region without a table gets the dearest known rates, and says so
    other = estimate_cost(consumers=1, minutes=60, messages=0, region="ap-south-1")
    assert other.fargate == pytest.approx(0.25 * 0.04656 + 0.5 * 0.00511)
    assert "no table for ap-south-1" in other.prices


def test_cost_estimate_bills_public_ipv4_start_up_restarts_and_container_insights() -> None:
    # GIVEN 2 tasks for 5 minutes, each 30 s to start, 10 crash restarts, one task family
    estimate = estimate_cost(
        consumers=2, minutes=5, messages=0, region="us-west-1", restarts=10, startup_s=30
    )
    # THEN every start is billed from its image pull, a restart at least its 60 s minimum
    task_s = 2 * (30 + 300) + 10 * 60
    assert estimate.task_hours == pytest.approx(task_s / 3600)
    assert estimate.fargate == pytest.approx(task_s / 3600 * (0.25 * 0.04656 + 0.5 * 0.00511))
    # AND each task has a public IPv4 address for that time, at $0.005 per hour
    assert estimate.public_ipv4 == pytest.approx(task_s / 3600 * 0.005)
    # AND the run's task family publishes ~16 Container Insights metrics for the hour it runs
    assert estimate.container_insights == pytest.approx(16 * 0.30 / 730)
    assert estimate.total == pytest.approx(
        estimate.fargate + estimate.public_ipv4 + estimate.container_insights
    )
    # AND a restart costs more than nothing: the old estimate ignored it
    calm = estimate_cost(consumers=2, minutes=5, messages=0, region="us-west-1", startup_s=30)
    assert estimate.total - calm.total == pytest.approx(10 * 60 / 3600 * (per_hour(calm)))
    # AND each scenario's own task family is counted
    three = estimate_cost(consumers=2, minutes=5, messages=0, task_families=3)
    assert three.container_insights == pytest.approx(3 * 16 * 0.30 / 730)


def per_hour(estimate: Any) -> float:
    """Fargate plus IPv4 per task-hour, from an estimate."""
    return float((estimate.fargate + estimate.public_ipv4) / estimate.task_hours)


def test_teardown_runs_when_the_body_fails() -> None:
    target = Recorder()
    with pytest.raises(RuntimeError), teardown_guard(target):
        raise RuntimeError("scenario blew up")
    assert target.teardowns == 1


def test_teardown_runs_on_ctrl_c_and_the_interrupt_propagates() -> None:
    target = Recorder()
    messages: list[str] = []
    with pytest.raises(KeyboardInterrupt), teardown_guard(target, echo=messages.append):
        os.kill(os.getpid(), signal.SIGINT)
        pytest.fail("the interrupt should have stopped the body")  # pragma: no cover
    assert target.teardowns == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_during_teardown_waits_for_teardown_to_finish() -> None:
    target = Recorder(interrupt_during_teardown=True)
    messages: list[str] = []
    with pytest.raises(KeyboardInterrupt), teardown_guard(target, echo=messages.append):
        pass
    assert target.finished
    assert any("teardown in progress" in m for m in messages)


def test_keep_skips_teardown_and_says_how_to_clean_up() -> None:
    target = Recorder()
    messages: list[str] = []
    with teardown_guard(target, keep=True, echo=messages.append):
        pass
    assert target.teardowns == 0
    assert any("scenario cleanup --target aws" in m for m in messages)


# -- `scenario run --target aws`: the plan first, then the refusal -----------------------------


def _view() -> tuple[ProgressView, io.StringIO]:
    out = io.StringIO()
    return ProgressView(Console(file=out, width=200)), out


def test_run_on_aws_prints_the_plan_then_refuses_without_confirmation(
    moto_account: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from scenarios.cli import cli
    from scenarios.targets.aws import AwsTarget

    provisioned: list[str] = []
    monkeypatch.setattr(AwsTarget, "provision", lambda self, spec: provisioned.append("x"))
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    result = CliRunner().invoke(
        cli,
        ["run", "happy", "--target", "aws", "--region", "us-west-1", "--report-dir", f"{tmp_path}"],
        env={CONFIRM_ENV: ""},
    )
    assert result.exit_code == 2, result.output
    err = result.stderr
    plan, refusal = err.find("About to create on AWS account 123456789012"), err.find("refusing")
    assert plan != -1 and refusal != -1, err
    assert plan < refusal  # the user sees what --yes would do before being told no
    assert "us-west-1" in err and "Rough cost" in err and "~$" in err
    assert provisioned == []  # nothing was touched


def _plan(settings: RunSettings, names: list[str], tmp_path: Path) -> tuple[Target, str]:
    """What `scenario run` shows before it opens the target."""
    from scenarios import catalogue
    from scenarios.cli.run import _show_plan

    view, out = _view()
    target = get_target(settings, run_dir=tmp_path)
    _show_plan(target, catalogue.resolve(names), settings, view)
    return target, out.getvalue()


@pytest.mark.parametrize(
    ("yes", "environ"), [(True, {CONFIRM_ENV: ""}), (False, {CONFIRM_ENV: "1"})]
)
def test_preflight_with_confirmation_prints_the_plan_and_proceeds(
    moto_account: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    yes: bool,
    environ: dict[str, str],
) -> None:
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    settings = RunSettings(target="aws", region="eu-west-1", yes=yes, count=50)
    target, text = _plan(settings, ["happy", "crash"], tmp_path)
    target.open()  # confirmed: no refusal
    assert "123456789012" in text and "eu-west-1" in text
    assert "sqskit-<scenario>-<hex>-queue" in text and "Rough cost" in text


def test_preflight_against_an_endpoint_needs_no_confirmation_and_plans_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(CONFIRM_ENV, "")
    settings = RunSettings(target="aws", endpoint="http://127.0.0.1:1", region="us-east-1")
    target, text = _plan(settings, ["happy"], tmp_path)
    target.open()
    assert "an emulator stands in for AWS" in text
    assert "About to create" not in text


def test_preflight_does_nothing_for_the_local_target(tmp_path: Path) -> None:
    _, text = _plan(RunSettings(target="local"), ["happy"], tmp_path)
    assert text == ""
