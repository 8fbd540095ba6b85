"""Install ``localstack-core`` on the host, once, into its own virtualenv on a Python >= 3.12.

Why on the host: LocalStack's image comes from a registry (none may be reachable) and, since
2026-03-23, ``localstack/localstack:latest`` needs ``LOCALSTACK_AUTH_TOKEN``. ``localstack-core``
2026.3.0, the last Apache-2.0 release, runs as a plain Python process without either.

The install is cached under ``${XDG_CACHE_HOME:-~/.cache}/sqs-kit/localstack-<version>``
(``SQSKIT_LOCALSTACK_HOME`` overrides it). A marker file is written only after pip succeeded,
so a half-finished install (Ctrl-C, full disk) is removed and redone on the next run. A lock
file keeps two runs from installing into the same directory at once; the second one waits,
then finds the marker and reuses the first one's work.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from core.errors import ConfigError, EmulatorUnavailable
from local.emulators.embedded import _die_with_parent

log = logging.getLogger(__name__)

LOCALSTACK_VERSION = "2026.3.0"
#: What pip installs. The four pins are the combination verified to install and start together
#: on Python 3.12/3.13 here (issue 18); newer releases of them break 2026.3.0's runtime extra.
REQUIREMENTS: tuple[str, ...] = (
    f"localstack-core[runtime]=={LOCALSTACK_VERSION}",
    "cbor2<5.7",
    "pyopenssl<24.3",
    "cryptography<44",
    "service_identity",
)
#: The package declares >= 3.10, but only 3.12 and 3.13 were verified with the pins above.
MIN_PYTHON = (3, 12)
VERIFIED_PYTHONS = ((3, 13), (3, 12))

HOME_ENV = "SQSKIT_LOCALSTACK_HOME"
PYTHON_ENV = "SQSKIT_LOCALSTACK_PYTHON"

MARKER_NAME = "installed.json"
LOCK_NAME = "install.lock"
LOG_NAME = "install.log"
VENV_NAME = "venv"

INSTALL_TIMEOUT_S = 1800.0  # a cold install takes ~1.5 min here; pip has its own network timeout
LOCK_TIMEOUT_S = 1800.0  # how long to wait for another run's install
PROGRESS_EVERY_S = 10.0
_PROBE_TIMEOUT_S = 20.0
_LOG_TAIL_CHARS = 2000
_VERSION_DIR = re.compile(r"^(\d+)\.(\d+)")

#: Receives one human-readable line at a time (the explanation, then periodic progress).
Progress = Callable[[str], None]


def log_progress(line: str) -> None:
    """The default progress sink: a WARNING, so the CLIs' default level shows a minutes-long
    one-off install instead of hanging silently."""
    log.warning("localstack.install.progress: %s", line)


@dataclass(frozen=True)
class Interpreter:
    """A Python found on the machine that can create a virtualenv."""

    path: Path
    version: tuple[int, int, int]

    @property
    def short_version(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"


@dataclass(frozen=True)
class Installation:
    """A finished install: the virtualenv's interpreter runs ``localstack.runtime.main``."""

    home: Path
    python: Path
    version: str = LOCALSTACK_VERSION


# -- where ----------------------------------------------------------------------------------------


def install_home(env: Mapping[str, str] | None = None) -> Path:
    """``SQSKIT_LOCALSTACK_HOME``, else ``${XDG_CACHE_HOME:-~/.cache}/sqs-kit/localstack-<v>``."""
    env = os.environ if env is None else env
    given = env.get(HOME_ENV, "").strip()
    if given:
        return Path(given).expanduser()
    cache = env.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "sqs-kit" / f"localstack-{LOCALSTACK_VERSION}"


def venv_python(home: Path) -> Path:
    return home / VENV_NAME / "bin" / "python"


# -- which Python ---------------------------------------------------------------------------------

_PROBE_CODE = (
    "import sys, venv, ensurepip; print('%d.%d.%d' % sys.version_info[:3])"  # ensurepip: venv+pip
)


def probe_interpreter(path: Path) -> Interpreter | None:
    """The interpreter at ``path`` when it runs and can build a virtualenv with pip, else None."""
    try:
        proc = subprocess.run(
            [str(path), "-c", _PROBE_CODE],
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    try:
        major, minor, micro = (int(p) for p in proc.stdout.strip().split("."))
    except ValueError:
        return None
    return Interpreter(path, (major, minor, micro))


def candidate_paths(
    env: Mapping[str, str] | None = None,
    *,
    which: Callable[[str], str | None] = shutil.which,
) -> list[Path]:
    """Where a Python >= 3.12 may be: pyenv's versions, then ``python3.1x`` on PATH, then ours."""
    env = os.environ if env is None else env
    found: list[Path] = []
    pyenv_root = Path(env.get("PYENV_ROOT", "").strip() or Path.home() / ".pyenv")
    versions = pyenv_root / "versions"
    if versions.is_dir():
        for entry in sorted(versions.iterdir(), key=lambda p: p.name, reverse=True):
            match = _VERSION_DIR.match(entry.name)
            if match and (int(match[1]), int(match[2])) >= MIN_PYTHON:
                found.append(entry / "bin" / "python3")
    for name in ("python3.14", "python3.13", "python3.12", "python3"):
        hit = which(name)
        if hit:
            found.append(Path(hit))
    found.append(Path(sys.executable))
    unique: list[Path] = []
    for path in found:
        if path not in unique:
            unique.append(path)
    return unique


def _rank(interp: Interpreter) -> tuple[int, tuple[int, int, int]]:
    # The verified minors first (3.13 before 3.12), then newer unverified ones, oldest first.
    minor = interp.version[:2]
    if minor in VERIFIED_PYTHONS:
        return VERIFIED_PYTHONS.index(minor), (0, 0, 0)
    return len(VERIFIED_PYTHONS), interp.version


def find_interpreter(
    env: Mapping[str, str] | None = None,
    *,
    probe: Callable[[Path], Interpreter | None] = probe_interpreter,
    which: Callable[[str], str | None] = shutil.which,
) -> Interpreter | None:
    """The best Python >= 3.12 on this machine, or None.

    ``SQSKIT_LOCALSTACK_PYTHON`` names one explicitly; a bad one is a ``ConfigError``.
    """
    env = os.environ if env is None else env
    explicit = env.get(PYTHON_ENV, "").strip()
    if explicit:
        interp = probe(Path(explicit))
        if interp is None or interp.version[:2] < MIN_PYTHON:
            got = (
                "does not run or cannot create a virtualenv"
                if interp is None
                else (f"is Python {interp.short_version}")
            )
            raise ConfigError(
                f"{PYTHON_ENV}={explicit!r} {got}: it must be a Python >= "
                f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]} with venv and ensurepip"
            )
        return interp
    usable = [
        interp
        for interp in (probe(path) for path in candidate_paths(env, which=which))
        if interp is not None and interp.version[:2] >= MIN_PYTHON
    ]
    return min(usable, key=_rank) if usable else None


def no_interpreter_message(env: Mapping[str, str] | None = None) -> str:
    """Why the host backend cannot run, and what to do about it."""
    tried = ", ".join(str(p) for p in candidate_paths(env))
    need = f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]}"
    return (
        f"LocalStack on the host needs a Python >= {need} with venv (localstack-core "
        f"{LOCALSTACK_VERSION} with its pins is verified on 3.12 and 3.13); none found among: "
        f"{tried}. Install one (`pyenv install 3.13`, or your distribution's python3.13 with "
        f"its venv package) and point {PYTHON_ENV} at it if it is elsewhere; or make the "
        "LocalStack image available to Docker"
    )


# -- marker and lock ------------------------------------------------------------------------------


def install_commands(home: Path, interpreter: Interpreter) -> list[list[str]]:
    """The two steps of an install: create the virtualenv, then pip install the pins into it."""
    return [
        [str(interpreter.path), "-m", "venv", str(home / VENV_NAME)],
        [
            str(venv_python(home)),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--progress-bar",
            "off",
            *REQUIREMENTS,
        ],
    ]


def read_marker(home: Path) -> dict[str, object] | None:
    try:
        data = json.loads((home / MARKER_NAME).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_installed(home: Path) -> bool:
    """True when a finished install of exactly these requirements is at ``home``."""
    marker = read_marker(home)
    return (
        marker is not None
        and marker.get("requirements") == list(REQUIREMENTS)
        and os.access(venv_python(home), os.X_OK)
    )


def write_marker(home: Path, interpreter: Interpreter, seconds: float) -> None:
    """Written last, atomically: its presence means pip finished."""
    body = {
        "version": LOCALSTACK_VERSION,
        "requirements": list(REQUIREMENTS),
        "python": str(interpreter.path),
        "python_version": ".".join(map(str, interpreter.version)),
        "install_seconds": round(seconds, 1),
        "installed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    tmp = home / (MARKER_NAME + ".tmp")
    tmp.write_text(json.dumps(body, indent=2) + "\n")
    os.replace(tmp, home / MARKER_NAME)


@contextlib.contextmanager
def install_lock(
    home: Path,
    *,
    timeout: float = LOCK_TIMEOUT_S,
    on_wait: Progress | None = None,
    poll_s: float = 0.2,
) -> Iterator[None]:
    """Hold ``home/install.lock`` exclusively; waits up to ``timeout`` s for another holder."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / LOCK_NAME
    with open(path, "a+") as handle:
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise EmulatorUnavailable(
                        f"another run has held {path} for more than {timeout:.0f} s while "
                        "installing LocalStack; wait for it, or remove the directory "
                        f"{home} when no install is running"
                    ) from None
                if not told and on_wait is not None:
                    on_wait(f"another run is installing LocalStack into {home}; waiting for it")
                    told = True
                time.sleep(poll_s)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# -- running pip ----------------------------------------------------------------------------------


#: Runs one install step: argv, the log to append to, the progress sink; returns the exit code.
StepRunner = Callable[[list[str], IO[str], Progress], int]


def run_step(
    argv: list[str],
    logfile: IO[str],
    progress: Progress,
    *,
    every_s: float = PROGRESS_EVERY_S,
    timeout: float = INSTALL_TIMEOUT_S,
) -> int:
    """Run ``argv``, every output line to ``logfile``; each ``every_s`` tell ``progress`` the
    elapsed time and the latest line (pip is silent for half a minute while it installs).
    Killed after ``timeout`` s; returns the exit code."""
    started = time.monotonic()
    logfile.write(f"$ {' '.join(argv)}\n")
    logfile.flush()
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        # A pip outliving a kill -9 of ours would still be writing when the next run redoes
        # the install it left without a marker.
        preexec_fn=_die_with_parent,  # noqa: PLW1509
    )
    label = argv[2] if argv[1:2] == ["-m"] else Path(argv[0]).name  # "venv", "pip"
    latest = [""]
    done = threading.Event()

    def tick() -> None:
        while not done.wait(every_s):
            elapsed = time.monotonic() - started
            if elapsed >= timeout:
                logfile.write(f"killed after {timeout:.0f} s\n")
                proc.kill()
                return
            progress(f"{elapsed:.0f} s, {label}: {latest[0][:100]}")

    ticker = threading.Thread(target=tick, name="localstack-install-progress", daemon=True)
    ticker.start()
    try:
        for line in proc.stdout or ():
            logfile.write(line)
            logfile.flush()
            if line.strip():
                latest[0] = line.strip()
        return proc.wait()
    finally:
        done.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        ticker.join()


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-_LOG_TAIL_CHARS:]
    except OSError:
        return ""


# -- the entry point ------------------------------------------------------------------------------


def ensure_installed(
    home: Path | None = None,
    *,
    why: str = "LocalStack's image is not available here",
    progress: Progress | None = None,
    env: Mapping[str, str] | None = None,
    interpreter: Interpreter | None = None,
    runner: StepRunner = run_step,
    lock_timeout: float = LOCK_TIMEOUT_S,
) -> Installation:
    """Return the cached install at ``home``, installing it first when it is missing or broken.

    ``why`` starts the one line that tells the user what is happening; ``progress`` receives
    that line and the periodic ones (default: a WARNING log). Raises ``EmulatorUnavailable``
    when no Python >= 3.12 exists or pip fails (with the tail of ``install.log``).
    """
    home = install_home(env) if home is None else home
    if is_installed(home):
        return Installation(home, venv_python(home))
    say = progress or log_progress
    with install_lock(home, timeout=lock_timeout, on_wait=say):
        if is_installed(home):  # another run finished it while we waited
            return Installation(home, venv_python(home))
        interp = interpreter or find_interpreter(env)
        if interp is None:
            raise EmulatorUnavailable(no_interpreter_message(env))
        # Whatever is here without a marker is a half-install: start again from nothing.
        (home / MARKER_NAME).unlink(missing_ok=True)
        shutil.rmtree(home / VENV_NAME, ignore_errors=True)
        say(
            f"{why}; installing localstack-core {LOCALSTACK_VERSION} (Apache-2.0) into {home} "
            f"with Python {interp.short_version}, once (about 1-2 min; later runs reuse it)"
        )
        log.info(
            "localstack.install.started",
            extra={"home": str(home), "python": str(interp.path), "requirements": REQUIREMENTS},
        )
        started = time.monotonic()
        log_path = home / LOG_NAME
        with open(log_path, "w") as logfile:
            for argv in install_commands(home, interp):
                code = runner(argv, logfile, say)
                if code != 0:
                    logfile.flush()
                    raise EmulatorUnavailable(
                        f"installing LocalStack failed: `{' '.join(argv[:4])} ...` exited with "
                        f"{code}; it is redone on the next run. Log {log_path}:\n"
                        f"{_tail(log_path)}".rstrip()
                    )
        seconds = time.monotonic() - started
        write_marker(home, interp, seconds)
        say(f"localstack-core {LOCALSTACK_VERSION} installed in {seconds:.0f} s")
        log.info(
            "localstack.install.finished", extra={"home": str(home), "seconds": round(seconds, 1)}
        )
        return Installation(home, venv_python(home))
