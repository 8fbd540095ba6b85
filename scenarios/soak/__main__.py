"""`python -m scenarios.soak` (`make soak`): thousands of messages under chaos, then the verdict.

Exit codes: 0 passed (0 lost, 0 doubled, every check), 1 the oracle failed, 2 usage error,
3 infrastructure error, 130 interrupted (after teardown).
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

import click
from rich.text import Text

from core.errors import ConfigError, KitError
from scenarios.cli.exit_codes import (
    EXIT_INFRA,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    exit_code,
)
from scenarios.cli.progress import ProgressView
from scenarios.reporting import console
from scenarios.settings import EMULATORS, MAX_CONSUMERS, MAX_COUNT, RunSettings
from scenarios.soak.run import run_soak

EPILOG = """
\b
Examples:
  python -m scenarios.soak                         # 10,000 messages, 4 consumers, MiniStack
  python -m scenarios.soak --count 100000          # make soak COUNT=100000
  python -m scenarios.soak --count 2000 --rate 100 # a paced stream
  python -m scenarios.soak --emulator external --endpoint http://127.0.0.1:4566
\b
Exit codes: 0 passed, 1 the oracle failed, 2 usage error, 3 infrastructure error,
130 interrupted (after teardown).
"""

MIN_CONSUMERS = 3


@click.command("soak", epilog=EPILOG)
@click.option(
    "--count",
    type=click.IntRange(1, MAX_COUNT),
    envvar="SQSKIT_SOAK_COUNT",
    default=10_000,
    show_default=True,
    show_envvar=True,
    help="Messages to send (1% of them repeat an id already sent; 20 poison bodies on top).",
)
@click.option(
    "--consumers",
    type=click.IntRange(MIN_CONSUMERS, MAX_CONSUMERS),
    envvar="SQSKIT_SOAK_CONSUMERS",
    default=4,
    show_default=True,
    show_envvar=True,
    help="Consumer processes (each restarted when it crashes or is killed).",
)
@click.option(
    "--rate",
    type=click.FloatRange(0, 100_000),
    envvar="SQSKIT_SOAK_RATE",
    default=0.0,
    show_default=True,
    show_envvar=True,
    help="Producer rate in msg/s over the whole stream; 0 sends each tenth at once.",
)
@click.option("--seed", type=int, envvar="SQSKIT_SEED", default=None, show_envvar=True)
@click.option(
    "--emulator",
    type=click.Choice(EMULATORS),
    envvar="SQSKIT_EMULATOR",
    default="ministack",
    show_default=True,
    show_envvar=True,
    help="ministack: the embedded default on a free port (its memory is measured).",
)
@click.option(
    "--endpoint",
    envvar="SQSKIT_ENDPOINT_URL",
    default=None,
    metavar="URL",
    help="With --emulator external: an emulator already running (its memory is not measured).",
)
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="SQSKIT_REPORT_DIR",
    default=Path("reports"),
    show_default=True,
    show_envvar=True,
)
@click.option("--png/--no-png", default=True, show_default=True, help="Also render the PNG.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report on stdout.")
@click.option("-v", "--verbose", count=True, help="Log more (-v: info, -vv: debug) on stderr.")
@click.pass_context
def soak(ctx: click.Context, /, **opts: Any) -> None:
    """Soak the consumer: a long stream under crashes, SIGKILLs, duplicate sends and poison."""
    verbose = int(opts["verbose"])
    logging.getLogger().setLevel(logging.WARNING if not verbose else logging.INFO)
    for noisy in ("botocore", "urllib3", "boto3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        settings = RunSettings(
            target="local",
            emulator=opts["emulator"],
            endpoint=opts["endpoint"],
            runner="process",
            count=opts["count"],
            consumers=opts["consumers"],
            seed=opts["seed"],
            knobs=(("rate", str(opts["rate"])),),
            report_dir=opts["report_dir"],
            png=opts["png"],
        )
    except ConfigError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        ctx.exit(EXIT_USAGE)
    run_dir = settings.report_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-soak"
    view = ProgressView(quiet=False)
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        with view:
            status, data = run_soak(settings, run_dir=run_dir, on_progress=view)
    except KeyboardInterrupt:
        click.secho("interrupted: stopped consumers and tore the stack down", err=True)
        ctx.exit(EXIT_INTERRUPTED)
    except ConfigError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        ctx.exit(EXIT_USAGE)
    except KitError as exc:
        click.secho(f"infrastructure error: {exc}", fg="red", err=True)
        ctx.exit(EXIT_INFRA)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if opts["as_json"]:
        click.echo(json.dumps(data, indent=2))
    else:
        out = console.console()
        for part in console.render(data):
            out.print(part)
        for line in summary_lines(data):
            out.print(Text(line))
    ctx.exit(exit_code([status]))


def summary_lines(data: dict[str, Any]) -> list[str]:
    """The soak's numbers, one per line, for the terminal."""
    s = data.get("soak") or {}
    if "lost" not in s:
        return [f"soak {data.get('status')}: {data.get('reason') or 'no phase ran'}"]
    lat, thr, chaos = s["latency_ms"], s["throughput_msg_s"], s["chaos"]
    usage = s["usage"]
    emulator = usage["emulator"]
    mem = (
        f"peak RSS {emulator['peak_rss_mb']} MB (first {emulator['rss_mb_first']}, last "
        f"{emulator['rss_mb_last']} MB)"
        if emulator["measured"]
        else "not measured (not started by this run)"
    )
    return [
        f"soak: {s['messages']} messages ({s['distinct_ids']} distinct ids), {s['consumers']} "
        f"consumers, {s['duration_s']} s (run {data.get('duration_s')} s)",
        f"  lost {s['lost']}, doubled effects {s['doubled']}, unfinished {s['unfinished']}",
        f"  throughput {thr['mean']} msg/s mean, {thr['peak']} peak (over time: the PNG)",
        f"  latency send -> completion p50 {lat['p50']} ms, p95 {lat['p95']} ms, p99 "
        f"{lat['p99']} ms ({lat['samples']} completions)"
        + ("; at --rate 0 that is mostly time spent queued" if not s.get("rate") else ""),
        f"  chaos: {chaos['crashes']} consumer deaths ({chaos['sigkills']} SIGKILLs, the rest "
        "chaos crashes), "
        f"{chaos['incarnations']} consumer processes, {chaos['ids_sent_twice']} ids sent twice, "
        f"{chaos['poison_sent']} poison -> {chaos['dead_lettered']} dead-lettered, "
        f"{chaos['redeliveries']} redeliveries",
        f"  consumers: peak RSS {usage['consumers']['peak_rss_mb']} MB (median "
        f"{usage['consumers']['median_peak_rss_mb']} MB over "
        f"{usage['consumers']['incarnations_measured']} processes)",
        f"  emulator: {mem}; engine peak RSS {usage['engine']['peak_rss_mb']} MB",
        f"  bound: {usage['bound']}",
        f"  report: {(data.get('artifacts') or {}).get('json')}",
    ]


def _sigterm_as_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``python -m scenarios.soak``."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    soak.main(args=argv if argv is not None else sys.argv[1:], prog_name="python -m scenarios.soak")


if __name__ == "__main__":
    main()
