"""Named process exit codes for `python -m consumer` (defined once, in ``consumer.contract``)."""

from __future__ import annotations

from consumer.contract import EXIT_CHAOS_CRASH, EXIT_CONFIG, EXIT_OK, EXIT_UNEXPECTED

__all__ = ["EXIT_CHAOS_CRASH", "EXIT_CONFIG", "EXIT_OK", "EXIT_UNEXPECTED"]
