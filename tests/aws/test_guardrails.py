"""Guardrails: confirmation, identity, the cost estimate, and teardown on failure and Ctrl-C."""

from __future__ import annotations

import os
import signal

import boto3
import pytest

from scenarios.aws_guardrails import (
    CONFIRM_ENV,
    caller_identity,
    confirmation_given,
    estimate_cost,
    preflight_text,
    require_confirmation,
    teardown_guard,
)
from scenarios.errors import ConfigError

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
    estimate = estimate_cost(consumers=2, minutes=30, messages=0)
    per_task_hour = 0.25 * 0.04048 + 0.5 * 0.004445
    assert estimate.fargate == pytest.approx(2 * 0.5 * per_task_hour)
    assert estimate.sqs == estimate.dynamodb == estimate.logs == 0
    # Fargate bills at least a minute per task
    assert estimate_cost(consumers=1, minutes=0, messages=0).fargate == pytest.approx(
        per_task_hour / 60
    )
    assert estimate_cost(consumers=0, minutes=1, messages=1_000_000).sqs == pytest.approx(1.6)
    with pytest.raises(ConfigError):
        estimate_cost(consumers=-1, minutes=1, messages=1)


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
