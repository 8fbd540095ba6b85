"""A warm spare (``SQSKIT_WARM_START``): imports first, then its environment and logs from stdin."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from consumer.contract import ENV_CONCURRENCY, ENV_QUEUE_URL, ENV_WARM_START, EXIT_CONFIG, EXIT_OK

pytestmark = pytest.mark.integration  # real processes (no emulator)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _spare() -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "PYTHONPATH")}
    return subprocess.Popen(
        [sys.executable, "-m", "consumer"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**env, ENV_WARM_START: "1", "SQSKIT_ENV_FILE": os.devnull},
        cwd=ROOT,
    )


def test_a_spare_runs_with_the_environment_and_log_files_it_is_handed(tmp_path):
    # GIVEN a spare, and an environment whose CONCURRENCY is invalid (the config error proves
    # the consumer read this environment, not the one it was started with)
    spare = _spare()
    out, err = tmp_path / "c.log", tmp_path / "c.err"
    env = {
        ENV_QUEUE_URL: "http://127.0.0.1:9/000000000000/q",
        ENV_CONCURRENCY: "lots",
        "PATH": os.environ.get("PATH", ""),
    }
    line = json.dumps({"env": env, "stdout": str(out), "stderr": str(err)}) + "\n"
    # WHEN it is handed its incarnation
    stdout, stderr = spare.communicate(line.encode(), timeout=60)
    # THEN it exits with the configuration error, written to the incarnation's .err file only
    assert spare.returncode == EXIT_CONFIG
    assert "CONCURRENCY" in err.read_text()
    assert stdout == b"" and stderr == b""


def test_a_spare_that_is_never_handed_an_incarnation_exits_0_silently():
    spare = _spare()
    stdout, stderr = spare.communicate(b"", timeout=60)
    assert spare.returncode == EXIT_OK
    assert stdout == b"" and stderr == b""
