"""Run settings and knobs: validated up front, errors name the flag and the allowed range."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from scenarios.settings import Knobs, RunSettings, parse_knob

pytestmark = pytest.mark.unit


def test_named_flags_and_knobs_override_the_scenario_defaults():
    settings = RunSettings(
        count=7,
        consumers=3,
        slow_seconds=1.5,
        visibility_wait=2.0,
        knobs=(("crash_rate", "0.25"), ("max-messages", "4")),
    )
    k = Knobs(count=20, crash_rate=0.0).override(settings)
    assert (k.count, k.consumers, k.slow_seconds, k.settle_s) == (7, 3, 1.5, 2.0)
    assert k.crash_rate == 0.25 and k.max_messages == 4


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ((("nope", "1"),), "unknown knob 'nope'"),
        ((("count", "many"),), "not a valid int"),
        ((("crash_rate", "2"),), "crash_rate=2.0 is out of range: allowed 0..1"),
        ((("sleep_max", "inf"),), "not a valid float"),
        ((("effect_mode", "careless"),), "effect_mode='careless' is invalid: choose one of"),
    ],
)
def test_bad_knobs_are_usage_errors(knobs, message):
    with pytest.raises(ConfigError, match=message):
        Knobs().override(RunSettings(knobs=knobs))


def test_the_effect_mode_knob_reaches_the_consumer_settings():
    from scenarios.model import ConsumerSettings

    k = Knobs().override(RunSettings(knobs=(("effect_mode", "naive"),)))
    assert k.effect_mode == "naive"
    assert ConsumerSettings.from_knobs(k).to_env()["EFFECT_MODE"] == "naive"
    assert ConsumerSettings.from_knobs(Knobs()).to_env()["EFFECT_MODE"] == "idempotent"


def test_parse_knob():
    assert parse_knob(" crash_rate = 0.1 ") == ("crash_rate", "0.1")
    with pytest.raises(ConfigError, match="NAME=VALUE"):
        parse_knob("crash_rate")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": "gcp"}, "--target 'gcp' is invalid"),
        ({"runner": "k8s"}, "--runner 'k8s' is invalid"),
        ({"batch_size": 11}, "--batch-size 11 is out of range: allowed 1..10"),
        ({"emulator": "external"}, "needs --endpoint"),
    ],
)
def test_bad_settings_name_the_flag(kwargs, message, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with pytest.raises(ConfigError, match=message):
        RunSettings(**kwargs)


SPLIT = "sqs=localstack,dynamodb=ministack"


def test_per_service_endpoints_are_a_local_api_setting():
    assert RunSettings(emulator=SPLIT).emulator == SPLIT
    assert RunSettings(emulator=SPLIT, provisioner="api").emulator == SPLIT


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"emulator": SPLIT, "provisioner": "terraform"}, "--provisioner api"),
        ({"emulator": SPLIT, "target": "aws"}, "run on --target local"),
        ({"emulator": "sqs=localstack"}, "dynamodb is missing"),
        ({"emulator": SPLIT, "endpoint": "http://127.0.0.1:4566"}, "drop --endpoint"),
        ({"emulator": "sqs=nope,dynamodb=ministack"}, "KIND one of ministack, moto, localstack"),
        ({"emulator": "compose:moto"}, "--emulator 'compose:moto' is invalid"),
    ],
)
def test_a_bad_split_names_the_flag_and_what_is_allowed(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        RunSettings(**kwargs)
