"""``HANDLER``: a user's handler run inside the kit's worker, named ``package.module:function``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from consumer import Message, WorkerConfig
from consumer.__main__ import load_handler, with_simulated_work
from consumer.contract import handler_spec_problem
from consumer.errors import ConfigError

pytestmark = pytest.mark.unit

URL = "http://127.0.0.1:1/000000000000/q"


@pytest.fixture
def package(tmp_path: Path) -> Iterator[Path]:
    """A directory holding ``userpkg`` (importable only through HANDLER_PATH); cleaned up."""
    pkg = tmp_path / "userpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "good.py").write_text(
        "CALLS = []\nNOT_A_FUNCTION = 3\n\ndef handle(message):\n    CALLS.append(message)\n"
    )
    (pkg / "broken.py").write_text("raise RuntimeError('needs QUEUE_URL at import')\n")
    yield tmp_path
    for name in [m for m in sys.modules if m == "userpkg" or m.startswith("userpkg.")]:
        del sys.modules[name]
    while str(tmp_path) in sys.path:
        sys.path.remove(str(tmp_path))


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("examples.idempotent_python.handler:handle", None),
        ("pkg.mod:Class.method", None),
        ("pkg.mod", "use package.module:function"),
        ("pkg.mod:", "use package.module:function"),
        (":handle", "use package.module:function"),
        ("pkg-x.mod:handle", "'pkg-x' is not a Python identifier"),
        ("pkg.mod:handle()", "'handle()' is not a Python identifier"),
    ],
)
def test_the_handler_syntax_rule(spec: str, problem: str | None) -> None:
    found = handler_spec_problem(spec)
    assert found == problem if problem is None else problem in str(found)


def test_a_malformed_handler_is_a_one_line_config_error() -> None:
    with pytest.raises(ConfigError, match=r"HANDLER='nocolon' is invalid: use package"):
        WorkerConfig.from_env({"QUEUE_URL": URL, "HANDLER": "nocolon"})
    config = WorkerConfig.from_env({"QUEUE_URL": URL, "HANDLER": "a.b:c", "HANDLER_PATH": "/x"})
    assert (config.handler, config.handler_path) == ("a.b:c", "/x")


def test_a_handler_is_loaded_from_handler_path(package: Path) -> None:
    handler = load_handler("userpkg.good:handle", str(package))
    assert sys.path[-1] == str(package)  # appended: a user package never shadows the kit
    handler("m")  # type: ignore[arg-type]
    assert sys.modules["userpkg.good"].CALLS == ["m"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("userpkg.missing:handle", "cannot import 'userpkg.missing'"),
        ("nowhere_at_all.mod:handle", "cannot import 'nowhere_at_all.mod'"),
        ("userpkg.broken:handle", "importing 'userpkg.broken' failed: RuntimeError: needs"),
        ("userpkg.good:nothing", "'userpkg.good' has no attribute 'nothing'"),
        ("userpkg.good:NOT_A_FUNCTION", "'NOT_A_FUNCTION' is a int, not a function"),
    ],
)
def test_a_handler_that_cannot_be_loaded_names_why_in_one_line(
    package: Path, spec: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_handler(spec, str(package))
    assert str(err.value).startswith(f"HANDLER={spec}: ")
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_the_scenario_work_time_passes_before_the_handler_runs() -> None:
    # GIVEN a worker told to spend 0.5 s per message, and a user's handler
    config = WorkerConfig.from_env(
        {"QUEUE_URL": URL, "SLEEP_MIN_SECONDS": "0.5", "SLEEP_MAX_SECONDS": "0.5"}
    )
    order: list[str] = []
    run = with_simulated_work(
        config,
        lambda m: order.append(f"handle {m.message_id}"),
        sleep=lambda s: order.append(f"sleep {s}"),
    )
    # WHEN a message is handled
    run(Message(message_id="m1", sqs_message_id="s1", body={}, receive_count=1, sequence=1))
    # THEN the work time passed first, then the handler ran (and nothing else wrote an effect)
    assert order == ["sleep 0.5", "handle m1"]
