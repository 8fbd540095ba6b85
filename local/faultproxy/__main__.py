"""``python -m local.faultproxy``: the fault proxy as a standalone process.

Prints its endpoint on stdout (one line, so a script can read it), logs JSON lines on stderr,
re-reads the plan file on SIGHUP and stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Final

import click

from consumer import logging as kit_logging
from local.faultproxy.errors import FaultProxyError, PlanError
from local.faultproxy.fastpath import ENV_MODE, MODES, FastPathUnavailable
from local.faultproxy.plan import Plan, load_plan
from local.faultproxy.proxy import DEFAULT_UPSTREAM_TIMEOUT_S, LOOPBACK, FaultProxy
from local.faultproxy.records import Recorder

log = logging.getLogger("local.faultproxy")

EXIT_OK: Final = 0
EXIT_USAGE: Final = 2
EXIT_INFRA: Final = 3

_EPILOG = """\b
Examples:
  # faults from a plan, in front of the emulator, every call recorded
  python -m local.faultproxy --upstream http://127.0.0.1:4566 \\
      --plan plan.yaml --port 4567 --record calls.jsonl
  AWS_ENDPOINT_URL=http://127.0.0.1:4567 python -m consumer

\b
  # a recording pass-through only (no plan)
  python -m local.faultproxy --upstream http://127.0.0.1:4566 --record calls.jsonl

\b
  kill -HUP <pid>    # re-read the plan file (the next phase)
  kill -TERM <pid>   # stop; exit 0
"""


@click.command(epilog=_EPILOG, context_settings={"max_content_width": 100})
@click.option(
    "--upstream",
    envvar="SQSKIT_PROXY_UPSTREAM",
    required=True,
    help="Endpoint to relay to, http://HOST:PORT (an emulator).",
)
@click.option(
    "--plan",
    "plan_path",
    envvar="SQSKIT_PROXY_PLAN",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Fault plan (.yaml, .toml or .json; docs/faults.md). Without one: relay only.",
)
@click.option(
    "--port",
    envvar="SQSKIT_PROXY_PORT",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port to listen on; 0 picks a free one.",
)
@click.option(
    "--host",
    envvar="SQSKIT_PROXY_HOST",
    default=LOOPBACK,
    show_default=True,
    help="Address to listen on.",
)
@click.option(
    "--record",
    "record_path",
    envvar="SQSKIT_PROXY_RECORD",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Append every call and fired fault to this file as JSON lines.",
)
@click.option(
    "--upstream-timeout",
    envvar="SQSKIT_PROXY_UPSTREAM_TIMEOUT",
    type=click.FloatRange(min=1.0),
    default=DEFAULT_UPSTREAM_TIMEOUT_S,
    show_default=True,
    help="Seconds to wait for the upstream's answer before a 504.",
)
@click.option(
    "--fastpath",
    envvar=ENV_MODE,
    type=click.Choice(MODES),
    default="auto",
    show_default=True,
    help="Relay calls no rule can touch in compiled C: auto uses it where a C compiler "
    "builds it, on fails without it, off relays in Python only.",
)
@click.option(
    "--log-format",
    envvar="SQSKIT_PROXY_LOG_FORMAT",
    type=click.Choice(["json", "text"]),
    default="json",
    show_default=True,
    help="How log lines on stderr look.",
)
def main(  # noqa: PLR0917 - click passes every option positionally
    upstream: str,
    plan_path: Path | None,
    port: int,
    host: str,
    record_path: Path | None,
    upstream_timeout: float,
    fastpath: str,
    log_format: str,
) -> None:
    """Relay AWS API calls to --upstream, injecting the faults of --plan."""
    try:
        plan = load_plan(plan_path) if plan_path is not None else Plan()
        # Call records only matter where someone can read them: the --record file.
        recorder = Recorder(calls=record_path is not None, sink=record_path)
        proxy = FaultProxy(
            upstream,
            plan,
            recorder,
            host=host,
            port=port,
            upstream_timeout_s=upstream_timeout,
            compiled={"auto": None, "on": True, "off": False}[fastpath],
        )
    except PlanError as exc:
        click.echo(f"error: --plan {exc}", err=True)
        raise SystemExit(EXIT_USAGE) from exc
    except FastPathUnavailable as exc:
        click.echo(f"error: --fastpath on: {exc}; use --fastpath auto or off", err=True)
        raise SystemExit(EXIT_INFRA) from exc
    except FaultProxyError as exc:
        click.echo(f"error: --upstream: {exc}", err=True)
        raise SystemExit(EXIT_USAGE) from exc
    except OSError as exc:
        click.echo(f"error: --record {record_path}: {exc.strerror}", err=True)
        raise SystemExit(EXIT_USAGE) from exc
    kit_logging.configure(fmt=log_format, stream=sys.stderr)
    try:
        endpoint = proxy.start()
    except FaultProxyError as exc:
        click.echo(f"error: {exc}; choose another --port", err=True)
        recorder.close()
        raise SystemExit(EXIT_INFRA) from exc
    click.echo(endpoint)
    sys.stdout.flush()

    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("faultproxy.signal", extra={"signal": signal.Signals(signum).name})
        stop.set()

    def _reload(_signum: int, _frame: FrameType | None) -> None:
        if plan_path is None:
            return
        try:
            proxy.set_plan(load_plan(plan_path))
        except PlanError as exc:  # keep the plan in force; say why the new one was refused
            log.error("faultproxy.plan_rejected", extra={"error": str(exc)})

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGHUP, _reload)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        proxy.stop()
        recorder.close()
    raise SystemExit(EXIT_OK)


if __name__ == "__main__":
    main()
