"""Run settings (where and how to run) and knobs (what a scenario does), validated up front.

``RunSettings`` comes from the CLI (flag > environment variable > default, resolved by click)
or is built directly by library callers and tests. Its :class:`PluggedConsumer` says whose
consumer runs: the kit's own, a user's handler inside the kit's worker (``--handler``), or a
user's consumer the kit sees only from outside (``--consumer-cmd``, ``--consumer-image``).
``Knobs`` are a scenario's parameters: each scenario declares its defaults, and the user
overrides them with the named flags (``--count``, ``--consumers``...) or ``--knob NAME=VALUE``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shlex
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from consumer.contract import (
    EFFECT_IDEMPOTENT,
    EFFECT_MODES,
    ENV_AWS_ENDPOINT_URL,
    handler_spec_problem,
)
from core.errors import ConfigError
from core.stack import MAX_RECEIVE_WAIT_SECONDS, MAX_VISIBILITY_TIMEOUT_SECONDS
from local.emulators.choice import SPLIT_EXAMPLE, parse_emulator
from producer.config import MAX_GROUP_IDS

TARGETS = ("local", "aws")
EMULATORS = ("auto", "ministack", "moto", "localstack", "external")
#: ``--emulator`` also takes per-service endpoints (``local.emulators.choice``)
EMULATOR_HELP = f"{' | '.join(EMULATORS)} | per service, e.g. {SPLIT_EXAMPLE}"
#: what ``--target aws --emulator`` accepts: an emulator whose ECS runs the tasks as containers
REHEARSAL_EMULATORS = ("auto", "ministack")
RUNNERS = ("auto", "process", "docker")
PROVISIONERS = ("api", "terraform")
MAX_BATCH = 10
MAX_COUNT = 100_000
MAX_CONSUMERS = 64


#: what ``PluggedConsumer.kind`` can be
KIT, HANDLER, COMMAND, IMAGE = "kit", "handler", "command", "image"
_PLUG_FLAGS = {HANDLER: "--handler", COMMAND: "--consumer-cmd", IMAGE: "--consumer-image"}


@dataclass(frozen=True)
class PluggedConsumer:
    """Whose consumer a run judges: the kit's (nothing set), or exactly one of the user's.

    - ``handler``: ``package.module:function``, run inside the kit's worker (process and docker
      runners): leases, heartbeat, drain and the kit's chaos knobs all apply;
    - ``command``: any process, started by the process runner once per consumer slot, from the
      current directory (``--consumer-cmd``, split like a shell would);
    - ``image``: any container image, for the docker runner and the aws target.

    A command or an image is *external*: the kit sees it only from outside (the effects table,
    the queues, exit codes, and on the local target the pass-through in front of the emulator).
    """

    handler: str | None = None
    command: tuple[str, ...] | None = None
    image: str | None = None

    @classmethod
    def from_flags(
        cls, *, handler: str | None, consumer_cmd: str | None, consumer_image: str | None
    ) -> PluggedConsumer:
        """Validate ``--handler`` / ``--consumer-cmd`` / ``--consumer-image`` (one at most)."""
        given = [
            flag
            for flag, value in (
                ("--handler", handler),
                ("--consumer-cmd", consumer_cmd),
                ("--consumer-image", consumer_image),
            )
            if value is not None
        ]
        if len(given) > 1:
            raise ConfigError(
                f"{' and '.join(given)} are alternatives: plug in one consumer per run "
                "(--handler, --consumer-cmd or --consumer-image)"
            )
        if handler is not None:
            problem = handler_spec_problem(handler)
            if problem:
                raise ConfigError(f"--handler {handler!r} is invalid: {problem}")
            return cls(handler=handler.strip())
        if consumer_cmd is not None:
            try:
                argv = tuple(shlex.split(consumer_cmd))
            except ValueError as exc:
                raise ConfigError(
                    f"--consumer-cmd {consumer_cmd!r} is invalid: {exc} (quote it as a shell would)"
                ) from None
            if not argv:
                raise ConfigError(
                    "--consumer-cmd is empty: give the command that starts one consumer, e.g. "
                    '--consumer-cmd "node examples/node/consumer.mjs"'
                )
            return cls(command=argv)
        if consumer_image is not None:
            image = consumer_image.strip()
            if not image or any(c.isspace() for c in image):
                raise ConfigError(
                    f"--consumer-image {consumer_image!r} is invalid: give an image reference "
                    "(name:tag)"
                )
            return cls(image=image)
        return cls()

    @property
    def kind(self) -> str:
        """``kit``, ``handler``, ``command`` or ``image``."""
        if self.handler:
            return HANDLER
        if self.command:
            return COMMAND
        return IMAGE if self.image else KIT

    @property
    def external(self) -> bool:
        """True for a consumer the kit sees only from outside (a command or an image)."""
        return self.kind in (COMMAND, IMAGE)

    @property
    def flag(self) -> str | None:
        """The flag that plugged it in (None for the kit's own consumer)."""
        return _PLUG_FLAGS.get(self.kind)

    def describe(self) -> str:
        """``the kit's consumer``, ``--handler pkg.mod:fn``, ``--consumer-cmd "node c.mjs"``..."""
        if self.handler:
            return f"--handler {self.handler}"
        if self.command:
            return f'--consumer-cmd "{shlex.join(self.command)}"'
        if self.image:
            return f"--consumer-image {self.image}"
        return "the kit's consumer"


@dataclass(frozen=True)
class RunSettings:
    """Where and how scenarios run; ``None`` means "the scenario's default"."""

    target: str = "local"
    #: None: ``auto`` on the local target; on the aws target, AWS itself (no rehearsal)
    emulator: str | None = None
    endpoint: str | None = None
    emulator_port: int | None = None
    runner: str = "auto"
    #: None: the target's default (api locally, terraform on aws)
    provisioner: str | None = None
    region: str | None = None
    consumers: int | None = None
    count: int | None = None
    seed: int | None = None
    batch_size: int | None = None
    visibility_wait: float | None = None
    slow_seconds: float | None = None
    second_start_delay: float | None = None
    image_tag: str | None = None
    #: ``--knob NAME=VALUE`` overrides, applied after the named flags
    knobs: tuple[tuple[str, str], ...] = ()
    report_dir: Path = Path("reports")
    keep: bool = False
    png: bool = True
    #: explicit confirmation for targets that cost money (``--yes``)
    yes: bool = False
    #: ``--handler package.module:function``: the user's handler in the kit's worker
    handler: str | None = None
    #: ``--consumer-cmd "COMMAND"``: the user's consumer as a process (process runner)
    consumer_cmd: str | None = None
    #: ``--consumer-image IMAGE``: the user's consumer as an image (docker runner, aws target)
    consumer_image: str | None = None
    #: ``--faults PLAN.yaml``: API faults through the fault proxy (local only), in every phase or
    #: in those its ``phases`` key names
    faults: Path | None = None

    def _check_emulator(self, emulator: str) -> None:
        if "=" not in emulator:
            _choice("--emulator", emulator, EMULATORS)
            return
        parse_emulator(emulator)  # a bad pair names the services and kinds
        if self.target != "local" or self.provisioner == "terraform":
            raise ConfigError(
                f"--emulator {emulator}: per-service endpoints run on --target "
                "local with --provisioner api (the Terraform stack also declares IAM "
                "and ECS, which LocalStack on the host does not serve)"
            )
        if self.endpoint:
            raise ConfigError(
                f"--endpoint with --emulator {emulator}: per-service endpoints "
                "start each emulator themselves; drop --endpoint (SQSKIT_ENDPOINT_URL)"
            )

    def __post_init__(self) -> None:
        _choice("--target", self.target, TARGETS)
        if self.emulator is not None:
            self._check_emulator(self.emulator)
        _choice("--runner", self.runner, RUNNERS)
        if self.provisioner is not None:
            _choice("--provisioner", self.provisioner, PROVISIONERS)
        if self.emulator == "external" and not (
            self.endpoint or os.environ.get(ENV_AWS_ENDPOINT_URL)
        ):
            raise ConfigError("--emulator external needs --endpoint URL (or AWS_ENDPOINT_URL)")
        if self.rehearsal:
            if self.emulator not in REHEARSAL_EMULATORS:
                raise ConfigError(
                    f"--target aws --emulator {self.emulator}: the rehearsal needs an emulator "
                    "whose ECS runs the tasks as containers: choose ministack or auto (or "
                    "--endpoint URL alone for an emulator you run and provision yourself)"
                )
            if self.endpoint:
                raise ConfigError(
                    f"--endpoint with --target aws --emulator {self.emulator}: the rehearsal "
                    "starts or reuses its own MiniStack; drop --endpoint, or drop --emulator to "
                    "run the aws target against the endpoint you provisioned"
                )
        _opt_range("--consumers", self.consumers, 1, MAX_CONSUMERS)
        _opt_range("--count", self.count, 1, MAX_COUNT)
        _opt_range("--batch-size", self.batch_size, 1, MAX_BATCH)
        _opt_range("--emulator-port", self.emulator_port, 1, 65535)
        _opt_range("--visibility-wait", self.visibility_wait, 0, 3600)
        _opt_range("--slow-seconds", self.slow_seconds, 0, 3600)
        _opt_range("--second-start-delay", self.second_start_delay, 0, 3600)
        if not isinstance(self.report_dir, Path):
            object.__setattr__(self, "report_dir", Path(self.report_dir))
        if self.faults is not None and not isinstance(self.faults, Path):
            object.__setattr__(self, "faults", Path(self.faults) if str(self.faults) else None)
        if self.faults is not None and self.target != "local":
            raise ConfigError(
                "--faults puts the fault proxy between the consumers and an emulator: it needs "
                "--target local (on AWS, see the FIS template in terraform/, docs/faults.md)"
            )
        self._check_plug(self.plugged)

    @property
    def plugged(self) -> PluggedConsumer:
        """Whose consumer runs (``--handler`` / ``--consumer-cmd`` / ``--consumer-image``)."""
        return PluggedConsumer.from_flags(
            handler=self.handler, consumer_cmd=self.consumer_cmd, consumer_image=self.consumer_image
        )

    def _check_plug(self, plug: PluggedConsumer) -> None:
        """Which runner and target each way of plugging in a consumer works with."""
        if plug.kind == COMMAND:
            if self.target != "local":
                raise ConfigError(
                    "--consumer-cmd starts processes on this machine: with --target aws the "
                    "consumers are ECS tasks; package your consumer as an image and pass "
                    "--consumer-image"
                )
            if self.runner == "docker":
                raise ConfigError(
                    "--consumer-cmd runs a process: use --runner process (or auto), or package "
                    "your consumer as an image and pass --consumer-image with --runner docker"
                )
        elif plug.kind == IMAGE:
            if self.runner == "process":
                raise ConfigError(
                    "--consumer-image runs a container: use --runner docker (or auto), or "
                    "--consumer-cmd to run your consumer as a process"
                )
        elif plug.kind == HANDLER and self.target != "local":
            raise ConfigError(
                "--handler runs your code inside the kit's worker on this machine (process or "
                "docker runner); with --target aws, build an image FROM sqs-kit-consumer that "
                "holds your package and sets HANDLER, and pass --consumer-image"
            )

    @property
    def rehearsal(self) -> bool:
        """``--target aws`` with an emulator named: the AWS code path, rehearsed on this machine.

        ``external`` is the exception: it names an endpoint the user runs (``--endpoint``).
        """
        return self.target == "aws" and self.emulator not in (None, "external")


@dataclass(frozen=True)
class Knobs:
    """A scenario's parameters. Scenarios declare defaults; users override them."""

    #: messages the producer sends (valid ones; the poison corpus comes on top)
    count: int = 20
    #: consumers started (the first group)
    consumers: int = 2
    #: messages per SendMessageBatch (the seed's --batch-size)
    batch_size: int = 10
    #: producer rate in messages per second; 0 = as fast as possible
    rate: float = 0.0
    #: MAX_MESSAGES: messages per receive, i.e. in flight per consumer
    max_messages: int = 1
    concurrency: int = 1
    visibility_timeout: int = 3
    receive_wait: int = 1
    max_receive_count: int = 5
    sleep_min: float = 0.0
    sleep_max: float = 0.02
    #: the seed's slow consumer: seconds of work per message (duplicates, overrun)
    slow_seconds: float = 0.0
    #: the seed's delay before the second consumer starts
    second_start_delay: float = 0.0
    #: the seed's --visibility-wait: extra seconds to wait after settling, before judging
    settle_s: float = 0.0
    seed: int = 7
    #: a phase that has not settled after this many seconds is judged as it is
    timeout_s: float = 60.0
    heartbeat_seconds: float = 0.0
    crash_after_receive: int = 0
    crash_rate: float = 0.0
    shutdown_timeout: float = 5.0
    #: poison bodies sent on top of ``count`` valid messages
    poison: int = 0
    #: consumers in the scaled phase of scale-out
    scaled_consumers: int = 3
    #: EFFECT_MODE: the demo handler's effect keyed by the message id (``idempotent``), or
    #: applied once per execution (``naive``, to show why the key matters)
    effect_mode: str = EFFECT_IDEMPOTENT
    #: FIFO scenarios: message groups the payloads are spread over (round-robin)
    groups: int = 4
    #: the fraction (0..1) of ids the producer sends a second time (fifo-dedup: inside the
    #: deduplication window, with the same deduplication id)
    duplicate_ids: float = 0.0

    def __post_init__(self) -> None:
        _range("count", self.count, 0, MAX_COUNT)
        _range("consumers", self.consumers, 1, MAX_CONSUMERS)
        _range("batch_size", self.batch_size, 1, MAX_BATCH)
        _range("rate", self.rate, 0, 1_000_000)
        _range("max_messages", self.max_messages, 1, MAX_BATCH)
        _range("concurrency", self.concurrency, 1, 256)
        _range("visibility_timeout", self.visibility_timeout, 0, MAX_VISIBILITY_TIMEOUT_SECONDS)
        _range("receive_wait", self.receive_wait, 0, MAX_RECEIVE_WAIT_SECONDS)
        _range("max_receive_count", self.max_receive_count, 1, 1000)
        _range("sleep_min", self.sleep_min, 0, 3600)
        _range("sleep_max", self.sleep_max, self.sleep_min, 3600)
        _range("slow_seconds", self.slow_seconds, 0, 3600)
        _range("second_start_delay", self.second_start_delay, 0, 3600)
        _range("settle_s", self.settle_s, 0, 3600)
        _range("timeout_s", self.timeout_s, 1, 86_400)
        _range("heartbeat_seconds", self.heartbeat_seconds, 0, MAX_VISIBILITY_TIMEOUT_SECONDS)
        _range("crash_after_receive", self.crash_after_receive, 0, MAX_COUNT)
        _range("crash_rate", self.crash_rate, 0, 1)
        _range("shutdown_timeout", self.shutdown_timeout, 0, 3600)
        _range("poison", self.poison, 0, 1000)
        _range("scaled_consumers", self.scaled_consumers, 1, MAX_CONSUMERS)
        _range("groups", self.groups, 1, MAX_GROUP_IDS)
        _range("duplicate_ids", self.duplicate_ids, 0, 1)
        if self.effect_mode not in EFFECT_MODES:
            raise ConfigError(
                f"knob effect_mode={self.effect_mode!r} is invalid: choose one of "
                f"{', '.join(EFFECT_MODES)}"
            )

    def override(self, settings: RunSettings) -> Knobs:
        """These knobs with the user's flags and ``--knob`` pairs applied (flag names in errors)."""
        named = {
            "count": settings.count,
            "consumers": settings.consumers,
            "seed": settings.seed,
            "batch_size": settings.batch_size,
            "settle_s": settings.visibility_wait,
            "slow_seconds": settings.slow_seconds,
            "second_start_delay": settings.second_start_delay,
        }
        changes: dict[str, Any] = {k: v for k, v in named.items() if v is not None}
        types = {f.name: f.type for f in fields(self)}
        for name, raw in settings.knobs:
            key = name.strip().replace("-", "_")
            if key not in types:
                raise ConfigError(
                    f"--knob {name}={raw}: unknown knob {name!r}; known: {', '.join(sorted(types))}"
                )
            changes[key] = _coerce(key, raw, str(types[key]))
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse_knob(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` -> (name, value); a usage error otherwise."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ConfigError(f"--knob {text!r} is invalid: use NAME=VALUE, e.g. --knob crash_rate=0.1")
    return name.strip(), value.strip()


def _coerce(name: str, raw: str, kind: str) -> Any:
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError(raw)
            return value
    except ValueError:
        raise ConfigError(f"--knob {name}={raw!r} is not a valid {kind}") from None
    return raw


def _range(name: str, value: float, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError(f"knob {name}={value!r} is out of range: allowed {low}..{high}")


def _opt_range(flag: str, value: float | None, low: float, high: float) -> None:
    if value is not None and not low <= value <= high:
        raise ConfigError(f"{flag} {value} is out of range: allowed {low}..{high}")


def _choice(flag: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{flag} {value!r} is invalid: choose one of {', '.join(allowed)}")


__all__ = ["Knobs", "PluggedConsumer", "RunSettings", "parse_knob"]
