"""`terraform test` suites of each root and of the stack module, offline (mock provider).

The suites (``<root>/tests/*.tftest.hcl``) assert what only Terraform can evaluate: the rendered
task definition, variable validations, which resources a setting creates, the dependency graph.
Each mutation below removes one fix and must make its suite fail, so no assertion is vacuous.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.terraform import MAIN_ROOT, MODULES_DIR, SCENARIO_ROOT
from core.terraform.cli import find_plugin_dir
from tests.terraform.conftest import REPO_ROOT
from tests.terraform.staging import ROOTS, init, root_id, stage

STACK_MODULE = MODULES_DIR / "stack"
SUITES = [*ROOTS, STACK_MODULE]


def _run_suite(
    root: Path,
    tmp_path: Path,
    mutate: tuple[str, str, str] | None = None,
    suite: str | None = None,
) -> tuple[int, str]:
    """Stage ``root`` with its tests (optionally mutated), init, run ``terraform test``."""
    workdir = stage(root, tmp_path, tests=True)
    if mutate is not None:
        rel, old, new = mutate
        # The mutated file lives in the staged copy: the root itself or the copied module.
        target = tmp_path / rel
        text = target.read_text()
        assert old in text, f"mutation anchor not found in {rel}: {old!r}"
        target.write_text(text.replace(old, new))
    cli = init(workdir, find_plugin_dir())
    proc = subprocess.run(
        [cli.binary(local=False), "test", "-no-color", *([f"-filter={suite}"] if suite else [])],
        cwd=workdir,
        env=cli.env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.terraform
@pytest.mark.parametrize("root", SUITES, ids=root_id)
def test_terraform_test_suite_passes(require_terraform, tmp_path, root: Path):
    suites = sorted((root / "tests").glob("*.tftest.hcl"))
    assert suites, f"{root_id(root)} has no tests/*.tftest.hcl"
    rc, out = _run_suite(root, tmp_path)
    assert rc == 0, out[-3000:]
    match = re.search(r"Success! (\d+) passed, 0 failed", out)
    assert match, out[-3000:]
    runs = sum(len(re.findall(r'^run "', s.read_text(), re.MULTILINE)) for s in suites)
    assert int(match.group(1)) == runs, out[-3000:]


@dataclass(frozen=True)
class Mutation:
    """Undo one fix in a staged copy; the named run must then fail."""

    name: str
    suite_root: Path
    suite: str  # the test file, relative to suite_root
    file: str  # repository-relative path of the file to mutate
    old: str
    new: str
    failing_run: str


MUTATIONS = [
    Mutation(
        "awslogs-mode-dropped",
        STACK_MODULE,
        "tests/stack.tftest.hcl",
        "terraform/modules/stack/main.tf",
        '"mode"                  = "blocking"',
        '"mode"                  = "non-blocking"',
        "awslogs_never_drops_lines",
    ),
    Mutation(
        "service-linked-role-never-created",
        MAIN_ROOT,
        "tests/service.tftest.hcl",
        "terraform/main.tf",
        "count = var.create_ecs_service_linked_role ? 1 : 0",
        "count = 0",
        "service_linked_role_for_a_new_account",
    ),
    Mutation(
        "subnets-by-first-two-names",
        MAIN_ROOT,
        "tests/network.tftest.hcl",
        "terraform/main.tf",
        "[for id in local.az_ids : local.zone_name_by_id[id]]",
        "slice(sort(data.aws_availability_zones.available.names), 0, 2)",
        "us_west_1_subnets_only_in_fargate_zone_ids",
    ),
    Mutation(
        "service-starts-without-an-image-tag",
        MAIN_ROOT,
        "tests/service.tftest.hcl",
        "terraform/main.tf",
        "condition     = !local.starts_tasks || var.container_image_tag != null",
        "condition     = var.desired_count >= 0",
        "starting_the_service_needs_an_image_tag",
    ),
    Mutation(
        "run-tables-keep-pitr",
        SCENARIO_ROOT,
        "tests/run_stack.tftest.hcl",
        "scenarios/terraform/variables.tf",
        'default     = false\n}\n\nvariable "create_task_definition"',
        'default     = true\n}\n\nvariable "create_task_definition"',
        "run_tables_leave_no_system_backup",
    ),
    Mutation(
        "consumers-never-told-the-effects-table",
        STACK_MODULE,
        "tests/stack.tftest.hcl",
        "terraform/modules/stack/main.tf",
        "EFFECTS_TABLE           = aws_dynamodb_table.effects.name",
        "EFFECTS_TABLE_UNUSED    = aws_dynamodb_table.effects.name",
        "every_stack_has_an_effects_table_its_consumers_are_told_about",
    ),
    Mutation(
        "main-root-accepts-any-memory",
        MAIN_ROOT,
        "tests/settings.tftest.hcl",
        "terraform/variables.tf",
        "condition = contains(lookup(",
        "condition = var.container_memory > 0 || contains(lookup(",
        "memory_outside_the_cpu_size_is_refused",
    ),
    Mutation(
        "module-accepts-any-memory",
        STACK_MODULE,
        "tests/stack.tftest.hcl",
        "terraform/modules/stack/variables.tf",
        'condition = var.network_mode != "awsvpc" || contains(lookup(',
        "condition = var.container_memory > 0 || contains(lookup(",
        "fargate_task_sizes_must_be_a_valid_pair",
    ),
    Mutation(
        "terraform-resets-the-autoscaled-count",
        MAIN_ROOT,
        "tests/autoscaling.tftest.hcl",
        "terraform/main.tf",
        "ignore_changes = [desired_count]",
        "ignore_changes = [tags]",
        "a_later_apply_leaves_the_count_to_autoscaling",
    ),
    Mutation(
        "policy-returns-every-query",
        MAIN_ROOT,
        "tests/autoscaling.tftest.hcl",
        "terraform/main.tf",
        'label       = "messages visible in the queue"\n        return_data = false',
        'label       = "messages visible in the queue"\n        return_data = true',
        "the_policy_tracks_backlog_per_task_with_metric_math",
    ),
    Mutation(
        "backlog-divided-by-zero-tasks",
        MAIN_ROOT,
        "tests/autoscaling.tftest.hcl",
        "terraform/main.tf",
        'expression  = "visible / IF(tasks > 0, tasks, 1)"',
        'expression  = "visible / tasks"',
        "the_policy_tracks_backlog_per_task_with_metric_math",
    ),
    Mutation(
        "policy-ignores-its-cooldowns",
        MAIN_ROOT,
        "tests/autoscaling.tftest.hcl",
        "terraform/main.tf",
        "scale_in_cooldown  = var.autoscaling_scale_in_cooldown",
        "scale_in_cooldown  = 300",
        "the_policy_takes_its_knobs",
    ),
    Mutation(
        "autoscaling-without-container-insights",
        MAIN_ROOT,
        "tests/autoscaling.tftest.hcl",
        "terraform/variables.tf",
        'condition     = !(var.enable_autoscaling && var.container_insights == "disabled")',
        'condition     = !(var.enable_autoscaling && var.container_insights == "off")',
        "autoscaling_without_container_insights_is_refused",
    ),
    Mutation(
        "autoscaling-down-to-zero-tasks",
        MAIN_ROOT,
        "tests/autoscaling.tftest.hcl",
        "terraform/variables.tf",
        "var.autoscaling_min_capacity >= 1 &&",
        "var.autoscaling_min_capacity >= 0 &&",
        "min_capacity_0_is_refused",
    ),
    Mutation(
        "fifo-queue-with-a-standard-dlq",
        STACK_MODULE,
        "tests/stack.tftest.hcl",
        "terraform/modules/stack/main.tf",
        "  fifo_queue = var.fifo\n",
        "  fifo_queue = false\n",
        "a_fifo_stack_has_a_fifo_queue_and_a_fifo_dlq",
    ),
    Mutation(
        "high-throughput-with-the-queue-scope",
        STACK_MODULE,
        "tests/stack.tftest.hcl",
        "terraform/modules/stack/variables.tf",
        '(var.fifo && var.deduplication_scope == "messageGroup")',
        "var.fifo",
        "high_throughput_needs_the_message_group_scope",
    ),
    Mutation(
        "run-root-drops-the-fifo-variables",
        SCENARIO_ROOT,
        "tests/run_stack.tftest.hcl",
        "scenarios/terraform/main.tf",
        "  fifo                        = var.fifo\n",
        "  fifo                        = false\n",
        "a_fifo_run_reaches_the_module",
    ),
    Mutation(
        "run-stack-reads-a-missing-main-state",
        SCENARIO_ROOT,
        "tests/run_stack.tftest.hcl",
        "scenarios/terraform/main.tf",
        "count = try(fileexists(var.main_state_path), false) ? 1 : 0",
        "count = var.main_state_path == null ? 0 : 1",
        "the_main_state_is_gone",
    ),
]


def _mutation_params() -> list[Any]:
    """The first mutation of each suite runs in `make test` (every suite is shown able to fail);
    the others, 10-15 s each, in `make test-long`, to keep CI within its budget."""
    seen: set[tuple[Path, str]] = set()
    params = []
    for m in MUTATIONS:
        key = (m.suite_root, m.suite)
        marks = () if key not in seen else (pytest.mark.long,)
        seen.add(key)
        params.append(pytest.param(m, id=m.name, marks=marks))
    return params


@pytest.mark.terraform
@pytest.mark.parametrize("m", _mutation_params())
def test_each_suite_fails_when_its_fix_is_undone(require_terraform, tmp_path, m: Mutation):
    # GIVEN the suite's root with one fix undone WHEN its suite runs
    rc, out = _run_suite(m.suite_root, tmp_path, mutate=(m.file, m.old, m.new), suite=m.suite)
    # THEN the suite fails, at the run that guards that fix
    assert rc != 0, f"the suite still passed without the fix:\n{out[-2000:]}"
    assert re.search(rf'run "{m.failing_run}"\.\.\. fail', out), out[-3000:]


@pytest.mark.unit
def test_mutation_targets_exist():
    for m in MUTATIONS:
        assert m.old in (REPO_ROOT / m.file).read_text(), m.name
        assert f'run "{m.failing_run}"' in (m.suite_root / m.suite).read_text(), m.name
