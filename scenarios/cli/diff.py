"""`scenario diff A.json B.json`: compare two run reports, target-specific fields apart.

Exit 0 when only target-specific fields differ (parity), 1 when anything else does, 2 for
unreadable input. What counts as target-specific is :mod:`scenarios.reporting.diff`'s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from scenarios.cli.exit_codes import EXIT_FAILED, EXIT_OK
from scenarios.reporting.diff import diff_reports

EPILOG = """
\b
Examples:
  scenario run happy --target local --json --report-dir reports/local
  scenario run happy --target aws --endpoint-url http://127.0.0.1:4566 --report-dir reports/aws
  scenario diff reports/local/happy.json reports/aws/happy.json
"""


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise click.UsageError(f"{path}: not a readable JSON report ({exc})") from exc


@click.command("diff", epilog=EPILOG)
@click.argument("a", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("b", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--ignore",
    multiple=True,
    metavar="KEY",
    help="Treat KEY as target-specific too (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the differences as JSON.")
def diff(a: Path, b: Path, ignore: tuple[str, ...], as_json: bool) -> None:
    """Show how two JSON reports differ; exit 1 if more than target-specific fields do."""
    result = diff_reports(_load(a), _load(b), ignore=ignore)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        click.echo(f"target-specific differences ({len(result.target_specific)}, expected):")
        for d in result.target_specific:
            click.echo(d.render())
        click.echo(f"other differences ({len(result.other)}):")
        for d in result.other:
            click.echo(d.render())
        click.echo(
            "parity: only target-specific fields differ"
            if result.parity
            else "NO parity: the runs differ beyond the target"
        )
    raise SystemExit(EXIT_OK if result.parity else EXIT_FAILED)


command = diff
