"""`python -m local up|down|status` - what `make local-up/down/status` run.

``up`` starts the chosen emulator (compose for a container emulator when Docker is there,
else the embedded one, detached, with a pidfile), applies the main infrastructure
(``terraform/``, through tflocal, ``desired_count=0``) and writes `.env`. A second ``up`` on a
running environment skips Terraform when everything answers. ``down`` removes what ``up``
created: the main infrastructure, ``.env`` and the emulator.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from consumer.contract import EMULATOR_CREDENTIALS, ENV_AWS_ENDPOINT_URL, parse_env_file
from core.dotenv import read_env_file, write_env_file
from core.errors import ConfigError, EmulatorUnavailable, KitError, ProvisionError
from core.terraform.main_infra import main_state_path
from core.terraform.outputs import state_outputs_or_empty
from local.config import PROVISIONERS, LocalConfig
from local.emulators import DEFAULT_EMBEDDED, embedded
from local.emulators.base import answers, identify
from local.emulators.compose import ComposeEmulator, docker_available
from local.emulators.embedded import pid_alive, stop_pid
from local.emulators.localstack import LocalStackEmulator
from local.infra import (
    LocalState,
    clear_state,
    destroy_main_infrastructure,
    ensure_main_infrastructure,
    forget_main_infrastructure,
    local_dotenv,
    main_answers,
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
  python -m local up                         # MiniStack on :4566, terraform/ via tflocal, .env
  python -m local up --provisioner api       # fast path: queue, DLQ, tables only (no Terraform)
  SQSKIT_EMULATOR=localstack python -m local up   # LocalStack 4.14.0 via docker compose
  python -m local up --emulator moto --port 4567 --env-file /tmp/demo.env
  python -m local status
  python -m local down
"""
ENV_HEADER = "Written by `make local-up` (python -m local up); `make local-down` removes it."


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
    default=None,
    help="auto | ministack | moto | localstack | external | compose:<name> [env SQSKIT_EMULATOR]; "
    "per-service endpoints (sqs=localstack,dynamodb=ministack) are for `scenario run` only.",
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
    help="terraform: apply terraform/ through tflocal; api: the fast path without Terraform "
    "(queue, DLQ, tables) [env SQSKIT_PROVISIONER, default terraform].",
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
    """Start an emulator, apply the main infrastructure, write .env."""
    cfg = _config(
        emulator=emulator, port=port, env_file=env_file, prefix=prefix,
        provisioner=provisioner, state_dir=state_dir,
    )  # fmt: skip
    state = _running_state(cfg)
    fresh = state is None
    if state is None:
        state = _start(cfg)
        write_state(cfg.state_dir, state)
    if cfg.provisioner == "api":
        result = provision_main(cfg.prefix, state.endpoint)
        console.print(f"[bold]stack[/bold]: {result.how}")
        values = {**parse_env_file(result.handle.dotenv()), **EMULATOR_CREDENTIALS}
        main_state, digest = "", ""
    else:
        main_state = str(main_state_path())
        main = ensure_main_infrastructure(
            state.endpoint,
            project=cfg.prefix,
            state_file=Path(main_state),
            workdir=cfg.state_dir / "terraform",
            fresh_emulator=fresh,
            applied_digest=state.main_digest if state.main_state == main_state else "",
        )
        console.print(f"[bold]main infrastructure[/bold]: {main.how}")
        values, digest = local_dotenv(main.outputs, state.endpoint), main.digest
    changed = write_env_file(cfg.env_file, values, header=ENV_HEADER)
    write_state(
        cfg.state_dir,
        LocalState(**{
            **state.__dict__, "prefix": cfg.prefix, "env_file": str(cfg.env_file),
            "main_state": main_state, "main_digest": digest,
        }),
    )  # fmt: skip
    console.print(
        f"[bold]{'wrote' if changed else 'unchanged'}[/bold] {cfg.env_file}: "
        f"QUEUE_URL={values.get('QUEUE_URL')}"
    )
    console.print(
        "next (they read .env, no exports needed): `python -m consumer`, "
        "`scripts/run_producer.sh --n 25 --rate 5`, `scenario validate --main`"
    )


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
    """Remove what `up` created: the main infrastructure, .env, and the emulator it started."""
    cfg = _config(state_dir=state_dir)
    state = read_state(cfg.state_dir)
    if state is None:
        console.print("nothing to stop: no pidfile or state under " + str(cfg.state_dir))
        return
    _remove_main(cfg, state)
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
    _remove_env_file(state)
    clear_state(cfg.state_dir)


def _remove_main(cfg: LocalConfig, state: LocalState) -> None:
    """The main infrastructure `up` applied: gone with an emulator we stop, else destroyed."""
    if not state.main_state:
        return
    state_file = Path(state.main_state)
    if state.kind in {"embedded", "compose"}:
        # An emulator we stop keeps nothing (in memory): the state is all that is left of it.
        if forget_main_infrastructure(state_file):
            console.print(
                f"main infrastructure: goes with the emulator; removed its state {state_file}"
            )
        return
    if not (state.endpoint and answers(state.endpoint)):
        console.print(
            f"[yellow]main infrastructure: {state.endpoint} does not answer; left {state_file}[/]"
        )
        return
    if destroy_main_infrastructure(
        state.endpoint, state_file=state_file, workdir=cfg.state_dir / "terraform"
    ):
        console.print(f"main infrastructure: destroyed with tflocal; removed {state_file}")


def _remove_env_file(state: LocalState) -> None:
    """Remove the .env `up` wrote, unless it now points somewhere else."""
    if not state.env_file:
        return
    path = Path(state.env_file)
    if read_env_file(path).get(ENV_AWS_ENDPOINT_URL) == state.endpoint:
        path.unlink(missing_ok=True)
        console.print(f"removed {path}")


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
    if state.main_state:
        outputs = state_outputs_or_empty(Path(state.main_state))
        if not outputs:
            health = "no state"
        elif not responding:
            health = "emulator not answering"
        else:
            ok, why = main_answers(outputs, state.endpoint)
            health = why if ok else f"NOT answering: {why}"
        table.add_row("main infrastructure", f"{state.main_state} - {health}")
    if state.env_file:
        table.add_row("env file", state.env_file)
        if responding:
            for label, value in queue_depths(
                read_env_file(Path(state.env_file)), state.endpoint
            ).items():
                table.add_row(label, value)
    console.print(table)


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
