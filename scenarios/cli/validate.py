"""`scenario validate`: check that deployed resources exist and match their Terraform settings."""

from __future__ import annotations

import click

from consumer.contract import ENV_AWS_ENDPOINT_URL
from core.errors import ConfigError
from scenarios.cli.exit_codes import EXIT_FAILED, EXIT_USAGE
from scenarios.validate_infra import run

EPILOG = """
\b
Examples:
  scenario validate --main                          # terraform/ on AWS, or after make local-up
  scenario validate --main --endpoint http://127.0.0.1:4566   # after your own `tflocal apply`
  scenario validate --workspace sqskit-3f9a1c       # one run of scenarios/terraform
  python scenarios/validate_infra.py --main         # the seed's form, same checks

Settings come from the Terraform state's outputs (stack_settings); each check prints
`ok` or `FAIL` with what was expected and what was found. Exit 1 when any check fails.
The main state is terraform/terraform.tfstate (SQSKIT_MAIN_STATE to read another).
"""


@click.command("validate", epilog=EPILOG)
@click.option(
    "--main", "main_", is_flag=True, help="Validate the main infrastructure (terraform/)."
)
@click.option(
    "--workspace",
    metavar="NAME",
    default=None,
    help="Validate one scenario run's workspace of scenarios/terraform.",
)
@click.option(
    "--endpoint",
    envvar=ENV_AWS_ENDPOINT_URL,
    default=None,
    help="An emulator endpoint [env AWS_ENDPOINT_URL; for an emulator's state, else .env].",
)
@click.option("--region", default=None, help="Override the region recorded in the outputs.")
def validate(main_: bool, workspace: str | None, endpoint: str | None, region: str | None) -> None:
    """Check that the deployed queue, DLQ, tables (and main infrastructure) match Terraform."""
    if not main_ and not workspace:
        click.echo("validate: choose --main or --workspace NAME", err=True)
        raise click.exceptions.Exit(EXIT_USAGE)
    try:
        report = run(main=main_, workspace=workspace, endpoint_url=endpoint, region=region)
    except ConfigError as exc:
        click.echo(f"validate: {exc}", err=True)
        raise click.exceptions.Exit(EXIT_USAGE) from exc
    click.echo(report.render())
    if not report.ok:
        raise click.exceptions.Exit(EXIT_FAILED)


command = validate
