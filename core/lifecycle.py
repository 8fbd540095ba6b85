"""One context-manager protocol for everything the kit opens and closes."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Scoped:
    """``with x:`` calls ``x.open()`` on entry and ``x.close()`` on exit, also after an error.

    Subclasses override ``open`` and ``close``; both default to doing nothing.
    """

    def open(self) -> None:
        """Acquire what the object holds while in use."""

    def close(self) -> None:
        """Release what ``open`` acquired. Safe to call twice and after a failure."""

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
