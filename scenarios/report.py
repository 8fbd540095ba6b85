"""Reports: a JSON document with a stable schema, a rich table, and a PNG timeline.

The JSON is the source of truth: the terminal table and the PNG are both rendered from it,
so ``scenario report RUN.json`` re-renders exactly what the run showed.

Schema (``sqs-kit.scenario-report/1``), top level:
``scenario``, ``summary``, ``status`` (passed|failed|skipped|error), ``passed``, ``reason``,
``target``, ``emulator``, ``target_info``, ``started_at``, ``duration_s``,
``counts`` {sent, completed, duplicates, redeliveries, dlq, lost, crashes},
``latency_ms`` {p50, p95, p99, samples} (sent_at -> completed_at), ``checks`` [{name, passed,
detail}], ``phases`` [...], ``shims``, ``fault_plan``, ``calibration``, ``knobs``,
``timeline``, ``artifacts``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from scenarios.engine import PhaseResult, ScenarioResult
from scenarios.metrics import Counts, completion_times, counts, latency, throughput
from scenarios.oracle import EV_CRASH, Facts, event_time

SCHEMA = "sqs-kit.scenario-report/1"
_MAX_POINTS = 400


# -- building ------------------------------------------------------------------------------------


def build(result: ScenarioResult) -> dict[str, Any]:
    """The JSON document for one scenario run."""
    facts = [p.facts for p in result.phases]
    total = sum((counts(f) for f in facts), Counts())
    target = dict(result.target)
    return {
        "schema": SCHEMA,
        "scenario": result.scenario,
        "summary": result.summary,
        "status": result.status,
        "passed": result.passed,
        "reason": result.reason,
        "target": target.get("target"),
        "emulator": target.get("emulator"),
        "target_info": target,
        "started_at": _iso(result.started_at),
        "duration_s": round(result.duration_s, 3),
        "counts": total.to_dict(),
        "latency_ms": latency(facts).to_dict(),
        "checks": [c.to_dict() for c in result.checks],
        "phases": [_phase(p) for p in result.phases],
        "shims": dict(result.shims),
        "fault_plan": list(result.fault_plan),
        "calibration": result.calibration,
        "knobs": dict(result.knobs),
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
        "consumers": [
            {
                "slot": c.slot,
                "consumer_id": c.consumer_id,
                "exit_code": c.exit_code,
                "signals": list(c.signals),
                "ran_s": round((c.ended_at or f.ended_at) - c.started_at, 2),
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
        "markers": _markers(f, t0),
    }


def _markers(f: Facts, t0: float) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for r in f.faults:
        kind = {"SIGKILL": "kill", "SIGTERM": "term"}.get(r.signal or "", r.kind)
        out.append({"t": _r(r.at - t0), "kind": kind, "label": r.detail})
    for e in f.of(EV_CRASH):
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


def write(report: dict[str, Any], directory: Path, *, png: bool = True) -> dict[str, Any]:
    """Write ``<scenario>.json`` (and ``.png``) into ``directory``; returns the report."""
    directory.mkdir(parents=True, exist_ok=True)
    base = directory / str(report["scenario"])
    artifacts = {"json": str(base.with_suffix(".json"))}
    if png and report.get("phases"):
        artifacts["png"] = str(timeline_png(report, base.with_suffix(".png")))
    report["artifacts"] = artifacts
    base.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
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
        "passed": all(r.get("status") in ("passed", "skipped") for r in reports),
        "duration_s": round(sum(float(r.get("duration_s") or 0) for r in reports), 3),
        "runs": list(reports),
    }


# -- PNG timeline --------------------------------------------------------------------------------

_MARKER_STYLE = {
    "crash": ("tab:red", "--"),
    "kill": ("black", "-"),
    "term": ("tab:orange", "-"),
    "redrive": ("tab:purple", ":"),
}


def timeline_png(report: Mapping[str, Any], path: Path) -> Path:
    """Sent, completed, in-flight, backlog and DLQ over time, one panel per phase."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phases = list(report.get("timeline", {}).get("phases", []))
    fig, axes = plt.subplots(
        1, max(1, len(phases)), figsize=(6.5 * max(1, len(phases)), 4.2), squeeze=False
    )
    for ax, ph in zip(axes[0], phases, strict=False):
        _plot_phase(ax, ph)
    status = str(report.get("status", "?")).upper()
    fig.suptitle(
        f"{report.get('scenario')} - {status} on {report.get('target')} "
        f"({report.get('emulator')}), {float(report.get('duration_s') or 0):.1f} s"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _plot_phase(ax: Any, ph: Mapping[str, Any]) -> None:
    samples = ph.get("samples") or []
    for series, label, style in (
        (ph.get("sent") or [], "sent", "tab:blue"),
        (ph.get("completed") or [], "completed", "tab:green"),
    ):
        if series:
            xs, ys = zip(*series, strict=False)
            ax.step(xs, ys, where="post", label=label, color=style)
    if samples:
        ts = [s[0] for s in samples]
        ax.plot(ts, [s[1] for s in samples], label="visible", color="tab:gray", alpha=0.8)
        ax.plot(ts, [s[2] for s in samples], label="in flight", color="tab:orange")
        ax.plot(ts, [s[3] for s in samples], label="DLQ", color="tab:red")
    seen: set[str] = set()
    for m in ph.get("markers") or []:
        color, line = _MARKER_STYLE.get(str(m.get("kind")), ("tab:brown", "-."))
        kind = str(m.get("kind"))
        legend = None if kind in seen else kind
        ax.axvline(float(m["t"]), color=color, linestyle=line, linewidth=1, label=legend)
        seen.add(kind)
    title = str(ph.get("name"))
    if ph.get("note"):
        title += f" ({ph['note']})"
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("seconds since the traffic was sent")
    ax.set_ylabel("messages")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")


# -- terminal ------------------------------------------------------------------------------------

_STATUS_STYLE = {
    "passed": "bold green",
    "failed": "bold red",
    "error": "bold magenta",
    "skipped": "yellow",
}
_COUNT_KEYS = ("sent", "completed", "duplicates", "redeliveries", "dlq", "lost", "crashes")
_COUNT_HEADERS = ("sent", "done", "dup", "redeliv", "dlq", "lost", "crash")


def console(*, stderr: bool = False) -> Any:
    """A rich console; 120 columns when the output is not a terminal (files, CI logs)."""
    from rich.console import Console

    probe = Console(stderr=stderr)
    return probe if probe.is_terminal else Console(stderr=stderr, width=120)


def _ms(value: Any) -> str:
    return "-" if value is None else f"{float(value):.0f}"


def render(report: Mapping[str, Any]) -> list[Any]:
    """Rich renderables for one scenario: header, phases/counts, checks."""
    from rich.table import Table
    from rich.text import Text

    status = str(report.get("status"))
    info = report.get("target_info") or {}
    header = Text.assemble(
        (f"{report.get('scenario')} ", "bold"),
        (status.upper(), _STATUS_STYLE.get(status, "")),
        f" in {float(report.get('duration_s') or 0):.1f} s on {report.get('target')} "
        f"(emulator {report.get('emulator')}, runner {info.get('runner', '?')}, "
        f"provisioner {info.get('provisioner', '?')})",
    )
    out: list[Any] = [header]
    if report.get("reason"):
        out.append(Text(f"  {report['reason']}", style="yellow"))
    where = _where(info, report.get("phases") or [])
    if where:
        out.append(Text(f"  {where}", style="dim"))
    phases = report.get("phases") or []
    if phases:
        table = Table(title=None, show_edge=False, pad_edge=False)
        table.add_column("phase")
        for key in _COUNT_HEADERS:
            table.add_column(key, justify="right")
        table.add_column("msg/s", justify="right")
        table.add_column("p50/95/99 ms", justify="right", no_wrap=True)
        for ph in phases:
            c, lat = ph.get("counts", {}), ph.get("latency_ms", {})
            rate = ph.get("throughput_msg_s")
            table.add_row(
                str(ph.get("name")) + (f"\n[dim]{ph['note']}[/]" if ph.get("note") else ""),
                *(str(c.get(k, "-")) for k in _COUNT_KEYS),
                "-" if rate is None else f"{rate:.1f}",
                "/".join(_ms(lat.get(q)) for q in ("p50", "p95", "p99")),
            )
        out.append(table)
    checks = report.get("checks") or []
    if checks:
        ct = Table(show_header=False, show_edge=False, pad_edge=False, box=None)
        ct.add_column("", width=2)
        ct.add_column("check")
        ct.add_column("detail", overflow="fold")
        for check in checks:
            ok = bool(check.get("passed"))
            ct.add_row(
                Text("✓" if ok else "✗", style="green" if ok else "bold red"),
                str(check.get("name")),
                Text(str(check.get("detail")), style="" if ok else "red"),
            )
        out.append(ct)
    if report.get("shims"):
        shims = "; ".join(f"{k}: {v}" for k, v in report["shims"].items())
        out.append(Text(f"  shims: {shims}", style="dim"))
    artifacts = report.get("artifacts") or {}
    if artifacts:
        out.append(Text("  " + "  ".join(f"{k}: {v}" for k, v in artifacts.items()), style="dim"))
    return out


_ECS_FIELDS = (
    ("cluster", "cluster"),
    ("task_definition", "task definition"),
    ("launch_type", "launch type"),
)


def _where(info: Mapping[str, Any], phases: Sequence[Mapping[str, Any]]) -> str:
    """``ECS cluster c, task definition td, launch type FARGATE; provisioning 61.2 s``."""
    parts = []
    ecs = [f"{label} {info[key]}" for key, label in _ECS_FIELDS if info.get(key)]
    if ecs:
        parts.append("ECS " + ", ".join(ecs))
    provision = sum(float(ph.get("provision_s") or 0) for ph in phases)
    if provision >= 1:
        parts.append(f"provisioning {provision:.1f} s (not in the settle times)")
    return "; ".join(parts)


def render_summary(reports: Iterable[Mapping[str, Any]]) -> Any:
    """One line per scenario: status, duration, counts and latency."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title="scenarios", show_edge=False)
    table.add_column("scenario", no_wrap=True)
    table.add_column("status")
    table.add_column("s", justify="right")
    for key in _COUNT_HEADERS:
        table.add_column(key, justify="right")
    table.add_column("p50/95/99 ms", justify="right", no_wrap=True)
    for r in reports:
        status = str(r.get("status"))
        c, lat = r.get("counts") or {}, r.get("latency_ms") or {}
        table.add_row(
            str(r.get("scenario")),
            Text(status, style=_STATUS_STYLE.get(status, "")),
            f"{float(r.get('duration_s') or 0):.1f}",
            *(str(c.get(k, "-")) for k in _COUNT_KEYS),
            "/".join(_ms(lat.get(q)) for q in ("p50", "p95", "p99")),
        )
    return table
