"""`scenario list`: the catalogue - what each scenario shows, its faults, needs and knobs, and
whether it applies to a plugged-in consumer (``--consumer-cmd`` / ``--consumer-image``)."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from scenarios import catalogue
from scenarios.settings import RunSettings

EPILOG = """
\b
Examples:
  scenario list
  scenario list --knobs          # every knob and its default, per scenario
  scenario list --json
\b
The "phases" column names what a --faults plan's `phases:` key may pick (docs/faults.md).
The "your consumer" column says how each scenario judges a consumer plugged in with
--consumer-cmd or --consumer-image (a --handler runs in the kit's worker: all apply).
"""


def describe() -> list[dict[str, Any]]:
    """The catalogue as data (what `list --json` prints)."""
    out = []
    for cls in catalogue.ALL:
        scenario = cls()
        k = scenario.knobs(RunSettings())
        phases = list(scenario.phases(k))
        applies, how = scenario.applicability()
        out.append(
            {
                "name": scenario.name,
                "summary": scenario.summary,
                "phases": [p.name for p in phases],
                "consumers": [f"{p.name}: {g.describe()}" for p in phases for g in p.consumers],
                "faults": [f.label for p in phases for f in p.faults],
                "needs": [
                    n.capability + (f" (shim: {n.shim})" if n.shim else "") for n in scenario.needs
                ],
                "calibration": scenario.calibration,
                # --handler runs in the kit's worker: every scenario applies to it
                "plugged_in": {"applies": applies, "how": how},
                "knobs": k.to_dict(),
                "on_ecs": scenario.ecs.describe(),
            }
        )
    return out


@click.command("list", epilog=EPILOG)
@click.option("--knobs", "show_knobs", is_flag=True, help="Show every knob's default.")
@click.option("--json", "as_json", is_flag=True, help="Print the catalogue as JSON.")
def list_command(show_knobs: bool, as_json: bool) -> None:
    """List the scenarios `scenario run` knows."""
    rows = describe()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="scenarios (scenario run NAME|all)", show_lines=show_knobs)
    table.add_column("name", style="bold")
    table.add_column("what it shows")
    table.add_column("phases")
    table.add_column("consumers")
    table.add_column("fault plan")
    table.add_column("on ECS (--target aws)")
    table.add_column("your consumer")
    if show_knobs:
        table.add_column("knobs (defaults)")
    for row in rows:
        groups = [c.split(": ", 1)[1] for c in row["consumers"]]
        cells = [
            row["name"],
            row["summary"],
            "\n".join(row["phases"]),
            "\n".join(dict.fromkeys(groups)),
            "\n".join(row["faults"]) or "-",
            row["on_ecs"],
            ("yes" if row["plugged_in"]["applies"] else "no")
            + ("" if row["plugged_in"]["how"] == "as it is" else f": {row['plugged_in']['how']}"),
        ]
        if show_knobs:
            cells.append(" ".join(f"{k}={v}" for k, v in row["knobs"].items()))
        table.add_row(*cells)
    Console().print(table)


command = list_command
