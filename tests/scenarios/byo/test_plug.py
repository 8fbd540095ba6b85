"""Plugging in a user's consumer: the flags, their errors, and the runner each one gets."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from core.errors import ConfigError
from scenarios.cli import cli
from scenarios.runners import get_runner, plug_problem, resolve_runner
from scenarios.runners.process import ProcessRunner
from scenarios.settings import PluggedConsumer, RunSettings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
HANDLER = "examples.idempotent_python.handler:handle"


def plug(**flags: str | None) -> PluggedConsumer:
    given = {"handler": None, "consumer_cmd": None, "consumer_image": None, **flags}
    return PluggedConsumer.from_flags(**given)


def test_each_flag_plugs_in_one_kind_of_consumer() -> None:
    assert plug().kind == "kit" and not plug().external and plug().flag is None
    h = plug(handler=f" {HANDLER} ")
    assert (h.kind, h.handler, h.external) == ("handler", HANDLER, False)
    c = plug(consumer_cmd="node 'my dir/consumer.mjs' --fast")
    assert (c.kind, c.command, c.external) == (
        "command",
        ("node", "my dir/consumer.mjs", "--fast"),
        True,
    )
    assert c.describe() == "--consumer-cmd \"node 'my dir/consumer.mjs' --fast\""
    i = plug(consumer_image="me/consumer:dev")
    assert (i.kind, i.image, i.external, i.flag) == (
        "image",
        "me/consumer:dev",
        True,
        "--consumer-image",
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            {"handler": HANDLER, "consumer_cmd": "node c.mjs"},
            "--handler and --consumer-cmd are alternatives",
        ),
        ({"consumer_cmd": "x", "consumer_image": "y"}, "--consumer-cmd and --consumer-image are"),
        ({"handler": "examples.handler"}, "--handler 'examples.handler' is invalid: use package"),
        ({"handler": "my-pkg.mod:handle"}, "'my-pkg' is not a Python identifier"),
        ({"consumer_cmd": "  "}, "--consumer-cmd is empty"),
        ({"consumer_cmd": "node 'unclosed"}, '--consumer-cmd "node \'unclosed" is invalid'),
        ({"consumer_image": "my image"}, "--consumer-image 'my image' is invalid"),
    ],
)
def test_bad_plug_flags_are_one_line_usage_errors(flags: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        plug(**flags)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"consumer_cmd": "node c.mjs", "runner": "docker"}, "--consumer-cmd runs a process"),
        ({"consumer_cmd": "node c.mjs", "target": "aws"}, "--consumer-cmd starts processes"),
        ({"consumer_image": "me/c:1", "runner": "process"}, "--consumer-image runs a container"),
        ({"handler": HANDLER, "target": "aws"}, "--handler runs your code inside the kit's"),
    ],
)
def test_each_plug_names_the_runner_and_target_it_needs(settings: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RunSettings(**settings)


def test_an_image_is_accepted_by_the_aws_target_and_wins_over_the_image_tag() -> None:
    s = RunSettings(target="aws", consumer_image="me/c:1", image_tag="abc")
    assert s.plugged.image == "me/c:1"


def test_a_command_runs_as_processes_from_the_users_directory(tmp_path: Path) -> None:
    p = plug(consumer_cmd="python consumer.py")
    assert resolve_runner("auto", plug=p)[0] == "process"
    with pytest.raises(ConfigError, match="--consumer-cmd runs a process"):
        resolve_runner("docker", plug=p)
    runner = get_runner("process", log_dir=tmp_path / "logs", plug=p, cwd=tmp_path)
    assert isinstance(runner, ProcessRunner)
    assert runner.command == ["python", "consumer.py"] and runner.cwd == tmp_path
    # `python` in the command is the kit's interpreter: its directory comes first on PATH
    path = runner.child_env({})["PATH"].split(os.pathsep)
    assert path[0] == os.path.dirname(sys.executable)
    assert runner.extra_env == {}


def test_a_handler_runs_in_the_kits_worker_with_its_directory(tmp_path: Path) -> None:
    runner = get_runner("process", log_dir=tmp_path, plug=plug(handler=HANDLER), cwd=ROOT)
    assert isinstance(runner, ProcessRunner)
    assert runner.command[1:] == ["-P", "-m", "consumer"] and runner.cwd == ROOT
    assert runner.extra_env == {"HANDLER": HANDLER, "HANDLER_PATH": str(ROOT)}
    assert "PATH" not in runner.child_env({}) or runner.child_env({})["PATH"] == os.environ.get(
        "PATH"
    )


def test_an_image_never_runs_as_a_process() -> None:
    with pytest.raises(ConfigError, match="--consumer-image runs a container"):
        resolve_runner("process", plug=plug(consumer_image="me/c:1"))


def test_what_cannot_start_is_found_before_anything_is_created(tmp_path: Path) -> None:
    # GIVEN a directory with one script and one executable
    (tmp_path / "consumer.py").write_text("print('hi')\n")
    tool = tmp_path / "bin" / "run-me"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\n")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    ok = [
        plug(),
        plug(handler=HANDLER),
        plug(consumer_cmd="python consumer.py"),
        plug(consumer_cmd="bin/run-me --flag"),
        plug(consumer_image="anything:1"),
    ]
    assert [plug_problem(p, cwd=tmp_path if p.command else ROOT) for p in ok] == [None] * 5
    # THEN each broken one is named in one line
    broken = {
        "examples.nowhere.handler:handle": "no module 'examples.nowhere.handler' under",
        "json.nope.deeper:handle": "no module 'json.nope.deeper' under",
    }
    for spec, message in broken.items():
        problem = plug_problem(plug(handler=spec), cwd=ROOT)
        assert problem is not None and message in problem
    for cmd, message in {
        "nodee consumer.mjs": "'nodee' is not on PATH",
        "python consumr.py": "consumr.py does not exist",
        "bin/missing": "bin/missing is not an executable file",
    }.items():
        problem = plug_problem(plug(consumer_cmd=cmd), cwd=tmp_path)
        assert problem is not None and message in problem and "\n" not in problem


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--handler", HANDLER, "--consumer-cmd", "node c.mjs"], {}, "are alternatives"),
        (["--consumer-cmd", "node c.mjs", "--runner", "docker"], {}, "runs a process"),
        ([], {"SQSKIT_CONSUMER_CMD": "nodee consumer.mjs"}, "'nodee' is not on PATH"),
        ([], {"SQSKIT_HANDLER": "examples.nowhere:handle"}, "no module 'examples.nowhere'"),
        (["--runner", "process"], {"SQSKIT_PLUGGED_IMAGE": "me/c:1"}, "runs a container"),
    ],
)
def test_the_cli_refuses_a_consumer_that_cannot_run_before_anything_starts(
    runner: CliRunner, tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    out = runner.invoke(
        cli,
        [
            "run",
            "happy",
            "--emulator",
            "external",
            "--endpoint",
            "http://127.0.0.1:9",
            *args,
            "--report-dir",
            str(tmp_path),
        ],
        env=env,
    )
    assert out.exit_code == 2, out.output
    assert message in out.output
    assert not list(tmp_path.rglob("*.json"))  # nothing ran


def test_the_kits_image_tag_variable_never_plugs_in_a_consumer(
    runner: CliRunner, tmp_path: Path
) -> None:
    # SQSKIT_CONSUMER_IMAGE is the tag `make image` builds the kit's consumer under
    out = runner.invoke(
        cli,
        [
            "run",
            "happy",
            "--runner",
            "process",
            "--emulator",
            "external",
            "--endpoint",
            "http://127.0.0.1:9",
            "--report-dir",
            str(tmp_path),
        ],
        env={"SQSKIT_CONSUMER_IMAGE": "sqs-kit-consumer:dev", "SQSKIT_CONSUMER_CMD": "nodee x"},
    )
    assert out.exit_code == 2 and "'nodee' is not on PATH" in out.output


def test_run_help_lists_the_three_ways_and_their_variables(runner: CliRunner) -> None:
    out = runner.invoke(cli, ["run", "--help"], env={"COLUMNS": "200"})
    for text in (
        "--handler",
        "--consumer-cmd",
        "--consumer-image",
        "SQSKIT_HANDLER",
        "SQSKIT_CONSUMER_CMD",
        "SQSKIT_PLUGGED_IMAGE",
    ):
        assert text in out.output


def test_a_handler_whose_package_raises_on_import_is_named(tmp_path: Path) -> None:
    pkg = tmp_path / "brokenpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise RuntimeError('boom at import')\n")
    (pkg / "mod.py").write_text("def handle(m):\n    pass\n")
    try:
        problem = plug_problem(plug(handler="brokenpkg.mod:handle"), cwd=tmp_path)
    finally:
        sys.modules.pop("brokenpkg", None)
    assert problem is not None
    assert "cannot import 'brokenpkg.mod'" in problem and "boom at import" in problem
    assert str(tmp_path) not in sys.path  # the check leaves sys.path as it found it


def test_a_handler_never_runs_in_an_image_that_predates_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from scenarios import runners

    # GIVEN a consumer image whose worker knows nothing of HANDLER (built before it existed)
    stale = "image sqs-kit-consumer:local was built before --handler support: ..."
    monkeypatch.setattr(runners, "docker_runner_available", lambda image: (True, "engine 27"))
    monkeypatch.setattr(runners, "handler_image_problem", lambda image: stale)
    # THEN auto picks the process runner and says why; --runner docker is refused
    name, why = resolve_runner("auto", plug=plug(handler=HANDLER))
    assert name == "process" and why == f"no docker runner: {stale}"
    with pytest.raises(ConfigError, match=r"--handler with --runner docker: image .* built before"):
        resolve_runner("docker", plug=plug(handler=HANDLER))
    # AND the kit's own consumer is not held back by it (the probe is for handlers only)
    assert resolve_runner("auto")[0] == "docker"
    # AND an image that runs handlers is used
    monkeypatch.setattr(runners, "handler_image_problem", lambda image: None)
    assert resolve_runner("auto", plug=plug(handler=HANDLER))[0] == "docker"


def test_an_outside_consumer_is_refused_on_per_service_endpoints(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from core.aws import Endpoints
    from scenarios.targets import local

    class Split:
        endpoints = Endpoints("http://127.0.0.1:1", (("dynamodb", "http://127.0.0.1:2"),))
        emulator, reason, closed = SimpleNamespace(name="split"), "asked for", False

        def close(self) -> None:
            self.closed = True

    split = Split()
    monkeypatch.setattr(local, "select", lambda *a, **k: split)
    # GIVEN SQS and DynamoDB on two emulators, and a consumer watched through the pass-through
    target = local.LocalTarget(
        emulator="sqs=localstack,dynamodb=ministack",
        plug=plug(consumer_cmd="python examples/naive-python/consumer.py"),
        cwd=ROOT,
        log_root=tmp_path,
    )
    # THEN it is refused, naming the flag, and the emulators are stopped
    with pytest.raises(ConfigError, match="--consumer-cmd with per-service endpoints"):
        target.open()
    assert split.closed and target.selection is None
    # AND a --handler (the kit's worker, no pass-through) runs on them
    target = local.LocalTarget(emulator="x", plug=plug(handler=HANDLER), cwd=ROOT, runner="process")
    target.open()
    assert target.selection is split  # type: ignore[comparison-overlap]
