"""Engine pieces that need no emulator: capability needs, runner choice, the catalogue."""

from __future__ import annotations

import pytest

from local import capabilities as cap
from scenarios import catalogue
from scenarios.engine import ConsumerGroup, Need, resolve_needs
from scenarios.errors import ConfigError, InfrastructureError
from scenarios.runners import docker_image, resolve_runner
from scenarios.settings import RunSettings
from scenarios.targets.base import Target

pytestmark = pytest.mark.unit


def test_needs_missing_without_a_shim_skip_and_with_a_shim_run_shimmed():
    needs = (Need(cap.SQS_DLQ), Need(cap.SQS_MOVE_TASK, shim="manual redrive"))
    assert resolve_needs(needs, None) == ([], {})  # unknown: assume everything
    assert resolve_needs(needs, frozenset({cap.SQS_DLQ})) == (
        [],
        {cap.SQS_MOVE_TASK: "manual redrive"},
    )
    assert resolve_needs(needs, frozenset()) == (
        [cap.SQS_DLQ],
        {cap.SQS_MOVE_TASK: "manual redrive"},
    )


class BareTarget(Target):
    """A target that supports nothing: any provisioning attempt is a test failure."""

    name = "bare"

    def capabilities(self):
        return frozenset()

    def provision(self, spec):
        raise AssertionError("a skipped scenario must not provision")

    start_consumers = signal = consumer_events = stop_consumers = provision
    client = teardown = provision

    def describe(self):
        return {"target": "bare"}


def test_a_scenario_whose_needs_are_missing_is_skipped_with_the_reason(tmp_path):
    result = catalogue.get("poison").execute(BareTarget(), RunSettings(), run_dir=tmp_path)
    assert result.status == "skipped"
    assert cap.SQS_DLQ in (result.reason or "")
    assert result.shims == {cap.SQS_MOVE_TASK: "manual DLQ redrive (receive, send, delete)"}


def test_runner_choice(monkeypatch):
    import scenarios.runners.docker as docker_runner

    assert resolve_runner("process")[0] == "process"
    with pytest.raises(ConfigError):
        resolve_runner("k8s")
    monkeypatch.setattr(
        docker_runner, "docker_runner_available", lambda image: (False, "no engine")
    )
    assert resolve_runner("auto") == ("process", "no docker runner: no engine")
    with pytest.raises(InfrastructureError, match="no engine"):
        resolve_runner("docker")
    monkeypatch.setattr(docker_runner, "docker_runner_available", lambda image: (True, image))
    name, why = resolve_runner("auto", image_tag="abc")
    assert name == "docker" and "sqs-kit-consumer:abc" in why
    assert docker_image(None) == "sqs-kit-consumer:local"
    assert docker_image("registry/x:1") == "registry/x:1"


def test_every_scenario_plans_with_its_defaults_and_with_overrides():
    for name in catalogue.names():
        scenario = catalogue.get(name)
        for settings in (RunSettings(), RunSettings(count=3, consumers=2, seed=1)):
            phases = scenario.phases(scenario.knobs(settings))
            assert phases and all(p.consumers for p in phases)
    with pytest.raises(ConfigError, match="unknown scenario"):
        catalogue.resolve(["happy", "nope"])
    assert [s.name for s in catalogue.resolve(["all"])] == catalogue.names()


def test_consumer_group_description():
    group = ConsumerGroup(
        1,
        {"SLEEP_MIN_SECONDS": "4", "SLEEP_MAX_SECONDS": "4", "MESSAGE_LIMIT": "1"},
        start_after_s=1.0,
        after_received=1,
        label="slow",
    )
    assert group.describe() == "1 slow (work 4 s, starts after 1 s and 1 receive(s))"
