"""The process runner with a stand-in consumer: events, restarts, signals and no orphans."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from scenarios.model import ConsumerSettings, RestartPolicy
from scenarios.runners import process
from scenarios.runners.process import ProcessRunner

pytestmark = pytest.mark.integration

# A stand-in for `python -m consumer`: logs JSON events, then exits or sleeps as told.
FAKE = r"""
import json, os, sys, time, signal
cid = os.environ["CONSUMER_ID"]
def say(event, **kw):
    print(json.dumps({"event": event, "consumer_id": cid, **kw}), flush=True)
def on_term(signum, _):
    say("consumer.stopped", reason="drain", signal=signal.Signals(signum).name); sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGUSR1, on_term)
if not os.environ.get("NOT_STARTED"):  # a consumer still starting has not said so yet
    say("consumer.started", seed=os.environ.get("CHAOS_SEED"))
print("not json, ignored", flush=True)
say("message.received", message_id="m1")
marker = os.environ.get("CRASH_ONCE_FILE")
if marker and not os.path.exists(marker):
    open(marker, "w").close()
    say("consumer.crash", reason="test"); os._exit(3)
time.sleep(float(os.environ.get("SLEEP", "0")))
say("consumer.stopped", reason="idle")
"""


@pytest.fixture
def runner(tmp_path):
    r = ProcessRunner(tmp_path / "logs", command=[sys.executable, "-c", FAKE])
    yield r
    r.stop_all(timeout=2)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_crashed_consumer_is_restarted_and_events_are_collected(runner, tmp_path):
    # GIVEN a consumer that crashes (exit 3) on its first run only
    [handle] = runner.start(
        1, ConsumerSettings(chaos_seed=5), env={"CRASH_ONCE_FILE": str(tmp_path / "crashed")}
    )
    # WHEN the runner supervises it THEN a second incarnation runs and exits 0
    assert runner.wait_all(timeout=20)
    assert [i.exit_code for i in handle.incarnations] == [3, 0]
    ids = [i.consumer_id for i in handle.incarnations]
    assert len(set(ids)) == 2 and all(i.startswith("consumer-0-") for i in ids)
    events = runner.events()
    assert [e["event"] for e in events].count("consumer.crash") == 1
    assert {e["_incarnation"] for e in events} == set(ids)
    seeds = {e.get("seed") for e in events if e["event"] == "consumer.started"}
    assert len(seeds) == 2  # each incarnation draws its own chaos
    assert (tmp_path / "logs" / f"{ids[0]}.log").exists()


def test_sigkill_is_restarted_and_stop_all_leaves_no_orphan(runner):
    [handle] = runner.start(1, env={"SLEEP": "30"})
    deadline = time.monotonic() + 15
    while not any(e["event"] == "message.received" for e in runner.events(handle)):
        assert time.monotonic() < deadline, "the stand-in consumer never started"
        time.sleep(0.05)
    first = int(handle.current.native_id)
    runner.signal(handle, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while len(handle.incarnations) < 2:
        assert time.monotonic() < deadline, "the killed consumer was not replaced"
        time.sleep(0.05)
    assert handle.incarnations[0].exit_code == -signal.SIGKILL
    second = int(handle.current.native_id)
    while sum(e["event"] == "message.received" for e in runner.events(handle)) < 2:
        assert time.monotonic() < deadline, "the replacement never started"
        time.sleep(0.05)
    runner.stop_all(timeout=5)
    assert _gone(first) and _gone(second)
    assert handle.current.exit_code == 0  # the stand-in drained on SIGTERM


def _started(runner, handle) -> None:
    deadline = time.monotonic() + 15
    while not any(e["event"] == "message.received" for e in runner.events(handle)):
        assert time.monotonic() < deadline, "the stand-in consumer never started"
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("settled_signal", "settled", "started", "expected"),
    [
        (signal.SIGUSR1, True, True, "SIGUSR1"),  # the kit's consumer, after a settled phase
        (signal.SIGUSR1, False, True, "SIGTERM"),  # the kit's consumer, any other stop
        (None, True, True, "SIGTERM"),  # a consumer with no settled stop (a --consumer-cmd)
        (signal.SIGUSR1, True, False, "SIGTERM"),  # one still starting: no handler for it yet
    ],
)
def test_stop_all_sends_the_settled_stop_only_when_settled_and_known(
    runner, settled_signal, settled, started, expected
):
    runner.settled_stop_signal = settled_signal
    env = {"SLEEP": "30"} if started else {"SLEEP": "30", "NOT_STARTED": "1"}
    [handle] = runner.start(1, env=env)
    _started(runner, handle)
    runner.stop_all(timeout=5, settled=settled)
    assert handle.current.signals_sent == [expected]
    (stopped,) = [e for e in runner.events(handle) if e["event"] == "consumer.stopped"]
    assert stopped["signal"] == expected and handle.current.exit_code == 0


def test_only_the_kit_consumer_gets_the_settled_stop(tmp_path):
    from consumer.contract import SIGNAL_SETTLED_STOP
    from scenarios.runners import get_runner
    from scenarios.settings import PluggedConsumer

    kit = get_runner("process", log_dir=tmp_path)
    handler = get_runner("process", log_dir=tmp_path, plug=PluggedConsumer(handler="app:handle"))
    command = get_runner("process", log_dir=tmp_path, plug=PluggedConsumer(command=("./run",)))
    assert kit.settled_stop_signal == SIGNAL_SETTLED_STOP
    assert handler.settled_stop_signal == SIGNAL_SETTLED_STOP
    assert command.settled_stop_signal is None


def test_a_clean_exit_is_not_restarted(runner):
    [handle] = runner.start(1, restart=RestartPolicy.ON_FAILURE)
    assert runner.wait_all(timeout=20)
    assert [i.exit_code for i in handle.incarnations] == [0]


# The stand-in as a warm spare: it notes when it started, then takes its incarnation from stdin.
WARM_FAKE = r"""
import json, os, sys, time
began = time.time()
if os.environ.get("SQSKIT_WARM_START"):
    from consumer.__main__ import become
    if not become(sys.stdin.buffer):
        sys.exit(0)
cid = os.environ["CONSUMER_ID"]
print(json.dumps({"event": "consumer.started", "consumer_id": cid, "began": began}), flush=True)
time.sleep(float(os.environ.get("SLEEP", "0")))
print(json.dumps({"event": "consumer.stopped", "consumer_id": cid, "reason": "idle"}), flush=True)
"""


@pytest.fixture
def spares(monkeypatch):
    pool = process._Spares(2)
    monkeypatch.setattr(process, "_SPARES", pool)
    yield pool
    pool.close()


def _began(runner, handle) -> float:
    deadline = time.monotonic() + 20
    while True:
        started = [e for e in runner.events(handle) if e["event"] == "consumer.started"]
        if started:
            return float(started[-1]["began"])
        assert time.monotonic() < deadline, "the consumer never started"
        time.sleep(0.05)


def _warm_runner(tmp_path):
    return ProcessRunner(tmp_path / "logs", command=[sys.executable, "-c", WARM_FAKE], warm=True)


def test_the_kit_consumer_starts_from_a_spare_spawned_when_its_runner_was_made(tmp_path, spares):
    # GIVEN a warm runner: making it has spares spawned
    runner = _warm_runner(tmp_path)
    try:
        deadline = time.monotonic() + 30
        while sum(len(r) for r in spares._ready.values()) < 2:
            assert time.monotonic() < deadline, "no spare was spawned"
            time.sleep(0.05)
        waiting = {p.pid for ready in spares._ready.values() for p in ready}
        # WHEN a consumer starts
        [warm] = runner.start(1, env={"SLEEP": "5"})
        # THEN it is one of the spares, running with its own consumer id and writing to its
        # own log file
        assert int(warm.current.native_id) in waiting
        _began(runner, warm)
        log_file = tmp_path / "logs" / f"{warm.current.consumer_id}.log"
        assert warm.current.consumer_id in log_file.read_text()
        runner.stop_all(timeout=5)
        assert _gone(int(warm.current.native_id))
    finally:
        runner.stop_all(timeout=2)


def test_without_a_spare_the_consumer_starts_cold(tmp_path, monkeypatch):
    monkeypatch.setattr(process, "_SPARES", process._Spares(0))  # never any spare
    runner = _warm_runner(tmp_path)
    try:
        [cold] = runner.start(1)
        assert _began(runner, cold) >= cold.current.launched_at
        assert runner.wait_all(timeout=20) and cold.current.exit_code == 0
    finally:
        runner.stop_all(timeout=2)


def test_closing_the_spares_kills_every_spare(tmp_path, spares):
    key = ((sys.executable, "-c", WARM_FAKE), None)
    assert spares.take(key, {"PATH": os.environ.get("PATH", "")}) is None  # none ready yet
    deadline = time.monotonic() + 30
    while len(spares._ready.get(key, [])) < 2:
        assert time.monotonic() < deadline, "no spare was spawned"
        time.sleep(0.05)
    pids = [p.pid for p in spares._ready[key]]
    spares.close()
    assert all(_gone(pid) for pid in pids)


def test_only_the_kit_consumer_starts_warm(tmp_path, spares):
    assert ProcessRunner(tmp_path, command=[sys.executable, "-c", FAKE]).warm is False
    assert not spares._pending and not spares._ready
    assert ProcessRunner(tmp_path).warm is True
