"""Dependency edges Terraform must honour on a real account (`terraform graph`, offline)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.terraform import MAIN_ROOT
from core.terraform.cli import find_plugin_dir
from tests.terraform.staging import init, stage

SERVICE_DEPENDS_ON = "depends_on = [aws_iam_role_policy.execution]"
CLUSTER_DEPENDS_ON = "depends_on = [aws_iam_service_linked_role.ecs]"


def _edges(workdir: Path) -> set[tuple[str, str]]:
    cli = init(workdir, find_plugin_dir())
    dot = cli.run("graph", local=False)
    return set(re.findall(r'"([^"]+)" -> "([^"]+)"', dot))


def _services(edges: set[tuple[str, str]]) -> set[str]:
    return {a for a, _ in edges if a.startswith("aws_ecs_service.")}


def _reaches(edges: set[tuple[str, str]], start: str, goal: str) -> bool:
    """Whether ``start`` depends on ``goal``, directly or not (the graph is reduced)."""
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(b for a, b in edges if a == node)
    return False


@pytest.mark.terraform
def test_service_waits_for_the_execution_policy_and_cluster_for_the_linked_role(
    require_terraform, tmp_path
):
    edges = _edges(stage(MAIN_ROOT, tmp_path))
    services = _services(edges)
    assert services, sorted(edges)
    for service in services:
        # The task definition names the role; only this edge makes the service wait for its policy.
        assert (service, "aws_iam_role_policy.execution") in edges, service
        assert _reaches(edges, service, "aws_iam_service_linked_role.ecs"), service
    assert ("aws_ecs_cluster.this", "aws_iam_service_linked_role.ecs") in edges


@pytest.mark.terraform
def test_without_depends_on_the_service_would_not_wait(require_terraform, tmp_path):
    # The edges above come from depends_on alone: remove it and they are gone.
    workdir = stage(MAIN_ROOT, tmp_path)
    main = workdir / "main.tf"
    text = main.read_text()
    assert SERVICE_DEPENDS_ON in text and CLUSTER_DEPENDS_ON in text
    main.write_text(text.replace(SERVICE_DEPENDS_ON, "").replace(CLUSTER_DEPENDS_ON, ""))
    edges = _edges(workdir)
    for service in _services(edges):
        assert not _reaches(edges, service, "aws_iam_role_policy.execution"), service
        assert not _reaches(edges, service, "aws_iam_service_linked_role.ecs"), service
