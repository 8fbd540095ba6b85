"""`scenario diff A.json B.json`: compare two run reports, target-specific fields apart.

The parity promise is that a scenario's report on ``--target local`` and on ``--target aws``
differ only where the target shows through: where it ran (target, emulator, runner,
provisioner, endpoint, region, ...) and how long things took (timings, durations, latency).
Exit 0 when only those differ, 1 when anything else does (counts, verdict, checks, consumer
exit codes and signals, knobs), 2 for unreadable input. A check's ``detail`` is prose that
often carries a duration, so it is shown with the target-specific differences; the check's
name and verdict are compared strictly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

EXIT_SAME = 0
EXIT_DIFFERENT = 1
EXIT_USAGE = 2

#: Keys whose values depend on where or when a run happened, at any depth of the report.
TARGET_SPECIFIC_KEYS = frozenset(
    {
        "target",
        "target_info",
        "emulator",
        "runner",
        "provisioner",
        "endpoint",
        "endpoint_url",
        "region",
        "account",
        "image_tag",
        "cluster",
        "task_definition",
        "launch_type",
        "network_mode",
        "log_group",
        "stop_timeout_s",
        "kill_semantics",
        "workspace",
        "prefix",
        "run_id",
        "timings",
        "duration_s",
        "latency",
        "latency_ms",
        "started_at",
        "finished_at",
        "created_at",
        "report_path",
        "artifacts",
        "log_dir",
        "stack",
        "stack_prefix",
        "emulator_reason",
        "runner_reason",
        "ran_s",
        "elapsed_s",
        "provision_s",
        "rate_msg_s",
        "throughput_msg_s",
        "timeline",
        "timeline_png",
        "png",
    }
)
#: Check fields that are prose or numbers measured in time; a check's name and verdict count.
INFORMATIONAL_CHECK_KEYS = frozenset({"detail"})

_MISSING = object()


@dataclass(frozen=True)
class Difference:
    path: str
    left: Any
    right: Any
    target_specific: bool

    def render(self) -> str:
        return f"  {self.path}: {_show(self.left)} -> {_show(self.right)}"


def _show(value: Any) -> str:
    if value is _MISSING:
        return "(absent)"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _key_of(item: Any) -> str | None:
    if isinstance(item, dict):
        for key in ("name", "scenario", "id"):
            if isinstance(item.get(key), str):
                return str(item[key])
    return None


def compare(
    left: Any, right: Any, *, ignore: Iterable[str] = (), path: str = "", specific: bool = False
) -> list[Difference]:
    """Every leaf that differs between two JSON documents, flagged target-specific or not.

    Lists of objects with a ``name`` (the checks, a multi-scenario report's scenarios) are
    matched by that name, not by position.
    """
    keys = TARGET_SPECIFIC_KEYS | frozenset(ignore)
    if isinstance(left, dict) and isinstance(right, dict):
        out: list[Difference] = []
        for key in sorted(set(left) | set(right)):
            sub = f"{path}.{key}" if path else key
            in_check = "checks" in path.split(".") and key in INFORMATIONAL_CHECK_KEYS
            out.extend(
                compare(
                    left.get(key, _MISSING),
                    right.get(key, _MISSING),
                    ignore=ignore,
                    path=sub,
                    specific=specific or key in keys or in_check,
                )
            )
        return out
    if isinstance(left, list) and isinstance(right, list):
        lkeys, rkeys = [_key_of(i) for i in left], [_key_of(i) for i in right]
        if all(lkeys) and all(rkeys) and len(set(lkeys)) == len(lkeys):
            lmap = dict(zip(lkeys, left, strict=True))
            rmap = dict(zip(rkeys, right, strict=True))
            return compare(lmap, rmap, ignore=ignore, path=path, specific=specific)
        if len(left) == len(right):
            return [
                d
                for i, (a, b) in enumerate(zip(left, right, strict=True))
                for d in compare(a, b, ignore=ignore, path=f"{path}[{i}]", specific=specific)
            ]
    if left == right:
        return []
    return [Difference(path or "<root>", left, right, specific)]


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise click.UsageError(f"{path}: not a readable JSON report ({exc})") from exc


EPILOG = """
\b
Examples:
  scenario run happy --target local --json --report-dir reports/local
  scenario run happy --target aws --endpoint-url http://127.0.0.1:4566 --report-dir reports/aws
  scenario diff reports/local/happy.json reports/aws/happy.json
"""


@click.command("diff", epilog=EPILOG)
@click.argument("a", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("b", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--ignore",
    multiple=True,
    metavar="KEY",
    help="Treat KEY as target-specific too (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the differences as JSON.")
def diff(a: Path, b: Path, ignore: tuple[str, ...], as_json: bool) -> None:
    """Show how two JSON reports differ; exit 1 if more than target-specific fields do."""
    differences = compare(_load(a), _load(b), ignore=ignore)
    specific = [d for d in differences if d.target_specific]
    other = [d for d in differences if not d.target_specific]
    if as_json:
        click.echo(
            json.dumps(
                {
                    "target_specific": [
                        {"path": d.path, "a": _plain(d.left), "b": _plain(d.right)}
                        for d in specific
                    ],
                    "other": [
                        {"path": d.path, "a": _plain(d.left), "b": _plain(d.right)} for d in other
                    ],
                    "parity": not other,
                },
                indent=2,
                default=str,
            )
        )
    else:
        click.echo(f"target-specific differences ({len(specific)}, expected):")
        for d in specific:
            click.echo(d.render())
        click.echo(f"other differences ({len(other)}):")
        for d in other:
            click.echo(d.render())
        click.echo(
            "parity: only target-specific fields differ"
            if not other
            else "NO parity: the runs differ beyond the target"
        )
    raise SystemExit(EXIT_SAME if not other else EXIT_DIFFERENT)


def _plain(value: Any) -> Any:
    return None if value is _MISSING else value


command = diff
