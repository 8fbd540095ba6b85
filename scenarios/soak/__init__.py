"""The soak: thousands of messages through the consumers with chaos the whole time.

``python -m scenarios.soak`` (``make soak``) runs :class:`Soak` through the ordinary engine and
oracle on the embedded default emulator, samples the memory of the consumer processes and of
the emulator meanwhile, and writes one JSON report and one PNG into the report folder. It is a
command of its own, not part of ``scenario run all`` nor of ``make test``.
"""

from scenarios.soak.scenario import KillInTurn, KillsRecovered, Soak

__all__ = ["KillInTurn", "KillsRecovered", "Soak"]
