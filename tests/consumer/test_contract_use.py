"""Event names are spelt once, in consumer/contract.py: no other consumer module has a literal."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from consumer import contract

pytestmark = pytest.mark.unit

PACKAGE = Path(contract.__file__).resolve().parent
EVENTS = frozenset(
    v for k, v in vars(contract).items() if k.startswith("EV_") and isinstance(v, str)
)


def event_literals(source: str) -> list[str]:
    """Every string constant in ``source`` that is exactly a contract event name."""
    return [
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and node.value in EVENTS
    ]


def test_the_checker_finds_a_literal_event_name() -> None:
    broken = 'log.info("message.completed", extra={})\nname = "handler.started"\n'
    assert sorted(event_literals(broken)) == ["handler.started", "message.completed"]
    assert event_literals("log.info(EV_COMPLETED)  # message.completed in a comment\n") == []


def test_no_consumer_module_spells_an_event_name() -> None:
    found = {
        str(path.relative_to(PACKAGE)): hits
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "contract.py" and (hits := event_literals(path.read_text()))
    }
    assert found == {}
