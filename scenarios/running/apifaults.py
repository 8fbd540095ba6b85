"""API faults in scenarios: the fault proxy's plan for one phase (issue 16).

Two sources, combined per phase:
- a scenario declares a plan for a phase with :class:`ProxyFaults` among its faults
  (``api-faults``, ``lost-ack``): the faults are part of what the scenario shows;
- the user adds a plan file to any scenario (``scenario run X --faults PLAN.yaml``, or
  ``SQSKIT_FAULTS``): it applies to every phase, or to the phases its ``phases`` key names,
  after the scenario's own rules.

The local target then runs the phase's consumers - the kit's own or a plugged-in one - behind
one fault proxy per consumer slot (:mod:`scenarios.runners.passthrough`), and every fault that
fired becomes a fact (``Facts.api_faults``). An empty plan file records without injecting.
docs/faults.md documents the plan format.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from local.faultproxy import Plan, PlanError, load_plan
from scenarios.model import Fault, Phase

#: how the flag and its variable are named in errors
FAULTS_FLAG = "--faults"
ENV_FAULTS = "SQSKIT_FAULTS"


@dataclass(frozen=True)
class ProxyFaults(Fault):
    """Faults the fault proxy injects into the calls of the phase's consumers.

    ``rules`` are the plan's rules as a plan file spells them (docs/faults.md); ``seed`` seeds
    every rule's random streams. Each consumer slot has its own proxy, so ``max_fires`` and
    ``skip`` count per slot.
    """

    rules: tuple[Mapping[str, Any], ...]
    seed: int = 0
    name: str = "scenario"

    def __post_init__(self) -> None:
        self.plan()  # a scenario's plan is validated when it is declared, like a file's

    @property
    def label(self) -> str:
        parts = []
        for rule in self.rules:
            ops = rule.get("operation")
            where = ops if isinstance(ops, str) else "/".join(ops) if ops else "every call"
            chance = rule.get("probability")
            how = f"p={chance}" if chance is not None else ""
            if rule.get("sequence") is not None:
                seq = "".join(str(int(bool(x))) for x in rule["sequence"])
                how = f"sequence {seq}"
            cap = f", at most {rule['max_fires']} per consumer" if rule.get("max_fires") else ""
            parts.append(f"{rule['fault']} on {rule['service']} {where} ({how or 'always'}{cap})")
        return "API faults: " + "; ".join(parts)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The fault kinds of the plan, in the order they first appear."""
        return tuple(dict.fromkeys(str(r["fault"]) for r in self.rules))

    def plan(self) -> Plan:
        """The validated plan (a mistake in a scenario's plan is a bug: one line says where)."""
        data = {"seed": self.seed, "name": self.name, "rules": [dict(r) for r in self.rules]}
        try:
            return Plan.from_dict(data, source=f"the {self.name} scenario's plan")
        except PlanError as exc:
            raise ConfigError(str(exc)) from None


def load_user_plan(path: Path | str | None) -> Plan | None:
    """The user's plan file (``--faults``), validated; a one-line usage error when it is bad."""
    if path is None or str(path) == "":
        return None
    try:
        return load_plan(path)
    except PlanError as exc:
        raise ConfigError(f"{FAULTS_FLAG} ({ENV_FAULTS}): {exc}") from None


def check_phases(user: Plan | None, scenario: str, phases: Sequence[str]) -> None:
    """Refuse a user plan whose ``phases`` names a phase ``scenario`` does not have.

    One line names the flag, the unknown phase and the scenario's valid phases.
    """
    if user is None or user.phases is None:
        return
    unknown = [p for p in user.phases if p not in phases]
    if unknown:
        valid = ", ".join(repr(p) for p in phases)
        raise ConfigError(
            f"{FAULTS_FLAG} ({ENV_FAULTS}): phases: {scenario} has no phase {unknown[0]!r}; "
            f"valid: {valid} (scenario list shows each scenario's phases)"
        )


def applies_to(user: Plan, phase: str) -> bool:
    """Whether the user's plan is armed in ``phase`` (no ``phases`` key: every phase)."""
    return user.phases is None or phase in user.phases


def combine(plans: Sequence[Plan]) -> Plan | None:
    """One plan holding every rule of ``plans`` in order; the first plan's seed; None: none.

    Rules are renumbered, so each keeps its own random streams under the combined plan.
    """
    if not plans:
        return None
    if len(plans) == 1:
        return plans[0]
    rules = [r for p in plans for r in p.rules]
    names = [p.name for p in plans if p.name]
    return Plan(
        seed=plans[0].seed,
        rules=tuple(dataclasses.replace(r, index=i) for i, r in enumerate(rules)),
        name=" + ".join(names) or None,
    )


def phase_plan(phase: Phase, user: Plan | None) -> Plan | None:
    """The plan for ``phase``: its scenario's :class:`ProxyFaults`, then the user's plan.

    The user's plan joins only in the phases it names (all without a ``phases`` key); in the
    others the phase runs as its scenario declares it, without a proxy unless it has its own.
    """
    own = [f.plan() for f in phase.faults if isinstance(f, ProxyFaults)]
    mine = [user] if user is not None and applies_to(user, phase.name) else []
    return combine([*own, *mine])


def planned_kinds(plan: Plan | None) -> tuple[str, ...]:
    """The fault kinds ``plan`` can fire, in order (empty without a plan)."""
    if plan is None:
        return ()
    return tuple(dict.fromkeys(r.fault.value for r in plan.rules))
