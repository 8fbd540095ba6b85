"""The emulator every benchmark measures against: the embedded default, or one already running."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from local.emulators import start_embedded


@contextlib.contextmanager
def bench_endpoint() -> Iterator[str]:
    """The default embedded emulator on a free port (or SQSKIT_BENCH_ENDPOINT if set)."""
    given = os.environ.get("SQSKIT_BENCH_ENDPOINT")
    if given:
        yield given
        return
    with start_embedded("ministack") as emulator:
        yield emulator.endpoint
