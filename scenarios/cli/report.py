"""`scenario report RUN.json`: re-render a saved run (tables, PNG) without running anything."""

from __future__ import annotations

import json
from pathlib import Path

import click

from scenarios import report as reports
from scenarios.cli.options import EXIT_FAILED, EXIT_OK

EPILOG = """
\b
Examples:
  scenario report reports/20261127-211500-happy/happy.json
  scenario report reports/20261127-211500-all/summary.json --no-png
  scenario report run.json --json | jq .counts
"""


@click.command("report", epilog=EPILOG)
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--png/--no-png",
    default=True,
    show_default=True,
    help="Re-render the PNG timeline next to the JSON (<scenario>.png).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report JSON instead of tables.")
@click.pass_context
def report_command(ctx: click.Context, path: Path, png: bool, as_json: bool) -> None:
    """Re-render the report(s) in PATH; exit 0 when every scenario in it passed, else 1."""
    runs = reports.load(path)
    if png:
        for run in runs:
            if run.get("phases"):
                out = path.parent / f"{run['scenario']}.png"
                run.setdefault("artifacts", {})["png"] = str(reports.timeline_png(run, out))
    if as_json:
        click.echo(json.dumps(runs[0] if len(runs) == 1 else reports.summary(runs), indent=2))
    else:
        console = reports.console()
        for run in runs:
            for part in reports.render(run):
                console.print(part)
            console.print()
        if len(runs) > 1:
            console.print(reports.render_summary(runs))
    ok = all(r.get("status") in ("passed", "skipped") for r in runs)
    ctx.exit(EXIT_OK if ok else EXIT_FAILED)


command = report_command
