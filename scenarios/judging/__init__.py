"""Judging a run: the facts, the oracle's core checks, the phenomena and the report's numbers.

Everything here is a pure function of frozen facts: no target, emulator or process.
"""
