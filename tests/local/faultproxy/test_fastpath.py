"""Building, loading and choosing the compiled fast path (local/faultproxy/fastpath.py)."""

from __future__ import annotations

import logging
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from local.faultproxy import FaultProxy, Plan, Recorder, fastpath
from local.faultproxy.errors import FaultProxyError
from local.faultproxy.fastpath import FastPathUnavailable

UPSTREAM = "http://127.0.0.1:9"  # never contacted: these proxies are not started


def _relay_only(**options: Any) -> FaultProxy:
    """A proxy that keeps no call records: the compiled path's kind."""
    return FaultProxy(UPSTREAM, recorder=Recorder(calls=False), **options)


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A process that never tried to load the library, with its own empty cache."""
    monkeypatch.setattr(fastpath, "_loaded", None)
    cache = tmp_path / "cache"
    monkeypatch.setenv(fastpath.ENV_CACHE, str(cache))
    monkeypatch.delenv(fastpath.ENV_MODE, raising=False)
    monkeypatch.delenv("CC", raising=False)
    return cache


def _fake_compiler(tmp_path: Path, script: str) -> Path:
    path = tmp_path / "fakecc"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.mark.unit
def test_an_unknown_mode_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(fastpath.ENV_MODE, "fast")
    with pytest.raises(FaultProxyError, match=r"SQSKIT_PROXY_FASTPATH='fast' .* auto, on, off"):
        _relay_only()
    with pytest.raises(FaultProxyError, match="SQSKIT_PROXY_FASTPATH='fast'"):
        FaultProxy(UPSTREAM, recorder=Recorder(calls=True))  # checked where unused, too


@pytest.mark.unit
def test_off_and_false_mean_python_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(fastpath.ENV_MODE, "off")
    assert _relay_only().engine == "python"
    monkeypatch.setenv(fastpath.ENV_MODE, "on")
    assert _relay_only(compiled=False).engine == "python"


@pytest.mark.unit
def test_without_a_compiler_auto_falls_back_once_with_a_warning_and_on_refuses(
    fresh: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    fastpath._say_unavailable.cache_clear()
    with caplog.at_level(logging.WARNING, logger="local.faultproxy.fastpath"):
        assert _relay_only().engine == "python"
        assert _relay_only().engine == "python"
    warned = [r for r in caplog.records if r.getMessage() == "faultproxy.fastpath_unavailable"]
    assert len(warned) == 1, "said once per reason, not per proxy"
    assert "no C compiler on PATH" in warned[0].__dict__["reason"]
    with pytest.raises(FastPathUnavailable, match="no C compiler on PATH"):
        _relay_only(compiled=True)
    monkeypatch.setenv(fastpath.ENV_MODE, "on")
    with pytest.raises(FastPathUnavailable, match="no C compiler on PATH"):
        _relay_only()


@pytest.mark.unit
def test_a_compiler_that_fails_is_named_with_its_error(
    fresh: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    compiler = _fake_compiler(tmp_path, "echo 'fastrelay.c:1: error: boom' >&2; exit 1")
    monkeypatch.setenv("CC", str(compiler))
    with pytest.raises(FastPathUnavailable, match=r"fakecc .* failed: fastrelay.c:1: error: boom"):
        fastpath.load()
    assert list(fresh.rglob("*")) == [fresh / "sqs-kit"], "no partial library is left behind"
    # the outcome is kept: the compiler is not run again by the next proxy
    compiler.unlink()
    with pytest.raises(FastPathUnavailable, match="boom"):
        fastpath.load()


@pytest.mark.unit
def test_a_cc_that_is_not_on_path_is_named(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC", "no-such-cc-here")
    with pytest.raises(FastPathUnavailable, match="CC='no-such-cc-here' is not on PATH"):
        fastpath.load()


@pytest.mark.integration
def test_the_library_is_built_once_into_the_cache_and_reused(
    require_compiled_relay: None, fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = fastpath.load()
    assert built.path.parent == fresh / "sqs-kit"
    assert built.path.name.startswith("fastrelay-")
    made = built.path.stat().st_mtime_ns
    # a new process (no library loaded yet) finds it there and does not compile
    monkeypatch.setattr(fastpath, "_loaded", None)
    assert fastpath.load().path == built.path
    assert built.path.stat().st_mtime_ns == made


@pytest.mark.integration
def test_an_unwritable_cache_builds_into_a_private_temporary_folder(
    require_compiled_relay: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(fastpath, "_loaded", None)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(fastpath.ENV_CACHE, str(blocker))
    library = fastpath.load()
    assert not library.path.is_relative_to(blocker)
    assert library.path.exists()


@pytest.mark.integration
def test_a_library_that_does_not_match_the_kit_is_refused(
    require_compiled_relay: None, fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fastpath, "_ABI", 2)
    with pytest.raises(FastPathUnavailable, match="does not match this kit"):
        fastpath.load()


@pytest.mark.integration
def test_the_c_source_compiles_without_a_warning(
    require_compiled_relay: None, tmp_path: Path
) -> None:
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    assert compiler is not None
    strict = ["-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC"]
    done = subprocess.run(
        [compiler, *strict, "-o", str(tmp_path / "x.so"), str(fastpath.SOURCE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.integration
def test_the_switch_is_on_only_without_rules_and_never_with_records(
    require_compiled_relay: None,
) -> None:
    rule = {"service": "sqs", "fault": "error_500"}
    proxy = FaultProxy(UPSTREAM, compiled=True, recorder=Recorder(calls=False))
    assert proxy.engine == "compiled"
    assert proxy._fast is not None and proxy._fast.on
    proxy.set_plan(Plan.from_dict({"rules": [rule]}))
    assert not proxy._fast.on
    proxy.set_plan(Plan())
    assert proxy._fast.on
    # a proxy that records calls never relays in C (nor builds the library for it)
    assert FaultProxy(UPSTREAM, compiled=True, recorder=Recorder(calls=True)).engine == "python"
