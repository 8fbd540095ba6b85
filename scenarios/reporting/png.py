"""The PNG timeline of a run: sent, completed, in flight, backlog and DLQ, one panel per phase.

Rendered from the JSON report only (matplotlib's Agg backend, no display).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
