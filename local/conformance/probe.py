"""Running the checks: in parallel, each on its own resources, reported in registry order."""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from core.aws import client
from local.conformance.checks import CHECKS
from local.conformance.registry import CheckFailed, Clients, ProbeCheck, ProbeContext
from local.conformance.results import ProbeReport, ProbeResult

log = logging.getLogger(__name__)

# Checks mostly wait (visibility timeouts, long polls): 16 threads keep a 78-check probe near
# its slowest checks (3-5 s) without changing any result (MiniStack: 10 s at 8 threads, 7 s).
PROBE_WORKERS = 16
# Probe calls fail fast: one attempt, short connects; long polls stay under the read timeout.
_PROBE_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 1},
    connect_timeout=2,
    read_timeout=15,
    max_pool_connections=2 * PROBE_WORKERS,  # a long poll and a timer's send at once per check
)


def make_clients(
    endpoint: str, region: str | None = None, *, dynamodb_endpoint: str | None = None
) -> Clients:
    """Fail-fast clients for the probe (one attempt, short timeouts); DynamoDB's at
    ``dynamodb_endpoint`` when it is served elsewhere (per-service endpoints)."""
    kw: dict[str, Any] = {
        "endpoint_url": endpoint,
        "region": region,
        "config": _PROBE_CLIENT_CONFIG,
    }
    return Clients(
        sqs=client("sqs", **kw),
        ddb=client("dynamodb", **{**kw, "endpoint_url": dynamodb_endpoint or endpoint}),
        ecs=client("ecs", **kw),
        ec2=client("ec2", **kw),
    )


def _run_one(chk: ProbeCheck, ctx: ProbeContext) -> ProbeResult:
    start = time.monotonic()
    try:
        detail = chk.fn(ctx)
        passed = True
    except CheckFailed as exc:
        passed, detail = False, str(exc)
    except ClientError as exc:
        err = exc.response.get("Error", {})
        passed, detail = False, f"{err.get('Code')}: {err.get('Message', '')}"
    except Exception as exc:  # a broken endpoint fails its check, never the probe
        passed, detail = False, f"{type(exc).__name__}: {exc}"
    result = ProbeResult(
        chk.name,
        chk.capability,
        passed,
        _one_line(detail),
        time.monotonic() - start,
        cite=chk.cite,
        disputed=chk.disputed,
    )
    log.info(
        "probe.check",
        extra={"check": chk.name, "passed": passed, "seconds": round(result.duration_s, 3)},
    )
    return result


def _one_line(text: str, limit: int = 240) -> str:
    """Error bodies can be whole HTML pages: keep one short line of text."""
    flat = " ".join(re.sub(r"<[^>]+>", " ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def run_probe(
    endpoint: str,
    *,
    emulator: str = "unknown",
    clients: Clients | None = None,
    checks: Iterable[ProbeCheck] | None = None,
    only: str | None = None,
    region: str | None = None,
    workers: int = PROBE_WORKERS,
) -> ProbeReport:
    """Run the checks (in parallel, each on its own resources) and report, in registry order."""
    chosen = [c for c in (CHECKS if checks is None else list(checks)) if not only or only in c.name]
    ctx = ProbeContext(clients or make_clients(endpoint, region), f"probe-{secrets.token_hex(3)}")
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    start = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            results = list(pool.map(lambda c: _run_one(c, ctx), chosen))
    finally:
        ctx.cleanup()
    return ProbeReport(endpoint, emulator, started_at, time.monotonic() - start, results)
