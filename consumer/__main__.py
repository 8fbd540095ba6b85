"""`python -m consumer`: read the environment, run the worker, map the outcome to an exit code.

The first SIGTERM/SIGINT drains (stop receiving, finish or release in-flight work, exit 0);
a second one exits at once. The engine ends a settled phase with ``SIGNAL_SETTLED_STOP``
(SIGUSR1): the same drain, without waiting for the idle long poll in progress.

With ``HANDLER=package.module:function`` the worker runs that handler instead of the simulated
work: it gets the leases, the heartbeat and the drain, and the scenario's work time (``SLEEP_*``,
``LONG_SLEEP_*``) is spent before it is called, so the kit's timing faults still apply.
``HANDLER_PATH`` lists directories to append to ``sys.path`` first (the docker runner mounts the
user's working directory there).

With ``SQSKIT_WARM_START`` set, the process is a spare: it does every import, then waits on stdin
for the environment and the log files of the incarnation it becomes (the process runner keeps a
few, so a consumer starts without paying for Python and botocore's imports on the way).

Started by hand without ``QUEUE_URL`` (after ``make local-up`` or ``make aws-up``), it reads the
missing variables from ``.env`` (``SQSKIT_ENV_FILE``); exported values win. A launcher that sets
``QUEUE_URL`` (the kit's runners, ECS) owns the whole environment, so the file is not read then.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, MutableMapping
from pathlib import Path
from types import FrameType
from typing import BinaryIO

from botocore.exceptions import BotoCoreError, ClientError

from consumer import logging as consumer_logging
from consumer.chaos import SimulatedWork
from consumer.config import WorkerConfig
from consumer.contract import (
    DEFAULT_ENV_FILE,
    ENV_ENV_FILE,
    ENV_HANDLER,
    ENV_QUEUE_URL,
    ENV_WARM_START,
    EV_CONSUMER_FAILED,
    EV_CONSUMER_SIGNAL,
    SIGNAL_SETTLED_STOP,
    parse_env_file,
)
from consumer.errors import ConfigError
from consumer.exit_codes import EXIT_CONFIG, EXIT_OK, EXIT_UNEXPECTED
from consumer.message import Handler, Message
from consumer.worker import Worker

log = logging.getLogger("consumer")


def _install_signal_handlers(worker: Worker) -> None:
    received: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        received.append(signum)
        fields = {"consumer_id": worker.config.consumer_id, "signal": name}
        if len(received) == 1:
            settled = signum == SIGNAL_SETTLED_STOP
            log.info(
                EV_CONSUMER_SIGNAL,
                extra={**fields, "action": "drain", "abandon_poll": settled},
            )
            worker.stop(abandon_poll=settled)
            return
        log.warning(
            EV_CONSUMER_SIGNAL, extra={**fields, "action": "exit_now", "exit_code": EXIT_UNEXPECTED}
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(EXIT_UNEXPECTED)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(SIGNAL_SETTLED_STOP, on_signal)


def load_env_file(environ: MutableMapping[str, str] = os.environ) -> list[str]:
    """Fill what ``environ`` lacks from the .env file when ``QUEUE_URL`` is unset; the keys set."""
    if environ.get(ENV_QUEUE_URL):
        return []
    path = Path(environ.get(ENV_ENV_FILE) or DEFAULT_ENV_FILE)
    try:
        values = parse_env_file(path.read_text())
    except OSError:
        return []
    added = [key for key in values if key not in environ]
    for key in added:
        environ[key] = values[key]
    return added


def become(launch: BinaryIO, environ: MutableMapping[str, str] = os.environ) -> bool:
    """A warm spare takes its incarnation: the environment and log files on one JSON line of
    ``launch``. False when ``launch`` ends without one (the spare was not needed)."""
    line = launch.readline()
    if not line.strip():
        return False
    spec = json.loads(line)
    for fd, path in ((1, spec["stdout"]), (2, spec["stderr"])):
        target = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(target, fd)  # sys.stdout and sys.stderr write to fds 1 and 2
        os.close(target)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    environ.clear()
    environ.update({str(k): str(v) for k, v in spec["env"].items()})
    return True


def load_handler(spec: str, path: str | None = None) -> Handler:
    """The callable ``spec`` (``package.module:function``) names; ConfigError in one line.

    ``path`` (``os.pathsep``-separated directories) goes to the end of ``sys.path`` first, so a
    user's package never shadows the kit's own ``consumer``.
    """
    for directory in (path or "").split(os.pathsep):
        if directory and directory not in sys.path:
            sys.path.append(directory)
    module_name, _, attr = spec.partition(":")
    where = f"{ENV_HANDLER}={spec}"
    try:
        target: object = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"{where}: cannot import {module_name!r} ({exc}); run from the directory that "
            "holds it, or install it"
        ) from None
    except Exception as exc:  # the user's module raised while importing
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ConfigError(
            f"{where}: importing {module_name!r} failed: {type(exc).__name__}: {first}"
        ) from None
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ConfigError(f"{where}: {module_name!r} has no attribute {attr!r}") from None
    if not callable(target):
        raise ConfigError(f"{where}: {attr!r} is a {type(target).__name__}, not a function")
    handler: Handler = target  # type: ignore[assignment]
    return handler


def with_simulated_work(
    config: WorkerConfig, handler: Handler, *, sleep: Callable[[float], None] = time.sleep
) -> Handler:
    """``handler``, called after the scenario's work time (SLEEP_*, LONG_SLEEP_*) has passed.

    The time is what makes a slow consumer overrun its visibility timeout; the effect is the
    handler's own (no effects table is given to the simulated work).
    """
    work = SimulatedWork(config, sleep=sleep)

    def run(message: Message) -> None:
        work(message)
        handler(message)

    return run


def main() -> int:
    """Run the worker until its limit, idle timeout or a signal; return the exit code."""
    if os.environ.get(ENV_WARM_START) and not become(sys.stdin.buffer):
        return EXIT_OK
    load_env_file()
    try:
        config = WorkerConfig.from_env()
        handler = (
            with_simulated_work(config, load_handler(config.handler, config.handler_path))
            if config.handler
            else None
        )
    except ConfigError as exc:
        print(f"consumer: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    consumer_logging.configure(
        level=config.log_level, fmt=config.log_format, consumer_id=config.consumer_id
    )
    worker = Worker(config, handler=handler)
    _install_signal_handlers(worker)
    try:
        worker.start()
    except ConfigError as exc:
        print(f"consumer: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (ClientError, BotoCoreError) as exc:
        log.error(EV_CONSUMER_FAILED, extra={"consumer_id": config.consumer_id, "error": str(exc)})
        return EXIT_UNEXPECTED
    # Short waits keep the main thread responsive to signals.
    while not worker.join(0.5):
        pass
    return worker.exit_code if worker.exit_code is not None else EXIT_UNEXPECTED


if __name__ == "__main__":
    sys.exit(main())
