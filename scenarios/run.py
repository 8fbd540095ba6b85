"""The seed's entry point, kept as a thin alias of `scenario run`.

    python scenarios/run.py happy --count 5 --batch-size 5
    == scenario run happy --count 5 --batch-size 5

A first argument that is another `scenario` command (``list``, ``report``, ...) or ``--help``
is passed through unchanged. Works as ``python -m scenarios.run`` and as a script path.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:
    # Run as a script path: sys.path[0] is scenarios/ itself, whose modules and packages (aws,
    # model, settings...) must not shadow top-level names; the repository root goes first.
    _here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
    sys.path.insert(0, str(_here.parent))

from scenarios.cli import COMMANDS, main

_PASSTHROUGH = {*COMMANDS, "--help", "-h", "--version"}


def alias(argv: list[str]) -> list[str]:
    """The `scenario` argv for the seed's argv."""
    if argv and argv[0] in _PASSTHROUGH:
        return argv
    return ["run", *argv]


if __name__ == "__main__":
    main(alias(sys.argv[1:]))
