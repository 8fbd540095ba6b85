"""The typed consumer settings: built from knobs, overridden by name, turned into env once."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import fields

import pytest

from consumer.config import WorkerConfig
from core.errors import ConfigError
from scenarios.model import ConsumerSettings, Phase
from scenarios.model.consumer import ENV_NAMES
from scenarios.settings import Knobs

pytestmark = pytest.mark.unit


class _Recording(Mapping[str, str]):
    """An environment that remembers every variable it was asked for."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.known = dict(values)
        self.asked: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return self.known[key]

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        self.asked.add(key)
        return self.known.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.known)

    def __len__(self) -> int:
        return len(self.known)


def variables_the_consumer_reads() -> set[str]:
    env = _Recording({"QUEUE_URL": "http://127.0.0.1:1/000000000000/q"})
    WorkerConfig.from_env(env)
    return env.asked


def unread(names: Mapping[str, str]) -> set[str]:
    """The variables in ``names`` that the consumer never reads (a drift between the two)."""
    return set(names.values()) - variables_the_consumer_reads()


def test_every_setting_is_a_variable_the_consumer_reads():
    assert set(ENV_NAMES) == {f.name for f in fields(ConsumerSettings)}
    assert unread(ENV_NAMES) == set()


def test_the_drift_check_catches_a_misspelt_variable():
    # GIVEN a mapping with one name the consumer does not read
    drifted = {**ENV_NAMES, "sleep_min_seconds": "SLEEP_MIN_SECOND"}
    # THEN the check names it
    assert unread(drifted) == {"SLEEP_MIN_SECOND"}


def test_an_unknown_setting_fails_at_once():
    with pytest.raises(ConfigError, match="unknown consumer setting sleep_minimum"):
        ConsumerSettings().with_(sleep_minimum=1)
    with pytest.raises(ConfigError, match="crash_ratio"):
        ConsumerSettings.from_knobs(Knobs(), crash_ratio=0.1)


def test_to_env_has_the_set_fields_only_and_the_consumer_accepts_it():
    settings = ConsumerSettings.from_knobs(Knobs(seed=3), max_messages=2, crash_rate=0.05)
    env = settings.to_env()
    assert env["MAX_MESSAGES"] == "2" and env["CRASH_RATE"] == "0.05"
    assert env["CHAOS_SEED"] == "3" and "LONG_SLEEP_SECONDS" not in env
    assert ConsumerSettings().to_env() == {}
    config = WorkerConfig.from_env({**env, "QUEUE_URL": "http://127.0.0.1:1/000000000000/q"})
    assert config.max_messages == 2 and config.crash_rate == 0.05 and config.chaos_seed == 3


def test_phase_from_knobs_takes_the_queue_and_deadline_from_the_knobs():
    k = Knobs(count=7, consumers=3, visibility_timeout=4, max_receive_count=2, timeout_s=9.0)
    phase = Phase.from_knobs(k)
    assert (phase.name, phase.traffic.count, phase.visibility_timeout) == ("main", 7, 4)
    assert (phase.max_receive_count, phase.timeout_s) == (2, 9.0)
    [group] = phase.consumers
    assert group.n == 3 and group.settings == ConsumerSettings.from_knobs(k)
    assert phase.shutdown_timeout_s == k.shutdown_timeout
