"""The terminal view of a report: a header, a counts table per phase, the checks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

_STATUS_STYLE = {
    "passed": "bold green",
    "failed": "bold red",
    "error": "bold magenta",
    "skipped": "yellow",
}
_COUNT_KEYS = (
    "sent",
    "completed",
    "executions",
    "effects",
    "duplicates",
    "redeliveries",
    "dlq",
    "lost",
    "unfinished",
    "crashes",
)
_COUNT_HEADERS = (
    "sent",
    "done",
    "exec",
    "effect",
    "dup",
    "redeliv",
    "dlq",
    "lost",
    "unfin",
    "crash",
)
#: ids listed under "executed more than once" before "(+N more)"
_MAX_REPEATS = 8
#: verdict sentences shown under the header (the JSON report has them all)
_MAX_VERDICT = 3


def console(*, stderr: bool = False) -> Any:
    """A rich console; 120 columns when the output is not a terminal (files, CI logs)."""
    probe = Console(stderr=stderr)
    return probe if probe.is_terminal else Console(stderr=stderr, width=120)


def _ms(value: Any) -> str:
    return "-" if value is None else f"{float(value):.0f}"


def render(report: Mapping[str, Any]) -> list[Any]:
    """Rich renderables for one scenario: header, phases/counts, checks."""
    status = str(report.get("status"))
    info = report.get("target_info") or {}
    header = Text.assemble(
        (f"{report.get('scenario')} ", "bold"),
        (status.upper(), _STATUS_STYLE.get(status, "")),
        f" in {float(report.get('duration_s') or 0):.1f} s on {report.get('target')} "
        f"(emulator {report.get('emulator')}, runner {info.get('runner', '?')}, "
        f"provisioner {info.get('provisioner', '?')})",
    )
    out: list[Any] = [header, *_notes(report)]
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
        out.append(_checks(checks))
    repeats = report.get("repeats") or []
    if repeats:
        out.append(_repeats(repeats, several=len(phases) > 1))
    fired = fired_line(report.get("faults_fired") or {})
    if fired:
        out.append(Text(f"  {fired}", style="magenta"))
    if report.get("shims"):
        shims = "; ".join(f"{k}: {v}" for k, v in report["shims"].items())
        out.append(Text(f"  shims: {shims}", style="dim"))
    artifacts = report.get("artifacts") or {}
    if artifacts:
        out.append(Text("  " + "  ".join(f"{k}: {v}" for k, v in artifacts.items()), style="dim"))
    return out


def fired_line(fired: Mapping[str, Any]) -> str | None:
    """``API faults fired: 12 (throttle 8, error_500 4)``; None when the run had no proxy faults."""
    by_kind = fired.get("by_kind") or {}
    if not fired.get("total"):
        return None
    kinds = ", ".join(f"{kind} {sum(ops.values())}" for kind, ops in by_kind.items())
    return f"API faults fired: {fired['total']} ({kinds})"


def _notes(report: Mapping[str, Any]) -> list[Any]:
    """Whose consumer ran, why the run ended as it did, and the verdict of a failed run."""
    out: list[Any] = []
    if report.get("consumer"):
        out.append(Text(f"  consumer: {report['consumer']}", style="dim"))
    if report.get("reason"):
        out.append(Text(f"  {report['reason']}", style="yellow"))
    out += [
        Text(f"  {line}", style="bold red") for line in (report.get("verdict") or [])[:_MAX_VERDICT]
    ]
    return out


def _checks(checks: Sequence[Mapping[str, Any]]) -> Any:
    """One line per check: passed, failed, or not observable in this run (and why)."""
    ct = Table(show_header=False, show_edge=False, pad_edge=False, box=None)
    ct.add_column("", width=2)
    ct.add_column("check")
    ct.add_column("detail", overflow="fold")
    for check in checks:
        ok = bool(check.get("passed"))
        if check.get("observable") is False:  # neither passed nor failed: the detail says why
            mark, style = Text("?", style="yellow"), "yellow"
        else:
            mark = Text("✓" if ok else "✗", style="green" if ok else "bold red")
            style = "" if ok else "red"
        ct.add_row(mark, str(check.get("name")), Text(str(check.get("detail")), style=style))
    return ct


def _repeats(repeats: Sequence[Mapping[str, Any]], *, several: bool) -> Any:
    """The ids whose handler ran more than once, and why each extra run happened."""
    rt = Table(
        title="executed more than once",
        title_justify="left",
        show_edge=False,
        pad_edge=False,
        box=None,
    )
    rt.add_column("id", no_wrap=True)
    rt.add_column("runs", justify="right")
    rt.add_column("why", overflow="fold")
    for r in repeats[:_MAX_REPEATS]:
        ident = str(r.get("id"))
        if several:
            ident = f"{r.get('phase')}: {ident}"
        rt.add_row(ident, str(r.get("executions")), "; ".join(r.get("why") or []))
    if len(repeats) > _MAX_REPEATS:
        rt.add_row(f"(+{len(repeats) - _MAX_REPEATS} more in the JSON report)", "", "")
    return rt


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


#: the summary's columns: one line per scenario must fit 120 columns, so the counts that only
#: explain a run (duplicates, redeliveries) stay in each scenario's own table
_SUMMARY_KEYS = (
    "sent",
    "completed",
    "executions",
    "effects",
    "dlq",
    "lost",
    "unfinished",
    "crashes",
)
_SUMMARY_HEADERS = ("sent", "done", "exec", "effect", "dlq", "lost", "unfin", "crash")


def render_summary(reports: Iterable[Mapping[str, Any]]) -> Any:
    """One line per scenario: status, duration, counts and latency."""
    table = Table(title="scenarios", show_edge=False)
    table.add_column("scenario", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("s", justify="right")
    for key in _SUMMARY_HEADERS:
        table.add_column(key, justify="right")
    table.add_column("p50/95/99 ms", justify="right", no_wrap=True)
    for r in reports:
        status = str(r.get("status"))
        c, lat = r.get("counts") or {}, r.get("latency_ms") or {}
        table.add_row(
            str(r.get("scenario")),
            Text(status, style=_STATUS_STYLE.get(status, "")),
            f"{float(r.get('duration_s') or 0):.1f}",
            *(str(c.get(k, "-")) for k in _SUMMARY_KEYS),
            "/".join(_ms(lat.get(q)) for q in ("p50", "p95", "p99")),
        )
    return table
