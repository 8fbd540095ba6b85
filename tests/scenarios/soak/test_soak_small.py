"""A small soak end to end: real consumers under chaos, an embedded MiniStack, every field."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from scenarios.soak.__main__ import soak

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_300_message_soak_reports_every_number_and_loses_nothing(tmp_path):
    out = CliRunner().invoke(
        soak, ["--count", "300", "--report-dir", str(tmp_path), "--json"], catch_exceptions=False
    )
    report = json.loads(out.stdout)
    failed = [c for c in report["checks"] if not c["passed"]]
    assert out.exit_code == 0, (report["status"], report.get("reason"), failed)
    s = report["soak"]
    # THEN nothing lost, nothing doubled, nothing left
    assert s["lost"] == 0 and s["doubled"] == 0 and s["unfinished"] == 0
    assert s["messages"] == 300 and s["consumers"] == 4
    assert s["distinct_ids"] + chaos_sent_twice(s) == 300
    # AND the chaos happened: kills, crashes, duplicate sends, poison dead-lettered
    chaos = s["chaos"]
    assert chaos["sigkills"] == 3 and chaos["crashes"] >= 3
    assert chaos["ids_sent_twice"] >= 1
    assert chaos["poison_sent"] == chaos["dead_lettered"] == 20
    # AND the numbers: throughput over time, latency percentiles, memory, the bound
    thr = s["throughput_msg_s"]
    assert thr["mean"] > 0 and thr["over_time"] and thr["peak"] >= thr["over_time"][1][1]
    lat = s["latency_ms"]
    assert 0 <= lat["p50"] <= lat["p95"] <= lat["p99"] and lat["samples"] > 0
    usage = s["usage"]
    assert usage["consumers"]["peak_rss_mb"] > 10
    assert usage["consumers"]["incarnations_measured"] >= 4
    assert usage["emulator"]["measured"] and usage["emulator"]["peak_rss_mb"] > 10
    assert len(usage["emulator"]["over_time"]) >= 2
    assert usage["engine"]["peak_rss_mb"] > 10 and usage["bound"]
    # AND the JSON and the PNG are in the report folder
    [run_dir] = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert json.loads((run_dir / "soak.json").read_text())["soak"]["lost"] == 0
    assert (run_dir / "soak.png").stat().st_size > 5000


def chaos_sent_twice(s):
    """Ids sent twice: each is one of the ``count`` sends that adds no distinct id."""
    return s["chaos"]["ids_sent_twice"]
