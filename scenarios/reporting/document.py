"""The JSON report: one document per scenario run, with a stable schema.

The JSON is the source of truth: the terminal table (:mod:`.console`) and the PNG
(:mod:`.png`) are both rendered from it, so ``scenario report RUN.json`` re-renders exactly
what the run showed.

Schema (``sqs-kit.scenario-report/1``), top level:
``scenario``, ``summary``, ``status`` (passed|failed|skipped|error), ``passed``, ``reason``,
``target``, ``emulator``, ``target_info``, ``started_at``, ``duration_s``,
``counts`` {sent, completed, executions, effects, duplicates, redeliveries, dlq, lost, unfinished,
crashes}, ``latency_ms`` {p50, p95, p99, samples} (sent_at -> completed_at), ``checks`` [{name,
passed, detail}], ``repeats`` [{phase, id, executions, why, details}] (every id whose handler ran
more than once, and why each extra run happened), ``phases`` [...], ``shims``, ``fault_plan``,
``calibration``, ``knobs``, ``timeline``, ``artifacts``; ``consumer`` (whose consumer ran:
``the kit's consumer``, ``--handler ...``, ``--consumer-cmd "..."``, ``--consumer-image ...``),
``verdict`` (one sentence per failed check, like a bug report) and ``not_observable`` (the
checks this run could not decide, e.g. the kit's records for a consumer seen from outside).
``faults_fired`` {total, by_kind {kind: {operation: n}}} counts the API faults the fault
proxy injected (docs/faults.md); each phase has its own, with ``events`` [{t, at, slot,
service, operation, kind, rule, status, retried, retried_by}] (``retried_by``: "sdk", "caller"
or null, docs/faults.md), and its timeline lists them as
``api_faults`` [[t, kind, operation]] for the PNG.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from consumer.contract import EV_CONSUMER_CRASH
from core.errors import ConfigError
from scenarios.judging.executions import repeats
from scenarios.judging.facts import ApiFault, Facts, event_time, fired_summary
from scenarios.judging.metrics import Counts, completion_times, counts, latency, throughput
from scenarios.reporting.png import BackgroundRenderer, timeline_png
from scenarios.running.phase import PhaseResult
from scenarios.running.scenario import ScenarioResult, Status

SCHEMA = "sqs-kit.scenario-report/1"
_MAX_POINTS = 400
#: the throughput series has about this many bins, each at least a second wide
THROUGHPUT_BINS = 60


# -- building ------------------------------------------------------------------------------------


def build(result: ScenarioResult) -> dict[str, Any]:
    """The JSON document for one scenario run."""
    facts = [p.facts for p in result.phases]
    total = sum((counts(f) for f in facts), Counts())
    target = dict(result.target)
    checks = result.checks
    return {
        "schema": SCHEMA,
        "scenario": result.scenario,
        "summary": result.summary,
        "status": str(result.status),
        "passed": result.passed,
        "reason": result.reason,
        "target": target.get("target"),
        "emulator": target.get("emulator"),
        "target_info": target,
        "started_at": _iso(result.started_at),
        "duration_s": round(result.duration_s, 3),
        "counts": total.to_dict(),
        "latency_ms": latency(facts).to_dict(),
        "consumer": target.get("consumer"),
        "verdict": [f"{result.scenario}: {c.detail}" for c in checks if not c.passed],
        "not_observable": [c.name for c in checks if not c.observable],
        "checks": [c.to_dict() for c in checks],
        "repeats": [
            {"phase": p.name, **r.to_dict()} for p in result.phases for r in repeats(p.facts)
        ],
        "phases": [_phase(p) for p in result.phases],
        "shims": dict(result.shims),
        "fault_plan": list(result.fault_plan),
        "calibration": result.calibration,
        "knobs": dict(result.knobs),
        "faults_fired": _fired([a for f in facts for a in f.api_faults]),
        "timeline": {"phases": [_timeline(p) for p in result.phases]},
        "artifacts": {},
    }


def _phase(p: PhaseResult) -> dict[str, Any]:
    f = p.facts
    rate = throughput(f)
    return {
        "name": p.name,
        "note": p.note,
        "stack": p.stack_prefix,
        "passed": p.verdict.passed,
        "duration_s": round(max(0.0, f.ended_at - f.started_at), 3),
        "provision_s": round(p.provision_s, 3),
        "counts": counts(f).to_dict(),
        "latency_ms": latency(f).to_dict(),
        "throughput_msg_s": round(rate, 2) if rate else None,
        "checks": p.verdict.to_list(),
        "repeats": [r.to_dict() for r in repeats(f)],
        "too_slow": f.too_slow,
        "faults": [
            {
                "kind": r.kind,
                "at": _iso(r.at),
                "signal": r.signal,
                "consumer_id": r.consumer_id,
                "message_ids": list(r.message_ids),
                "detail": r.detail,
            }
            for r in f.faults
        ],
        "faults_fired": {
            **_fired(f.api_faults),
            "events": [
                {
                    "t": _r(a.ts - f.started_at),
                    "at": _iso(a.ts),
                    "slot": a.slot,
                    "service": a.service,
                    "operation": a.operation,
                    "kind": a.kind,
                    "rule": a.rule,
                    "status": a.status,
                    "retried": a.retried,
                    "retried_by": a.retried_by,
                }
                for a in f.api_faults
            ],
        },
        "consumers": [
            {
                "slot": c.slot,
                "consumer_id": c.consumer_id,
                "exit_code": c.exit_code,
                "signals": list(c.signals),
                # an ECS task that never reached RUNNING has no start (math.inf): it ran 0 s
                "ran_s": round(max(0.0, (c.ended_at or f.ended_at) - c.started_at), 2)
                if math.isfinite(c.started_at)
                else 0.0,
            }
            for c in f.consumers
        ],
        "producer": {
            "sent": len(p.send.ledger),
            "failed": p.send.failed,
            "elapsed_s": round(p.send.elapsed_s, 3),
            "rate_msg_s": round(p.send.rate, 1),
        },
        "log_dir": p.log_dir,
        "teardown_error": p.teardown_error,
    }


def _timeline(p: PhaseResult) -> dict[str, Any]:
    f = p.facts
    t0 = f.started_at
    sent = sorted(e.sent_at_ms / 1000.0 for e in f.ledger)
    return {
        "name": p.name,
        "note": p.note,
        "samples": _thin([[_r(s.t - t0), s.visible, s.in_flight, s.dlq] for s in f.samples]),
        "sent": _cumulative(sent, t0),
        "completed": _cumulative(completion_times(f), t0),
        "consumers": _running(f, t0),
        "throughput": _throughput(completion_times(f), t0, f.ended_at),
        "markers": _markers(f, t0),
        "api_faults": [[_r(a.ts - t0), a.kind, a.operation] for a in f.api_faults],
    }


def _running(f: Facts, t0: float) -> list[list[float]]:
    """Consumers running over time, as steps: [[t, n], ...] (restarts and scaling included).

    A task that never started (its start is infinity: ECS's NOT_STARTED) never ran."""
    ran = [c for c in f.consumers if math.isfinite(c.started_at)]
    changes = sorted(
        [(c.started_at, 1) for c in ran]
        + [(c.ended_at if c.ended_at is not None else f.ended_at, -1) for c in ran]
    )
    points, n = [[0.0, 0]], 0
    for t, step in changes:
        n += step
        points.append([_r(max(0.0, t - t0)), n])
    return _thin(points)


def _throughput(times: Sequence[float], t0: float, end: float) -> list[list[float]]:
    """Completions per second over time, in bins of ``THROUGHPUT_BINS``-th of the run (>= 1 s):
    [[bin start, msg/s], ...]."""
    if not times:
        return []
    span = max(end, times[-1]) - t0
    width = max(1.0, math.ceil(span / THROUGHPUT_BINS))
    bins = [0] * (int(span // width) + 1)
    for t in times:
        bins[min(len(bins) - 1, max(0, int((t - t0) // width)))] += 1
    return [[_r(i * width), round(n / width, 2)] for i, n in enumerate(bins)]


def _fired(faults: Sequence[ApiFault]) -> dict[str, Any]:
    """``{"total": n, "by_kind": {kind: {operation: n}}}``: the report's ``faults_fired``."""
    return {"total": len(faults), "by_kind": fired_summary(faults)}


def _markers(f: Facts, t0: float) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for r in f.faults:
        kind = {"SIGKILL": "kill", "SIGTERM": "term"}.get(r.signal or "", r.kind)
        out.append({"t": _r(r.at - t0), "kind": kind, "label": r.detail})
    for e in f.of(EV_CONSUMER_CRASH):
        ts = event_time(e)
        if ts is not None:
            label = f"{e.get('consumer_id')} crashed ({e.get('reason', '?')})"
            out.append({"t": _r(ts - t0), "kind": "crash", "label": label})
    return sorted(out, key=lambda m: float(m["t"]))


def _cumulative(times: Sequence[float], t0: float) -> list[list[float]]:
    points = [[_r(t - t0), float(i + 1)] for i, t in enumerate(sorted(times))]
    return [[0.0, 0.0], *_thin(points)] if points else []


def _thin(points: list[list[Any]]) -> list[list[Any]]:
    if len(points) <= _MAX_POINTS:
        return points
    step = math.ceil(len(points) / _MAX_POINTS)
    return points[::step] + ([points[-1]] if (len(points) - 1) % step else [])


def _r(x: float) -> float:
    return round(x, 3)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- files ---------------------------------------------------------------------------------------


def write(
    report: dict[str, Any],
    directory: Path,
    *,
    png: bool = True,
    renderer: BackgroundRenderer | None = None,
) -> dict[str, Any]:
    """Write ``<scenario>.json`` (and ``.png``, by ``renderer`` when given: in the background)
    into ``directory``; returns the report."""
    directory.mkdir(parents=True, exist_ok=True)
    base = directory / str(report["scenario"])
    source = base.with_suffix(".json")
    artifacts = {"json": str(source)}
    png_path = base.with_suffix(".png") if png and report.get("phases") else None
    if png_path is not None:
        artifacts["png"] = str(png_path)
        if renderer is None:
            timeline_png(report, png_path)
    report["artifacts"] = artifacts
    source.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if png_path is not None and renderer is not None:
        renderer.submit(source, png_path)  # rendered from the JSON just written
    return report


def load(path: Path) -> list[dict[str, Any]]:
    """One report, or every report of a ``summary.json``; a usage error when unreadable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise ConfigError(f"{path} is not JSON: {exc}") from exc
    runs = data.get("runs") if isinstance(data, dict) and "runs" in data else [data]
    if not isinstance(runs, list) or not all(_is_report(r) for r in runs):
        raise ConfigError(f"{path} is not a scenario report (schema {SCHEMA})")
    return runs


def _is_report(data: object) -> bool:
    return isinstance(data, dict) and "scenario" in data and "checks" in data


def summary(reports: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``summary.json`` of a multi-scenario run."""
    return {
        "schema": SCHEMA,
        "passed": all(status_of(r) in OK_STATUSES for r in reports),
        "duration_s": round(sum(float(r.get("duration_s") or 0) for r in reports), 3),
        "runs": list(reports),
    }


#: statuses that count as success for a run of several scenarios
OK_STATUSES = frozenset({Status.PASSED, Status.SKIPPED})


def status_of(report: Mapping[str, Any]) -> Status:
    """A report's status as a Status; an unknown value reads as an error."""
    try:
        return Status(str(report.get("status")))
    except ValueError:
        return Status.ERROR


def error_report(
    *, scenario: str, summary: str, target: Mapping[str, Any], reason: str, duration_s: float
) -> dict[str, Any]:
    """The document for a run that could not complete (an infrastructure error)."""
    info = dict(target)
    return {
        "schema": SCHEMA,
        "scenario": scenario,
        "summary": summary,
        "status": str(Status.ERROR),
        "passed": False,
        "reason": reason,
        "target": info.get("target"),
        "emulator": info.get("emulator"),
        "target_info": info,
        "duration_s": round(duration_s, 3),
        "counts": {},
        "latency_ms": {},
        "checks": [],
        "repeats": [],
        "phases": [],
        "artifacts": {},
    }
