"""`python -m consumer`: read the environment, run the worker, map the outcome to an exit code.

The first SIGTERM/SIGINT drains (stop receiving, finish or release in-flight work, exit 0);
a second one exits at once.

Started by hand without ``QUEUE_URL`` (after ``make local-up`` or ``make aws-up``), it reads the
missing variables from ``.env`` (``SQSKIT_ENV_FILE``); exported values win. A launcher that sets
``QUEUE_URL`` (the kit's runners, ECS) owns the whole environment, so the file is not read then.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import MutableMapping
from pathlib import Path
from types import FrameType

from botocore.exceptions import BotoCoreError, ClientError

from consumer import logging as consumer_logging
from consumer.config import WorkerConfig
from consumer.contract import (
    DEFAULT_ENV_FILE,
    ENV_ENV_FILE,
    ENV_QUEUE_URL,
    EV_CONSUMER_FAILED,
    EV_CONSUMER_SIGNAL,
    parse_env_file,
)
from consumer.errors import ConfigError
from consumer.exit_codes import EXIT_CONFIG, EXIT_UNEXPECTED
from consumer.worker import Worker

log = logging.getLogger("consumer")


def _install_signal_handlers(worker: Worker) -> None:
    received: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        received.append(signum)
        fields = {"consumer_id": worker.config.consumer_id, "signal": name}
        if len(received) == 1:
            log.info(EV_CONSUMER_SIGNAL, extra={**fields, "action": "drain"})
            worker.stop()
            return
        log.warning(
            EV_CONSUMER_SIGNAL, extra={**fields, "action": "exit_now", "exit_code": EXIT_UNEXPECTED}
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(EXIT_UNEXPECTED)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


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


def main() -> int:
    """Run the worker until its limit, idle timeout or a signal; return the exit code."""
    load_env_file()
    try:
        config = WorkerConfig.from_env()
    except ConfigError as exc:
        print(f"consumer: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    consumer_logging.configure(
        level=config.log_level, fmt=config.log_format, consumer_id=config.consumer_id
    )
    worker = Worker(config)
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
