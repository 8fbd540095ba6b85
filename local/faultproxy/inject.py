"""Deciding, call by call, which rules of a plan fire.

Rules are checked in plan order. Every latency rule that fires adds its delay; the first other
rule that fires decides the call's fate, and the rules after it do not see the call. Each rule
draws from its own random streams, seeded from the plan's seed and the rule's position, so a
plan replays identically for the same sequence of calls (one consumer, same traffic).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from local.faultproxy.plan import FaultKind, Plan, Rule


@dataclass(frozen=True, slots=True)
class Fire:
    """A rule that fired on one call: ``count`` is its n-th fire under the plan named ``plan``."""

    rule: Rule
    count: int
    delay_s: float = 0.0
    plan: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one call: wait ``delay_s``, then apply ``action`` (None: forward)."""

    delay_s: float = 0.0
    latency: tuple[Fire, ...] = ()
    action: Fire | None = None


PASS = Decision()


class _RuleState:
    __slots__ = ("decide_rng", "fired", "latency_rng", "rule", "seen")

    def __init__(self, rule: Rule, seed: int) -> None:
        self.rule = rule
        self.decide_rng = random.Random(f"{seed}/{rule.index}/decide")
        self.latency_rng = random.Random(f"{seed}/{rule.index}/latency")
        self.seen = 0
        self.fired = 0

    def fires(self) -> bool:
        rule = self.rule
        self.seen += 1
        if self.seen <= rule.skip:
            return False
        if rule.max_fires is not None and self.fired >= rule.max_fires:
            return False
        if rule.sequence is not None:
            fire = rule.sequence[(self.seen - rule.skip - 1) % len(rule.sequence)]
        elif rule.probability >= 1.0:
            fire = True
        else:
            fire = self.decide_rng.random() < rule.probability
        if fire:
            self.fired += 1
        return fire


class Injector:
    """The live state of one plan: per-rule counters and random streams."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._states = [_RuleState(rule, plan.seed) for rule in plan.rules]

    def decide(self, service: str, operation: str) -> Decision:
        """Which rules fire on a call to ``service``/``operation``; advances their state."""
        if not self._states:
            return PASS
        delay = 0.0
        latency: list[Fire] = []
        for state in self._states:
            rule = state.rule
            if not rule.matches(service, operation) or not state.fires():
                continue
            if rule.fault is FaultKind.LATENCY:
                assert rule.latency is not None  # the plan parser guarantees it
                sample = rule.latency.sample_s(state.latency_rng)
                delay += sample
                latency.append(Fire(rule, state.fired, sample, self.plan.name))
                continue
            return Decision(delay, tuple(latency), Fire(rule, state.fired, plan=self.plan.name))
        return Decision(delay, tuple(latency)) if latency else PASS
