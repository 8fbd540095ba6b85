"""`scenario doctor`: run the conformance probe and show what this emulator can and cannot do."""

from __future__ import annotations

from pathlib import Path

import click

from consumer.contract import ENV_AWS_ENDPOINT_URL
from core.errors import ConfigError, KitError
from local.conformance import doctor as run_doctor
from scenarios.cli.exit_codes import EXIT_FAILED, EXIT_INFRA, EXIT_USAGE

EPILOG = """
\b
Examples:
  scenario doctor                       # the configured endpoint, else embedded MiniStack
  scenario doctor --emulator moto       # start moto server for the probe, then stop it
  scenario doctor --endpoint http://127.0.0.1:4566 --json reports/doctor.json
  scenario doctor --only sqs.dlq --strict           # exit 1 if a DLQ check fails

Each check proves one capability (sqs.dlq, sqs.move_task, ddb.transactions, ...). Scenarios
that need a capability the probe did not prove are skipped with the reason, or shimmed.
"""


@click.command("doctor", epilog=EPILOG)
@click.option(
    "--endpoint",
    envvar=ENV_AWS_ENDPOINT_URL,
    default=None,
    help="Probe this endpoint [env AWS_ENDPOINT_URL]; default: auto-select.",
)
@click.option(
    "--emulator",
    envvar="SQSKIT_EMULATOR",
    default="auto",
    show_default=True,
    help="auto | ministack | moto | localstack | external | compose:<name> [env SQSKIT_EMULATOR].",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the report as JSON to FILE.",
)
@click.option("--only", default=None, help="Run only the checks whose name contains this.")
@click.option("--strict", is_flag=True, help="Exit 1 when any check fails.")
def doctor(
    endpoint: str | None, emulator: str, json_path: Path | None, only: str | None, strict: bool
) -> None:
    """Probe an emulator (or AWS endpoint) for the behaviour the scenarios rely on."""
    try:
        report = run_doctor(endpoint, emulator, json_path, only=only)
    except ConfigError as exc:
        raise click.exceptions.Exit(_fail(str(exc), EXIT_USAGE)) from exc
    except KitError as exc:
        raise click.exceptions.Exit(_fail(str(exc), EXIT_INFRA)) from exc
    if strict and report.failed:
        raise click.exceptions.Exit(EXIT_FAILED)


def _fail(message: str, code: int) -> int:
    click.echo(f"error: {message}", err=True)
    return code


command = doctor
