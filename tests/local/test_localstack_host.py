"""LocalStack on the host, part one: interpreter discovery and the cached install (pip faked)."""

from __future__ import annotations

import fcntl
import json
import os
import sys
from pathlib import Path

import pytest

from local.emulators import localstack_install as inst
from scenarios.errors import ConfigError, EmulatorUnavailable

PY312 = inst.Interpreter(Path("/opt/py/3.12/bin/python3"), (3, 12, 1))
PY313 = inst.Interpreter(Path("/opt/py/3.13/bin/python3"), (3, 13, 0))


# -- where the install lives ----------------------------------------------------------------------


@pytest.mark.unit
def test_install_home_default_xdg_and_override(tmp_path):
    version_dir = f"localstack-{inst.LOCALSTACK_VERSION}"
    assert inst.install_home({}) == Path.home() / ".cache" / "sqs-kit" / version_dir
    assert inst.install_home({"XDG_CACHE_HOME": str(tmp_path)}) == (
        tmp_path / "sqs-kit" / version_dir
    )
    given = {"XDG_CACHE_HOME": "/elsewhere", inst.HOME_ENV: str(tmp_path / "ls")}
    assert inst.install_home(given) == tmp_path / "ls"


# -- which Python ---------------------------------------------------------------------------------


def _pyenv(tmp_path: Path, *names: str) -> dict[str, str]:
    for name in names:
        (tmp_path / "versions" / name / "bin").mkdir(parents=True)
    return {"PYENV_ROOT": str(tmp_path)}


@pytest.mark.unit
def test_candidates_are_pyenv_312_plus_newest_first_then_path_then_ours(tmp_path):
    env = _pyenv(tmp_path, "3.11.7", "3.12.1", "3.13.0", "system")
    on_path = {"python3.13": "/usr/bin/python3.13", "python3": "/usr/bin/python3"}
    paths = inst.candidate_paths(env, which=on_path.get)
    versions = tmp_path / "versions"
    assert paths == [
        versions / "3.13.0" / "bin" / "python3",
        versions / "3.12.1" / "bin" / "python3",
        Path("/usr/bin/python3.13"),
        Path("/usr/bin/python3"),
        Path(sys.executable),
    ]


@pytest.mark.unit
def test_find_interpreter_prefers_the_verified_313_then_312_over_newer(tmp_path):
    found = {
        Path("/a/python3.14"): (3, 14, 0),
        Path("/a/python3.12"): (3, 12, 9),
        Path("/a/python3.13"): (3, 13, 1),
        Path("/a/python3.11"): (3, 11, 7),
    }
    on_path = {"python3.14": "/a/python3.14", "python3.13": "/a/python3.13"}
    on_path |= {"python3.12": "/a/python3.12", "python3": "/a/python3.11"}

    def probe(path):
        return inst.Interpreter(path, found[path]) if path in found else None

    env = {"PYENV_ROOT": str(tmp_path)}
    best = inst.find_interpreter(env, probe=probe, which=on_path.get)
    assert best == inst.Interpreter(Path("/a/python3.13"), (3, 13, 1))
    del found[Path("/a/python3.13")]
    assert inst.find_interpreter(env, probe=probe, which=on_path.get) == inst.Interpreter(
        Path("/a/python3.12"), (3, 12, 9)
    )
    del found[Path("/a/python3.12")]
    # an unverified newer one is still better than nothing
    assert inst.find_interpreter(env, probe=probe, which=on_path.get) == inst.Interpreter(
        Path("/a/python3.14"), (3, 14, 0)
    )


@pytest.mark.unit
def test_no_interpreter_at_312_or_newer_is_none_and_the_message_says_what_to_do(tmp_path):
    env = {"PYENV_ROOT": str(tmp_path)}

    def probe(path):
        return inst.Interpreter(path, (3, 11, 7))  # everything found is too old

    assert inst.find_interpreter(env, probe=probe, which=lambda name: None) is None
    message = inst.no_interpreter_message(env)
    assert "Python >= 3.12" in message and inst.PYTHON_ENV in message and "pyenv" in message


@pytest.mark.unit
def test_explicit_interpreter_is_used_or_rejected_by_name(tmp_path):
    def probe(path):
        return {"/ok": PY313, "/old": inst.Interpreter(Path("/old"), (3, 11, 0))}.get(str(path))

    assert inst.find_interpreter({inst.PYTHON_ENV: "/ok"}, probe=probe) is PY313
    with pytest.raises(ConfigError, match=rf"{inst.PYTHON_ENV}='/old' is Python 3\.11.*>= 3\.12"):
        inst.find_interpreter({inst.PYTHON_ENV: "/old"}, probe=probe)
    with pytest.raises(ConfigError, match=rf"{inst.PYTHON_ENV}='/nope' does not run"):
        inst.find_interpreter({inst.PYTHON_ENV: "/nope"}, probe=probe)


# -- the install commands, the marker and the lock ------------------------------------------------


@pytest.mark.unit
def test_install_commands_make_a_venv_then_pip_install_the_pins_into_it(tmp_path):
    venv_step, pip_step = inst.install_commands(tmp_path, PY313)
    assert venv_step == [str(PY313.path), "-m", "venv", str(tmp_path / "venv")]
    assert pip_step[:4] == [str(tmp_path / "venv" / "bin" / "python"), "-m", "pip", "install"]
    assert pip_step[-len(inst.REQUIREMENTS) :] == list(inst.REQUIREMENTS)
    assert "localstack-core[runtime]==2026.3.0" in pip_step
    assert {"cbor2<5.7", "pyopenssl<24.3", "cryptography<44", "service_identity"} <= set(pip_step)


class FakePip:
    """Stands in for `python -m venv` and pip: records the steps, makes the venv's python."""

    def __init__(self, fail_step: str | None = None) -> None:
        self.steps: list[list[str]] = []
        self.fail_step = fail_step

    def __call__(self, argv, logfile, progress) -> int:
        self.steps.append(argv)
        step = argv[2]  # "venv" or "pip"
        logfile.write(f"fake {step}\n")
        if step == self.fail_step:
            logfile.write("ERROR: No matching distribution found\n")
            return 1
        if step == "venv":
            python = Path(argv[3]) / "bin" / "python"
            python.parent.mkdir(parents=True)
            python.write_text("#!/bin/sh\n")
            python.chmod(0o755)
        return 0


def _install(home: Path, runner: FakePip, lines: list[str] | None = None, **kw):
    sink = lines if lines is not None else []
    return inst.ensure_installed(
        home, why="no image here", progress=sink.append, interpreter=PY313, runner=runner, **kw
    )


@pytest.mark.unit
def test_first_install_explains_itself_and_writes_the_marker_last(tmp_path):
    home = tmp_path / "ls"
    pip, lines = FakePip(), list[str]()
    got = _install(home, pip, lines)
    assert [s[2] for s in pip.steps] == ["venv", "pip"]
    assert got == inst.Installation(home, home / "venv" / "bin" / "python")
    assert inst.is_installed(home)
    marker = inst.read_marker(home)
    assert marker is not None
    assert marker["requirements"] == list(inst.REQUIREMENTS)
    assert marker["python"] == str(PY313.path)
    # one line says what is happening and why, before any work
    assert lines[0].startswith("no image here; installing localstack-core 2026.3.0 (Apache-2.0)")
    assert str(home) in lines[0] and "once" in lines[0]
    assert "fake pip" in (home / inst.LOG_NAME).read_text()


@pytest.mark.unit
def test_a_cached_install_runs_nothing(tmp_path):
    home = tmp_path / "ls"
    _install(home, FakePip())
    again, lines = FakePip(), list[str]()
    _install(home, again, lines)
    assert again.steps == [] and lines == []


@pytest.mark.unit
def test_a_half_install_without_marker_is_removed_and_redone(tmp_path):
    # GIVEN a venv left by an interrupted install (no marker)
    home = tmp_path / "ls"
    (home / "venv" / "bin").mkdir(parents=True)
    leftover = home / "venv" / "half-written.whl"
    leftover.write_text("x")
    assert not inst.is_installed(home)
    # WHEN installing
    pip = FakePip()
    _install(home, pip)
    # THEN it started from nothing
    assert not leftover.exists()
    assert [s[2] for s in pip.steps] == ["venv", "pip"]
    assert inst.is_installed(home)


@pytest.mark.unit
def test_a_failed_pip_leaves_no_marker_and_is_redone_next_time(tmp_path):
    home = tmp_path / "ls"
    with pytest.raises(EmulatorUnavailable, match=r"pip .*exited with 1[\s\S]*No matching"):
        _install(home, FakePip(fail_step="pip"))
    assert not (home / inst.MARKER_NAME).exists()
    assert not inst.is_installed(home)
    pip = FakePip()
    _install(home, pip)
    assert [s[2] for s in pip.steps] == ["venv", "pip"]


@pytest.mark.unit
def test_a_marker_for_other_requirements_or_a_missing_python_means_not_installed(tmp_path):
    home = tmp_path / "ls"
    _install(home, FakePip())
    marker = inst.read_marker(home)
    assert marker is not None
    (home / inst.MARKER_NAME).write_text(json.dumps({**marker, "requirements": ["old==1"]}))
    assert not inst.is_installed(home)
    pip = FakePip()
    _install(home, pip)
    assert len(pip.steps) == 2 and inst.is_installed(home)
    (home / "venv" / "bin" / "python").unlink()
    assert not inst.is_installed(home)


@pytest.mark.unit
def test_no_interpreter_is_a_clear_error_and_installs_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(inst, "find_interpreter", lambda env=None: None)
    pip = FakePip()
    with pytest.raises(EmulatorUnavailable, match=r"needs a Python >= 3\.12"):
        inst.ensure_installed(tmp_path / "ls", progress=lambda line: None, runner=pip)
    assert pip.steps == []


@pytest.mark.unit
def test_the_lock_times_out_naming_the_lock_file_and_tells_once_that_it_waits(tmp_path):
    home = tmp_path / "ls"
    home.mkdir()
    waits: list[str] = []
    with open(home / inst.LOCK_NAME, "a+") as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)
        with (
            pytest.raises(EmulatorUnavailable, match=r"install\.lock"),
            inst.install_lock(home, timeout=0.3, on_wait=waits.append, poll_s=0.01),
        ):
            pass
    assert len(waits) == 1 and "waiting" in waits[0]
    with inst.install_lock(home, timeout=0.3):  # free again
        pass


@pytest.mark.unit
def test_a_run_that_waited_for_the_lock_reuses_the_other_runs_install(tmp_path):
    # GIVEN another run holds the lock while it installs
    home = tmp_path / "ls"
    home.mkdir()
    other = open(home / inst.LOCK_NAME, "a+")  # noqa: SIM115 - released in the callback
    fcntl.flock(other.fileno(), fcntl.LOCK_EX)

    def other_run_finishes(line: str) -> None:
        # called when we start waiting: the other run completes its install and unlocks
        with open(os.devnull, "w") as devnull:
            FakePip()(inst.install_commands(home, PY313)[0], devnull, print)
        inst.write_marker(home, PY313, 1.0)
        fcntl.flock(other.fileno(), fcntl.LOCK_UN)
        other.close()

    # WHEN we install
    pip = FakePip()
    inst.ensure_installed(home, progress=other_run_finishes, interpreter=PY313, runner=pip)
    # THEN we did not install a second time
    assert pip.steps == []
    assert inst.is_installed(home)


# -- running pip: output to the log, periodic progress, a deadline ---------------------------------


@pytest.mark.integration
def test_run_step_logs_every_line_and_reports_progress_while_the_step_is_silent(tmp_path):
    # The child prints, then stays silent until the test has seen a progress line about it.
    seen = tmp_path / "seen"
    code = (
        "import os, sys, time\n"
        "print('Collecting localstack-core', flush=True)\n"
        f"deadline = time.monotonic() + 60\n"
        f"while not os.path.exists({str(seen)!r}) and time.monotonic() < deadline:\n"
        "    time.sleep(0.02)\n"
        "print('Successfully installed', flush=True)\n"
        "sys.exit(0 if os.path.exists(" + repr(str(seen)) + ") else 9)\n"
    )
    lines: list[str] = []

    def progress(line: str) -> None:
        lines.append(line)
        if "Collecting localstack-core" in line:
            seen.touch()

    with open(tmp_path / "install.log", "w") as logfile:
        code_out = inst.run_step([sys.executable, "-c", code], logfile, progress, every_s=0.05)
    assert code_out == 0
    assert any(line.endswith("Collecting localstack-core") for line in lines)
    log = (tmp_path / "install.log").read_text()
    assert "Collecting localstack-core" in log and "Successfully installed" in log


@pytest.mark.integration
def test_run_step_kills_a_step_past_its_deadline(tmp_path):
    with open(tmp_path / "install.log", "w") as logfile:
        code = inst.run_step(
            [sys.executable, "-c", "import time; time.sleep(120)"],
            logfile,
            lambda line: None,
            every_s=0.05,
            timeout=0.5,
        )
    assert code != 0
    assert "killed after" in (tmp_path / "install.log").read_text()
