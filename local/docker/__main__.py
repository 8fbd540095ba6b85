"""`python -m local.docker` - build the images offline, and clean up kit containers.

What `.ci/docker-setup.sh start` runs (``build all``) after it has a Docker engine.
"""

from __future__ import annotations

import logging
import sys

import click

from core.errors import ConfigError, KitError
from local.docker.build import (
    IMAGE_KINDS,
    BuildConfig,
    build_all,
    build_base,
    build_image,
    build_wheelhouse,
)
from local.docker.engine import remove_labelled_containers

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CONFIG = 2

_EPILOG = """\b
Examples:
  python -m local.docker build all              # base (if missing), wheelhouse, both images
  python -m local.docker build consumer         # wheelhouse + consumer image only
  SQSKIT_BASE_IMAGE=python:3.13-slim python -m local.docker build consumer
  python -m local.docker clean                  # remove every container the kit labelled
"""


@click.group(epilog=_EPILOG)
@click.option("-v", "--verbose", is_flag=True, help="Log each command as it runs.")
def cli(verbose: bool) -> None:
    """Build sqs-kit's images with no registry access."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


@cli.command(epilog=_EPILOG)
@click.argument("what", type=click.Choice(["all", "base", "wheelhouse", *IMAGE_KINDS]))
@click.option("--force-base", is_flag=True, help="Bootstrap the base image again.")
def build(what: str, force_base: bool) -> None:
    """Build WHAT: all | base | wheelhouse | consumer | ministack."""
    try:
        cfg = BuildConfig.from_env()
        if what == "all":
            if force_base:
                build_base(cfg, force=True)
            for step, how in build_all(cfg).items():
                click.echo(f"{step:<22} {how}")
        elif what == "base":
            click.echo(f"base {cfg.base_image}: {build_base(cfg, force=force_base)}")
        elif what == "wheelhouse":
            for kind, how in build_wheelhouse(cfg).items():
                click.echo(f"wheelhouse:{kind} {how}")
        else:
            build_base(cfg)
            build_wheelhouse(cfg, [what])
            took = build_image(cfg, what)
            click.echo(f"{cfg.image_tag(what)} built in {took:.1f} s")
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    except KitError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_ERROR)


@cli.command(epilog=_EPILOG)
@click.option("--run", "run_id", default=None, help="Only this run's containers.")
def clean(run_id: str | None) -> None:
    """Remove containers labelled by the kit's docker runner (orphans after a hard kill)."""
    try:
        removed = remove_labelled_containers(run_id=run_id)
    except KitError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    click.echo(f"removed {len(removed)} container(s)")


if __name__ == "__main__":
    cli()
