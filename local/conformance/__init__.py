"""The conformance probe: does this endpoint behave the way the scenarios rely on?

Each check proves one capability (``core.capabilities``) on its own uniquely named queue or
table, with 1-2 s visibility timeouts so the whole probe takes a few seconds. A
``ProbeReport`` says which capabilities were proven; scenarios skip or shim the rest.

Each check module (``sqs``, ``dynamodb``, ``ecs``) registers its checks with ``@check``;
:data:`CHECKS` lists them all, in report order.
"""

from local.conformance.checks import CHECKS
from local.conformance.doctor import doctor, main, render
from local.conformance.probe import PROBE_WORKERS, make_clients, run_probe
from local.conformance.registry import (
    CheckFailed,
    Clients,
    ProbeCheck,
    ProbeContext,
    expect_error,
    registrar,
)
from local.conformance.results import ProbeReport, ProbeResult

__all__ = [
    "CHECKS",
    "PROBE_WORKERS",
    "CheckFailed",
    "Clients",
    "ProbeCheck",
    "ProbeContext",
    "ProbeReport",
    "ProbeResult",
    "doctor",
    "expect_error",
    "main",
    "make_clients",
    "registrar",
    "render",
    "run_probe",
]
