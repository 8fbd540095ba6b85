"""The consumer contract, written once: event names, exit codes, environment names, effects.

Standard library only. The kit's worker, the scenario engine, the runners, the oracle and the
expectations all import these names, so a typo fails at import instead of silently matching
nothing. docs/consumer-contract.md is the same contract in prose, for people who write their
own consumer in another language.
"""

from __future__ import annotations

import signal
from typing import Final

# -- events: one JSON object per stdout line, ``{"ts", "level", "event", "consumer_id", ...}`` --

EV_CONSUMER_STARTED: Final = "consumer.started"
EV_CONSUMER_STOPPED: Final = "consumer.stopped"
EV_CONSUMER_CRASH: Final = "consumer.crash"
EV_CONSUMER_SIGNAL: Final = "consumer.signal"
EV_CONSUMER_DRAINING: Final = "consumer.draining"
EV_CONSUMER_ERROR: Final = "consumer.error"
EV_CONSUMER_FAILED: Final = "consumer.failed"
EV_RECEIVE_FAILED: Final = "consumer.receive_failed"

EV_RECEIVED: Final = "message.received"
EV_COMPLETED: Final = "message.completed"
EV_DUPLICATE: Final = "message.duplicate"
EV_IN_PROGRESS_ELSEWHERE: Final = "message.in_progress_elsewhere"
EV_POISON: Final = "message.poison"
EV_FAILED: Final = "message.failed"
EV_RELEASED: Final = "message.released"
EV_FENCED: Final = "message.fenced"
EV_TAKEOVER: Final = "message.takeover"
EV_HEARTBEAT: Final = "message.heartbeat"
EV_HEARTBEAT_FAILED: Final = "message.heartbeat_failed"
EV_HEARTBEAT_CEILING: Final = "message.heartbeat_ceiling"
EV_STALE_RECEIPT: Final = "message.stale_receipt"
EV_AWS_ERROR: Final = "message.aws_error"
EV_ID_COLLISION: Final = "message.id_collision"
#: the drain ended while this message's handler still ran: it stays in flight (never released
#: under a running handler) and reappears when its visibility runs out (``stage``)
EV_LEFT_IN_FLIGHT: Final = "message.left_in_flight"

#: FIFO queues: a message held in this process behind an earlier message of its group, which it
#: waits for (``behind``: that message's id); it starts when that one completed here
EV_GROUP_WAITING: Final = "message.group_waiting"

#: one handler execution: ``execution_id``, ``message_id``, ``attempt`` (and on finish ``outcome``)
EV_HANDLER_STARTED: Final = "handler.started"
EV_HANDLER_FINISHED: Final = "handler.finished"
#: a side effect written to the effects table (``effect_id``), or found already applied
EV_EFFECT_APPLIED: Final = "effect.applied"
EV_EFFECT_SKIPPED: Final = "effect.skipped"

#: ``handler.finished`` outcomes
OUTCOME_OK: Final = "ok"
OUTCOME_ERROR: Final = "error"

# -- FIFO queues: what message events carry, and why a group's later messages are released ----

#: every message event on a FIFO queue carries its ``MessageGroupId`` and ``SequenceNumber``
FIELD_MESSAGE_GROUP_ID: Final = "message_group_id"
FIELD_SEQUENCE_NUMBER: Final = "sequence_number"
#: ``message.released`` ``reason`` of a message whose group's earlier message did not complete
#: here (failed, poison, in progress elsewhere, collision, fenced): handling it would break the
#: group's order. ``blocked_by`` is that earlier message's id.
RELEASE_GROUP_BLOCKED: Final = "group_blocked"
FIELD_BLOCKED_BY: Final = "blocked_by"

# -- exit codes of a consumer process ----------------------------------------------------------

EXIT_OK: Final = 0
"""Stopped on purpose: message limit reached, idle timeout, or a SIGTERM/SIGINT drain."""
EXIT_UNEXPECTED: Final = 1
"""Anything unexpected, including a second signal that forces an immediate exit."""
EXIT_CONFIG: Final = 2
"""A configuration variable is missing or out of range."""
EXIT_CHAOS_CRASH: Final = 3
"""A simulated crash (CRASH_RATE / CRASH_AFTER_RECEIVE): a hard exit with no cleanup."""
#: how runners report a SIGKILL: containers as 128 + 9, subprocesses as -9
EXIT_SIGKILL_CONTAINER: Final = 137
EXIT_SIGKILL_PROCESS: Final = -9
#: how runners report a SIGTERM that ended a consumer: containers as 128 + 15, subprocesses as -15
EXIT_SIGTERM_CONTAINER: Final = 143
EXIT_SIGTERM_PROCESS: Final = -15

# -- signals the engine sends the kit's own consumer ----------------------------------------

SIGNAL_SETTLED_STOP: Final = signal.SIGUSR1
"""The engine's stop at the end of a settled phase, for the kit's own consumer only: it has
just read the queue empty (nothing visible, in flight or delayed) after the traffic ended, so
no receive can bring a message any more. The consumer drains as on SIGTERM, but abandons its
idle long poll instead of waiting up to WaitTimeSeconds for it. Any other stop is a SIGTERM."""

IMAGE_LABEL_SETTLED_STOP: Final = "sqs-kit.settled-stop"
"""The consumer image's label naming its settled-stop signal (``SIGUSR1``; consumer/Dockerfile
sets it). The docker runner sends the settled stop only to an image that declares it: one
built from an older checkout would die of SIGUSR1, so it gets SIGTERM."""

# -- environment: what every consumer (the kit's or a plugged-in one) receives -----------------

ENV_QUEUE_URL: Final = "QUEUE_URL"
ENV_AWS_REGION: Final = "AWS_REGION"
ENV_AWS_DEFAULT_REGION: Final = "AWS_DEFAULT_REGION"
ENV_AWS_ENDPOINT_URL: Final = "AWS_ENDPOINT_URL"
#: per-service endpoints, which botocore prefers over AWS_ENDPOINT_URL (a split emulator)
ENV_AWS_ENDPOINT_URL_SQS: Final = "AWS_ENDPOINT_URL_SQS"
ENV_AWS_ENDPOINT_URL_DYNAMODB: Final = "AWS_ENDPOINT_URL_DYNAMODB"
ENV_AWS_ACCESS_KEY_ID: Final = "AWS_ACCESS_KEY_ID"
ENV_AWS_SECRET_ACCESS_KEY: Final = "AWS_SECRET_ACCESS_KEY"  # noqa: S105 - a variable name
ENV_MESSAGE_STATUS_TABLE: Final = "MESSAGE_STATUS_TABLE"
ENV_MESSAGE_COMPLETED_TABLE: Final = "MESSAGE_COMPLETED_TABLE"
ENV_EFFECTS_TABLE: Final = "EFFECTS_TABLE"
ENV_CONSUMER_ID: Final = "CONSUMER_ID"
ENV_RUN_ID: Final = "SQSKIT_RUN_ID"
ENV_LOG_FORMAT: Final = "LOG_FORMAT"
ENV_CHAOS_SEED: Final = "CHAOS_SEED"
#: seconds an idempotency record lives (written as ``expires_at``); 0 writes no expiry
ENV_IDEMPOTENCY_TTL_SECONDS: Final = "IDEMPOTENCY_TTL_SECONDS"
#: how the kit's demo handler applies its effect: keyed by the message id, or once per execution
ENV_EFFECT_MODE: Final = "EFFECT_MODE"
EFFECT_IDEMPOTENT: Final = "idempotent"
EFFECT_NAIVE: Final = "naive"
EFFECT_MODES: Final = (EFFECT_IDEMPOTENT, EFFECT_NAIVE)

#: ``--handler``: a user's handler run inside the kit's worker, as ``package.module:function``
ENV_HANDLER: Final = "HANDLER"
#: directories (``os.pathsep``-separated) the worker appends to ``sys.path`` before it imports
#: ``HANDLER``: the docker runner mounts the user's working directory and names it here
ENV_HANDLER_PATH: Final = "HANDLER_PATH"

#: the kit consumer's knobs (consumer/config.py reads them; a plugged-in consumer may too)
ENV_WAIT_TIME_SECONDS: Final = "WAIT_TIME_SECONDS"
ENV_MAX_MESSAGES: Final = "MAX_MESSAGES"
ENV_CONCURRENCY: Final = "CONCURRENCY"
ENV_SLEEP_MIN_SECONDS: Final = "SLEEP_MIN_SECONDS"
ENV_SLEEP_MAX_SECONDS: Final = "SLEEP_MAX_SECONDS"
ENV_LONG_SLEEP_SECONDS: Final = "LONG_SLEEP_SECONDS"
ENV_LONG_SLEEP_EVERY: Final = "LONG_SLEEP_EVERY"
ENV_HEARTBEAT_SECONDS: Final = "HEARTBEAT_SECONDS"
ENV_SHUTDOWN_TIMEOUT_SECONDS: Final = "SHUTDOWN_TIMEOUT_SECONDS"
ENV_IDLE_TIMEOUT_SECONDS: Final = "IDLE_TIMEOUT_SECONDS"
ENV_MESSAGE_LIMIT: Final = "MESSAGE_LIMIT"
ENV_CRASH_AFTER_RECEIVE: Final = "CRASH_AFTER_RECEIVE"
ENV_CRASH_RATE: Final = "CRASH_RATE"
ENV_RELEASE_BACKOFF_SECONDS: Final = "RELEASE_BACKOFF_SECONDS"
ENV_LOG_LEVEL: Final = "LOG_LEVEL"
#: a warm start (the process runner's spares): the consumer imports everything, then waits for
#: one JSON line on stdin - ``{"env": {...}, "stdout": path, "stderr": path}`` - and runs with
#: that environment and those log files; an empty stdin makes it exit 0 unused
ENV_WARM_START: Final = "SQSKIT_WARM_START"
#: ``LOG_FORMAT`` value the runners ask for: one JSON event per stdout line
LOG_FORMAT_JSON: Final = "json"

#: the dummy credentials an emulator accepts, defined once
EMULATOR_CREDENTIALS: Final = {ENV_AWS_ACCESS_KEY_ID: "test", ENV_AWS_SECRET_ACCESS_KEY: "test"}

# -- the .env file: what `make local-up` (or `make aws-up`) writes and the seed's commands read --

#: where the file is (default ``.env`` in the working directory)
ENV_ENV_FILE: Final = "SQSKIT_ENV_FILE"
DEFAULT_ENV_FILE: Final = ".env"


def parse_env_file(text: str) -> dict[str, str]:
    """``KEY=VALUE`` lines as a dict: the one .env syntax every reader here agrees on.

    Blank lines, ``#`` comments and lines that are not an assignment to an upper-case name are
    skipped; an ``export`` prefix and one pair of matching quotes around the value are dropped.
    """
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not key.replace("_", "A").isalnum() or not key.isupper():
            continue
        if key[0].isdigit():
            continue
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key] = value
    return values


# -- effects: what a consumer writes for every side effect it applies -------------------------

EFFECT_HASH_KEY: Final = "message_id"
"""S: the payload's ``id`` field (the message's identity)."""
EFFECT_RANGE_KEY: Final = "effect_id"
"""S: unique per execution, or the message id itself when the effect is keyed by it."""
EFFECT_CONSUMER_ID: Final = "consumer_id"
EFFECT_APPLIED_AT: Final = "applied_at"
"""N: epoch milliseconds."""
EFFECT_EXECUTION_ID: Final = "execution_id"
"""S: the handler execution that applied the effect (``handler.started``'s ``execution_id``)."""
EFFECT_ATTEMPT: Final = "attempt"
"""N: that execution's attempt (the fencing token)."""

# -- message identity -------------------------------------------------------------------------

#: A payload ``id`` must be a non-empty string of at most this many bytes in UTF-8 (DynamoDB's
#: partition key limit); anything else is poison. Without an ``id``, the SQS MessageId is used.
PAYLOAD_ID_MAX_BYTES: Final = 2048


def payload_id_problem(value: object) -> str | None:
    """Why ``value`` cannot be a payload ``id`` (the message is then poison), or None if it can.

    The one rule the kit's worker and the oracle share. Only strings: converting 1 and "1" to
    the same id would make two different messages one.
    """
    if not isinstance(value, str):
        return f"payload id must be a string (got {type(value).__name__})"
    if not value.strip():
        return "payload id is empty"
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:  # JSON can spell a lone surrogate ("\\ud800"); UTF-8 cannot
        return "payload id is not valid Unicode (a lone surrogate)"
    if size > PAYLOAD_ID_MAX_BYTES:
        return f"payload id is {size} bytes in UTF-8: at most {PAYLOAD_ID_MAX_BYTES}"
    return None


# -- idempotency tables -------------------------------------------------------------------------

IDEMPOTENCY_TTL_ATTRIBUTE: Final = "expires_at"
"""N: epoch seconds; the status table's TTL attribute, written on status and completed items."""


# -- --handler: how a handler is named ------------------------------------------------------------


def handler_spec_problem(spec: str) -> str | None:
    """Why ``spec`` cannot name a handler (``package.module:function``), or None if it can.

    The one syntax rule the worker and the scenario engine share; whether the module imports
    is for the worker (and the engine's preflight) to find out.
    """
    module, sep, attr = spec.strip().partition(":")
    if not sep or not module or not attr:
        return "use package.module:function, e.g. examples.idempotent_python.handler:handle"
    for part in (*module.split("."), *attr.split(".")):
        if not part.isidentifier():
            return f"{part!r} is not a Python identifier: use package.module:function"
    return None
