"""What the processes of a soak use: each consumer's peak RSS, the emulator's memory over time,
and the CPU seconds of the consumers, the emulator, this process and the whole machine.

Read from ``/proc`` (Linux; no psutil), every second in a thread: ``VmHWM`` in
``/proc/<pid>/status`` is a process's peak resident set so far, ``VmRSS`` its resident set
now; ``/proc/<pid>/stat`` has its CPU time. A consumer's last reading is kept after it exits (a
crash, a kill, the end), so a short-lived incarnation still counts; the emulator is counted
with its child processes.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_KB_PER_MB = 1024.0
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
#: the machine counts as CPU-bound when its cores were busy this much of the time
BUSY_SHARE = 0.85


def status_kb(pid: int) -> tuple[int, int] | None:
    """(VmRSS, VmHWM) of ``pid`` in kB; None once it is gone (or a zombie)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    if "VmRSS" not in values or "VmHWM" not in values:
        return None
    return values["VmRSS"], values["VmHWM"]


def cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` (every thread); None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS


def machine_busy_s() -> float:
    """Busy CPU seconds of the whole machine since boot, every core summed."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / _TICKS


def tree(pid: int) -> list[int]:
    """``pid`` and every descendant process still alive."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


@dataclass
class Usage:
    """What the sampler saw."""

    started: float = field(default_factory=time.time)
    wall_s: float = 0.0
    #: peak RSS (VmHWM, MB) and CPU seconds per consumer incarnation, at its last reading
    consumer_peak_mb: dict[str, float] = field(default_factory=dict)
    consumer_cpu_s: dict[str, float] = field(default_factory=dict)
    #: (epoch seconds, RSS in MB of the emulator and its children); None: not measured
    emulator_mb: list[tuple[float, float]] = field(default_factory=list)
    emulator_peak_mb: float | None = None
    emulator_cpu_s: float | None = None
    engine_peak_mb: float | None = None
    engine_cpu_s: float = 0.0
    machine_busy_s: float = 0.0
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)

    @property
    def others_cpu_s(self) -> float:
        """CPU the rest of the machine used meanwhile (other work on a shared box)."""
        ours = self.engine_cpu_s + sum(self.consumer_cpu_s.values()) + (self.emulator_cpu_s or 0)
        return max(0.0, self.machine_busy_s - ours)

    def bound(self) -> str:
        """What bounded the soak's throughput, named from the CPU seconds."""
        capacity = self.cores * self.wall_s
        consumers = sum(self.consumer_cpu_s.values())
        parts = (
            f"consumers {consumers:.0f} CPU s, emulator "
            + (f"{self.emulator_cpu_s:.0f}" if self.emulator_cpu_s is not None else "?")
            + f", engine {self.engine_cpu_s:.0f}, rest of the machine {self.others_cpu_s:.0f}, "
            f"of {capacity:.0f} ({self.cores} cores x {self.wall_s:.0f} s)"
        )
        if capacity and self.machine_busy_s >= BUSY_SHARE * capacity:
            return f"the machine's CPU: its {self.cores} cores were busy ({parts})"
        if self.emulator_cpu_s is not None and self.emulator_cpu_s >= BUSY_SHARE * self.wall_s:
            return f"the emulator: one Python process, about one core, was busy ({parts})"
        return f"not CPU: the producer's rate or waiting bounded it ({parts})"

    def to_dict(self) -> dict[str, Any]:
        peaks = sorted(self.consumer_peak_mb.values())
        t0 = self.started
        return {
            "consumers": {
                "incarnations_measured": len(peaks),
                "peak_rss_mb": _r(peaks[-1] if peaks else None),
                "median_peak_rss_mb": _r(peaks[len(peaks) // 2] if peaks else None),
                "cpu_s": _r(sum(self.consumer_cpu_s.values())),
            },
            "emulator": {
                "measured": self.emulator_peak_mb is not None,
                "peak_rss_mb": _r(self.emulator_peak_mb),
                "rss_mb_first": _r(self.emulator_mb[0][1] if self.emulator_mb else None),
                "rss_mb_last": _r(self.emulator_mb[-1][1] if self.emulator_mb else None),
                "over_time": [[round(t - t0, 1), round(mb, 1)] for t, mb in self.emulator_mb],
                "cpu_s": _r(self.emulator_cpu_s),
            },
            "engine": {"peak_rss_mb": _r(self.engine_peak_mb), "cpu_s": _r(self.engine_cpu_s)},
            "machine": {
                "cores": self.cores,
                "wall_s": _r(self.wall_s),
                "busy_cpu_s": _r(self.machine_busy_s),
                "others_cpu_s": _r(self.others_cpu_s),
            },
            "bound": self.bound(),
        }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


class UsageSampler:
    """Samples every ``interval_s`` in a thread: the consumers ``consumer_pids()`` names (name,
    pid) and the emulator process ``emulator_pid`` with its children (None: not measured)."""

    def __init__(
        self,
        consumer_pids: Callable[[], Iterable[tuple[str, int]]],
        emulator_pid: int | None,
        *,
        interval_s: float = 1.0,
    ) -> None:
        self._consumer_pids = consumer_pids
        self._emulator_pid = emulator_pid
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._own_cpu0 = 0.0
        self._busy0 = 0.0
        self._emulator_cpu0: float | None = None
        self._began = 0.0
        self.usage = Usage()

    def start(self) -> None:
        self.usage = Usage()
        self._began = time.monotonic()
        self._own_cpu0 = _own_cpu_s()
        self._busy0 = machine_busy_s()
        self._emulator_cpu0 = self._emulator_cpu()
        self._thread = threading.Thread(target=self._run, name="usage-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> Usage:
        """Stop sampling, after one last sample; what was seen."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.sample()
        own = status_kb(os.getpid())
        with self._lock:
            u = self.usage
            u.wall_s = time.monotonic() - self._began
            u.engine_peak_mb = own[1] / _KB_PER_MB if own else None
            u.engine_cpu_s = _own_cpu_s() - self._own_cpu0
            u.machine_busy_s = machine_busy_s() - self._busy0
            return u

    def sample(self) -> None:
        """One reading of every consumer and of the emulator."""
        try:
            consumers = list(self._consumer_pids())
        except Exception:  # a runner mid-change must not end the sampling
            log.debug("usage.consumers_unreadable", exc_info=True)
            consumers = []
        readings = {name: (status_kb(pid), cpu_s(pid)) for name, pid in consumers}
        emulator: list[tuple[int, int]] = []
        if self._emulator_pid is not None:
            emulator = [s for p in tree(self._emulator_pid) if (s := status_kb(p)) is not None]
        emulator_cpu = self._emulator_cpu()
        now = time.time()
        with self._lock:
            u = self.usage
            for name, (mem, cpu) in readings.items():
                if mem is not None:
                    u.consumer_peak_mb[name] = mem[1] / _KB_PER_MB
                if cpu is not None:
                    u.consumer_cpu_s[name] = cpu
            if emulator:
                u.emulator_mb.append((now, sum(r for r, _ in emulator) / _KB_PER_MB))
                peak = sum(h for _, h in emulator) / _KB_PER_MB
                u.emulator_peak_mb = max(u.emulator_peak_mb or 0.0, peak)
            if emulator_cpu is not None and self._emulator_cpu0 is not None:
                u.emulator_cpu_s = emulator_cpu - self._emulator_cpu0

    def _emulator_cpu(self) -> float | None:
        if self._emulator_pid is None:
            return None
        values = [c for p in tree(self._emulator_pid) if (c := cpu_s(p)) is not None]
        return sum(values) if values else None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self._interval)


def _own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system
