"""`scenario report RUN.json`: re-render a saved run (tables, PNG) without running anything."""

from __future__ import annotations

import json
from pathlib import Path

import click

from scenarios.cli.exit_codes import exit_code
from scenarios.reporting import console, document
from scenarios.reporting.png import timeline_png

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
    runs = document.load(path)
    if png:
        for run in runs:
            if run.get("phases"):
                out = path.parent / f"{run['scenario']}.png"
                run.setdefault("artifacts", {})["png"] = str(timeline_png(run, out))
    if as_json:
        click.echo(json.dumps(runs[0] if len(runs) == 1 else document.summary(runs), indent=2))
    else:
        out = console.console()
        for run in runs:
            for part in console.render(run):
                out.print(part)
            out.print()
        if len(runs) > 1:
            out.print(console.render_summary(runs))
    ctx.exit(exit_code(document.status_of(r) for r in runs))


command = report_command
