"""Scenarios side by side: a few worker threads, each scenario on its own stack and consumers.

The work per scenario is the caller's (``work(item)``: fork a target, execute, write the
report), so this module only schedules:

- the shared items run in up to ``workers`` threads at once, in a planned order: the rules
  below make a free worker skip items, so the plain heaviest-first order (``weight``, e.g. the
  expected duration) can leave one long item running alone at the end. :func:`plan_order`
  simulates the dispatch on the weights and keeps the order with the shortest simulated run;
- two *heavy* ones (each drains a backlog as fast as the CPU allows) never run at the same time:
  side by side on two cores each would take twice as long, and slow down the others too; a
  free worker takes the next item that is not heavy meanwhile;
- a *fragile* one (its phenomenon needs a consumer to start within a window of seconds) never
  runs beside a heavy one, whose load can stretch a start past the window;
- the *exclusive* ones (a timing phenomenon that extra load would make unreliable) run after
  them, alone, one at a time;
- results come back in the order given, whatever order they finished in.

Ctrl-C reaches only the main thread. It is raised again inside every worker thread that is
still running an item, so each one tears its own scenario down exactly as a sequential run
would; then the main thread waits for them and re-raises it.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

#: how long the main thread waits for the workers to tear down after Ctrl-C
INTERRUPT_GRACE_S = 120.0
_POLL_S = 0.2


def clash(heavy_a: bool, fragile_a: bool, heavy_b: bool, fragile_b: bool) -> bool:
    """Whether two items must not run side by side: both heavy, or one heavy and the other
    fragile."""
    return (heavy_a and (heavy_b or fragile_b)) or (heavy_b and fragile_a)


@dataclass
class _Pool(Generic[T, R]):
    items: Sequence[T]
    work: Callable[[T], R]
    heavy: Callable[[T], bool] = lambda _: False
    fragile: Callable[[T], bool] = lambda _: False
    results: dict[int, R] = field(default_factory=dict)
    errors: dict[int, BaseException] = field(default_factory=dict)
    busy: dict[int, int] = field(default_factory=dict)  # thread ident -> item index
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(init=False)  # an item ended

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)

    def run_queue(self, queue: list[int]) -> None:
        """A worker: take the next index that may start until none is left."""
        me = threading.get_ident()
        try:
            while True:
                with self.lock:
                    index = self._next(queue)
                    if index is None:
                        return
                    self.busy[me] = index
                try:
                    self.results[index] = self.work(self.items[index])
                except BaseException as exc:  # handed to the main thread
                    self.errors[index] = exc
                finally:
                    with self.lock:
                        self.busy.pop(me, None)
                        self.changed.notify_all()
        except KeyboardInterrupt:  # a Ctrl-C aimed at an item that had just finished
            return

    def _clashes(self, a: T, b: T) -> bool:
        return clash(self.heavy(a), self.fragile(a), self.heavy(b), self.fragile(b))

    def _next(self, queue: list[int]) -> int | None:
        """With the lock held: the first queued index that clashes with none running, waiting
        for one if need be; None once the queue is empty."""
        while queue:
            running = [self.items[i] for i in self.busy.values()]
            for position, index in enumerate(queue):
                if not any(self._clashes(self.items[index], other) for other in running):
                    return queue.pop(position)
            self.changed.wait(_POLL_S)  # only clashing ones are left: wait for one to end
        return None


def run_side_by_side(
    items: Sequence[T],
    work: Callable[[T], R],
    *,
    workers: int,
    exclusive: Callable[[T], bool] = lambda _: False,
    weight: Callable[[T], float] = lambda _: 0.0,
    heavy: Callable[[T], bool] = lambda _: False,
    fragile: Callable[[T], bool] = lambda _: False,
) -> list[R]:
    """``work(item)`` for every item, ``workers`` at a time, the exclusive ones alone at the end;
    never two ``heavy`` ones at once, nor a ``fragile`` one beside a heavy one.

    The first exception a ``work`` raised is raised here once every item is done (results of the
    others are then lost with it: ``work`` should turn its own failures into results).
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, not {workers}")
    pool: _Pool[T, R] = _Pool(items, work, heavy, fragile)
    by_weight = sorted(range(len(items)), key=lambda i: -weight(items[i]))  # stable
    shared = [i for i in by_weight if not exclusive(items[i])]
    alone = [i for i in by_weight if exclusive(items[i])]
    weights = [weight(item) for item in items]
    plan = plan_order(shared, weights, workers, lambda a, b: pool._clashes(items[a], items[b]))
    shared = plan.order
    log.info(
        "parallel.planned",
        extra={
            "workers": workers,
            "simulated_s": round(plan.makespan, 1),
            "heaviest_first_s": round(plan.baseline, 1),
            "alone_s": round(sum(weights[i] for i in alone), 1),
        },
    )
    for queue, n in ((shared, workers), (alone, 1)):
        if queue:
            _run(pool, queue, min(n, len(queue)))
    for index in range(len(items)):
        if index in pool.errors:
            raise pool.errors[index]
    return [pool.results[i] for i in range(len(items))]


@dataclass(frozen=True)
class Plan:
    """An order to dispatch items in, and the run it makes on their weights."""

    order: list[int]
    makespan: float
    #: the plain heaviest-first order's simulated run, for comparison
    baseline: float


def simulate(
    order: Sequence[int],
    weights: Sequence[float],
    workers: int,
    clashes: Callable[[int, int], bool],
) -> float:
    """The simulated wall clock of dispatching ``order`` exactly as the workers do: whenever a
    worker is free, it takes the first queued item that clashes with none running; when only
    clashing items are left, it waits for one to end."""
    queue = list(order)
    running: list[tuple[float, int]] = []  # (end, item)
    now = 0.0
    while queue or running:
        started = True
        while started and queue and len(running) < workers:
            started = False
            for position, item in enumerate(queue):
                if not any(clashes(item, other) for _, other in running):
                    running.append((now + weights[item], queue.pop(position)))
                    started = True
                    break
        if not running:  # nothing runs and nothing may start: cannot happen, but never loop
            break
        running.sort()
        now, _ = running.pop(0)
    return now


def plan_order(
    order: Sequence[int],
    weights: Sequence[float],
    workers: int,
    clashes: Callable[[int, int], bool],
) -> Plan:
    """The dispatch order of ``order``'s items with the shortest simulated run.

    A hill climb from the given (heaviest-first) order: move one item to another place in the
    queue, keep the move when the simulated run gets shorter, until no move helps. Ties keep
    the earlier order, so with no rule in the way it stays heaviest first. Deterministic, and
    cheap for the tens of items a run has (each simulation is a few hundred steps).
    """
    best = list(order)
    baseline = best_span = simulate(best, weights, workers, clashes)
    improved = True
    while improved:
        improved = False
        for i in range(len(best)):
            for j in range(len(best)):
                if i == j:
                    continue
                candidate = list(best)
                candidate.insert(j, candidate.pop(i))
                span = simulate(candidate, weights, workers, clashes)
                if span < best_span - 1e-9:
                    best, best_span, improved = candidate, span, True
    return Plan(best, best_span, baseline)


def _run(pool: _Pool[T, R], queue: list[int], workers: int) -> None:
    # Workers say they are done through events: a Ctrl-C that lands in Thread.join() can leave
    # the thread looking stopped while it still runs (CPython before 3.13).
    done = [threading.Event() for _ in range(workers)]
    broken: list[BaseException] = []  # the scheduler's own failures, raised here

    def worker(finished: threading.Event) -> None:
        try:
            pool.run_queue(queue)
        except Exception as exc:  # not an item's (those are results): never lose it
            broken.append(exc)
            with pool.lock:
                queue.clear()
        finally:
            finished.set()

    for n, finished in enumerate(done):
        threading.Thread(target=worker, args=(finished,), name=f"scenario-{n}", daemon=True).start()
    try:
        for finished in done:
            while not finished.wait(_POLL_S):
                pass
    except KeyboardInterrupt:
        with pool.lock:
            queue.clear()  # start nothing more
            running = dict(pool.busy)
        log.warning("parallel.interrupted", extra={"running": len(running)})
        for ident in running:
            _interrupt(ident)
        deadline = time.monotonic() + INTERRUPT_GRACE_S
        for finished in done:
            finished.wait(max(0.0, deadline - time.monotonic()))
        raise
    if broken:
        raise broken[0]


def _interrupt(ident: int) -> None:
    """Raise KeyboardInterrupt in the thread ``ident`` at its next Python instruction."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(ident), ctypes.py_object(KeyboardInterrupt)
    )
