"""The fault plan: which faults fire on which calls, how often, reproducibly.

A plan is a small file (YAML, TOML or JSON) validated up front; every mistake is one line that
names the field and the allowed values. docs/faults.md documents the format::

    seed: 7
    phases: [main]        # optional: in a scenario, only these phases (default every phase)
    rules:
      - service: sqs
        operation: DeleteMessageBatch
        fault: ack_dropped
        probability: 0.2
      - service: dynamodb
        operation: [PutItem, TransactWriteItems]
        fault: throttle
        probability: 0.1
        max_fires: 20
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import random
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from local.faultproxy import protocol
from local.faultproxy.errors import PlanError
from local.faultproxy.protocol import DYNAMODB, SERVICES, SQS

#: z-score of the 99th percentile of a standard normal, for the lognormal p50/p99 form
_Z99: Final = 2.3263478740408408
#: longer than botocore's default 60 s read timeout, so a stalled call is abandoned by the client
DEFAULT_STALL_S: Final = 75.0


class FaultKind(StrEnum):
    """Every fault the proxy can inject (docs/faults.md describes each)."""

    LATENCY = "latency"
    RESET_BEFORE = "reset_before"
    RESET_AFTER = "reset_after"
    ERROR_500 = "error_500"
    ERROR_503 = "error_503"
    THROTTLE = "throttle"
    APPLIED_FAILED = "applied_failed"
    ACK_DROPPED = "ack_dropped"
    LOST_RECEIVE = "lost_receive"
    STALL = "stall"
    TRANSACTION_CANCELED = "transaction_canceled"
    CONDITIONAL_CHECK_FAILED = "conditional_check_failed"


#: kinds that only make sense for some operations: the rule's default and its limit
RESTRICTED: Final[dict[FaultKind, tuple[str, frozenset[str]]]] = {
    FaultKind.ACK_DROPPED: (SQS, protocol.HANDLE_OPS),
    FaultKind.LOST_RECEIVE: (SQS, frozenset({protocol.RECEIVE_MESSAGE})),
    FaultKind.TRANSACTION_CANCELED: (
        DYNAMODB,
        frozenset({"TransactWriteItems", "TransactGetItems"}),
    ),
    FaultKind.CONDITIONAL_CHECK_FAILED: (
        DYNAMODB,
        frozenset({"PutItem", "UpdateItem", "DeleteItem"}),
    ),
}
#: kinds that forward the call upstream before failing its answer
FORWARDING: Final = frozenset(
    {FaultKind.LATENCY, FaultKind.RESET_AFTER, FaultKind.APPLIED_FAILED, FaultKind.LOST_RECEIVE}
)

FAIL_RESET: Final = "reset"
FAIL_WITH: Final = (500, 503, FAIL_RESET)
_DEFAULT_FAIL_WITH: Final = {FaultKind.APPLIED_FAILED: 500, FaultKind.LOST_RECEIVE: FAIL_RESET}

_COMMON_KEYS: Final = frozenset(
    {"service", "operation", "fault", "probability", "sequence", "skip", "max_fires", "name"}
)
_KIND_KEYS: Final[dict[FaultKind, frozenset[str]]] = {
    FaultKind.LATENCY: frozenset({"latency"}),
    FaultKind.THROTTLE: frozenset({"code"}),
    FaultKind.APPLIED_FAILED: frozenset({"fail_with"}),
    FaultKind.LOST_RECEIVE: frozenset({"fail_with"}),
    FaultKind.STALL: frozenset({"stall_s"}),
    FaultKind.TRANSACTION_CANCELED: frozenset({"reason"}),
}
_PLAN_KEYS: Final = frozenset({"seed", "name", "phases", "rules"})


@dataclass(frozen=True)
class Latency:
    """A delay distribution, in milliseconds: ``fixed``, ``uniform`` or ``lognormal``.

    ``lognormal`` is given by its median and 99th percentile, the two numbers people quote.
    """

    distribution: str
    low_ms: float
    high_ms: float

    def sample_s(self, rng: random.Random) -> float:
        """One delay in seconds."""
        if self.distribution == "fixed":
            ms = self.low_ms
        elif self.distribution == "uniform":
            ms = rng.uniform(self.low_ms, self.high_ms)
        else:
            sigma = (math.log(self.high_ms) - math.log(self.low_ms)) / _Z99
            ms = rng.lognormvariate(math.log(self.low_ms), sigma)
        return ms / 1000.0

    def describe(self) -> dict[str, float | str]:
        """The distribution as the plan file spells it."""
        if self.distribution == "fixed":
            return {"fixed_ms": self.low_ms}
        if self.distribution == "uniform":
            return {"min_ms": self.low_ms, "max_ms": self.high_ms}
        return {"p50_ms": self.low_ms, "p99_ms": self.high_ms}


@dataclass(frozen=True)
class Rule:
    """One line of the plan: which calls it selects, what it does, how often."""

    index: int
    service: str
    operations: frozenset[str] | None
    fault: FaultKind
    probability: float = 1.0
    sequence: tuple[bool, ...] | None = None
    skip: int = 0
    max_fires: int | None = None
    name: str | None = None
    latency: Latency | None = None
    code: str | None = None
    fail_with: int | str | None = None
    stall_s: float | None = None
    reason: str | None = None

    @property
    def label(self) -> str:
        """How records and logs name this rule."""
        return self.name or f"rules[{self.index}]"

    def matches(self, service: str, operation: str) -> bool:
        """True when a call to ``service``/``operation`` is one this rule selects."""
        return service == self.service and (self.operations is None or operation in self.operations)


@dataclass(frozen=True)
class Plan:
    """A seed and an ordered list of rules; ``Plan()`` injects nothing (a recording relay).

    ``phases`` names the scenario phases a user's plan applies to (None: every phase). The
    proxy ignores it: the scenario engine checks the names against the scenario's phases and
    arms the proxy with the plan only in those.
    """

    seed: int = 0
    rules: tuple[Rule, ...] = ()
    name: str | None = None
    phases: tuple[str, ...] | None = None

    @classmethod
    def from_dict(cls, data: Any, source: str = "plan") -> Plan:
        """Validate a parsed plan document; raises ``PlanError`` naming the bad field."""
        return _parse_plan(data, source)


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file: ``.yaml``/``.yml``, ``.toml`` or ``.json``."""
    file = Path(path)
    source = str(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanError(f"{source}: cannot read the plan file ({exc.strerror})") from exc
    suffix = file.suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            import yaml  # the kit extra installs it; the consumer image never needs it

            data = yaml.safe_load(text)
        elif suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise PlanError(
                f"{source}: unknown plan format {suffix!r}; use .yaml, .yml, .toml or .json"
            )
    except PlanError:
        raise
    except Exception as exc:  # each parser has its own error class; all mean the same here
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PlanError(f"{source}: not valid {suffix.lstrip('.')}: {first}") from exc
    return _parse_plan(data, source)


# -- validation ----------------------------------------------------------------------------------


@functools.cache
def known_operations(service: str) -> frozenset[str]:
    """Every operation of ``service``, from the botocore model the SDK itself uses."""
    import botocore.session

    model = botocore.session.get_session().get_service_model(service)
    return frozenset(model.operation_names)


def _allowed(values: Sequence[object]) -> str:
    return ", ".join(str(v) for v in values)


def _parse_plan(data: Any, source: str) -> Plan:
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise PlanError(f"{source}: a plan is a mapping with keys seed, name, phases, rules")
    unknown = sorted(set(data) - _PLAN_KEYS)
    if unknown:
        raise PlanError(
            f"{source}: unknown key {unknown[0]!r}; allowed: {_allowed(sorted(_PLAN_KEYS))}"
        )
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise PlanError(f"{source}: seed must be an integer, got {seed!r}")
    name = data.get("name")
    if name is not None and not isinstance(name, str):
        raise PlanError(f"{source}: name must be a string, got {name!r}")
    phases = _parse_phases(data.get("phases"), source) if "phases" in data else None
    raw_rules = data.get("rules") or []
    if not isinstance(raw_rules, list):
        raise PlanError(f"{source}: rules must be a list of rules")
    rules = tuple(_parse_rule(raw, i, f"{source}: rules[{i}]") for i, raw in enumerate(raw_rules))
    return Plan(seed=seed, rules=rules, name=name, phases=phases)


def _parse_phases(value: Any, source: str) -> tuple[str, ...]:
    # Only the shape is checked here; which names exist depends on the scenario it runs with.
    names = [value] if isinstance(value, str) else value
    if (
        not isinstance(names, list)
        or not names
        or not all(isinstance(n, str) and n.strip() for n in names)
    ):
        raise PlanError(
            f"{source}: phases must be a phase name or a non-empty list of names, "
            f"e.g. [main]; got {value!r}"
        )
    return tuple(dict.fromkeys(n.strip() for n in names))


def _parse_rule(raw: Any, index: int, where: str) -> Rule:
    if not isinstance(raw, Mapping):
        raise PlanError(f"{where}: a rule is a mapping with at least service and fault")
    kind = _parse_fault(raw.get("fault"), where)
    allowed = _COMMON_KEYS | _KIND_KEYS.get(kind, frozenset())
    for key in raw:
        if key not in allowed:
            owners = [k.value for k, keys in _KIND_KEYS.items() if key in keys]
            hint = (
                f"it applies to fault {' / '.join(owners)}"
                if owners
                else (f"allowed: {_allowed(sorted(allowed))}")
            )
            raise PlanError(f"{where}.{key}: unknown key for fault {kind.value}; {hint}")
    service = raw.get("service")
    if service not in SERVICES:
        raise PlanError(
            f"{where}.service: unknown service {service!r}; allowed: {_allowed(SERVICES)}"
        )
    operations = _parse_operations(raw.get("operation"), service, kind, where)
    probability, sequence = _parse_schedule(raw, where)
    skip = _non_negative_int(raw.get("skip", 0), f"{where}.skip")
    max_fires = raw.get("max_fires")
    if max_fires is not None:
        max_fires = _non_negative_int(max_fires, f"{where}.max_fires")
    name = raw.get("name")
    if name is not None and not isinstance(name, str):
        raise PlanError(f"{where}.name: must be a string, got {name!r}")
    return Rule(
        index=index,
        service=service,
        operations=operations,
        fault=kind,
        probability=probability,
        sequence=sequence,
        skip=skip,
        max_fires=max_fires,
        name=name,
        latency=_parse_latency(raw.get("latency"), where) if kind is FaultKind.LATENCY else None,
        code=_parse_code(raw.get("code"), service, where) if kind is FaultKind.THROTTLE else None,
        fail_with=_parse_fail_with(raw, kind, where),
        stall_s=_parse_stall(raw.get("stall_s"), where) if kind is FaultKind.STALL else None,
        reason=_parse_reason(raw.get("reason"), where)
        if kind is FaultKind.TRANSACTION_CANCELED
        else None,
    )


def _parse_fault(value: Any, where: str) -> FaultKind:
    kinds = [k.value for k in FaultKind]
    if value not in kinds:
        raise PlanError(f"{where}.fault: unknown fault {value!r}; allowed: {_allowed(kinds)}")
    return FaultKind(value)


def _parse_operations(
    value: Any, service: str, kind: FaultKind, where: str
) -> frozenset[str] | None:
    restricted = RESTRICTED.get(kind)
    if restricted is not None and restricted[0] != service:
        raise PlanError(
            f"{where}.service: fault {kind.value} applies only to {restricted[0]}, not {service}"
        )
    if value is None:
        return restricted[1] if restricted else None
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise PlanError(f"{where}.operation: an operation name or a non-empty list of names")
    known = known_operations(service)
    for op in names:
        if op not in known:
            close = difflib.get_close_matches(op, sorted(known), n=1)
            hint = f"did you mean {close[0]}?" if close else "see the service's API reference"
            raise PlanError(f"{where}.operation: unknown {service} operation {op!r}; {hint}")
        if restricted is not None and op not in restricted[1]:
            raise PlanError(
                f"{where}.operation: fault {kind.value} applies only to "
                f"{_allowed(sorted(restricted[1]))}, not {op}"
            )
    return frozenset(names)


def _parse_schedule(raw: Mapping[str, Any], where: str) -> tuple[float, tuple[bool, ...] | None]:
    if "probability" in raw and "sequence" in raw:
        raise PlanError(f"{where}: use either probability or sequence, not both")
    if "sequence" in raw:
        seq = raw["sequence"]
        if (
            not isinstance(seq, list)
            or not seq
            or not all(isinstance(s, bool) or s in (0, 1) for s in seq)
        ):
            raise PlanError(
                f"{where}.sequence: a non-empty list of 1 (fire) and 0 (pass), e.g. [1, 0, 0]"
            )
        return 1.0, tuple(bool(s) for s in seq)
    probability = raw.get("probability", 1.0)
    if (
        isinstance(probability, bool)
        or not isinstance(probability, int | float)
        or not 0.0 <= probability <= 1.0
    ):
        raise PlanError(f"{where}.probability: {probability!r} is out of range; allowed 0 to 1")
    return float(probability), None


def _non_negative_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PlanError(f"{where}: must be a whole number >= 0, got {value!r}")
    return value


def _positive_ms(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise PlanError(f"{where}: must be a number of milliseconds > 0, got {value!r}")
    return float(value)


_LATENCY_FORMS: Final = "{fixed_ms: N}, {min_ms: A, max_ms: B} or {p50_ms: A, p99_ms: B}"


def _parse_latency(value: Any, where: str) -> Latency:
    field = f"{where}.latency"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Latency("fixed", _positive_ms(value, field), 0.0)
    if not isinstance(value, Mapping):
        raise PlanError(f"{field}: required for fault latency; one of {_LATENCY_FORMS}")
    keys = set(value)
    if keys == {"fixed_ms"}:
        return Latency("fixed", _positive_ms(value["fixed_ms"], f"{field}.fixed_ms"), 0.0)
    if keys == {"min_ms", "max_ms"}:
        low = _positive_ms(value["min_ms"], f"{field}.min_ms")
        high = _positive_ms(value["max_ms"], f"{field}.max_ms")
        if high < low:
            raise PlanError(f"{field}: max_ms ({high:g}) must be >= min_ms ({low:g})")
        return Latency("uniform", low, high)
    if keys == {"p50_ms", "p99_ms"}:
        p50 = _positive_ms(value["p50_ms"], f"{field}.p50_ms")
        p99 = _positive_ms(value["p99_ms"], f"{field}.p99_ms")
        if p99 < p50:
            raise PlanError(f"{field}: p99_ms ({p99:g}) must be >= p50_ms ({p50:g})")
        return Latency("lognormal", p50, p99)
    raise PlanError(f"{field}: unknown form {sorted(keys)}; one of {_LATENCY_FORMS}")


def _parse_code(value: Any, service: str, where: str) -> str:
    if value is None:
        return protocol.DEFAULT_THROTTLE[service]
    codes = list(protocol.THROTTLE_STATUS)
    if value not in codes:
        raise PlanError(
            f"{where}.code: unknown throttling code {value!r}; allowed: {_allowed(codes)}"
        )
    return str(value)


def _parse_fail_with(raw: Mapping[str, Any], kind: FaultKind, where: str) -> int | str | None:
    if kind not in _DEFAULT_FAIL_WITH:
        return None
    value = raw.get("fail_with", _DEFAULT_FAIL_WITH[kind])
    if isinstance(value, bool) or value not in FAIL_WITH:
        raise PlanError(
            f"{where}.fail_with: {value!r} is not allowed; allowed: {_allowed(FAIL_WITH)}"
        )
    return value  # type: ignore[no-any-return]


def _parse_stall(value: Any, where: str) -> float:
    if value is None:
        return DEFAULT_STALL_S
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise PlanError(f"{where}.stall_s: must be a number of seconds > 0, got {value!r}")
    return float(value)


def _parse_reason(value: Any, where: str) -> str:
    reasons = list(protocol.CANCELLATION_REASONS)
    if value is None:
        return reasons[0]
    if value not in reasons:
        raise PlanError(
            f"{where}.reason: unknown cancellation reason {value!r}; allowed: {_allowed(reasons)}"
        )
    return str(value)
