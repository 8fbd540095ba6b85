"""`scenario`: one click group, one module per command (each exports ``command``).

Library errors share one root (``KitError``) and become named exit codes here, at the edge:
0 every scenario passed, 1 a scenario failed its oracle, 2 usage, 3 infrastructure,
130 interrupted (after teardown).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import click
from botocore.exceptions import BotoCoreError, ClientError

from core.errors import ConfigError, KitError
from scenarios.cli import cleanup, diff, doctor, report, run, validate
from scenarios.cli import list as list_
from scenarios.cli.exit_codes import EXIT_INFRA, EXIT_INTERRUPTED, EXIT_USAGE

#: the command modules, in `--help` order
_MODULES = (list_, run, report, diff, doctor, validate, cleanup)
COMMANDS = tuple(str(m.command.name) for m in _MODULES)

EPILOG = """
\b
Examples:
  scenario list
  scenario run happy --target local
  scenario run duplicates crash --count 10
  scenario run all --json > runs.json
  scenario report reports/<run>/happy.json
  scenario doctor
"""


class KitGroup(click.Group):
    """Turns library errors into one-line messages and named exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            ctx.exit(EXIT_USAGE)
        except KitError as exc:
            click.secho(f"infrastructure error: {exc}", fg="red", err=True)
            ctx.exit(EXIT_INFRA)
        except (ClientError, BotoCoreError) as exc:
            click.secho(f"infrastructure error: AWS call failed: {exc}", fg="red", err=True)
            ctx.exit(EXIT_INFRA)
        except KeyboardInterrupt:
            click.secho("interrupted: stopped consumers and tore the stack down", err=True)
            ctx.exit(EXIT_INTERRUPTED)


@click.group(cls=KitGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sqs-kit", prog_name="scenario")
def cli() -> None:
    """See, and prove, what an SQS consumer does under at-least-once delivery."""


for _module in _MODULES:
    cli.add_command(_module.command)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (`scenario`)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="scenario")
