"""The `scenario` commands' exit codes, and how a run's results map to one."""

from __future__ import annotations

from collections.abc import Iterable

from scenarios.running.scenario import Status

EXIT_OK = 0
#: a scenario failed its oracle, a check failed, or two reports differ beyond the target
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INFRA = 3
EXIT_INTERRUPTED = 130


def exit_code(statuses: Iterable[Status]) -> int:
    """3 when any run hit an infrastructure error, else 1 when any failed, else 0."""
    seen = set(statuses)
    if Status.ERROR in seen:
        return EXIT_INFRA
    if Status.FAILED in seen:
        return EXIT_FAILED
    return EXIT_OK
