"""`scenario run NAME...|all`: run scenarios on a target, judge them, write the reports."""

from __future__ import annotations

import json
import logging
import signal
import time
from pathlib import Path
from types import FrameType
from typing import Any

import click

from core.errors import ConfigError, KitError
from scenarios import catalogue
from scenarios.cli.exit_codes import exit_code
from scenarios.cli.options import consumer_options, knob_options, output_options, target_options
from scenarios.cli.parallel import MAX_PARALLEL, Board, Outcome, run_parallel
from scenarios.cli.progress import ProgressView
from scenarios.reporting import console, document
from scenarios.reporting.png import BackgroundRenderer
from scenarios.running.apifaults import ENV_FAULTS, FAULTS_FLAG, check_phases, load_user_plan
from scenarios.running.phase import ProgressFn
from scenarios.running.scenario import Scenario, Status
from scenarios.settings import RunSettings, parse_knob
from scenarios.targets import Target, Workload, get_target

#: consumers beyond a scenario's first group (a slow one, a second one), for the plan
EXTRA_CONSUMERS = 2

EPILOG = """
\b
Examples:
  scenario run happy                          # embedded emulator, process runner
  scenario run duplicates --target local --count 10 --slow-seconds 5
  scenario run crash --knob crash_rate=0.1 --seed 3
  scenario run all --json > runs.json
  scenario run all --parallel 4               # side by side, each on its own stack
  scenario run happy --emulator external --endpoint http://127.0.0.1:4566 --keep
  scenario run happy --target aws --image-tag abc123 --yes
  scenario run happy --target aws --emulator ministack   # the AWS path rehearsed here (Docker)
\b
Your own consumer (docs/consumer-contract.md):
  scenario run duplicates --consumer-cmd "python examples/naive-python/consumer.py"
  scenario run all --handler examples.idempotent_python.handler:handle
  scenario run happy kill-mid-run --consumer-cmd "node examples/node/consumer.mjs"
  scenario run happy --runner docker --consumer-image my-consumer:dev
\b
API faults between the consumers and the emulator (docs/faults.md):
  scenario run api-faults lost-ack
  scenario run crash --faults plan.yaml        # any scenario, behind the fault proxy
  scenario run scale-out --faults plan.yaml    # with `phases: [3 consumers]` in the plan
\b
Exit codes: 0 every scenario passed (or was skipped), 1 a scenario failed its oracle,
2 usage error, 3 infrastructure error, 130 interrupted (after teardown).
"""


@click.command("run", epilog=EPILOG)
@click.argument("names", nargs=-1, required=True, metavar="NAME...|all")
@target_options
@consumer_options
@knob_options
@output_options
@click.option(
    "--parallel",
    type=click.IntRange(1, MAX_PARALLEL),
    envvar="SQSKIT_PARALLEL",
    default=1,
    show_default=True,
    show_envvar=True,
    metavar="N",
    help="Run up to N scenarios side by side, each on its own stack with its own consumers "
    "and report (--target local); those marked exclusive run alone, after the others.",
)
@click.option(
    FAULTS_FLAG,
    "faults",
    envvar=ENV_FAULTS,
    show_envvar=True,
    default=None,
    metavar="PLAN.yaml",
    help="Run every phase's consumers behind the fault proxy with this plan (YAML, TOML or "
    "JSON; docs/faults.md); a top-level `phases: [NAME, ...]` limits it to those phases "
    "(`scenario list` shows them). An empty plan records the consumers' calls only. Local "
    "target.",
)
@click.pass_context
def run_command(ctx: click.Context, /, names: tuple[str, ...], **opts: Any) -> None:
    """Run scenarios: provision, produce, consume, inject faults, judge, tear down."""
    _configure_logging(int(opts.pop("verbose")))
    as_json = bool(opts.pop("as_json"))
    workers = int(opts.pop("parallel"))
    scenarios = catalogue.resolve(list(names))  # an unknown name is a usage error, before anything
    settings = _settings(opts, scenarios)
    side_by_side = workers > 1 and len(scenarios) > 1
    if side_by_side and settings.target != "local":
        raise ConfigError(
            f"--parallel {workers} runs on --target local only: drop --parallel for "
            f"--target {settings.target}"
        )
    run_dir = settings.report_dir / _run_id(names)
    view = ProgressView(quiet=False)
    target = get_target(settings, run_dir=run_dir)
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    began = time.monotonic()
    try:
        _show_plan(target, scenarios, settings, view)
        target.open()
        info = target.describe()
        view.note(
            f"target {info.get('target')}: emulator {info.get('emulator')} "
            f"({info.get('emulator_reason') or info.get('endpoint')}); runner "
            f"{info.get('runner')} ({info.get('runner_reason') or '-'}); provisioner "
            f"{info.get('provisioner')}; consumer: {settings.plugged.describe()}; "
            f"reports in {run_dir}" + (f"; {workers} side by side" if side_by_side else "")
        )
        outcomes = _run_scenarios(
            scenarios,
            target,
            settings=settings,
            run_dir=run_dir,
            view=view,
            workers=workers if side_by_side else 1,
            as_json=as_json,
        )
    finally:
        try:
            target.close()
        finally:
            signal.signal(signal.SIGTERM, previous)
    statuses = [status for status, _ in outcomes]
    results = [data for _, data in outcomes]
    if settings.keep:
        kept = [p.get("stack") for r in results for p in r.get("phases", [])]
        view.note(
            f"--keep: left stacks {', '.join(map(str, kept))} (consumers stopped); an embedded "
            "emulator this run started is gone with it - use --emulator external to inspect"
        )
    wall_s = time.monotonic() - began
    summary = {
        **document.summary(results),
        "wall_s": round(wall_s, 3),
        "parallel": workers if side_by_side else 1,
    }
    if len(results) > 1:
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if as_json:
        payload = results[0] if len(results) == 1 else summary
        click.echo(json.dumps(payload, indent=2))
    elif len(results) > 1:
        console.console().print(console.render_summary(results))
        how = f", {workers} side by side" if side_by_side else ""
        view.note(f"{len(results)} scenarios in {wall_s:.1f} s{how}")
    ctx.exit(exit_code(statuses))


def _run_scenarios(
    scenarios: list[Scenario],
    target: Target,
    *,
    settings: RunSettings,
    run_dir: Path,
    view: ProgressView,
    workers: int,
    as_json: bool,
) -> list[Outcome]:
    """Every scenario, side by side when ``workers`` > 1, else one after the other."""
    # With several scenarios, PNGs render in a process of their own while the next runs.
    renderer = BackgroundRenderer() if len(scenarios) > 1 and settings.png else None
    finished = False
    try:
        if workers > 1:
            outcomes = _side_by_side(
                scenarios,
                target,
                settings=settings,
                run_dir=run_dir,
                workers=workers,
                renderer=renderer,
            )
            if not as_json:
                for _, data in outcomes:
                    _render(data)
        else:
            outcomes = [
                _run_one(
                    s,
                    target,
                    settings=settings,
                    run_dir=run_dir,
                    view=view,
                    as_json=as_json,
                    renderer=renderer,
                )
                for s in scenarios
            ]
        finished = True
    finally:
        if renderer is not None:
            renderer.close(cancel=not finished)  # a failed render fails the run
    return outcomes


def _side_by_side(
    scenarios: list[Scenario],
    target: Target,
    *,
    settings: RunSettings,
    run_dir: Path,
    workers: int,
    renderer: BackgroundRenderer | None,
) -> list[Outcome]:
    def execute(scenario: Scenario, twin: Target, progress: ProgressFn) -> Outcome:
        return _execute(
            scenario,
            twin,
            settings=settings,
            run_dir=run_dir,
            progress=progress,
            renderer=renderer,
        )

    return run_parallel(scenarios, target, workers=workers, execute=execute, board=Board(scenarios))


def _run_one(
    scenario: Scenario,
    target: Target,
    *,
    settings: RunSettings,
    run_dir: Path,
    view: ProgressView,
    as_json: bool,
    renderer: BackgroundRenderer | None,
) -> Outcome:
    with view:
        status, data = _execute(
            scenario, target, settings=settings, run_dir=run_dir, progress=view, renderer=renderer
        )
    if not as_json:
        _render(data)
    return status, data


def _execute(
    scenario: Scenario,
    target: Target,
    *,
    settings: RunSettings,
    run_dir: Path,
    progress: ProgressFn,
    renderer: BackgroundRenderer | None = None,
) -> Outcome:
    """Execute one scenario and write its report; an infrastructure error is its report too."""
    started = time.time()
    try:
        result = scenario.execute(target, settings, run_dir=run_dir, on_progress=progress)
        status, data = result.status, document.build(result)
    except ConfigError:
        raise
    except KitError as exc:  # infrastructure: reported, and the next scenario still runs
        status = Status.ERROR
        data = document.error_report(
            scenario=scenario.name,
            summary=scenario.summary,
            target=target.describe(),
            reason=str(exc),
            duration_s=time.time() - started,
        )
    return status, document.write(data, run_dir, png=settings.png, renderer=renderer)


def _render(data: dict[str, Any]) -> None:
    out = console.console()
    for part in console.render(data):
        out.print(part)
    out.print()


def _settings(opts: dict[str, Any], scenarios: list[Scenario]) -> RunSettings:
    knobs = tuple(parse_knob(k) for k in opts.pop("knobs") or ())
    settings = RunSettings(knobs=knobs, **opts)
    # a bad plan, or a phase a scenario lacks, is a usage error before anything starts
    user = load_user_plan(settings.faults)
    for scenario in scenarios:
        names = [p.name for p in scenario.run_phases(scenario.knobs(settings), settings)]
        check_phases(user, scenario.name, names)
    return settings


def _run_id(names: tuple[str, ...]) -> str:
    label = "all" if "all" in names else "-".join(names)[:40]
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{label}"


def _show_plan(
    target: Target, scenarios: list[Scenario], settings: RunSettings, view: ProgressView
) -> None:
    """The target's plan (on AWS: account, region, resources, rough cost) before ``open``.

    The plan comes first so that a refusal to start already tells the user what ``--yes``
    would do.
    """
    knobs = [s.knobs(settings) for s in scenarios]
    workload = Workload(
        scenarios=len(scenarios),
        # the largest first group, plus the extra groups (slow, second) some scenarios add
        consumers=max(k.consumers for k in knobs) + EXTRA_CONSUMERS,
        messages=sum(k.count for k in knobs),
    )
    plan = target.preflight(workload)
    if plan:
        view.note(plan)


def _sigterm_as_interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM gets the same guaranteed teardown as Ctrl-C.
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.getLogger().setLevel(level)
    for noisy in ("botocore", "urllib3", "boto3"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


command = run_command
