"""One soak run: the Soak scenario through the engine, its usage sampled, one JSON and one PNG.

The JSON is the ordinary scenario report (``sqs-kit.scenario-report/1``: counts, latency,
checks, repeats, timeline) with a ``soak`` block on top: lost and doubled effects, throughput
over time, latency percentiles, the chaos that happened, the consumers' peak RSS, the
emulator's memory over time, and what bounded the run.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.errors import KitError
from scenarios.judging.facts import Facts
from scenarios.judging.metrics import counts, latency, throughput
from scenarios.reporting import document
from scenarios.running.phase import ProgressFn
from scenarios.running.scenario import ScenarioResult, Status
from scenarios.settings import RunSettings
from scenarios.soak.scenario import Soak
from scenarios.soak.usage import Usage, UsageSampler
from scenarios.targets.local import LocalTarget

log = logging.getLogger(__name__)

SOAK_SCHEMA = "sqs-kit.soak/1"


def run_soak(
    settings: RunSettings, *, run_dir: Path, on_progress: ProgressFn | None = None
) -> tuple[Status, dict[str, Any]]:
    """Run the soak on the local target ``settings`` describe; its report, written."""
    target = LocalTarget.from_settings(settings, run_dir=run_dir)
    scenario = Soak()
    started = time.time()
    with target:
        sel = target.selection
        emulator_pid = getattr(sel.emulator, "pid", None) if sel is not None and sel.owned else None
        sampler = UsageSampler(lambda: consumer_pids(target), emulator_pid)
        sampler.start()
        try:
            result = scenario.execute(target, settings, run_dir=run_dir, on_progress=on_progress)
        except KitError as exc:
            sampler.stop()
            data = document.error_report(
                scenario=scenario.name,
                summary=scenario.summary,
                target=target.describe(),
                reason=str(exc),
                duration_s=time.time() - started,
            )
            return Status.ERROR, document.write(data, run_dir, png=False)
        usage = sampler.stop()
    data = document.build(result)
    data["soak"] = soak_block(result, usage, data)
    return result.status, document.write(data, run_dir, png=settings.png)


def consumer_pids(target: LocalTarget) -> Iterator[tuple[str, int]]:
    """(consumer id, pid) of every consumer process running now on the target's stack."""
    runner = target.runner
    if runner is None:
        return
    for handle in runner.handles:
        for inc in list(handle.incarnations):
            if inc.exit_code is None and inc.native_id.isdigit():
                yield inc.consumer_id, int(inc.native_id)


def soak_block(result: ScenarioResult, usage: Usage, report: dict[str, Any]) -> dict[str, Any]:
    """The soak's own numbers, from the same facts the oracle judged."""
    if not result.phases:
        return {"schema": SOAK_SCHEMA, "usage": usage.to_dict()}
    phase = result.phases[0]
    f = phase.facts
    c = counts(f)
    lat = latency(f)
    rate = throughput(f)
    series = report["timeline"]["phases"][0]["throughput"]
    return {
        "schema": SOAK_SCHEMA,
        "messages": result.knobs.get("count"),
        "distinct_ids": len(f.valid_ids),
        "consumers": result.knobs.get("consumers"),
        "rate": result.knobs.get("rate"),
        "duration_s": round(max(0.0, f.ended_at - f.started_at), 1),
        "lost": c.lost,
        "doubled": doubled(f),
        "unfinished": c.unfinished,
        "throughput_msg_s": {
            "mean": round(rate, 1) if rate else None,
            "peak": max((r for _, r in series), default=None),
            "over_time": series,
        },
        "latency_ms": lat.to_dict(),
        "chaos": chaos(f, phase.send.ledger),
        "usage": usage.to_dict(),
    }


def doubled(facts: Facts) -> int:
    """Valid ids whose side effect was applied more than once (must be 0)."""
    return sum(1 for i, n in facts.effects.items() if n > 1 and i in facts.valid_ids)


def chaos(facts: Facts, ledger: tuple[Any, ...]) -> dict[str, int]:
    """What was done to the consumers, and what it caused."""
    c = counts(facts)
    sent_ids = Counter(e.id for e in ledger if e.id is not None)
    return {
        "crashes": c.crashes,  # every abnormal exit: chaos crashes and SIGKILLs
        "sigkills": sum(1 for r in facts.faults if r.signal == "SIGKILL"),
        "incarnations": len(facts.consumers),
        "ids_sent_twice": sum(1 for n in sent_ids.values() if n > 1),
        "poison_sent": sum(1 for e in ledger if e.id is None),
        "dead_lettered": c.dlq,
        "redeliveries": c.redeliveries,
        "executions": c.executions,
        "effects": c.effects,
    }
