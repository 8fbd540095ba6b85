"""Named process exit codes for `python -m consumer` (the scenario engine relies on them)."""

from __future__ import annotations

from typing import Final

EXIT_OK: Final = 0
"""Stopped on purpose: message limit reached, idle timeout, or a SIGTERM/SIGINT drain."""

EXIT_UNEXPECTED: Final = 1
"""Anything unexpected, including a second signal that forces an immediate exit."""

EXIT_CONFIG: Final = 2
"""A configuration variable is missing or out of range."""

EXIT_CHAOS_CRASH: Final = 3
"""A simulated crash (CRASH_RATE / CRASH_AFTER_RECEIVE): a hard exit with no cleanup."""
