"""`python -m local up|down|status` - what `make local-up/down/status` run.

``up`` starts the chosen emulator (compose for a container emulator when Docker is there,
else the embedded one, detached, with a pidfile), provisions the main stack and writes `.env`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from core.errors import ConfigError, EmulatorUnavailable, KitError, ProvisionError
from local.config import PROVISIONERS, LocalConfig
from local.emulators import DEFAULT_EMBEDDED, KINDS, embedded
from local.emulators.base import answers, identify
from local.emulators.compose import ComposeEmulator, docker_available
from local.emulators.embedded import pid_alive, stop_pid
from local.emulators.localstack import LocalStackEmulator
from local.infra import (
    LocalState,
    clear_state,
    dotenv_text,
    provision_main,
    queue_depths,
    read_state,
    write_state,
)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CONFIG = 2
EXIT_UNAVAILABLE = 3

console = Console()

_EPILOG = """\b
Examples:
  python -m local up                         # embedded MiniStack on :4566, stack, .env
  SQSKIT_EMULATOR=localstack python -m local up   # LocalStack 4.14.0 via docker compose
  python -m local up --emulator moto --port 4567 --env-file /tmp/demo.env
  python -m local status
  python -m local down
"""


def _config(**flags: object) -> LocalConfig:
    return LocalConfig.from_env(None, **flags)


F = TypeVar("F", bound=Callable[..., Any])


def _state_options(fn: F) -> F:
    return click.option(
        "--state-dir",
        type=click.Path(path_type=Path),
        default=None,
        help="Where the pidfile and state live [env SQSKIT_STATE_DIR, default .local].",
    )(fn)


@click.group(epilog=_EPILOG)
def cli() -> None:
    """Run the local environment: an emulator plus the main stack."""


@cli.command(epilog=_EPILOG)
@click.option(
    "--emulator",
    type=click.Choice(KINDS),
    default=None,
    help="auto | ministack | moto | localstack | external | compose:<name> [env SQSKIT_EMULATOR].",
)
@click.option("--port", type=int, default=None, help="Host port [env SQSKIT_EMULATOR_PORT, 4566].")
@click.option(
    "--env-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to write .env [env SQSKIT_ENV_FILE, default ./.env].",
)
@click.option(
    "--prefix", default=None, help="Main stack prefix [env SQSKIT_MAIN_PREFIX, sqs-demo]."
)
@click.option(
    "--provisioner",
    type=click.Choice(PROVISIONERS),
    default=None,
    help="auto (terraform when available, else api) [env SQSKIT_PROVISIONER].",
)
@_state_options
def up(  # noqa: PLR0917 - click passes every option positionally
    emulator: str | None,
    port: int | None,
    env_file: Path | None,
    prefix: str | None,
    provisioner: str | None,
    state_dir: Path | None,
) -> None:
    """Start an emulator, provision the main stack, write .env."""
    cfg = _config(
        emulator=emulator, port=port, env_file=env_file, prefix=prefix,
        provisioner=provisioner, state_dir=state_dir,
    )  # fmt: skip
    state = _running_state(cfg)
    if state is None:
        state = _start(cfg)
        write_state(cfg.state_dir, state)
    result = provision_main(cfg.prefix, state.endpoint, provisioner=cfg.provisioner)
    console.print(f"[bold]stack[/bold]: {result.how}")
    cfg.env_file.parent.mkdir(parents=True, exist_ok=True)
    cfg.env_file.write_text(dotenv_text(result.handle))
    write_state(
        cfg.state_dir,
        LocalState(**{**state.__dict__, "prefix": cfg.prefix, "env_file": str(cfg.env_file)}),
    )
    console.print(f"[bold]wrote[/bold] {cfg.env_file}: QUEUE_URL={result.handle.queue_url}")
    console.print("next: `set -a; . ./.env; set +a` then `python -m consumer` and `produce`")


def _running_state(cfg: LocalConfig) -> LocalState | None:
    state = read_state(cfg.state_dir)
    if state is None:
        return None
    if state.endpoint and answers(state.endpoint):
        console.print(
            f"[bold]emulator[/bold]: {state.emulator} already running at {state.endpoint}"
        )
        return state
    console.print("[yellow]stale state from an earlier `up` (nothing answers); starting again[/]")
    if state.pid is not None:
        stop_pid(state.pid, marker=state.marker)
    clear_state(cfg.state_dir)
    return None


def _start(cfg: LocalConfig) -> LocalState:
    wanted = cfg.emulator
    container = wanted == "localstack" or wanted.startswith("compose:")
    if container:
        ok, detail = docker_available()
        if ok:
            service = wanted.removeprefix("compose:")
            comp = (
                LocalStackEmulator(port=cfg.port)
                if service == "localstack"
                else ComposeEmulator(service, port=cfg.port)
            )
            console.print(f"[bold]emulator[/bold]: {service} via docker compose (asked for)")
            comp.start()
            return LocalState(service, "compose", comp.endpoint, cfg.port)
        console.print(
            f"[yellow]{wanted} needs Docker, which is not available ({detail}); "
            f"using the embedded {DEFAULT_EMBEDDED} instead[/]"
        )
        wanted = DEFAULT_EMBEDDED
    if wanted in {"auto", "external"}:
        target = cfg.default_endpoint
        if answers(target):
            name = identify(target)
            console.print(
                f"[bold]emulator[/bold]: {name} already answers at {target}; using it (not ours)"
            )
            return LocalState(name, "external", target, cfg.port)
        if wanted == "external":
            raise EmulatorUnavailable(f"nothing answers at {target} (AWS_ENDPOINT_URL)")
        wanted = DEFAULT_EMBEDDED
        reason = f"nothing answered at {target}; starting the embedded default"
    else:
        reason = "asked for"
    emu = embedded(wanted, cfg.port, detached=True, log_dir=cfg.state_dir)
    emu.start()
    console.print(
        f"[bold]emulator[/bold]: {emu.name} ({reason}), PID {emu.pid}, {emu.endpoint}, "
        f"log {emu.log_path}, ready in {emu.time_to_ready or 0:.2f} s"
    )
    return LocalState(
        emu.name, "embedded", emu.endpoint, emu.port, emu.pid, str(emu.log_path), emu.cmdline_marker
    )


@cli.command(epilog=_EPILOG)
@_state_options
def down(state_dir: Path | None) -> None:
    """Stop what `up` started and remove the pidfile."""
    cfg = _config(state_dir=state_dir)
    state = read_state(cfg.state_dir)
    if state is None:
        console.print("nothing to stop: no pidfile or state under " + str(cfg.state_dir))
        return
    if state.kind == "embedded" and state.pid is not None:
        stopped = stop_pid(state.pid, marker=state.marker)
        console.print(
            f"stopped {state.emulator} (PID {state.pid})"
            if stopped
            else f"{state.emulator} (PID {state.pid}) was not running"
        )
    elif state.kind == "compose":
        emu = (
            LocalStackEmulator(port=state.port)
            if state.emulator == "localstack"
            else ComposeEmulator(state.emulator, port=state.port)
        )
        emu.down()
        console.print(f"stopped the {state.emulator} compose profile")
    else:
        console.print(f"{state.emulator} at {state.endpoint} was not started by us; left running")
    clear_state(cfg.state_dir)


@cli.command(epilog=_EPILOG)
@_state_options
def status(state_dir: Path | None) -> None:
    """Show what is running and the main queue's depth."""
    cfg = _config(state_dir=state_dir)
    state = read_state(cfg.state_dir)
    table = Table(title="sqs-kit local environment", show_header=False)
    if state is None:
        target = cfg.default_endpoint
        up_there = answers(target)
        table.add_row("started by local-up", "nothing")
        table.add_row(target, f"{identify(target)} answers" if up_there else "nothing answers")
        console.print(table)
        return
    alive = state.pid is None or pid_alive(state.pid)
    responding = bool(state.endpoint) and answers(state.endpoint)
    table.add_row("emulator", f"{state.emulator} ({state.kind})")
    table.add_row("endpoint", f"{state.endpoint} - {'answers' if responding else 'NOT answering'}")
    if state.pid is not None:
        table.add_row("pid", f"{state.pid} - {'alive' if alive else 'NOT running'}")
    if state.log_path:
        table.add_row("log", state.log_path)
    if state.env_file:
        table.add_row("env file", state.env_file)
        if responding:
            for label, value in queue_depths(
                _read_env(Path(state.env_file)), state.endpoint
            ).items():
                table.add_row(label, value)
    console.print(table)


def _read_env(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def main(argv: list[str] | None = None) -> int:
    try:
        cli.main(args=argv, prog_name="python -m local", standalone_mode=False)
    except click.exceptions.Abort:
        return EXIT_ERROR
    except click.ClickException as exc:
        exc.show()
        return EXIT_CONFIG
    except ConfigError as exc:
        console.print(f"[red]config error:[/] {exc}")
        return EXIT_CONFIG
    except EmulatorUnavailable as exc:
        console.print(f"[red]emulator unavailable:[/] {exc}")
        return EXIT_UNAVAILABLE
    except (ProvisionError, KitError) as exc:
        console.print(f"[red]error:[/] {exc}")
        return EXIT_ERROR
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
