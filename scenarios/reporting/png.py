"""The PNG timeline of a run, one column per phase, rendered from the JSON report only.

- top: sent, completed, visible (the backlog), in flight and DLQ over time;
- bottom: the consumers running (restarts and scaling included) and the throughput (msg/s).

Faults and scaling activities are vertical markers on both. matplotlib's Agg backend, no
display.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core.errors import InfrastructureError

_MARKER_STYLE = {
    "crash": ("tab:red", "--"),
    "kill": ("black", "-"),
    "term": ("tab:orange", "-"),
    "redrive": ("tab:purple", ":"),
    "scale-out": ("tab:green", ":"),
    "scale-in": ("tab:olive", ":"),
}


def timeline_png(report: Mapping[str, Any], path: Path) -> Path:
    """Messages over time (top) and consumers and throughput (bottom), one column per phase."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phases = list(report.get("timeline", {}).get("phases", []))
    columns = max(1, len(phases))
    fig, axes = plt.subplots(
        2,
        columns,
        figsize=(6.5 * columns, 7.0),
        squeeze=False,
        sharex="col",
        gridspec_kw={"height_ratios": [3, 2]},
    )
    for i, ph in enumerate(phases):
        _plot_messages(axes[0][i], ph)
        _plot_fleet(axes[1][i], ph)
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


def _plot_messages(ax: Any, ph: Mapping[str, Any]) -> None:
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
    _markers(ax, ph, legend=True)
    _plot_api_faults(ax, ph.get("api_faults") or [])
    title = str(ph.get("name"))
    if ph.get("note"):
        title += f" ({ph['note']})"
    ax.set_title(title, fontsize=10)
    ax.set_ylabel("messages")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")


def _plot_fleet(ax: Any, ph: Mapping[str, Any]) -> None:
    """Consumers running (steps, left axis) and completions per second (right axis)."""
    running = ph.get("consumers") or []
    if running:
        xs, ys = zip(*running, strict=False)
        ax.step(xs, ys, where="post", color="tab:blue", label="consumers running")
    from matplotlib.ticker import MaxNLocator

    ax.set_ylabel("consumers")
    ax.set_ylim(bottom=0, top=max([1, *(p[1] for p in running)]) + 1)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("seconds since the traffic was sent")
    ax.grid(alpha=0.3)
    _markers(ax, ph, legend=False)
    rate = ph.get("throughput") or []
    handles, labels = ax.get_legend_handles_labels()
    if rate:
        twin = ax.twinx()
        xs, ys = zip(*rate, strict=False)
        twin.step(xs, ys, where="post", color="tab:green", alpha=0.8, label="throughput")
        twin.set_ylabel("completed msg/s")
        twin.set_ylim(bottom=0)
        more, more_labels = twin.get_legend_handles_labels()
        handles, labels = handles + more, labels + more_labels
    if handles:
        ax.legend(handles, labels, fontsize=8, loc="upper right")


def _markers(ax: Any, ph: Mapping[str, Any], *, legend: bool) -> None:
    seen: set[str] = set()
    for m in ph.get("markers") or []:
        kind = str(m.get("kind"))
        color, line = _MARKER_STYLE.get(kind, ("tab:brown", "-."))
        label = kind if legend and kind not in seen else None
        ax.axvline(float(m["t"]), color=color, linestyle=line, linewidth=1, label=label)
        seen.add(kind)


def _plot_api_faults(ax: Any, faults: list[Any]) -> None:
    """Each fired API fault as a tick near the top, one row and colour per kind (with its count).

    Ticks, not lines: a run fires dozens of them, and lines would hide the curves. The rows sit
    in axes coordinates, so they never cover the DLQ line at zero.
    """
    by_kind: dict[str, list[float]] = {}
    for t, kind, *_ in faults:
        by_kind.setdefault(str(kind), []).append(float(t))
    for i, (kind, ts) in enumerate(sorted(by_kind.items())):
        ax.plot(
            ts,
            [0.97 - 0.05 * i] * len(ts),
            transform=ax.get_xaxis_transform(),
            linestyle="none",
            marker="|",
            markersize=9,
            markeredgewidth=1.5,
            color=f"C{(i + 4) % 10}",
            label=f"fault: {kind} ({len(ts)})",
        )


class BackgroundRenderer:
    """Renders timeline PNGs in one process of its own, one after the other.

    A run of several scenarios hands each written report here and goes on: the render (0.2-0.7
    CPU s of matplotlib each) then neither holds a ``--parallel`` worker nor the engine's GIL,
    and pyplot, which is not thread-safe, never runs in two threads at once. The process
    (``python -m scenarios.reporting.render``) starts on the first render and reads one
    ``JSON<TAB>PNG`` pair of paths per line. ``close()`` waits for every render and raises the
    first failure.
    """

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None

    def submit(self, report_json: Path, path: Path) -> Path:
        """Queue the render of the report written at ``report_json`` to ``path``."""
        if self._process is None:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "scenarios.reporting.render"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                start_new_session=True,  # Ctrl-C is the engine's to handle: it closes this
            )
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(f"{report_json}\t{path}\n")
            self._process.stdin.flush()
        except OSError as exc:
            raise InfrastructureError(f"cannot render {path}: the renderer died ({exc})") from exc
        return path

    def close(self, *, cancel: bool = False) -> None:
        """Wait for every queued render and stop the process; a render that failed is raised
        as an InfrastructureError naming its file. ``cancel`` (the run was interrupted) stops
        it at once and raises nothing."""
        process, self._process = self._process, None
        if process is None:
            return
        if cancel:
            process.kill()
            process.communicate()
            return
        out, _ = process.communicate()  # closes stdin: the renderer ends after the last one
        failures = [line.split("\t", 2) for line in out.splitlines() if line.startswith("error")]
        if failures:
            _, png, why = failures[0]
            raise InfrastructureError(f"cannot render {png}: {why}")
        if process.returncode:
            raise InfrastructureError(f"the PNG renderer exited with code {process.returncode}")
