"""`scenario cleanup --target aws`: find what runs left behind, by tag, and remove it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from consumer.contract import ENV_AWS_REGION
from core.aws import client as make_client
from core.errors import KitError
from scenarios.aws.cleanup import (
    DEFAULT_STACK_GLOB,
    Leftover,
    find_leftovers,
    remove_leftover,
)
from scenarios.aws.guardrails import confirmation_given
from scenarios.aws.region import known_main_outputs, run_region
from scenarios.cli.exit_codes import EXIT_INFRA, EXIT_USAGE

EPILOG = """
\b
Examples:
  scenario cleanup --target aws                      # list leftovers of every run (dry run)
  scenario cleanup --target aws --prefix sqskit-3f9a1c --yes   # remove one run's leftovers
  SQSKIT_AWS_CONFIRM=1 scenario cleanup --target aws --delete  # remove all run leftovers

Only resources tagged managed-by=sqs-kit whose sqs-kit-stack tag matches --prefix are
touched. The default pattern (sqskit-*) matches per-run stacks only, never the main
infrastructure (sqs-demo).
"""


@click.command("cleanup", epilog=EPILOG)
@click.option(
    "--target",
    type=click.Choice(["aws"]),
    required=True,
    envvar="SQSKIT_TARGET",
    help="Where to look (only aws keeps resources beyond a run).",
)
@click.option(
    "--prefix",
    "stack_glob",
    default=DEFAULT_STACK_GLOB,
    show_default=True,
    envvar="SQSKIT_CLEANUP_PREFIX",
    help="Stack prefix, or a glob over the sqs-kit-stack tag.",
)
@click.option("--region", envvar=ENV_AWS_REGION, default=None, help="AWS region.")
@click.option(
    "--endpoint",
    "--endpoint-url",
    "endpoint_url",
    envvar="SQSKIT_ENDPOINT_URL",
    default=None,
    help="An emulator standing in for AWS.",
)
@click.option(
    "--delete",
    is_flag=True,
    help="Remove what was found (needs --yes or SQSKIT_AWS_CONFIRM=1).",
)
@click.option("--yes", is_flag=True, help="Confirm the removal; implies --delete.")
def cleanup(
    *,
    target: str,
    stack_glob: str,
    region: str | None,
    endpoint_url: str | None,
    delete: bool,
    yes: bool,
) -> None:
    """List (default) or remove AWS resources that sqs-kit runs left behind."""
    del target  # one choice today; the option keeps the command symmetric with `run`
    try:  # the region of the runs: the main infrastructure's, as `scenario run` resolves it
        resolved = run_region(region, known_main_outputs(endpoint_url=endpoint_url)).region
    except KitError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_USAGE) from exc

    def client_for(service: str) -> Any:
        return make_client(service, endpoint_url=endpoint_url, region=resolved)

    try:
        confirmed = confirmation_given(yes)
        leftovers = find_leftovers(client_for, stack_glob=stack_glob)
    except KitError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_INFRA) from exc
    where = endpoint_url or f"AWS {resolved}"
    if not leftovers:
        click.echo(f"no leftovers matching sqs-kit-stack={stack_glob} in {where}")
        return
    click.echo(f"{len(leftovers)} leftover(s) matching sqs-kit-stack={stack_glob} in {where}:")
    for item in leftovers:
        note = f" ({item.note})" if item.note else ""
        click.echo(f"  {item.kind:<16} {item.name:<48} stack={item.stack}{note}")
    if not (delete or yes):
        click.echo("dry run: nothing removed. Re-run with --yes to remove these.")
        return
    if not confirmed:
        click.echo("refusing to remove without --yes or SQSKIT_AWS_CONFIRM=1", err=True)
        raise SystemExit(EXIT_USAGE)
    _remove_all(client_for, leftovers)


def _remove_all(client_for: Callable[[str], Any], leftovers: list[Leftover]) -> None:
    failed = 0
    for item in leftovers:
        try:
            remove_leftover(client_for, item)
            click.echo(f"  removed {item.kind} {item.name}")
        except KitError as exc:
            failed += 1
            click.echo(f"  FAILED  {item.kind} {item.name}: {exc}", err=True)
    if failed:
        click.echo(f"{failed} resource(s) could not be removed; re-run to retry", err=True)
        raise SystemExit(EXIT_INFRA)
    click.echo(f"removed {len(leftovers)} resource(s)")


command = cleanup
