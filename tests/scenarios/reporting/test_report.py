"""Reports: the stable JSON schema, write/load round trip, terminal rendering and the PNG."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace

import pytest

from core.errors import ConfigError, InfrastructureError
from scenarios.judging.facts import ConsumerRun
from scenarios.judging.metrics import latency, percentile
from scenarios.judging.oracle import check_settled, judge
from scenarios.reporting import console, document
from scenarios.reporting.png import BackgroundRenderer
from scenarios.running.phase import PhaseResult
from scenarios.running.scenario import ScenarioResult, Status
from scenarios.running.traffic import SendOutcome
from tests.scenarios.factories import T0, clean_facts, event, kill_record, with_events

pytestmark = pytest.mark.unit

SCHEMA_KEYS = {
    "scenario",
    "target",
    "emulator",
    "passed",
    "duration_s",
    "counts",
    "latency_ms",
    "checks",
}
COUNT_KEYS = {
    "sent",
    "completed",
    "executions",
    "effects",
    "duplicates",
    "redeliveries",
    "dlq",
    "lost",
    "unfinished",
    "crashes",
}


def result(*facts_by_phase, status=Status.PASSED) -> ScenarioResult:
    phases = [
        PhaseResult(
            name=f"p{i}",
            note="",
            facts=f,
            verdict=judge(f),
            stack_prefix=f"sqskit-t-{i}",
            send=SendOutcome(ledger=f.ledger, failed=0, elapsed_s=0.05),
        )
        for i, f in enumerate(facts_by_phase)
    ]
    return ScenarioResult(
        scenario="happy",
        summary="s",
        status=status,
        started_at=T0,
        duration_s=4.2,
        target={"target": "local", "emulator": "ministack", "runner": "process"},
        phases=phases,
    )


def crashed_facts():
    facts = with_events(clean_facts(4), event("consumer.crash", T0 + 1.2, reason="crash_rate"))
    return replace(
        facts,
        consumers=(*facts.consumers, ConsumerRun(1, "c-1-2", T0, T0 + 1.2, 3)),
        faults=(kill_record(T0 + 1.5, "c-0-1", "m2"),),
    )


def test_json_has_the_stable_schema():
    data = document.build(result(crashed_facts()))
    assert data.keys() >= SCHEMA_KEYS
    assert set(data["counts"]) == COUNT_KEYS
    assert data["counts"]["sent"] == 4 and data["counts"]["crashes"] == 1
    assert set(data["latency_ms"]) >= {"p50", "p95", "p99"}
    assert all(set(c) == {"name", "passed", "detail"} for c in data["checks"])
    assert data["target"] == "local" and data["emulator"] == "ministack"
    kinds = [m["kind"] for m in data["timeline"]["phases"][0]["markers"]]
    assert kinds == ["crash", "kill"]
    json.dumps(data)  # serialisable as is


def test_a_task_that_never_started_ran_zero_seconds_and_stays_valid_json():
    # GIVEN an ECS task stopped before it reached RUNNING (its start is NOT_STARTED, infinity)
    facts = clean_facts(1)
    never = ConsumerRun(1, "task-1-2", float("inf"), None, None)
    data = document.build(result(replace(facts, consumers=(*facts.consumers, never))))
    # THEN the report says it ran 0 s, and strict JSON (no Infinity) can carry it
    (row,) = [c for c in data["phases"][0]["consumers"] if c["slot"] == 1]
    assert row["ran_s"] == 0.0
    json.dumps(data, allow_nan=False)


def test_a_background_renderer_writes_the_png_by_close(tmp_path):
    # GIVEN two reports handed to a background renderer
    renderer = BackgroundRenderer()
    data = document.build(result(crashed_facts()))
    document.write(data, tmp_path / "a", renderer=renderer)
    document.write(data, tmp_path / "b", renderer=renderer)
    # WHEN it is closed
    renderer.close()
    # THEN both PNGs are there, and the JSON names them
    for sub in ("a", "b"):
        png = tmp_path / sub / "happy.png"
        assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 5000
        assert json.loads((tmp_path / sub / "happy.json").read_text())["artifacts"]["png"] == str(
            png
        )


def test_a_failed_background_render_fails_at_close_naming_the_file(tmp_path):
    renderer = BackgroundRenderer()
    data = document.build(result(crashed_facts()))
    data["timeline"] = {"phases": [{"samples": "not a list of samples"}]}
    document.write(data, tmp_path, renderer=renderer)
    with pytest.raises(InfrastructureError, match=r"cannot render .*happy\.png"):
        renderer.close()
    # an interrupted run drops what is queued and raises nothing of its own
    renderer.submit(tmp_path / "happy.json", tmp_path / "again.png")
    renderer.close(cancel=True)


def test_multi_phase_checks_are_prefixed_and_counts_summed():
    data = document.build(result(clean_facts(2), clean_facts(3)))
    assert data["counts"]["sent"] == 5
    assert {c["name"].split(":")[0] for c in data["checks"]} == {"p0", "p1"}
    assert [p["name"] for p in data["phases"]] == ["p0", "p1"]


def test_write_load_and_render_round_trip(tmp_path):
    data = document.write(document.build(result(crashed_facts())), tmp_path, png=True)
    png = tmp_path / "happy.png"
    assert png.stat().st_size > 5000 and png.read_bytes()[:4] == b"\x89PNG"
    [loaded] = document.load(tmp_path / "happy.json")
    assert loaded == json.loads(json.dumps(data))
    from rich.console import Console

    out = Console(record=True, width=140)
    for part in console.render(loaded):
        out.print(part)
    text = out.export_text()
    assert "happy PASSED" in text and "no message lost" in text


def test_summary_round_trip(tmp_path):
    runs = [
        document.build(result(clean_facts(1))),
        document.build(result(clean_facts(1), status=Status.FAILED)),
    ]
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(document.summary(runs)))
    assert len(document.load(path)) == 2
    assert document.summary(runs)["passed"] is False


@pytest.mark.parametrize("content", ["not json", '{"hello": 1}', "[1, 2]"])
def test_load_rejects_what_is_not_a_report(tmp_path, content):
    path = tmp_path / "x.json"
    path.write_text(content)
    with pytest.raises(ConfigError):
        document.load(path)


def test_latency_percentiles():
    assert percentile([], 50) is None
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert percentile(list(map(float, range(1, 101))), 99) == 99.0
    lat = latency(clean_facts(3))
    # completions 1.05, 1.15 and 1.25 s after sending (epoch ms truncation: +-1 ms)
    assert lat.samples == 3
    assert lat.p50 is not None and lat.p99 is not None
    assert abs(lat.p50 - 1150) <= 1 and abs(lat.p99 - 1250) <= 1


def _rendered(data) -> str:
    from rich.console import Console

    out = Console(record=True, width=160)
    for part in console.render(data):
        out.print(part)
    return out.export_text()


def test_render_names_the_ecs_cluster_and_the_provisioning_time():
    res = result(clean_facts(3))
    res.phases[0].provision_s = 61.25
    res.target = {
        **res.target,
        "target": "aws",
        "cluster": "sqs-demo-cluster",
        "task_definition": "arn:aws:ecs:us-east-1:1:task-definition/t:1",
        "launch_type": "FARGATE",
    }
    data = document.build(res)
    assert data["phases"][0]["provision_s"] == 61.25
    text = _rendered(data)
    assert "ECS cluster sqs-demo-cluster" in text and "launch type FARGATE" in text
    assert "provisioning 61.2 s (not in the settle times)" in text
    # a local run has neither: no such line
    assert "ECS cluster" not in _rendered(document.build(result(clean_facts(3))))


def test_settled_counts_to_when_the_engine_saw_the_end_state_not_to_collection():
    facts = clean_facts(3)  # traffic at T0, collection ended at T0 + 5
    assert check_settled(facts).detail == "settled in 5.0 s"
    assert check_settled(replace(facts, settled_at=T0 + 1.5)).detail == "settled in 1.5 s"
    timed_out = check_settled(replace(facts, settled_at=T0 + 30, timed_out=True))
    assert not timed_out.passed and "30.0 s" in timed_out.detail


def test_the_timeline_has_the_consumers_running_and_the_throughput():
    # GIVEN one consumer all along, and a second that crashed 1.2 s in
    data = document.build(result(crashed_facts()))
    (ph,) = data["timeline"]["phases"]
    # THEN the count steps up to 2 at the start and down as each one ends
    counts = [n for _, n in ph["consumers"]]
    assert counts[0] == 0 and max(counts) == 2 and counts[-1] == 0
    assert [t for t, _ in ph["consumers"]] == sorted(t for t, _ in ph["consumers"])
    # AND the throughput bins hold every completion (4 in 1 s bins)
    assert sum(rate for _, rate in ph["throughput"]) == pytest.approx(4)
    starts = [t for t, _ in ph["throughput"]]
    assert all(b - a == pytest.approx(1.0) for a, b in itertools.pairwise(starts))


def test_the_throughput_bins_widen_on_a_long_run():
    from scenarios.reporting.document import THROUGHPUT_BINS, _throughput

    times = [T0 + i * 0.5 for i in range(1200)]  # 600 s at 2 msg/s
    series = _throughput(times, T0, T0 + 600)
    assert len(series) <= THROUGHPUT_BINS + 1
    assert series[1][0] - series[0][0] == 10.0
    assert all(rate == pytest.approx(2.0) for _, rate in series[:-1])
