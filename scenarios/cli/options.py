"""Options shared by the `scenario` commands, as decorators.

Every option can also come from an environment variable (shown in ``--help``); precedence is
flag > environment > default, which click resolves.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from consumer.contract import ENV_AWS_REGION
from scenarios.settings import (
    EMULATOR_HELP,
    MAX_BATCH,
    MAX_CONSUMERS,
    MAX_COUNT,
    PROVISIONERS,
    RUNNERS,
    TARGETS,
)

F = TypeVar("F", bound=Callable[..., Any])


def _stack(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(f: F) -> F:
        for decorator in reversed(decorators):
            f = decorator(f)
        return f

    return apply


endpoint_option = click.option(
    "--endpoint",
    envvar="SQSKIT_ENDPOINT_URL",
    default=None,
    metavar="URL",
    help="Endpoint of an emulator that is already running (with --emulator external or auto).",
)

emulator_option = click.option(
    "--emulator",
    envvar="SQSKIT_EMULATOR",
    default=None,
    show_envvar=True,
    metavar="KIND",
    help=f"{EMULATOR_HELP}. auto: use what answers at the endpoint, else start the embedded "
    "default [default: auto on --target local]. sqs=KIND,dynamodb=KIND: each service on its "
    "own emulator (KIND: ministack, moto, localstack), e.g. SQS on LocalStack for the real "
    "StartMessageMoveTask; --target local, --provisioner api. With --target aws, ministack or "
    "auto rehearses the AWS code path on this machine (MiniStack runs the ECS tasks on Docker; "
    "reuses `make local-up`).",
)

target_options = _stack(
    click.option(
        "--target",
        type=click.Choice(TARGETS),
        envvar="SQSKIT_TARGET",
        default="local",
        show_default=True,
        show_envvar=True,
        help="Where the scenario runs.",
    ),
    emulator_option,
    endpoint_option,
    click.option(
        "--emulator-port",
        type=click.IntRange(1, 65535),
        envvar="SQSKIT_EMULATOR_PORT",
        default=None,
        show_envvar=True,
        help="Port for an embedded emulator (default: 4566 for auto, else a free port).",
    ),
    click.option(
        "--runner",
        type=click.Choice(RUNNERS),
        envvar="SQSKIT_RUNNER",
        default="auto",
        show_default=True,
        show_envvar=True,
        help="How local consumers run: auto picks docker when an engine and the image exist.",
    ),
    click.option(
        "--provisioner",
        type=click.Choice(PROVISIONERS),
        envvar="SQSKIT_PROVISIONER",
        default=None,
        show_envvar=True,
        help="How the stack is created [default: api locally, terraform on aws].",
    ),
    click.option(
        "--region", envvar=ENV_AWS_REGION, default=None, show_envvar=True, help="AWS region."
    ),
)

knob_options = _stack(
    click.option(
        "--consumers",
        type=click.IntRange(1, MAX_CONSUMERS),
        envvar="SQSKIT_CONSUMERS",
        default=None,
        show_envvar=True,
        help="Consumers to start [default: per scenario].",
    ),
    click.option(
        "--count",
        type=click.IntRange(1, MAX_COUNT),
        envvar="SQSKIT_COUNT",
        default=None,
        show_envvar=True,
        help="Messages to send [default: per scenario].",
    ),
    click.option(
        "--seed",
        type=int,
        envvar="SQSKIT_SEED",
        default=None,
        show_envvar=True,
        help="Seed for payloads and chaos.",
    ),
    click.option(
        "--batch-size",
        type=click.IntRange(1, MAX_BATCH),
        envvar="SQSKIT_BATCH_SIZE",
        default=None,
        show_envvar=True,
        help="Messages per SendMessageBatch (the seed's flag).",
    ),
    click.option(
        "--visibility-wait",
        type=click.FloatRange(0, 3600),
        envvar="SQSKIT_VISIBILITY_WAIT",
        default=None,
        show_envvar=True,
        help="Extra seconds to wait once settled, before judging (the seed's flag).",
    ),
    click.option(
        "--slow-seconds",
        type=click.FloatRange(0, 3600),
        envvar="SQSKIT_SLOW_SECONDS",
        default=None,
        show_envvar=True,
        help="Work per message of the slow consumer (duplicates, visibility-overrun).",
    ),
    click.option(
        "--second-start-delay",
        type=click.FloatRange(0, 3600),
        envvar="SQSKIT_SECOND_START_DELAY",
        default=None,
        show_envvar=True,
        help="Seconds before the second consumer starts (duplicates).",
    ),
    click.option(
        "--image-tag",
        envvar=["SQSKIT_IMAGE_TAG", "IMAGE_TAG"],
        default=None,
        show_envvar=True,
        help="Consumer image tag (docker runner, aws target).",
    ),
    click.option(
        "--knob",
        "knobs",
        multiple=True,
        envvar="SQSKIT_KNOBS",
        show_envvar=True,
        metavar="NAME=VALUE",
        help="Override any scenario knob (see `scenario list --knobs`); repeatable.",
    ),
)

consumer_options = _stack(
    click.option(
        "--handler",
        envvar="SQSKIT_HANDLER",
        default=None,
        show_envvar=True,
        metavar="PKG.MODULE:FUNCTION",
        help="Your Python handler, run inside the kit's worker (process or docker runner; "
        "docker mounts the current directory read-only). It gets leases, heartbeats and the "
        "drain; it must write its effects to EFFECTS_TABLE (docs/consumer-contract.md).",
    ),
    click.option(
        "--consumer-cmd",
        envvar="SQSKIT_CONSUMER_CMD",
        default=None,
        show_envvar=True,
        metavar="COMMAND",
        help="Your consumer as any process, one per consumer slot (process runner), started "
        "from the current directory with the contract's environment; `python` is the kit's "
        "interpreter.",
    ),
    click.option(
        "--consumer-image",
        # Not SQSKIT_CONSUMER_IMAGE: that one names the tag `make image` builds the kit's
        # consumer under, which must never switch a run to judging a consumer from outside.
        envvar="SQSKIT_PLUGGED_IMAGE",
        default=None,
        show_envvar=True,
        metavar="IMAGE",
        help="Your consumer as a container image (docker runner; the task definition's image "
        "on --target aws). Wins over --image-tag.",
    ),
)

output_options = _stack(
    click.option(
        "--json",
        "as_json",
        is_flag=True,
        envvar="SQSKIT_JSON",
        show_envvar=True,
        help="Print the JSON report(s) on stdout instead of tables.",
    ),
    click.option(
        "--report-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="SQSKIT_REPORT_DIR",
        default=Path("reports"),
        show_default=True,
        show_envvar=True,
        help="Where reports, ledgers and consumer logs go (one folder per run).",
    ),
    click.option(
        "--png/--no-png",
        envvar="SQSKIT_PNG",
        default=True,
        show_default=True,
        show_envvar=True,
        help="Also render the PNG timeline.",
    ),
    click.option(
        "--keep",
        is_flag=True,
        envvar="SQSKIT_KEEP",
        show_envvar=True,
        help="Skip teardown: leave the stack(s) for inspection.",
    ),
    click.option(
        "--yes",
        "-y",
        is_flag=True,
        envvar="SQSKIT_AWS_CONFIRM",
        show_envvar=True,
        help="Confirm creating resources on AWS (--target aws).",
    ),
    click.option("-v", "--verbose", count=True, help="Log more (-v: info, -vv: debug) on stderr."),
)
