"""`scenario run NAME...|all`: run scenarios on a target, judge them, write the reports."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from types import FrameType
from typing import Any

import click

from core.errors import ConfigError, KitError
from scenarios import catalogue
from scenarios import report as reports
from scenarios.cli.options import (
    EXIT_FAILED,
    EXIT_INFRA,
    EXIT_OK,
    knob_options,
    output_options,
    target_options,
)
from scenarios.cli.progress import ProgressView
from scenarios.engine import Scenario
from scenarios.settings import RunSettings, parse_knob
from scenarios.targets import Target, get_target

EPILOG = """
\b
Examples:
  scenario run happy                          # embedded emulator, process runner
  scenario run duplicates --target local --count 10 --slow-seconds 5
  scenario run crash --knob crash_rate=0.1 --seed 3
  scenario run all --json > runs.json
  scenario run happy --emulator external --endpoint http://127.0.0.1:4566 --keep
  scenario run happy --target aws --image-tag abc123 --yes
\b
Exit codes: 0 every scenario passed (or was skipped), 1 a scenario failed its oracle,
2 usage error, 3 infrastructure error, 130 interrupted (after teardown).
"""


@click.command("run", epilog=EPILOG)
@click.argument("names", nargs=-1, required=True, metavar="NAME...|all")
@target_options
@knob_options
@output_options
@click.pass_context
def run_command(ctx: click.Context, /, names: tuple[str, ...], **opts: Any) -> None:
    """Run scenarios: provision, produce, consume, inject faults, judge, tear down."""
    _configure_logging(int(opts.pop("verbose")))
    as_json = bool(opts.pop("as_json"))
    scenarios = catalogue.resolve(list(names))  # an unknown name is a usage error, before anything
    settings = _settings(opts)
    run_dir = settings.report_dir / _run_id(names)
    view = ProgressView(quiet=False)
    target = get_target(settings, run_dir=run_dir)
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    results: list[dict[str, Any]] = []
    try:
        _preflight(settings, scenarios, view)
        target.open()
        info = target.describe()
        view.note(
            f"target {info.get('target')}: emulator {info.get('emulator')} "
            f"({info.get('emulator_reason') or info.get('endpoint')}); runner "
            f"{info.get('runner')} ({info.get('runner_reason') or '-'}); provisioner "
            f"{info.get('provisioner')}; reports in {run_dir}"
        )
        for scenario in scenarios:
            results.append(
                _run_one(
                    scenario, target, settings=settings, run_dir=run_dir, view=view, as_json=as_json
                )
            )
    finally:
        try:
            target.close()
        finally:
            signal.signal(signal.SIGTERM, previous)
    if settings.keep:
        kept = [p.get("stack") for r in results for p in r.get("phases", [])]
        view.note(
            f"--keep: left stacks {', '.join(map(str, kept))} (consumers stopped); an embedded "
            "emulator this run started is gone with it - use --emulator external to inspect"
        )
    if len(results) > 1:
        summary = reports.summary(results)
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if as_json:
        payload = results[0] if len(results) == 1 else reports.summary(results)
        click.echo(json.dumps(payload, indent=2))
    elif len(results) > 1:
        reports.console().print(reports.render_summary(results))
    ctx.exit(_exit_code(results))


def _run_one(
    scenario: Scenario,
    target: Target,
    *,
    settings: RunSettings,
    run_dir: Path,
    view: ProgressView,
    as_json: bool,
) -> dict[str, Any]:
    started = time.time()
    try:
        with view:
            result = scenario.execute(target, settings, run_dir=run_dir, on_progress=view)
        data = reports.build(result)
    except ConfigError:
        raise
    except KitError as exc:  # infrastructure: reported, and the next scenario still runs
        data = _error_report(scenario, target, str(exc), started)
    data = reports.write(data, run_dir, png=settings.png)
    if not as_json:
        console = reports.console()
        for part in reports.render(data):
            console.print(part)
        console.print()
    return data


def _error_report(
    scenario: Scenario, target: Target, reason: str, started: float
) -> dict[str, Any]:
    info = target.describe()
    return {
        "schema": reports.SCHEMA,
        "scenario": scenario.name,
        "summary": scenario.summary,
        "status": "error",
        "passed": False,
        "reason": reason,
        "target": info.get("target"),
        "emulator": info.get("emulator"),
        "target_info": info,
        "duration_s": round(time.time() - started, 3),
        "counts": {},
        "latency_ms": {},
        "checks": [],
        "phases": [],
        "artifacts": {},
    }


def _exit_code(results: list[dict[str, Any]]) -> int:
    statuses = {r.get("status") for r in results}
    if "error" in statuses:
        return EXIT_INFRA
    if "failed" in statuses:
        return EXIT_FAILED
    return EXIT_OK


def _settings(opts: dict[str, Any]) -> RunSettings:
    knobs = tuple(parse_knob(k) for k in opts.pop("knobs") or ())
    return RunSettings(knobs=knobs, **opts)


def _run_id(names: tuple[str, ...]) -> str:
    label = "all" if "all" in names else "-".join(names)[:40]
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{label}"


def _preflight(settings: RunSettings, scenarios: list[Scenario], view: ProgressView) -> None:
    """On AWS: show the plan (account, region, resources, rough cost), then ask for consent.

    The plan comes first so that a refusal already tells the user what ``--yes`` would do.
    Against an endpoint override an emulator stands in for AWS: nothing to confirm.
    """
    if settings.target != "aws":
        return
    from core.aws import client, resolve_region
    from scenarios import aws_guardrails as guard

    if settings.endpoint:
        view.note(f"aws target against {settings.endpoint}: an emulator stands in for AWS")
    else:
        region = resolve_region(settings.region)
        identity = guard.caller_identity(client("sts", region=region), region)
        consumers = max(s.knobs(settings).consumers for s in scenarios) + 2
        messages = sum(s.knobs(settings).count for s in scenarios)
        view.note(
            guard.preflight_text(
                identity,
                prefix="sqskit-<scenario>-<hex>",
                consumers=consumers,
                image=f"consumer:{settings.image_tag or 'latest'}",
                estimate=guard.estimate_cost(
                    consumers=consumers, minutes=5.0 * len(scenarios), messages=messages
                ),
            )
        )
    guard.require_confirmation(target="aws", yes=settings.yes, endpoint_url=settings.endpoint)


def _sigterm_as_interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM gets the same guaranteed teardown as Ctrl-C.
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _configure_logging(verbosity: int) -> None:
    import logging

    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.getLogger().setLevel(level)
    for noisy in ("botocore", "urllib3", "boto3"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


command = run_command
