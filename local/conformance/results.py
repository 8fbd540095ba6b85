"""What a probe run found: one result per check, and the capabilities they prove."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ProbeResult:
    """One check's outcome on one endpoint, with the AWS page the expectation comes from."""

    name: str
    capability: str
    passed: bool
    detail: str
    duration_s: float
    cite: str = ""
    disputed: bool = False


@dataclass
class ProbeReport:
    """Every check's result, and the capabilities they prove."""

    endpoint: str
    emulator: str
    started_at: str
    duration_s: float
    results: list[ProbeResult] = field(default_factory=list)

    def capabilities(self) -> frozenset[str]:
        """Capabilities whose every check passed."""
        failed = {r.capability for r in self.results if not r.passed}
        return frozenset({r.capability for r in self.results} - failed)

    def missing(self, needed: Iterable[str]) -> frozenset[str]:
        """Of ``needed``, what this endpoint did not prove."""
        return frozenset(needed) - self.capabilities()

    @property
    def passed(self) -> list[ProbeResult]:
        return [r for r in self.results if r.passed]

    @property
    def failed(self) -> list[ProbeResult]:
        return [r for r in self.results if not r.passed]

    def result(self, name: str) -> ProbeResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "emulator": self.emulator,
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 3),
            "passed": len(self.passed),
            "failed": len(self.failed),
            "capabilities": sorted(self.capabilities()),
            "missing_capabilities": sorted(
                {r.capability for r in self.results} - self.capabilities()
            ),
            "checks": [{**asdict(r), "duration_s": round(r.duration_s, 3)} for r in self.results],
        }

    def write_json(self, path: Path | str) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ProbeReport:
        return cls(
            endpoint=raw["endpoint"],
            emulator=raw["emulator"],
            started_at=raw["started_at"],
            duration_s=float(raw["duration_s"]),
            results=[ProbeResult(**c) for c in raw["checks"]],
        )
