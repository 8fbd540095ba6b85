"""`produce` / `python -m producer`: parse flags, build a SendConfig, call send(), render.

Every option also comes from the environment (flag > env > default): the AWS ones from their
standard variables, the rest from ``PRODUCE_<OPTION>`` (``PRODUCE_RATE``, ``PRODUCE_LEDGER``...).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from consumer.contract import ENV_AWS_DEFAULT_REGION, ENV_AWS_ENDPOINT_URL_SQS
from producer.config import (
    DEDUP_MODES,
    DEDUP_RANDOM,
    DEFAULT_GROUP_ID,
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_N,
    ENV_ENDPOINT_URL,
    ENV_PREFIX,
    ENV_PROFILE,
    ENV_QUEUE_URL,
    ENV_REGION,
    MAX_BATCH,
    MAX_GROUP_IDS,
    MAX_IN_FLIGHT,
    MAX_MESSAGE_SIZE_BYTES,
    RetryPolicy,
    SendConfig,
)
from producer.errors import ConfigError, SendAborted
from producer.exit_codes import EXIT_ABORTED, EXIT_CONFIG, EXIT_INTERRUPTED, EXIT_SEND_FAILED
from producer.render import (
    ProgressDisplay,
    choose_mode,
    configure_logging,
    failure_lines,
    summary_line,
)
from producer.report import SendReport
from producer.sender import send

EPILOG = """\b
Examples:
  # 10 generated payloads to the queue in $QUEUE_URL, as fast as possible
  produce
\b
  # 500 messages at 50/s to a local emulator, keeping a ledger for the oracle
  produce --n 500 --rate 50 --endpoint-url http://127.0.0.1:4566 \\
          --queue-url http://127.0.0.1:4566/000000000000/demo-queue --ledger sent.jsonl
\b
  # the same ids and work values every time; 10% of the ids sent twice
  produce --n 1000 --seed 42 --duplicate-ids 0.1 --json
\b
  # a poison corpus: one body per line, sent verbatim
  produce --body-file poison.jsonl --batch-size 1
\b
  # as fast as possible, one call at a time (ledger lines then in send order)
  produce --n 1000 --max-in-flight 1
\b
  # FIFO: 4 message groups; 20% of the ids resent with the same deduplication id,
  # so SQS drops the resends that arrive inside its 5-minute window
  produce --queue-url "$QUEUE_URL" --n 100 --group-ids 4 --dedup-id payload-id \\
          --duplicate-ids 0.2 --ledger sent.jsonl
\b
Exit codes: 0 all sent; 1 some messages failed (listed); 2 usage or configuration
error (nothing sent); 3 a SendMessageBatch call failed outright (run stopped); 130 interrupted.
"""


@click.command(
    name="produce",
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "show_default": True},
)
@click.option(
    "--n",
    "n",
    type=click.IntRange(min=0),
    default=DEFAULT_N,
    show_envvar=True,
    help="Messages to send (with --body-file: every body, unless given).",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0),
    default=0.0,
    show_envvar=True,
    help="Messages per second; 0 means as fast as possible.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, MAX_BATCH),
    default=MAX_BATCH,
    show_envvar=True,
    help="Entries per SendMessageBatch call (1-10).",
)
@click.option(
    "--max-in-flight",
    type=click.IntRange(1, MAX_IN_FLIGHT),
    show_envvar=True,
    help=(
        f"SendMessageBatch calls in flight at once with --rate 0 (1-{MAX_IN_FLIGHT}; default "
        f"{DEFAULT_MAX_IN_FLIGHT}). A FIFO queue or a --rate above 0 always uses 1."
    ),
)
@click.option(
    "--queue-url",
    envvar=ENV_QUEUE_URL,
    required=True,
    show_envvar=True,
    help="The queue to send to.",
)
@click.option(
    "--region", envvar=[ENV_REGION, ENV_AWS_DEFAULT_REGION], show_envvar=True, help="AWS region."
)
@click.option("--profile", envvar=ENV_PROFILE, show_envvar=True, help="AWS profile.")
@click.option(
    "--endpoint-url",
    envvar=[ENV_AWS_ENDPOINT_URL_SQS, ENV_ENDPOINT_URL],
    show_envvar=True,
    help="SQS endpoint (an emulator); unset means AWS.",
)
@click.option(
    "--seed",
    type=int,
    show_envvar=True,
    help="Make the generated ids and work values reproducible.",
)
@click.option(
    "--body-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    show_envvar=True,
    help="Send these bodies verbatim: one per line (JSONL).",
)
@click.option(
    "--duplicate-ids",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_envvar=True,
    help="Fraction of the ids sent twice, as separate messages (--n stays the total).",
)
@click.option(
    "--group-ids",
    type=click.IntRange(1, MAX_GROUP_IDS),
    show_envvar=True,
    help=(
        f"FIFO queues only: spread the messages over N message groups ({DEFAULT_GROUP_ID}-0 .. "
        f"{DEFAULT_GROUP_ID}-<N-1>), round-robin by id; a resent id keeps its group. "
        f"Default: one group, {DEFAULT_GROUP_ID}."
    ),
)
@click.option(
    "--dedup-id",
    type=click.Choice(DEDUP_MODES),
    default=DEDUP_RANDOM,
    show_envvar=True,
    help=(
        "FIFO queues only: the MessageDeduplicationId. random: unique per message; payload-id: "
        "the payload's id, so a resent id is deduplicated; content: none, the queue's "
        "ContentBasedDeduplication hashes the body (must be enabled). Retries always reuse it."
    ),
)
@click.option(
    "--ledger",
    type=click.Path(dir_okay=False, path_type=Path),
    show_envvar=True,
    help=(
        "Write one JSON line per accepted message: id, MessageId, sent_at (FIFO: also group, "
        "dedup_id, seq_in_group, SequenceNumber, duplicate)."
    ),
)
@click.option(
    "--max-message-size",
    type=click.IntRange(1, MAX_MESSAGE_SIZE_BYTES),
    show_envvar=True,
    help="Largest body in bytes; default: the queue's MaximumMessageSize.",
)
@click.option(
    "--retry-attempts",
    type=click.IntRange(1, 20),
    default=RetryPolicy.max_attempts,
    show_envvar=True,
    help="Attempts per failed batch entry before it is reported.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="WARNING",
    show_envvar=True,
    help="Log records on stderr at this level and above.",
)
@click.pass_context
def produce(ctx: click.Context, /, **options: Any) -> None:
    """Send messages to an SQS queue in batches, at a steady rate, with a ledger.

    Each generated message is {"id": <uuid4>, "work": <1..1000>, "sent_at": <epoch ms>}.
    Entries that fail inside a batch are retried with backoff; whatever still fails is
    listed and makes the exit code non-zero.
    """
    configure_logging(options["log_level"].upper())
    config = _config(ctx, options)
    mode = choose_mode(options["quiet"] or False)
    try:
        with ProgressDisplay(mode) as display:
            report = send(config, on_progress=display)
    except SendAborted as exc:
        _render(exc.report, as_json=options["as_json"])
        click.echo(f"Error: {exc}", err=True)
        ctx.exit(EXIT_ABORTED)
    except ConfigError as exc:
        click.echo(f"Error: {exc}", err=True)
        ctx.exit(EXIT_CONFIG)
    except KeyboardInterrupt:
        where = f"; {config.ledger} lists every message accepted so far" if config.ledger else ""
        click.echo(f"Interrupted{where}.", err=True)
        ctx.exit(EXIT_INTERRUPTED)
    _render(report, as_json=options["as_json"])
    if report.failed:
        ctx.exit(EXIT_SEND_FAILED)


def _config(ctx: click.Context, options: dict[str, Any]) -> SendConfig:
    """The SendConfig for these options; a bad combination is a usage error (exit 2)."""
    n: int | None = options["n"]
    if options["body_file"] is not None and ctx.get_parameter_source("n") in {
        ParameterSource.DEFAULT,
        None,
    }:
        n = None  # with a body file, the default is "every body"
    try:
        return SendConfig(
            queue_url=options["queue_url"],
            n=n,
            rate=options["rate"],
            batch_size=options["batch_size"],
            region=options["region"],
            profile=options["profile"],
            endpoint_url=options["endpoint_url"],
            seed=options["seed"],
            body_file=options["body_file"],
            duplicate_ids=options["duplicate_ids"],
            ledger=options["ledger"],
            max_message_size=options["max_message_size"],
            retry=RetryPolicy(max_attempts=options["retry_attempts"]),
            max_in_flight=options["max_in_flight"],
            group_ids=options["group_ids"],
            dedup_id=options["dedup_id"],
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc), ctx=ctx) from exc


def _render(report: SendReport, *, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.summary()))
    else:
        click.echo(summary_line(report))
    for line in failure_lines(report):
        click.echo(line, err=True)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (`produce`)."""
    produce.main(
        args=argv if argv is not None else sys.argv[1:],
        prog_name="produce",
        auto_envvar_prefix=ENV_PREFIX.rstrip("_"),
    )
