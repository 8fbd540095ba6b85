"""The proxy bench's named bound: the extra hop or the proxy's own work."""

from __future__ import annotations

import pytest

from bench.bench_proxy import Relay, bound

pytestmark = pytest.mark.unit


def test_a_floor_that_misses_the_target_names_the_hop_as_the_bound() -> None:
    text = bound(Relay(0.85, 1.20, 0.30), Relay(0.88, 1.12, 0.17))
    assert text.startswith("bound: the extra loopback hop")
    assert "loses 12% throughput and adds 12% (0.17 ms)" in text
    assert "adds 0.13 ms p50 beyond it" in text


def test_a_floor_that_meets_the_target_puts_the_miss_on_the_proxy() -> None:
    text = bound(Relay(0.86, 1.18, 0.25), Relay(0.95, 1.02, 0.03))
    assert text.startswith("not the hop")
    assert "adds 0.22 ms p50 beyond it" in text


def test_a_proxy_that_meets_the_targets_says_so() -> None:
    assert bound(Relay(0.93, 1.05, 0.07), Relay(0.97, 1.01, 0.02)).startswith("targets met")
    # a proxy faster than the bare relay says so, not "adds -0.05 ms"
    faster = bound(Relay(0.98, 1.04, 0.06), Relay(0.89, 1.13, 0.20))
    assert faster.endswith("the proxy adds 0.14 ms p50 less than it")
    # one target missed is a miss
    assert not bound(Relay(0.93, 1.15, 0.07), Relay(0.97, 1.01, 0.02)).startswith("targets met")
