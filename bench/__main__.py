"""Run every benchmark module (``bench/bench_*.py``) in order and print its numbers.

Each module exposes ``run() -> list[tuple[str, str]]`` (label, printed value) and prints as it
goes. ``python -m bench consumer producer`` runs only the named ones.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import bench


def main(argv: list[str]) -> int:
    names = sorted(
        m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_")
    )
    wanted = {f"bench_{a}" for a in argv}
    if wanted:
        unknown = wanted - set(names)
        if unknown:
            print(f"unknown benchmark(s): {', '.join(sorted(unknown))}; have: {', '.join(names)}")
            return 2
        names = [n for n in names if n in wanted]
    results: list[tuple[str, str, str]] = []
    failed = []
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        start = time.monotonic()
        module = importlib.import_module(f"bench.{name}")
        try:
            for label, value in module.run():
                results.append((name, label, value))
        except Exception as exc:  # a broken benchmark must not hide the others' numbers
            failed.append(name)
            print(f"{name} FAILED: {type(exc).__name__}: {exc}", flush=True)
        print(f"({name} took {time.monotonic() - start:.1f} s)", flush=True)
    print("\n=== summary ===")
    for name, label, value in results:
        print(f"{name.removeprefix('bench_'):<12} {label:<62} {value}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
