"""The probe as a command: select an emulator, run the checks, print and save the report.

python -m local.conformance [--endpoint URL] [--emulator KIND] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from core.aws import Endpoints
from core.errors import EmulatorUnavailable, KitError
from local.conformance.probe import make_clients, run_probe
from local.conformance.results import ProbeReport
from local.emulators import select
from local.emulators.base import answers, identify

#: Marks a check whose expected behaviour is disputed (``ProbeCheck.disputed``).
DISPUTED_MARK = "†"


def render(report: ProbeReport, console: Any = None) -> None:
    """Print the report as a rich table."""
    out = console or Console()
    table = Table(
        title=f"conformance: {report.emulator} at {report.endpoint} "
        f"({len(report.passed)}/{len(report.results)} passed, {report.duration_s:.1f} s)"
    )
    table.add_column("check")
    table.add_column("capability")
    table.add_column("result")
    table.add_column("s", justify="right")
    table.add_column("detail", overflow="fold")
    for r in report.results:
        mark = "[green]pass[/]" if r.passed else "[red]FAIL[/]"
        name = f"{r.name} {DISPUTED_MARK}" if r.disputed else r.name
        table.add_row(name, r.capability, mark, f"{r.duration_s:.2f}", r.detail)
    out.print(table)
    if any(r.disputed for r in report.results):
        out.print(
            f"{DISPUTED_MARK} disputed: AWS's documentation and real SQS are reported to differ "
            "here; the check follows the documentation (its citation is in the --json report)"
        )
    missing = sorted({r.capability for r in report.results} - report.capabilities())
    if missing:
        out.print(
            f"[yellow]missing capabilities[/]: {', '.join(missing)} "
            "(scenarios needing them are skipped or shimmed)"
        )


@contextlib.contextmanager
def _target(endpoint: str | None, emulator: str) -> Iterator[tuple[Endpoints, str, str]]:
    """(endpoints, emulator name, why) for the probe; starts an embedded one when needed.

    With per-service endpoints (``sqs=localstack,dynamodb=ministack``) the name says which
    emulator serves which service.
    """
    if endpoint:
        if not answers(endpoint):
            raise EmulatorUnavailable(
                f"nothing answers at {endpoint}; start an emulator there or drop --endpoint"
            )
        yield Endpoints(endpoint), identify(endpoint), f"--endpoint {endpoint}"
        return
    with select(emulator) as sel:
        name = ",".join(f"{service}={part.emulator.name}" for service, part in sel.services)
        yield sel.endpoints, name or sel.emulator.name, sel.reason


def doctor(
    endpoint: str | None = None,
    emulator: str = "auto",
    json_path: Path | str | None = None,
    *,
    only: str | None = None,
    console: Any = None,
) -> ProbeReport:
    """What `scenario doctor` and `python -m local.conformance` do: select, probe, print, save."""
    out = console or Console()
    with _target(endpoint, emulator) as (endpoints, name, why):
        url = endpoints.default or ""
        out.print(f"[bold]emulator[/bold]: {name} at {url} - {why}")
        # a split probes each service where the scenarios will reach it
        clients = make_clients(url, dynamodb_endpoint=endpoints.url("dynamodb"))
        report = run_probe(url, emulator=name, only=only, clients=clients)
    render(report, out)
    if json_path:
        report.write_json(json_path)
        out.print(f"wrote {json_path}")
    return report


def main(argv: list[str] | None = None) -> int:
    """``python -m local.conformance``: 0, or 1 with --strict when a check failed, 3 on error."""
    parser = argparse.ArgumentParser(
        prog="python -m local.conformance",
        description="Probe an AWS endpoint for the behaviour the scenarios rely on.",
    )
    parser.add_argument("--endpoint", help="probe this endpoint (default: auto-select)")
    parser.add_argument(
        "--emulator", default="auto", help="auto | ministack | moto | localstack ..."
    )
    parser.add_argument("--json", dest="json_path", help="also write the report as JSON here")
    parser.add_argument("--only", help="run only checks whose name contains this")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any check fails")
    args = parser.parse_args(argv)
    try:
        report = doctor(args.endpoint, args.emulator, args.json_path, only=args.only)
    except KitError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 3
    return 1 if args.strict and report.failed else 0
