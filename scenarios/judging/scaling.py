"""Scaling activities as the oracle sees them, and the autoscale phenomenon.

The engine records each scaling activity as a ``FaultRecord`` (something it did to the system
under test) of kind ``SCALE_OUT`` or ``SCALE_IN``, with ``data`` = {``from``, ``to``,
``visible``, ``started`` | ``stopped``: the consumer ids it started or SIGTERMed}.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from consumer.contract import EXIT_OK
from scenarios.judging.facts import CheckResult, Facts, FaultRecord, listed

SCALE_OUT = "scale-out"
SCALE_IN = "scale-in"
SCALING_KINDS = frozenset({SCALE_OUT, SCALE_IN})


def activities(facts: Facts, kind: str | None = None) -> list[FaultRecord]:
    """The scaling activities of a run (of one ``kind``), in order."""
    kinds = SCALING_KINDS if kind is None else frozenset({kind})
    return sorted((f for f in facts.faults if f.kind in kinds), key=lambda f: f.at)


def stopped_by_scale_in(facts: Facts) -> list[str]:
    """Consumer ids a scale-in stopped (SIGTERM), in order."""
    return [str(c) for f in activities(facts, SCALE_IN) for c in f.data.get("stopped", ())]


def _steps(records: Sequence[FaultRecord]) -> str:
    return ", ".join(f"{r.data.get('from')}->{r.data.get('to')}" for r in records) or "none"


@dataclass(frozen=True)
class ScaledOutAndIn:
    """The fleet grew and shrank: at least one scale-out and one scale-in, and every consumer a
    scale-in stopped went through the SIGTERM drain (exit 0) rather than dying with its work."""

    @property
    def name(self) -> str:
        return "phenomenon: the fleet scaled out and back in"

    def check(self, facts: Facts) -> CheckResult:
        outs, ins = activities(facts, SCALE_OUT), activities(facts, SCALE_IN)
        stopped = stopped_by_scale_in(facts)
        exits = {c.consumer_id: c.exit_code for c in facts.consumers}
        undrained = sorted(c for c in stopped if exits.get(c) != EXIT_OK)
        detail = (
            f"{len(outs)} scale-out(s) ({_steps(outs)}), {len(ins)} scale-in(s) ({_steps(ins)}); "
            f"{len(stopped)} consumer(s) stopped by a scale-in"
        )
        problems = []
        if not outs:
            problems.append("no scale-out")
        if not ins:
            problems.append("no scale-in")
        if undrained:
            problems.append(
                f"{len(undrained)} stopped consumer(s) did not drain to exit 0: "
                + listed(f"{c} ({exits.get(c)})" for c in undrained)
            )
        if problems:
            detail += "; " + "; ".join(problems) + ": a failed demonstration"
        else:
            detail += ", each drained (exit 0)"
        return CheckResult(self.name, not problems, detail)
