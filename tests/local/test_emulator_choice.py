"""Per-service endpoints: the parser, the split selection and what each part of it serves (unit)."""

from __future__ import annotations

import pytest

from core import capabilities as cap
from core.aws import Endpoints
from core.errors import ConfigError, EmulatorUnavailable
from local import emulators
from local.config import LocalConfig
from local.emulators import Selection
from local.emulators.base import Emulator
from local.emulators.choice import SPLIT_KINDS, SPLIT_SERVICES, EmulatorChoice, parse_emulator

SPLIT = "sqs=localstack,dynamodb=ministack"


# -- the parser ------------------------------------------------------------------------------------


@pytest.mark.unit
def test_a_single_kind_is_not_a_split():
    choice = parse_emulator("ministack")
    assert choice == EmulatorChoice(kind="ministack")
    assert not choice.split
    assert choice.kinds == ("ministack",)
    assert choice.kind_of("dynamodb") == "ministack"


@pytest.mark.unit
def test_the_split_names_each_service_in_a_fixed_order():
    # GIVEN the pairs in either order, with spaces
    for text in (SPLIT, " dynamodb = ministack , sqs=localstack "):
        choice = parse_emulator(text)
        assert choice.split
        assert choice.services == (("sqs", "localstack"), ("dynamodb", "ministack"))
        assert choice.kinds == ("localstack", "ministack")  # SQS's emulator first
        assert choice.kind_of("sqs") == "localstack"
        assert choice.spelling == SPLIT


@pytest.mark.unit
def test_one_kind_named_for_both_services_is_started_once():
    choice = parse_emulator("sqs=ministack,dynamodb=ministack")
    assert choice.split
    assert choice.kinds == ("ministack",)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("bogus", "choose one of auto, ministack"),
        ("sqs=localstack", "dynamodb is missing"),
        ("sqs=localstack,dynamodb=ministack,sqs=moto", "sqs is named twice"),
        ("sns=localstack,dynamodb=ministack", "'sns=localstack' is not SERVICE=KIND"),
        ("sqs=external,dynamodb=ministack", "'sqs=external' is not SERVICE=KIND"),
        ("sqs=localstack,dynamodb", "'dynamodb' is not SERVICE=KIND"),
        ("sqs=,dynamodb=ministack", "'sqs=' is not SERVICE=KIND"),
    ],
)
def test_a_bad_spelling_is_one_line_naming_the_services_and_kinds(text, says):
    with pytest.raises(ConfigError) as err:
        parse_emulator(text, name="SQSKIT_EMULATOR")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"SQSKIT_EMULATOR={text!r} is invalid")
    assert says in message
    if "=" in text:
        assert all(s in message for s in SPLIT_SERVICES) or "named twice" in message
    if "not SERVICE=KIND" in says:
        assert ", ".join(SPLIT_KINDS) in message


@pytest.mark.unit
def test_local_up_refuses_a_split_and_says_where_it_works():
    with pytest.raises(ConfigError, match="scenario run --emulator"):
        LocalConfig.from_env({"SQSKIT_EMULATOR": SPLIT})
    with pytest.raises(ConfigError, match="choose one of"):
        LocalConfig.from_env({"SQSKIT_EMULATOR": "nope"})
    assert LocalConfig.from_env({"SQSKIT_EMULATOR": "localstack"}).emulator == "localstack"


# -- the split selection ---------------------------------------------------------------------------


class FakeEmulator(Emulator):
    kind = "embedded"

    def __init__(self, name: str, port: int, caps: frozenset[str]) -> None:
        self.name = name
        self.port = port
        self.caps = caps
        self.starts = 0
        self.stops = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1

    def stop(self) -> None:
        self.stops += 1

    def capabilities(self) -> frozenset[str]:
        return self.caps


LOCALSTACK_CAPS = frozenset({cap.SQS_BASIC, cap.SQS_MOVE_TASK, cap.ECS_API})
MINISTACK_CAPS = frozenset({cap.SQS_BASIC, cap.DDB_CONDITIONAL, cap.DDB_TRANSACTIONS})


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[FakeEmulator]]:
    made: dict[str, list[FakeEmulator]] = {"ministack": [], "moto": [], "localstack": []}

    def embedded(kind: str = "ministack", port: int | None = None, **_: object) -> FakeEmulator:
        emu = FakeEmulator(kind, port or 51_000 + len(made[kind]), MINISTACK_CAPS)
        made[kind].append(emu)
        return emu

    def localstack(port: int | None) -> Selection:
        emu = FakeEmulator("localstack", port or 52_000, LOCALSTACK_CAPS)
        emu.start()
        made["localstack"].append(emu)
        return Selection(emu, True, "localstack was asked for")

    monkeypatch.setattr(emulators, "embedded", embedded)
    monkeypatch.setattr(emulators, "_localstack", localstack)
    return made


@pytest.mark.unit
def test_a_split_starts_each_emulator_once_and_routes_each_service(fakes):
    # WHEN SQS goes to LocalStack (on the asked port) and DynamoDB to MiniStack
    sel = emulators.select(SPLIT, port=4601)
    ls: FakeEmulator = fakes["localstack"][0]
    ms: FakeEmulator = fakes["ministack"][0]
    assert (ls.port, ls.starts, ms.starts) == (4601, 1, 1)

    # THEN the default endpoint is SQS's, and each service has its own
    assert sel.emulator is ls and sel.owned
    assert sel.endpoint == ls.endpoint
    assert sel.endpoints == Endpoints(
        ls.endpoint, (("sqs", ls.endpoint), ("dynamodb", ms.endpoint))
    )
    assert sel.endpoints.split
    assert sel.emulator_for("dynamodb") is ms
    assert "sqs on localstack" in sel.reason and "dynamodb on ministack" in sel.reason
    assert sel.describe_services() == {
        "sqs": {"emulator": "localstack", "endpoint": ls.endpoint},
        "dynamodb": {"emulator": "ministack", "endpoint": ms.endpoint},
    }

    # capabilities come from the emulator that serves them: SQS's from LocalStack, DynamoDB's
    # from MiniStack (ECS and the rest from the default endpoint)
    assert sel.capabilities() == {
        cap.SQS_BASIC,
        cap.SQS_MOVE_TASK,
        cap.ECS_API,
        cap.DDB_CONDITIONAL,
        cap.DDB_TRANSACTIONS,
    }

    sel.close()
    assert (ls.stops, ms.stops) == (1, 1)


@pytest.mark.unit
def test_one_emulator_for_both_services_is_one_instance_stopped_once(fakes):
    sel = emulators.select("sqs=ministack,dynamodb=ministack")
    assert len(fakes["ministack"]) == 1
    assert not sel.endpoints.split
    assert sel.capabilities() == MINISTACK_CAPS
    sel.close()
    assert fakes["ministack"][0].stops == 1


@pytest.mark.unit
def test_a_failed_second_start_stops_the_first(fakes, monkeypatch):
    def broken(kind: str = "ministack", port: int | None = None, **_: object) -> Emulator:
        raise EmulatorUnavailable("ministack did not start")

    monkeypatch.setattr(emulators, "embedded", broken)
    with pytest.raises(EmulatorUnavailable):
        emulators.select(SPLIT)
    assert fakes["localstack"][0].stops == 1


@pytest.mark.unit
def test_a_single_emulator_selection_keeps_one_endpoint_for_all(fakes):
    sel = emulators.select("ministack", port=4602)
    assert sel.endpoints == Endpoints("http://127.0.0.1:4602")
    assert not sel.endpoints.split
    assert sel.describe_services()["dynamodb"]["endpoint"] == "http://127.0.0.1:4602"
    assert sel.capabilities() == MINISTACK_CAPS


@pytest.mark.unit
def test_select_rejects_a_bad_split_before_starting_anything(fakes):
    with pytest.raises(ConfigError, match="dynamodb is missing"):
        emulators.select("sqs=localstack")
    assert fakes == {"ministack": [], "moto": [], "localstack": []}
