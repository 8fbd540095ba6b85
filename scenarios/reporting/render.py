"""``python -m scenarios.reporting.render``: the background PNG renderer of a multi-scenario run.

Reads ``JSON<TAB>PNG`` path pairs from stdin, one per line, renders each report's timeline, and
answers one line per pair on stdout: ``ok<TAB>PNG`` or ``error<TAB>PNG<TAB>why``. Ends at the
end of its input (see :class:`scenarios.reporting.png.BackgroundRenderer`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

from scenarios.reporting.png import timeline_png


def serve(lines: TextIO, out: TextIO) -> int:
    """Render every pair of ``lines``; the number that failed."""
    failed = 0
    for line in lines:
        source, _, target = line.rstrip("\n").partition("\t")
        try:
            report = json.loads(Path(source).read_text(encoding="utf-8"))
            timeline_png(report, Path(target))
        except Exception as exc:  # reported to the engine, which fails the run with it
            failed += 1
            why = " ".join(f"{type(exc).__name__}: {exc}".split())
            out.write(f"error\t{target}\t{why}\n")
        else:
            out.write(f"ok\t{target}\n")
        out.flush()
    return failed


if __name__ == "__main__":
    sys.exit(1 if serve(sys.stdin, sys.stdout) else 0)
