"""The local target with per-service endpoints: clients, provisioner and report (unit)."""

from __future__ import annotations

import pytest

from core import capabilities as cap
from core.provisioners.api import ApiProvisioner
from local.emulators import Selection
from local.emulators.base import Emulator
from scenarios.settings import RunSettings
from scenarios.targets import local as local_target
from scenarios.targets.local import LocalTarget

pytestmark = pytest.mark.unit

SPLIT = "sqs=localstack,dynamodb=ministack"


class Fake(Emulator):
    kind = "embedded"

    def __init__(self, name: str, port: int, caps: frozenset[str]) -> None:
        self.name, self.port, self.caps, self.stops = name, port, caps, 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        pass

    def stop(self) -> None:
        self.stops += 1

    def capabilities(self) -> frozenset[str]:
        return self.caps


@pytest.fixture
def split_target(monkeypatch, tmp_path):
    ls = Selection(Fake("localstack", 4601, frozenset({cap.SQS_MOVE_TASK})), True, "ls")
    ms = Selection(Fake("ministack", 4602, frozenset({cap.DDB_CONDITIONAL})), True, "ms")
    asked = []

    def select(kind, *, endpoint=None, port=None):
        asked.append(kind)
        return Selection(ls.emulator, True, "split", (("sqs", ls), ("dynamodb", ms)))

    monkeypatch.setattr(local_target, "select", select)
    monkeypatch.setattr(
        local_target, "resolve_runner", lambda kind, image_tag=None, plug=None: ("process", "")
    )
    target = LocalTarget.from_settings(
        RunSettings(emulator=SPLIT, region="us-east-1"), run_dir=tmp_path
    )
    target.open()
    yield target, asked, ls.emulator, ms.emulator
    target.close()


def test_the_split_reaches_every_part_of_the_local_target(split_target):
    target, asked, ls, ms = split_target
    assert asked == [SPLIT]
    # the engine's clients (observer, producer, faults) go to each service's emulator
    assert target.client("sqs").meta.endpoint_url == ls.endpoint
    assert target.client("dynamodb").meta.endpoint_url == ms.endpoint
    # the provisioner creates the queues on one and the tables on the other
    prov = target.provisioner
    assert isinstance(prov, ApiProvisioner)
    assert prov._ddb.meta.endpoint_url == ms.endpoint
    # capabilities: SQS's from LocalStack (the real move task), DynamoDB's from MiniStack
    assert target.capabilities() == {cap.SQS_MOVE_TASK, cap.DDB_CONDITIONAL}
    # the report records which service ran where
    info = target.describe()
    assert info["emulator"] == SPLIT
    assert info["endpoint"] == ls.endpoint
    assert info["services"] == {
        "sqs": {"emulator": "localstack", "endpoint": ls.endpoint},
        "dynamodb": {"emulator": "ministack", "endpoint": ms.endpoint},
    }


def test_closing_the_target_stops_both_emulators(split_target):
    target, _asked, ls, ms = split_target
    target.close()
    assert (ls.stops, ms.stops) == (1, 1)
