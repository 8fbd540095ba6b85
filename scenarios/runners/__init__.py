"""Consumer runners: `process` (subprocesses), `docker` (containers), `ecs` (Fargate tasks)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

from consumer.contract import ENV_HANDLER, ENV_HANDLER_PATH, SIGNAL_SETTLED_STOP
from core.errors import ConfigError, InfrastructureError
from local.docker.engine import docker_client, docker_module, docker_runner_available
from scenarios.model import RestartPolicy
from scenarios.runners.base import ConsumerHandle, ConsumerRunner, parse_event
from scenarios.runners.docker import USER_CODE_DIR, DockerRunner
from scenarios.runners.process import ProcessRunner
from scenarios.settings import COMMAND, HANDLER, IMAGE, PluggedConsumer

__all__ = [
    "ConsumerHandle",
    "ConsumerRunner",
    "RestartPolicy",
    "docker_image",
    "get_runner",
    "handler_image_problem",
    "parse_event",
    "plug_problem",
    "resolve_runner",
]

LOCAL_RUNNERS = ("auto", "process", "docker")
IMAGE_REPOSITORY = "sqs-kit-consumer"
#: arguments of a ``--consumer-cmd`` that name a script, which must then exist
_SCRIPT_SUFFIXES = (".py", ".js", ".mjs", ".cjs", ".ts", ".rb", ".sh", ".jar", ".php", ".pl")


def docker_image(image_tag: str | None) -> str:
    """The consumer image for ``--image-tag`` (``sqs-kit-consumer:local`` by default)."""
    if image_tag and (":" in image_tag or "/" in image_tag):
        return image_tag  # a full reference
    return f"{IMAGE_REPOSITORY}:{image_tag or 'local'}"


def resolve_runner(
    name: str, *, image_tag: str | None = None, plug: PluggedConsumer | None = None
) -> tuple[str, str]:
    """(runner name, why) for ``--runner auto|process|docker``.

    ``auto`` picks docker when an engine answers and the consumer image is built, and the
    process runner otherwise. A ``--consumer-cmd`` always runs as processes, a
    ``--consumer-image`` always as containers.
    """
    plug = plug or PluggedConsumer()
    if name not in LOCAL_RUNNERS:
        raise ConfigError(f"--runner {name!r} is invalid: choose one of {', '.join(LOCAL_RUNNERS)}")
    if plug.kind == COMMAND:
        if name == "docker":
            raise ConfigError(
                "--consumer-cmd runs a process: use --runner process (or auto), or --consumer-image"
            )
        return "process", "--consumer-cmd runs as processes"
    if plug.kind == IMAGE:
        assert plug.image is not None
        if name == "process":
            raise ConfigError(
                "--consumer-image runs a container: use --runner docker (or auto), or "
                "--consumer-cmd"
            )
        problem = _image_problem(plug.image)
        if problem:
            raise ConfigError(f"--consumer-image {plug.image} cannot run: {problem}")
        return "docker", f"--consumer-image runs as containers (image {plug.image})"
    if name == "process":
        return "process", "--runner process was asked for"
    return _kits_image_choice(name, docker_image(image_tag), plug)


def _kits_image_choice(name: str, image: str, plug: PluggedConsumer) -> tuple[str, str]:
    """``resolve_runner`` for ``auto`` or ``docker`` with the kit's image (``image``)."""
    ok, why = docker_runner_available(image)
    if ok and plug.kind == HANDLER:
        # an image built before HANDLER existed would run its own simulated work, ignore the
        # user's handler, and pass: such an image cannot judge a --handler
        problem = handler_image_problem(image)
        if problem:
            ok, why = False, problem
            if name == "docker":
                raise ConfigError(f"--handler with --runner docker: {problem}")
    if name == "docker":
        if not ok:
            raise InfrastructureError(f"--runner docker cannot run: {why}")
        return "docker", f"--runner docker was asked for ({why})"
    if ok:
        return "docker", f"a Docker engine and the consumer image are available ({why})"
    return "process", f"no docker runner: {why}"


#: exit 0: the image's worker honours HANDLER; 3: it was built before HANDLER; 4: no kit worker.
#: It reads the contract's source: importing the package would fail in an image whose worker
#: is older than its contract, and say nothing about which.
_HANDLER_PROBE = (
    "import importlib.util, pathlib, sys\n"
    "spec = importlib.util.find_spec('consumer')\n"
    "if spec is None or not spec.submodule_search_locations:\n"
    "    sys.exit(4)\n"
    "contract = pathlib.Path(list(spec.submodule_search_locations)[0]) / 'contract.py'\n"
    "if not contract.is_file():\n"
    "    sys.exit(4)\n"
    f"sys.exit(0 if {json.dumps(ENV_HANDLER_PATH)!r} in contract.read_text() else 3)\n"
)


def handler_image_problem(image: str) -> str | None:
    """Why ``image``'s worker cannot run a ``--handler`` (it predates HANDLER), or None.

    Runs the image once, without network, reading its contract module for ``HANDLER_PATH``.
    """
    try:
        docker = docker_module()
        client = docker_client(timeout=30)
    except Exception as exc:  # no SDK or no engine: the runner choice reports that itself
        return f"cannot ask image {image} whether it runs handlers: {exc}"
    try:
        client.containers.run(
            image,
            entrypoint=["python3", "-c", _HANDLER_PROBE],
            network_mode="none",
            remove=True,
            stdout=False,
            stderr=True,
        )
    except docker.errors.ContainerError as exc:
        if exc.exit_status == 3:
            return (
                f"image {image} was built before --handler support: its worker would ignore "
                "your handler; rebuild it (make image) or use --runner process"
            )
        if exc.exit_status == 4:
            return f"image {image} does not hold the kit's worker (no consumer.contract)"
        return f"image {image} cannot run the kit's worker: {exc}"
    except docker.errors.DockerException as exc:
        return f"cannot ask image {image} whether it runs handlers: {exc}"
    finally:
        client.close()
    return None


def get_runner(
    name: str,
    *,
    log_dir: Path,
    image_tag: str | None = None,
    run_id: str | None = None,
    plug: PluggedConsumer | None = None,
    cwd: Path | None = None,
) -> ConsumerRunner:
    """Build the runner called ``name`` (``process`` or ``docker``; resolve ``auto`` first).

    ``plug`` is the user's consumer, if any; ``cwd`` the user's working directory (default:
    this process's), where a command starts and whose code a ``--handler`` imports.
    """
    plug = plug or PluggedConsumer()
    where = Path(cwd) if cwd is not None else Path.cwd()
    runner: ConsumerRunner
    if name == "process":
        if plug.kind == COMMAND:
            assert plug.command is not None
            runner = ProcessRunner(
                log_dir, command=list(plug.command), cwd=where, interpreter_first=True
            )
        elif plug.kind == HANDLER:
            # -P: the working directory is not put first on sys.path, so a package of the
            # user's named `consumer` cannot shadow the kit's worker (HANDLER_PATH appends it)
            runner = ProcessRunner(
                log_dir, command=[sys.executable, "-P", "-m", "consumer"], cwd=where
            )
        else:
            runner = ProcessRunner(log_dir)
        if plug.kind == HANDLER:
            assert plug.handler is not None
            runner.extra_env = {ENV_HANDLER: plug.handler, ENV_HANDLER_PATH: str(where)}
        if plug.kind != COMMAND:  # the kit's own consumer (a --handler runs inside it)
            runner.settled_stop_signal = SIGNAL_SETTLED_STOP
        return runner
    if name == "docker":
        if plug.kind == COMMAND:
            raise ConfigError("--consumer-cmd runs a process: use --runner process")
        image = plug.image or docker_image(image_tag)
        mounts = {str(where): USER_CODE_DIR} if plug.kind == HANDLER else None
        runner = DockerRunner(image, run_id=run_id, log_dir=log_dir, mounts=mounts)
        if plug.kind == HANDLER:
            assert plug.handler is not None
            runner.extra_env = {ENV_HANDLER: plug.handler, ENV_HANDLER_PATH: USER_CODE_DIR}
        if plug.image is None:  # the kit's own image (a --handler runs inside it)
            # only when the image declares it: one built from an older checkout would die of it
            runner.settled_stop_signal = runner.image_settled_stop()
        return runner
    raise ConfigError(f"unknown runner {name!r}: choose 'process' or 'docker'")


def plug_problem(plug: PluggedConsumer, *, cwd: Path | None = None) -> str | None:
    """Why the user's consumer cannot start from ``cwd``, found before anything is created.

    A handler's module must be importable from there; a command's program must be on PATH (the
    kit's interpreter directory first) and the scripts it names must exist. None: no problem
    found (the consumer may still fail at start; the engine then stops with its stderr).
    """
    where = Path(cwd) if cwd is not None else Path.cwd()
    if plug.kind == HANDLER:
        assert plug.handler is not None
        return _handler_problem(plug.handler, where)
    if plug.kind == COMMAND:
        assert plug.command is not None
        return _command_problem(plug.command, where)
    return None


def _handler_problem(spec: str, where: Path) -> str | None:
    module = spec.partition(":")[0]
    added = str(where) not in sys.path
    if added:
        sys.path.append(str(where))
    try:
        found = importlib.util.find_spec(module)
    except ModuleNotFoundError:  # a parent package is missing, or is a plain module
        found = None
    except Exception as exc:  # a parent package raised while importing
        return f"--handler {spec}: cannot import {module!r} from {where}: {exc}"
    finally:
        if added:
            sys.path.remove(str(where))
    if found is None:
        return (
            f"--handler {spec}: no module {module!r} under {where} or on the Python path; run "
            "`scenario` from the directory that holds your package"
        )
    return None


def _command_problem(command: tuple[str, ...], where: Path) -> str | None:
    program, *args = command
    search = os.pathsep.join((os.path.dirname(sys.executable), os.environ.get("PATH", "")))
    if os.sep in program:
        path = where / program
        if not (path.is_file() and os.access(path, os.X_OK)):
            return f"--consumer-cmd: {program} is not an executable file (from {where})"
    elif shutil.which(program, path=search) is None:
        return f"--consumer-cmd: {program!r} is not on PATH; install it or give its full path"
    for arg in args:
        script = arg.endswith(_SCRIPT_SUFFIXES) and not arg.startswith("-")
        if script and not (where / arg).exists():
            return f"--consumer-cmd: {arg} does not exist (relative to {where})"
    return None


def _image_problem(image: str) -> str | None:
    """Why ``image`` cannot run on the local Docker engine (never pulls), or None."""
    try:
        docker = docker_module()
        client = docker_client(timeout=10)
    except InfrastructureError as exc:
        return str(exc)
    except Exception as exc:  # the SDK raises DockerException for an engine that is not there
        return f"no Docker engine answers: {exc}"
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        return (
            f"the image is not on the Docker engine: build or pull it first (docker pull {image})"
        )
    except docker.errors.DockerException as exc:
        return f"cannot inspect the image: {exc}"
    finally:
        client.close()
    return None
