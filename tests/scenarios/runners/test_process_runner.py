"""The process runner with a stand-in consumer: events, restarts, signals and no orphans."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from scenarios.model import ConsumerSettings, RestartPolicy
from scenarios.runners.process import ProcessRunner

pytestmark = pytest.mark.integration

# A stand-in for `python -m consumer`: logs JSON events, then exits or sleeps as told.
FAKE = r"""
import json, os, sys, time, signal
cid = os.environ["CONSUMER_ID"]
def say(event, **kw):
    print(json.dumps({"event": event, "consumer_id": cid, **kw}), flush=True)
def on_term(*_):
    say("consumer.stopped", reason="drain"); sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
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


def test_a_clean_exit_is_not_restarted(runner):
    [handle] = runner.start(1, restart=RestartPolicy.ON_FAILURE)
    assert runner.wait_all(timeout=20)
    assert [i.exit_code for i in handle.incarnations] == [0]
