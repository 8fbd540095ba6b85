"""CLI rendering: the rich bar, plain lines, and the summary text."""

from __future__ import annotations

import io

import pytest

from producer.render import ProgressDisplay, choose_mode, failure_lines, summary_line
from producer.report import Failure, Progress, SendReport

pytestmark = pytest.mark.unit


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_mode_follows_the_terminal():
    assert choose_mode(False, Tty()) == "rich"
    assert choose_mode(False, io.StringIO()) == "plain"
    assert choose_mode(True, Tty()) == "off"


def test_rich_bar_draws_the_count():
    stream = Tty()
    with ProgressDisplay("rich", stream=stream) as display:
        display(Progress(sent=0, failed=0, total=3, elapsed_s=0.0))
        display(Progress(sent=2, failed=1, total=3, elapsed_s=1.0))
    assert "3/3" in stream.getvalue() and "1 failed" in stream.getvalue()


def test_plain_mode_prints_the_final_line_and_skips_empty_ones():
    stream = io.StringIO()
    with ProgressDisplay("plain", stream=stream) as display:
        display(Progress(sent=0, failed=0, total=4, elapsed_s=0.0))
        display(Progress(sent=4, failed=0, total=4, elapsed_s=2.0))
    assert stream.getvalue() == "produce: 4/4 done, 4 sent, 0 failed, 2.0 s, 2.0 msg/s\n"


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="unknown progress mode"):
        ProgressDisplay("fancy")


def test_summary_and_failure_lines_cap_the_list():
    failures = tuple(
        Failure(seq=i, id=f"m{i}", code="InternalError", reason="InternalError: x",
                sender_fault=False, attempts=5)
        for i in range(25)
    )  # fmt: skip
    report = SendReport(30, 5, 25, 2.0, 50.0, 10, 100, failures, ())
    assert summary_line(report) == "sent 5/30 in 2.00 s, 2.5 msg/s (target 50/s); failed 25"
    lines = failure_lines(report)
    assert len(lines) == 21
    assert lines[0] == '  failed: seq 0 id="m0" after 5 attempt(s): InternalError: x'
    assert lines[-1] == "  ... and 5 more (--json lists them all)"
