"""LocalStack without Docker: ``localstack-core`` as our subprocess, from its own virtualenv.

The install (``localstack_install``) happens on the first ``start()`` and is cached. The process
is an ``EmbeddedEmulator`` like MiniStack and moto: own session, ``PR_SET_PDEATHSIG``, atexit,
detached mode for ``make local-up``, stopped by PID. Its state and temporary files live in a
directory of its own, removed on stop, so parallel instances never share ``/tmp/localstack``.

Only services that work offline are enabled: LocalStack's DynamoDB needs the DynamoDB Local jar
(a download, and a licence that rules it out), and its ECS is a paid feature.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import urllib.request
from pathlib import Path

from core.aws import client
from local.emulators.base import LOOPBACK, wait_until
from local.emulators.embedded import EmbeddedEmulator
from local.emulators.external import LOCALSTACK_CAPABILITIES
from local.emulators.localstack_install import (
    LOCALSTACK_VERSION,
    Installation,
    Progress,
    ensure_installed,
)

#: What LocalStack serves here; each works offline with no licence question.
SERVICES = ("sqs", "sts", "logs")
#: Its first start imports a large runtime; generous for a loaded 2-core machine (~2 s idle).
READY_TIMEOUT_S = 120.0
#: Its shutdown stops every service in order (~2-5 s here) before the base class's SIGKILL.
GRACEFUL_STOP_S = 20.0
_READY_STATES = frozenset({"running", "available"})


def health(endpoint: str, timeout: float = 1.0) -> dict[str, object] | None:
    """``/_localstack/health`` as JSON, or None when nothing (or something else) answers."""
    try:
        with urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=timeout) as resp:  # noqa: S310
            body = json.loads(resp.read() or b"{}")
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def sqs_ready(body: dict[str, object] | None) -> bool:
    """True when a health document reports SQS ``running`` or ``available``."""
    services = (body or {}).get("services")
    return isinstance(services, dict) and services.get("sqs") in _READY_STATES


class LocalStackHostEmulator(EmbeddedEmulator):
    """``python -m localstack.runtime.main`` from the cached virtualenv, on a loopback port."""

    name = "localstack"
    cmdline_marker = "localstack.runtime.main"

    def __init__(
        self,
        *,
        port: int | None = None,
        use_free_port: bool = False,
        host: str = LOOPBACK,
        log_dir: Path | str | None = None,
        ready_timeout: float = READY_TIMEOUT_S,
        detached: bool = False,
        home: Path | None = None,
        why: str = "LocalStack's image is not available here",
        progress: Progress | None = None,
    ) -> None:
        super().__init__(
            port=port,
            use_free_port=use_free_port,
            host=host,
            log_dir=log_dir,
            ready_timeout=ready_timeout,
            detached=detached,
        )
        self.home = home
        self.why = why
        self.progress = progress
        self.installation: Installation | None = None
        self.state_dir: Path | None = None

    @property
    def version(self) -> str:
        """What the running process reports, else the pinned release."""
        body = health(self.endpoint) if self.running() else None
        reported = (body or {}).get("version")
        return reported if isinstance(reported, str) else LOCALSTACK_VERSION

    def describe(self) -> str:
        return f"localstack-core {self.version} (host process) at {self.endpoint}"

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Install on first use (cached), then start and wait until SQS is up."""
        if self.running():
            return
        self.installation = ensure_installed(self.home, why=self.why, progress=self.progress)
        self.state_dir = self._fresh_state_dir()
        try:
            super().start()
        except BaseException:
            self._remove_state_dir()
            raise

    def _fresh_state_dir(self) -> Path:
        if self.detached:
            # It outlives us (`make local-down` stops it by PID): keep it beside the log, and
            # clear what an earlier run on this port left.
            path = self.log_dir / f"localstack-{self.port}"
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(parents=True)
        else:
            path = Path(tempfile.mkdtemp(prefix=f"sqskit-localstack-{self.port}-"))
        (path / "tmp").mkdir()
        return path

    def _remove_state_dir(self) -> None:
        path, self.state_dir = self.state_dir, None
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)

    def command(self) -> list[str]:
        if self.installation is None:
            raise RuntimeError("command() before start(): nothing is installed yet")
        return [str(self.installation.python), "-m", "localstack.runtime.main"]

    def environment(self) -> dict[str, str]:
        if self.state_dir is None or self.installation is None:
            raise RuntimeError("environment() before start()")
        state = self.state_dir
        listen = f"{self.host}:{self.port}"
        return {
            "GATEWAY_LISTEN": listen,
            # Queue URLs name this address, and path-style needs no *.localstack.cloud DNS.
            "LOCALSTACK_HOST": listen,
            "SQS_ENDPOINT_STRATEGY": "path",
            "SERVICES": ",".join(SERVICES),
            # Load them before /health says ready, so the first call is not a 2-3 s import.
            "EAGER_SERVICE_LOADING": "1",
            "PERSISTENCE": "0",
            # Its DNS server would bind port 53; its analytics would call out.
            "DNS_ADDRESS": "0",
            "DISABLE_EVENTS": "1",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            # Everything it writes stays in our directory (TMPDIR moves its /tmp/localstack;
            # LocalStack logs a harmless deprecation warning for it).
            "FILESYSTEM_ROOT": str(state / "filesystem"),
            "LOCALSTACK_VOLUME_DIR": str(state / "volume"),
            "CONFIG_DIR": str(state / "config"),
            "TMPDIR": str(state / "tmp"),
            # Its own virtualenv only: nothing of the kit's interpreter may leak in.
            "VIRTUAL_ENV": str(self.installation.python.parent.parent),
            "PYTHONPATH": "",
            "PYTHONHOME": "",
        }

    def ready(self, timeout: float = 0.0) -> bool:
        return wait_until(lambda: sqs_ready(health(self.endpoint)), timeout)

    def stop(self) -> None:
        """SIGTERM and a graceful wait, then the base class (SIGKILL, reap); remove the state."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=GRACEFUL_STOP_S)
        super().stop()
        if proc is not None:
            # Its own session made it a group leader: take any helper it spawned down too. The
            # kernel does not reuse a PID while a group of that ID still has members.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        self._remove_state_dir()

    def reset(self) -> None:
        """Delete every queue and log group (the community edition has no reset endpoint)."""
        sqs = client("sqs", endpoint_url=self.endpoint)
        for url in sqs.list_queues().get("QueueUrls", []):
            sqs.delete_queue(QueueUrl=url)
        logs = client("logs", endpoint_url=self.endpoint)
        for group in logs.describe_log_groups().get("logGroups", []):
            logs.delete_log_group(logGroupName=group["logGroupName"])

    @property
    def reset_url(self) -> str:
        raise NotImplementedError("LocalStack community has no reset URL; reset() uses the APIs")

    def capabilities(self) -> frozenset[str]:
        return CAPABILITIES


# What the probe proved on localstack-core 2026.3.0 (issue 18), shared with an external
# LocalStack: no DynamoDB here (not enabled, see above) and no ECS (paid).
CAPABILITIES: frozenset[str] = LOCALSTACK_CAPABILITIES
