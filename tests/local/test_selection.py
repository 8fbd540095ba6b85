"""Selection, configuration and state: unit tier (no processes, no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError, EmulatorUnavailable
from core.stack import StackHandle
from local import emulators
from local.config import LocalConfig
from local.emulators.base import Emulator
from local.emulators.compose import LOCALSTACK_FREE_IMAGE, localstack_image
from local.emulators.external import ExternalEmulator
from local.infra import (
    LocalState,
    clear_state,
    dotenv_text,
    read_state,
    terraform_ready,
    write_state,
)


class FakeEmbedded(Emulator):
    """Records start/stop instead of spawning a process."""

    name = "ministack"
    kind = "embedded"

    def __init__(self, port: int) -> None:
        self.port = port
        self.started = False
        self.stopped = False

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True

    def capabilities(self) -> frozenset[str]:
        return frozenset()


@pytest.fixture
def fake_embedded(monkeypatch: pytest.MonkeyPatch) -> list[FakeEmbedded]:
    made: list[FakeEmbedded] = []

    def factory(kind: str = "ministack", port: int | None = None, **_: object) -> FakeEmbedded:
        emulator = FakeEmbedded(port or 50_000)
        made.append(emulator)
        return emulator

    monkeypatch.setattr(emulators, "embedded", factory)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    return made


@pytest.mark.unit
def test_auto_uses_what_already_answers(monkeypatch, fake_embedded):
    # GIVEN something answers at the configured endpoint
    monkeypatch.setattr(emulators, "answers", lambda url, timeout=1.0: True)
    monkeypatch.setattr(ExternalEmulator, "name", property(lambda self: "localstack"))
    # WHEN auto-selecting
    sel = emulators.select("auto", endpoint="http://127.0.0.1:4599")
    # THEN it is used, not owned, and nothing was started
    assert isinstance(sel.emulator, ExternalEmulator)
    assert sel.owned is False
    assert sel.endpoint == "http://127.0.0.1:4599"
    assert "already answers" in sel.reason and "localstack" in sel.reason
    assert fake_embedded == []


@pytest.mark.unit
def test_auto_starts_the_embedded_default_and_stops_it(monkeypatch, fake_embedded):
    monkeypatch.setattr(emulators, "answers", lambda url, timeout=1.0: False)
    with emulators.select("auto", port=4599) as sel:
        fake = fake_embedded[0]
        assert fake.started and fake.port == 4599
        assert sel.owned is True
        assert id(sel.emulator) == id(fake)  # `is` would narrow `fake` for mypy
        assert "nothing answered" in sel.reason and emulators.DEFAULT_EMBEDDED in sel.reason
    assert fake.stopped


@pytest.mark.unit
def test_auto_reads_aws_endpoint_url(monkeypatch, fake_embedded):
    seen: list[str] = []

    def nothing_answers(url: str, timeout: float = 1.0) -> bool:
        seen.append(url)
        return False

    monkeypatch.setattr(emulators, "answers", nothing_answers)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:4510")
    sel = emulators.select("auto")
    assert seen == ["http://localhost:4510"]
    assert fake_embedded[0].port == 4510
    sel.close()


@pytest.mark.unit
def test_auto_refuses_to_start_for_a_remote_endpoint(monkeypatch, fake_embedded):
    monkeypatch.setattr(emulators, "answers", lambda url, timeout=1.0: False)
    with pytest.raises(EmulatorUnavailable, match="not a loopback address"):
        emulators.select("auto", endpoint="http://10.1.2.3:4566")
    assert fake_embedded == []


@pytest.mark.unit
def test_an_owned_selection_is_not_stopped_when_not_owned(monkeypatch, fake_embedded):
    emulator = FakeEmbedded(1)
    emulators.Selection(emulator, owned=False, reason="x").close()
    assert not emulator.stopped


@pytest.mark.unit
@pytest.mark.parametrize("kind", ["bogus", "", "LOCALSTACK"])
def test_unknown_kind_is_a_config_error(kind):
    with pytest.raises(ConfigError, match="SQSKIT_EMULATOR"):
        emulators.select(kind)


@pytest.mark.unit
def test_external_needs_an_endpoint(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with pytest.raises(ConfigError, match="AWS_ENDPOINT_URL"):
        ExternalEmulator()
    with pytest.raises(ConfigError, match="invalid"):
        ExternalEmulator("localhost:4566")


@pytest.mark.unit
def test_embedded_rejects_a_port_out_of_range():
    with pytest.raises(ConfigError, match=r"1\.\.65535"):
        emulators.MiniStackEmulator(port=70_000)
    with pytest.raises(ConfigError, match="unknown embedded"):
        emulators.embedded("floci")


# -- configuration --------------------------------------------------------------------------------


@pytest.mark.unit
def test_config_from_env_and_flags_win():
    env = {"SQSKIT_EMULATOR": "moto", "SQSKIT_EMULATOR_PORT": "4600", "SQSKIT_STATE_DIR": "/tmp/x"}
    cfg = LocalConfig.from_env(env, port=4700, emulator=None)
    assert (cfg.emulator, cfg.port, cfg.state_dir) == ("moto", 4700, Path("/tmp/x"))
    assert cfg.provisioner == "terraform"  # the fast path without Terraform is opt-in
    assert cfg.default_endpoint == "http://127.0.0.1:4700"


@pytest.mark.unit
@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"SQSKIT_EMULATOR_PORT": "abc"}, "SQSKIT_EMULATOR_PORT"),
        ({"SQSKIT_EMULATOR_PORT": "0"}, "SQSKIT_EMULATOR_PORT"),
        ({"SQSKIT_EMULATOR": "docker"}, "SQSKIT_EMULATOR"),
        ({"SQSKIT_MAIN_PREFIX": "Bad_Prefix"}, "SQSKIT_MAIN_PREFIX"),
        ({"SQSKIT_PROVISIONER": "cdk"}, "SQSKIT_PROVISIONER"),
        ({"SQSKIT_PROVISIONER": "auto"}, "choose terraform, api"),
        ({"AWS_ENDPOINT_URL": "localhost:4566"}, "AWS_ENDPOINT_URL"),
    ],
)
def test_config_names_the_bad_variable(env, names):
    with pytest.raises(ConfigError, match=names):
        LocalConfig.from_env(env)


@pytest.mark.unit
def test_localstack_image_depends_on_the_token():
    assert localstack_image({}) == LOCALSTACK_FREE_IMAGE == "localstack/localstack:4.14.0"
    assert localstack_image({"LOCALSTACK_AUTH_TOKEN": "t"}) != LOCALSTACK_FREE_IMAGE
    assert localstack_image({"LOCALSTACK_AUTH_TOKEN": "t", "LOCALSTACK_IMAGE": "x:1"}) == "x:1"


# -- state and .env -------------------------------------------------------------------------------


@pytest.mark.unit
def test_state_round_trip_and_clear(tmp_path):
    state = LocalState(
        "ministack", "embedded", "http://127.0.0.1:1", 1, pid=123, marker="ministack"
    )
    write_state(tmp_path, state)
    assert (tmp_path / "emulator.pid").read_text().strip() == "123"
    assert read_state(tmp_path) == state
    clear_state(tmp_path)
    assert read_state(tmp_path) is None


@pytest.mark.unit
def test_a_bare_pidfile_is_still_found(tmp_path):
    (tmp_path / "emulator.pid").write_text("4242\n")
    state = read_state(tmp_path)
    assert state is not None and state.pid == 4242


@pytest.mark.unit
def test_corrupt_state_is_ignored(tmp_path):
    (tmp_path / "emulator.json").write_text("{not json")
    assert read_state(tmp_path) is None


@pytest.mark.unit
def test_dotenv_has_every_variable_the_consumer_needs():
    handle = StackHandle(
        prefix="sqs-demo",
        region="us-east-1",
        queue_url="http://127.0.0.1:1/000000000000/sqs-demo-queue",
        queue_arn="arn:q",
        dlq_url="http://127.0.0.1:1/000000000000/sqs-demo-dlq",
        dlq_arn="arn:dlq",
        status_table="sqs-demo-message-status",
        completed_table="sqs-demo-message-completed",
        endpoint_url="http://127.0.0.1:1",
    )
    values = dict(line.split("=", 1) for line in dotenv_text(handle).splitlines())
    for key in (
        "QUEUE_URL",
        "DLQ_ARN",
        "AWS_REGION",
        "MESSAGE_STATUS_TABLE",
        "MESSAGE_COMPLETED_TABLE",
        "AWS_ENDPOINT_URL",
    ):
        assert values[key], key
    assert values["DLQ_ARN"] == "arn:dlq"


@pytest.mark.unit
def test_terraform_ready_says_why_not(monkeypatch):
    monkeypatch.setattr("local.infra.tool_path", lambda name: None)
    ok, why = terraform_ready()
    assert not ok and "terraform is not on PATH" in why
    monkeypatch.setattr("local.infra.tool_path", lambda name: None if name == "tflocal" else name)
    ok, why = terraform_ready()
    assert not ok and "tflocal is not installed" in why
