"""Which rules fire, how often, reproducibly: unit tier."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Mapping

import pytest

from local.faultproxy import Plan
from local.faultproxy.inject import Injector
from local.faultproxy.plan import Latency

pytestmark = pytest.mark.unit


def _plan(*rules: Mapping[str, object], seed: int = 0) -> Plan:
    return Plan.from_dict({"seed": seed, "rules": list(rules)})


def _fires(injector: Injector, n: int, service: str = "sqs", op: str = "SendMessage") -> list[bool]:
    return [injector.decide(service, op).action is not None for _ in range(n)]


def test_rules_select_by_service_and_operation() -> None:
    injector = Injector(
        _plan(
            {"service": "sqs", "operation": ["DeleteMessage", "SendMessage"], "fault": "error_503"}
        )
    )
    assert injector.decide("sqs", "SendMessage").action is not None
    assert injector.decide("sqs", "DeleteMessage").action is not None
    assert injector.decide("sqs", "ReceiveMessage").action is None
    assert injector.decide("dynamodb", "SendMessage").action is None


def test_the_same_seed_replays_the_same_decisions_and_another_seed_does_not() -> None:
    rule = {"service": "sqs", "fault": "throttle", "probability": 0.3}
    first = _fires(Injector(_plan(rule, seed=7)), 200)
    again = _fires(Injector(_plan(rule, seed=7)), 200)
    other = _fires(Injector(_plan(rule, seed=8)), 200)
    assert first == again
    assert first != other
    assert 30 <= sum(first) <= 90, "about 30% of 200"


def test_probability_zero_never_fires_and_one_always_fires() -> None:
    assert not any(
        _fires(Injector(_plan({"service": "sqs", "fault": "throttle", "probability": 0})), 50)
    )
    assert all(_fires(Injector(_plan({"service": "sqs", "fault": "throttle"})), 50))


def test_sequence_skip_and_max_fires() -> None:
    rule = {"service": "sqs", "fault": "throttle", "sequence": [1, 0, 0], "skip": 2, "max_fires": 3}
    got = _fires(Injector(_plan(rule)), 14)
    # two skipped, then fire/pass/pass repeating, until three fires
    assert got == [False, False, True, False, False, True, False, False, True] + [False] * 5


def test_the_first_non_latency_rule_that_fires_decides_and_later_rules_do_not_see_the_call() -> (
    None
):
    injector = Injector(
        _plan(
            {"service": "sqs", "fault": "latency", "latency": 10},
            {"service": "sqs", "fault": "latency", "latency": 5},
            {"service": "sqs", "fault": "throttle", "sequence": [1, 0]},
            {"service": "sqs", "fault": "error_500", "name": "fallback"},
        )
    )
    first = injector.decide("sqs", "SendMessage")
    assert first.action is not None and first.action.rule.fault == "throttle"
    assert first.delay_s == pytest.approx(0.015)
    assert [f.rule.index for f in first.latency] == [0, 1]
    second = injector.decide("sqs", "SendMessage")
    assert second.action is not None and second.action.rule.label == "fallback"
    third = injector.decide("sqs", "SendMessage")
    assert third.action is not None and third.action.rule.fault == "throttle"
    assert third.action.count == 2, "the throttle rule's second fire"
    fourth = injector.decide("sqs", "SendMessage")
    assert fourth.action is not None and fourth.action.count == 2, "fallback's second fire"


def test_an_empty_plan_never_delays_or_acts() -> None:
    decision = Injector(Plan()).decide("sqs", "SendMessage")
    assert decision.action is None and decision.delay_s == 0 and not decision.latency


def test_latency_distributions_have_the_shape_they_claim() -> None:
    rng = random.Random(1)
    assert Latency("fixed", 40, 0).sample_s(rng) == 0.04
    uniform = [Latency("uniform", 10, 20).sample_s(rng) for _ in range(2000)]
    assert min(uniform) >= 0.010 and max(uniform) <= 0.020
    lognormal = sorted(Latency("lognormal", 20, 400).sample_s(rng) * 1000 for _ in range(20000))
    p50 = statistics.median(lognormal)
    p99 = lognormal[int(0.99 * len(lognormal))]
    assert math.isclose(p50, 20, rel_tol=0.08), p50
    assert math.isclose(p99, 400, rel_tol=0.15), p99


def test_latency_samples_are_seeded_per_rule() -> None:
    rule = {"service": "sqs", "fault": "latency", "latency": {"p50_ms": 5, "p99_ms": 50}}
    a = [Injector(_plan(rule, seed=3)).decide("sqs", "SendMessage").delay_s for _ in range(1)]
    b = [Injector(_plan(rule, seed=3)).decide("sqs", "SendMessage").delay_s for _ in range(1)]
    c = [Injector(_plan(rule, seed=4)).decide("sqs", "SendMessage").delay_s for _ in range(1)]
    assert a == b != c
