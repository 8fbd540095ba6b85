"""`scenario run all` one after the other, then `--parallel 4`, side by side (issue 19).

Both are real `scenario` runs as a user types them: the process runner and an embedded
MiniStack on a free port (``--emulator ministack``); ``SQSKIT_BENCH_ENDPOINT`` uses an emulator
that is already running instead. Printed per scenario: its status and duration in each run; then
each run's wall clock, its verdicts (the same in both, or the differences), and what bounds the
parallel one: the CPU seconds the run used (the `scenario` process and its children: engine,
consumers, embedded emulator) and what the rest of the machine used meanwhile, both against
``os.cpu_count()`` x the wall clock (Linux only: /proc/stat); and the schedule's own floor, the
least wall clock ``--parallel N`` can take with the scenarios' durations whatever the CPU: the
shared ones' sum over N workers (or the longest), plus the exclusive ones run alone.

Target (issue 19): ``--parallel 4`` in 30 s or less on the embedded default on 2 cores.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.bench_scenarios import scenario_command
from scenarios.catalogue import SCENARIOS
from scenarios.running.parallel import clash, plan_order

PARALLEL = 4
PARALLEL_TARGET_S = 30.0
_TICKS = os.sysconf("SC_CLK_TCK")


def _machine_busy_s() -> float:
    """Busy CPU seconds of the whole machine since boot, every core summed."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / _TICKS


#: what a process of the run is, from its command line (the root is the engine)
_KINDS = (("-m consumer", "consumers"), ("ministack", "emulator"), ("moto", "emulator"))


def _cpu_and_kids() -> tuple[dict[int, float], dict[int, list[int]]]:
    """Every process's CPU seconds so far, and each one's children (one pass over /proc)."""
    cpu: dict[int, float] = {}
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / _TICKS
        kids.setdefault(int(fields[1]), []).append(int(entry))
    return cpu, kids


def _kind(pid: int, root: int) -> str:
    if pid == root:
        return "engine"
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""  # gone: decided on a later sight, if any
    return next((kind for needle, kind in _KINDS if needle in cmdline), "other")


@dataclass
class CpuSplit:
    """CPU seconds of a process tree by kind (engine, consumers, emulator, other), sampled from
    /proc every ``interval_s``: a process's last fraction of an interval is not seen."""

    root: int
    interval_s: float = 0.2
    seen: dict[int, tuple[str, float]] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> None:
        cpu, kids = _cpu_and_kids()
        todo = [self.root]
        while todo:
            pid = todo.pop()
            todo += kids.get(pid, [])
            kind, _ = self.seen.get(pid, ("", 0.0))
            kind = kind or _kind(pid, self.root)
            self.seen[pid] = (kind, max(cpu.get(pid, 0.0), self.seen.get(pid, ("", 0.0))[1]))

    def run(self) -> None:
        while not self.stop.wait(self.interval_s):
            self.sample()

    def totals(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for kind, seconds in self.seen.values():
            out[kind or "other"] = out.get(kind or "other", 0.0) + seconds
        return out

    def processes(self, kind: str) -> int:
        return sum(1 for k, _ in self.seen.values() if k == kind)


@dataclass(frozen=True)
class Run:
    """One `scenario run all`: its summary and what it cost."""

    label: str
    wall_s: float
    exit_code: int
    summary: dict[str, Any]
    cpu_s: float  # the scenario process and every child it waited for
    machine_s: float  # every core of the machine, over the same wall clock
    split: dict[str, float] = field(default_factory=dict)  # CPU s by kind, sampled
    consumers: int = 0  # consumer processes started (warm spares included)

    @property
    def others_s(self) -> float:
        return max(0.0, self.machine_s - self.cpu_s)

    def by_name(self) -> dict[str, dict[str, Any]]:
        return {str(r["scenario"]): r for r in self.summary.get("runs", [])}


def run_all(label: str, extra: list[str], report_dir: str) -> Run:
    """``scenario run all`` with ``extra`` flags, measured."""
    command = scenario_command(["all", *extra], report_dir)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy = _machine_busy_s()
    started = time.monotonic()
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        split = CpuSplit(proc.pid)
        sampler = threading.Thread(target=split.run, daemon=True)
        sampler.start()
        stdout, stderr = proc.communicate(timeout=1800)
        split.stop.set()
        sampler.join()
    wall = time.monotonic() - started
    machine = _machine_busy_s() - busy
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    try:
        summary = json.loads(stdout)
    except ValueError:
        raise RuntimeError(
            f"`{' '.join(command)}` exited {proc.returncode}: {stderr[-1500:]}"
        ) from None
    return Run(
        label,
        wall,
        proc.returncode,
        summary,
        cpu,
        machine,
        split=split.totals(),
        consumers=split.processes("consumers"),
    )


def cpu_split(run: Run) -> str:
    """Where the run's CPU went, by kind of process (sampled: a little under the total)."""
    parts = sorted(run.split.items(), key=lambda kv: -kv[1])
    return (
        ", ".join(
            f"{kind} {seconds:.1f} s"
            + (f" ({run.consumers} processes)" if kind == "consumers" else "")
            for kind, seconds in parts
        )
        + f" (sampled {sum(run.split.values()):.1f} of {run.cpu_s:.1f} CPU s)"
    )


def verdicts(run: Run) -> dict[str, tuple[str, frozenset[tuple[str, bool]]]]:
    """Per scenario: its status and every check's (name, passed)."""
    return {
        name: (
            str(r["status"]),
            frozenset((str(c["name"]), bool(c["passed"])) for c in r["checks"]),
        )
        for name, r in run.by_name().items()
    }


def differences(a: Run, b: Run) -> list[str]:
    """Scenarios whose verdicts differ between two runs, with what differs."""
    va, vb = verdicts(a), verdicts(b)
    out = []
    for name in sorted(set(va) | set(vb)):
        if va.get(name) == vb.get(name):
            continue
        sa, ca = va.get(name, ("missing", frozenset()))
        sb, cb = vb.get(name, ("missing", frozenset()))
        changed = sorted({n for n, _ in ca ^ cb})
        out.append(f"{name}: {sa} vs {sb}" + (f" ({', '.join(changed[:3])})" if changed else ""))
    return out


def table(seq: Run, par: Run) -> list[str]:
    """One line per scenario: status and seconds, one after the other and side by side."""
    lines = [f"  {'scenario':<20} {seq.label:>22} {par.label:>22}"]
    a, b = seq.by_name(), par.by_name()
    for name in list(dict.fromkeys([*a, *b])):
        cells = []
        for runs in (a, b):
            r = runs.get(name)
            cells.append(f"{r['status']} {float(r['duration_s']):6.1f} s" if r else "-")
        lines.append(f"  {name:<20} {cells[0]:>22} {cells[1]:>22}")
    return lines


def schedule_floor(run: Run, workers: int, exclusive: set[str]) -> tuple[float, str]:
    """The least wall clock any schedule of ``run``'s scenario durations takes on ``workers``,
    with the ``exclusive`` ones alone after the others; and how it is made up."""
    durations = {name: float(r["duration_s"]) for name, r in run.by_name().items()}
    shared = [d for n, d in durations.items() if n not in exclusive]
    alone = {n: d for n, d in durations.items() if n in exclusive}
    side = max(sum(shared) / workers, max(shared, default=0.0))
    floor = side + sum(alone.values())
    how = (
        f"{sum(shared):.1f} s of scenarios side by side / {workers} workers = "
        f"{sum(shared) / workers:.1f} s (the longest {max(shared, default=0.0):.1f} s)"
    )
    if alone:
        how += " + " + ", ".join(f"{n} {d:.1f} s alone" for n, d in sorted(alone.items()))
    return floor, f"{how} = {floor:.1f} s"


def planned(
    run: Run, workers: int, rules: dict[str, tuple[bool, bool, bool]] | None = None
) -> float:
    """The wall clock of the best order the scheduler plans on ``run``'s durations, under its
    rules (``rules``: per scenario ``(exclusive, cpu_bound, start_window)``, by default the
    catalogue's); above :func:`schedule_floor` by what the rules cost."""
    if rules is None:
        rules = {n: (c.exclusive, c.cpu_bound, c.start_window) for n, c in SCENARIOS.items()}
    durations = {name: float(r["duration_s"]) for name, r in run.by_name().items()}
    names = list(durations)
    flags = [rules.get(n, (False, False, False)) for n in names]
    weights = [durations[n] for n in names]

    def clashes(a: int, b: int) -> bool:
        return clash(flags[a][1], flags[a][2], flags[b][1], flags[b][2])

    shared = sorted((i for i in range(len(names)) if not flags[i][0]), key=lambda i: -weights[i])
    alone = sum(weights[i] for i in range(len(names)) if flags[i][0])
    return plan_order(shared, weights, workers, clashes).makespan + alone


def bound(run: Run, cores: int) -> str:
    """What the run's wall clock was made of, in CPU seconds against the machine's."""
    capacity = cores * run.wall_s
    return (
        f"the run used {run.cpu_s:.1f} CPU s, the rest of the machine {run.others_s:.1f} s, "
        f"of {capacity:.1f} ({cores} cores x {run.wall_s:.1f} s): "
        + (
            "CPU-bound, the cores were busy"
            if run.machine_s >= 0.85 * capacity
            else "not CPU-bound: waiting (visibility timeouts, work sleeps) dominates"
        )
        + f"; on {cores} idle cores this CPU alone needs >= {run.cpu_s / cores:.1f} s"
    )


def run() -> list[tuple[str, str]]:
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        seq = run_all("one after the other", [], tmp)
        par = run_all(f"--parallel {PARALLEL}", ["--parallel", str(PARALLEL)], tmp)
    for line in table(seq, par):
        print(line, flush=True)
    ok = "ok" if par.wall_s <= PARALLEL_TARGET_S else "MISSED"
    diffs = differences(seq, par)
    print(
        f"wall clock: {seq.wall_s:.1f} s one after the other (exit {seq.exit_code}), "
        f"{par.wall_s:.1f} s with --parallel {PARALLEL} (exit {par.exit_code}; target <= "
        f"{PARALLEL_TARGET_S:.0f} s: {ok}); speed-up {seq.wall_s / par.wall_s:.2f}x",
        flush=True,
    )
    print(
        "verdicts: " + ("the same in both runs" if not diffs else "DIFFER: " + "; ".join(diffs)),
        flush=True,
    )
    for r in (seq, par):
        print(f"{r.label}: {bound(r, cores)}", flush=True)
        print(f"  CPU by process: {cpu_split(r)}", flush=True)
    exclusive = {name for name, cls in SCENARIOS.items() if cls.exclusive}
    floor, how = schedule_floor(par, PARALLEL, exclusive)
    quiet, quiet_how = schedule_floor(seq, PARALLEL, exclusive)
    print(
        f"--parallel {PARALLEL} schedule floor (the durations, whatever the CPU): {how}; "
        f"the wall clock adds {par.wall_s - floor:.1f} s (start-up, emulator, packing)",
        flush=True,
    )
    print(
        f"  with the durations of the run one after the other (no neighbours): {quiet_how}",
        flush=True,
    )
    best = planned(par, PARALLEL)
    print(
        f"  the best order under the scheduling rules (cpu_bound, start_window, exclusive) on "
        f"its durations: {best:.1f} s; the rules cost {best - floor:.1f} s of it",
        flush=True,
    )
    n = len(par.by_name())
    return [
        (f"scenario run all ({n} scenarios), one after the other", f"{seq.wall_s:.1f} s"),
        (
            f"scenario run all --parallel {PARALLEL} (<= {PARALLEL_TARGET_S:.0f} s)",
            f"{par.wall_s:.1f} s",
        ),
        ("  same verdicts in both", "yes" if not diffs else f"NO ({len(diffs)} differ)"),
        (f"  --parallel {PARALLEL}: schedule floor of its durations", f"{floor:.1f} s"),
        (f"  --parallel {PARALLEL}: the same with sequential durations", f"{quiet:.1f} s"),
        (f"  --parallel {PARALLEL}: the best order under the scheduling rules", f"{best:.1f} s"),
        (
            f"  --parallel {PARALLEL}: CPU s used by the run / by the rest of the machine",
            f"{par.cpu_s:.1f} / {par.others_s:.1f} of {cores * par.wall_s:.1f}",
        ),
    ]
