"""The rehearsal's decisions, with fakes: Docker first, reuse of `make local-up` or a private
emulator, the image, what the aws target is given, and what the report says (unit)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from core.errors import ConfigError, InfrastructureError
from core.stack import StackHandle, StackSpec
from local.infra import LocalState, write_state
from scenarios.cli import cli
from scenarios.settings import RunSettings
from scenarios.targets import get_target, rehearsal
from scenarios.targets.aws import AwsTarget, AwsTargetConfig
from scenarios.targets.local import LocalTarget
from scenarios.targets.rehearsal import Environment, RehearsalOptions, RehearsalTarget

pytestmark = pytest.mark.unit

MAIN_OUTPUTS: dict[str, Any] = {
    "queue_url": "http://127.0.0.1:4566/000000000000/sqs-demo-queue",
    "queue_arn": "arn:aws:sqs:us-west-1:000000000000:sqs-demo-queue",
    "aws_region": "us-west-1",
    "cluster_name": "sqs-demo",
    "execution_role_arn": "arn:aws:iam::000000000000:role/sqs-demo-execution",
    "log_group_name": "/ecs/sqs-demo/consumer",
}


class FakeAws:
    """Stands in for AwsTarget: records its config, provisions and tears down on request."""

    def __init__(self, config: AwsTargetConfig) -> None:
        self.config = config
        self.opened = False
        self.handle: StackHandle | None = None
        self.runner: Any = None
        self.log_dir = None
        self.torn_down: list[str] = []

    def open(self) -> None:
        self.opened = True

    def provision(self, spec: StackSpec) -> StackHandle:
        self.handle = StackHandle(spec.prefix, "us-west-1", "q", "qa", "d", "da", "s", "c")
        self.runner = object()
        return self.handle

    def teardown(self) -> None:
        assert self.handle is not None
        self.torn_down.append(self.handle.prefix)

    def stop_timeout(self, timeout: float) -> float:
        return timeout + 40

    def describe(self) -> dict[str, Any]:
        return {"target": "aws", "emulator": "external", "network_mode": self.config.network_mode}


class PrivateEnv(Environment):
    closed = 0

    def close(self) -> None:
        PrivateEnv.closed += 1


def _rehearsal(
    *,
    local_up: Environment | None = None,
    docker_ok: bool = True,
    calls: list[str] | None = None,
) -> RehearsalTarget:
    log = calls if calls is not None else []

    def check_tools() -> None:
        log.append("docker")
        if not docker_ok:
            raise InfrastructureError("the rehearsal needs Docker (...): no Docker engine answers")

    def get_image(explicit: str | None) -> tuple[str, str]:
        log.append(f"image:{explicit}")
        return "sqs-kit-consumer:local", "built from this checkout in 4.0 s"

    def find_local_up(region: str | None) -> tuple[Environment | None, str]:
        log.append("find-local-up")
        return (local_up, "") if local_up else (None, "`make local-up` is not running")

    def start_private(region: str | None) -> Environment:
        log.append(f"private:{region}")
        env = PrivateEnv("http://127.0.0.1:40001", "us-east-1", dict(MAIN_OUTPUTS), "started")
        env.timings["main_apply_s"] = 61.0
        return env

    return RehearsalTarget(
        RehearsalOptions(emulator="ministack"),
        check_tools=check_tools,
        get_image=get_image,
        find_local_up=find_local_up,
        start_private=start_private,
        make_target=FakeAws,  # type: ignore[arg-type]
    )


def test_without_docker_nothing_is_built_or_started(monkeypatch):
    calls: list[str] = []
    target = _rehearsal(docker_ok=False, calls=calls)
    with pytest.raises(InfrastructureError, match="needs Docker"):
        target.open()
    assert calls == ["docker"] and target.inner is None
    target.close()  # safe after a failed open


def test_local_up_is_reused_and_left_running(monkeypatch):
    monkeypatch.delenv("SQSKIT_AWS_NETWORK_MODE", raising=False)
    monkeypatch.delenv("SQSKIT_AWS_CONTAINER_IMAGE", raising=False)
    local_up = Environment("http://127.0.0.1:4566", "us-west-1", dict(MAIN_OUTPUTS), "reused X")
    calls: list[str] = []
    target = _rehearsal(local_up=local_up, calls=calls)
    target.open()
    # THEN no private emulator, and the aws target gets local-up's endpoint, region and outputs
    assert calls == ["docker", "image:None", "find-local-up"]
    inner = target.inner
    assert isinstance(inner, FakeAws) and inner.opened
    cfg = inner.config
    assert (cfg.endpoint_url, cfg.region) == ("http://127.0.0.1:4566", "us-west-1")
    assert cfg.main_outputs == MAIN_OUTPUTS and cfg.provisioner == "terraform"
    assert cfg.container_image == "sqs-kit-consumer:local" and cfg.network_mode == "host"
    # AND the report says it was a rehearsal, on which emulator, network and image
    info = target.describe()
    assert info["rehearsal"] is True and info["emulator"] == "ministack"
    assert info["network_mode"] == "host" and info["main_infrastructure"] == "reused X"
    assert info["image"].startswith("sqs-kit-consumer:local (built")
    target.close()
    assert local_up.emulator is None  # nothing of local-up's to stop


def test_without_local_up_a_private_emulator_is_started_and_stopped(monkeypatch):
    PrivateEnv.closed = 0
    calls: list[str] = []
    target = _rehearsal(calls=calls)
    target.open()
    assert calls[-1] == "private:None"
    info = target.describe()
    assert info["local_up_not_reused"] == "`make local-up` is not running"
    assert info["rehearsal_setup_s"]["main_apply_s"] == 61.0
    target.close()
    assert PrivateEnv.closed == 1


def test_per_stack_calls_go_to_the_aws_target_and_close_tears_a_left_stack_down():
    target = _rehearsal()
    target.open()
    handle = target.provision(StackSpec(prefix="sqskit-happy-abc123"))
    assert target.handle is handle and target.runner is not None
    assert target.stop_timeout(10) == 50
    target.close()  # a stack still up at close is torn down first
    assert isinstance(target.inner, FakeAws)
    assert target.inner.torn_down == ["sqskit-happy-abc123"]


def test_an_explicit_network_mode_and_image_tag_are_honoured(monkeypatch):
    monkeypatch.setenv("SQSKIT_AWS_NETWORK_MODE", "awsvpc")
    monkeypatch.delenv("SQSKIT_AWS_CONTAINER_IMAGE", raising=False)
    calls: list[str] = []
    target = _rehearsal(calls=calls)
    target.options = RehearsalOptions(image_tag="abc123")
    target.open()
    assert "image:sqs-kit-consumer:abc123" in calls
    assert isinstance(target.inner, FakeAws) and target.inner.config.network_mode == "awsvpc"


def test_a_consumer_image_is_what_the_rehearsed_tasks_run(monkeypatch, tmp_path):
    monkeypatch.delenv("SQSKIT_AWS_CONTAINER_IMAGE", raising=False)
    built = get_target(
        RunSettings(target="aws", emulator="ministack", consumer_image="me/consumer:1.2"),
        run_dir=tmp_path,
    )
    assert isinstance(built, RehearsalTarget) and built.options.consumer_image == "me/consumer:1.2"
    calls: list[str] = []
    target = _rehearsal(calls=calls)
    target.options = RehearsalOptions(image_tag="abc123", consumer_image="me/consumer:1.2")
    target.open()
    assert "image:me/consumer:1.2" in calls  # never rebuilt, and it wins over --image-tag


def test_the_capabilities_are_the_emulators_plus_running_tasks():
    caps = _rehearsal().capabilities()
    assert caps is not None and "ecs.runs_containers" in caps
    assert "sqs.move_task" not in caps  # MiniStack lacks it: poison uses the shim, as locally


# -- which target a run gets -----------------------------------------------------------------------


def test_get_target_rehearses_only_when_an_emulator_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert isinstance(get_target(RunSettings(target="aws"), run_dir=tmp_path), AwsTarget)
    for kind in ("ministack", "auto"):
        target = get_target(RunSettings(target="aws", emulator=kind), run_dir=tmp_path)
        assert isinstance(target, RehearsalTarget)
    local = get_target(RunSettings(), run_dir=tmp_path)
    assert isinstance(local, LocalTarget) and local.emulator_kind == "auto"
    aws = get_target(
        RunSettings(target="aws", emulator="external", endpoint="http://127.0.0.1:1"),
        run_dir=tmp_path,
    )
    assert isinstance(aws, AwsTarget)  # an endpoint the user runs: not a rehearsal


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"emulator": "moto"}, "ECS runs the tasks as containers: choose ministack or auto"),
        ({"emulator": "localstack"}, "choose ministack or auto"),
        ({"emulator": "ministack", "endpoint": "http://127.0.0.1:1"}, "drop --endpoint"),
    ],
)
def test_a_rehearsal_that_cannot_run_is_a_usage_error(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        RunSettings(target="aws", **kwargs)


def test_without_terraform_the_rehearsal_stops_before_anything_is_built(monkeypatch):
    monkeypatch.setattr(rehearsal, "docker_client", lambda timeout=60: _Closeable())
    monkeypatch.setattr(rehearsal, "terraform_ready", lambda: (False, "terraform is not on PATH"))
    with pytest.raises(
        InfrastructureError, match="applies Terraform through tflocal, but terraform is not on PATH"
    ):
        rehearsal.require_tools()


class _Closeable:
    def close(self) -> None:
        pass


def test_without_docker_the_cli_exits_3_with_one_line(tmp_path, monkeypatch):
    def no_engine(timeout: int = 60) -> Any:
        raise InfrastructureError(
            "no Docker engine answers: Error while fetching server API version: "
            "('Connection aborted.', FileNotFoundError(2, 'No such file or directory'))"
        )

    monkeypatch.setattr(rehearsal, "docker_client", no_engine)
    result = CliRunner().invoke(
        cli,
        [
            "run",
            "happy",
            "--target",
            "aws",
            "--emulator",
            "ministack",
            "--report-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 3, result.output
    errors = [line for line in result.output.splitlines() if "error" in line]
    assert errors == [
        "infrastructure error: the rehearsal needs Docker (MiniStack runs each ECS task as a "
        "container): no Docker engine answers: Error while fetching server API version: "
        "('Connection aborted.', FileNotFoundError(2, 'No such file or directory'))"
    ]


# -- finding `make local-up`'s environment -------------------------------------------------------


def test_local_up_is_reusable_only_as_a_ministack_with_terraform_applied(tmp_path, monkeypatch):
    state_dir = tmp_path / "state"
    env, why = rehearsal.reusable_local_up(state_dir, None)
    assert env is None and "not running" in why
    main_state = tmp_path / "main.tfstate"
    main_state.write_text(
        json.dumps({"outputs": {k: {"value": v} for k, v in MAIN_OUTPUTS.items()}})
    )
    monkeypatch.setattr(rehearsal, "answers", lambda url: True)
    monkeypatch.setattr(rehearsal, "main_answers", lambda outputs, endpoint: (True, "ok"))

    def up(emulator: str, main: str) -> None:
        write_state(state_dir, LocalState(emulator, "embedded", "http://127.0.0.1:4566", 4566,
                                          main_state=main))  # fmt: skip

    up("moto", str(main_state))
    assert "runs moto" in rehearsal.reusable_local_up(state_dir, None)[1]
    up("ministack", "")
    assert "did not apply terraform/" in rehearsal.reusable_local_up(state_dir, None)[1]
    up("ministack", str(main_state))
    assert "in us-west-1, not eu-west-1" in rehearsal.reusable_local_up(state_dir, "eu-west-1")[1]
    env, why = rehearsal.reusable_local_up(state_dir, None)
    assert env is not None and why == ""
    assert (env.endpoint, env.region, env.emulator) == ("http://127.0.0.1:4566", "us-west-1", None)
    monkeypatch.setattr(rehearsal, "main_answers", lambda o, e: (False, "QueueDoesNotExist"))
    assert "does not answer (QueueDoesNotExist)" in rehearsal.reusable_local_up(state_dir, None)[1]


# -- the image -------------------------------------------------------------------------------------


@pytest.fixture
def images(monkeypatch, tmp_path):
    present: set[str] = set()
    built: list[str] = []
    monkeypatch.setenv("SQSKIT_WHEELHOUSE", str(tmp_path / "wheelhouse"))
    monkeypatch.setenv("SQSKIT_CONSUMER_IMAGE", "sqs-kit-consumer:test")
    monkeypatch.setattr(rehearsal, "image_exists", lambda tag: tag in present)

    def build(cfg: Any, kind: str) -> float:
        built.append(cfg.image_tag(kind))
        return 3.5

    monkeypatch.setattr(rehearsal, "build_image", build)
    return present, built, tmp_path / "wheelhouse"


def test_the_image_is_built_from_this_checkout_when_it_can_be(images):
    present, built, wheelhouse = images
    (wheelhouse / "consumer").mkdir(parents=True)
    (wheelhouse / "consumer" / "requirements.txt").write_text("boto3==1\n")
    present.add("sqs-kit-base:trixie")
    tag, how = rehearsal.ensure_image(None)
    assert tag == "sqs-kit-consumer:test" and built == [tag] and "built" in how


def test_an_image_that_cannot_be_rebuilt_is_reused_and_none_at_all_is_an_error(images):
    present, built, _ = images
    with pytest.raises(InfrastructureError, match="run `make image` once"):
        rehearsal.ensure_image(None)
    present.add("sqs-kit-consumer:test")
    tag, how = rehearsal.ensure_image(None)
    assert (
        tag == "sqs-kit-consumer:test"
        and built == []
        and how.startswith("reused")
        and "make image" in how
    )
    with pytest.raises(InfrastructureError, match="not on the Docker engine"):
        rehearsal.ensure_image("mine:1")
    present.add("mine:1")
    assert rehearsal.ensure_image("mine:1") == ("mine:1", "given")


def test_a_private_environment_stops_its_emulator_and_removes_its_copy(tmp_path, monkeypatch):
    stopped: list[int] = []

    class Emu:
        port = 40123

        def stop(self) -> None:
            stopped.append(self.port)

    removed: list[int] = []

    def remove(port: int) -> int:
        removed.append(port)
        return 1

    monkeypatch.setattr(rehearsal, "remove_task_containers", remove)
    workdir = tmp_path / "copy"
    workdir.mkdir()
    env = Environment("http://127.0.0.1:40123", "us-east-1", {}, "started", Emu(), workdir)  # type: ignore[arg-type]
    env.close()
    env.close()  # twice is safe
    assert stopped == [40123] and removed == [40123] and not workdir.exists()
