"""The fault proxy's exceptions: one root, so a caller can catch everything this package raises."""

from __future__ import annotations


class FaultProxyError(Exception):
    """Root of every error the fault proxy raises on purpose."""


class PlanError(FaultProxyError, ValueError):
    """A fault plan is invalid; the message names the field and the allowed values."""


class UpstreamError(FaultProxyError):
    """The upstream endpoint could not be reached or answered with a malformed message."""


class UpstreamTimeout(UpstreamError):
    """The upstream accepted the call but did not answer in time."""
