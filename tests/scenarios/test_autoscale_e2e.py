"""The autoscale scenario end to end: real consumers, scaled out and back in by the engine."""

from __future__ import annotations

import json

import pytest

from tests.scenarios.test_e2e import leftovers, run

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_autoscale_grows_and_shrinks_the_fleet_and_its_report_shows_it(emulator_endpoint, tmp_path):
    out = run(emulator_endpoint, tmp_path, "autoscale")
    report = json.loads(out.stdout)
    failed = [c for c in report["checks"] if not c["passed"]]
    assert out.exit_code == 0, (report["status"], report.get("reason"), failed)
    assert report["counts"]["lost"] == 0 and report["counts"]["unfinished"] == 0
    (phase,) = report["phases"]
    kinds = [f["kind"] for f in phase["faults"]]
    # THEN at least one scale-out and one scale-in, the fleet reached its maximum (4) ...
    assert "scale-out" in kinds and "scale-in" in kinds
    (timeline,) = report["timeline"]["phases"]
    running = [n for _, n in timeline["consumers"]]
    assert max(running) == 4
    # ... and was back at its minimum (1) after the scale-in, before the engine stopped it
    scale_in_at = max(m["t"] for m in timeline["markers"] if m["kind"] == "scale-in")
    assert 1 in [n for t, n in timeline["consumers"] if t > scale_in_at]
    # AND every consumer a scale-in stopped drained: SIGTERM, exit 0
    stopped = [c for c in phase["consumers"] if c["signals"] == ["SIGTERM"]]
    assert stopped and all(c["exit_code"] == 0 for c in stopped)
    assert timeline["throughput"] and max(r for _, r in timeline["throughput"]) > 0
    [run_dir] = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert (run_dir / "autoscale.png").stat().st_size > 5000
    assert leftovers(emulator_endpoint, run_dir) == []
