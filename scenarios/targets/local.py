"""The `local` target: an emulator, the API (or Terraform) provisioner and local consumers.

The emulator is chosen once per run (``open``) by ``local.emulators.select`` - an endpoint
that already answers, or the embedded default started for the run - and stopped by ``close``
when this run started it. Each stack gets a fresh runner (process or docker), so the phases of
one scenario never share consumers.

A user's consumer seen only from outside (``--consumer-cmd``, ``--consumer-image``) runs behind
a recording pass-through (:mod:`scenarios.runners.passthrough`): each slot's
``AWS_ENDPOINT_URL`` is its own proxy in front of the emulator, while the engine, the
provisioner and the observer keep talking to the emulator directly.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from consumer.contract import ENV_AWS_ENDPOINT_URL, ENV_QUEUE_URL
from core.aws import Endpoints, resolve_region
from core.aws import client as make_client
from core.errors import ConfigError, InfrastructureError
from core.provisioners import Provisioner, get_provisioner
from core.stack import StackHandle, StackSpec
from local.docker.engine import HOST_NETWORK
from local.emulators import Selection, select
from scenarios.model import ConsumerSettings, RestartPolicy
from scenarios.runners import ConsumerHandle, get_runner, plug_problem, resolve_runner
from scenarios.runners.docker import ENV_DOCKER_NETWORK, DockerRunner
from scenarios.runners.passthrough import PassThrough
from scenarios.settings import PluggedConsumer, RunSettings
from scenarios.targets.base import Target

log = logging.getLogger(__name__)


class LocalTarget(Target):
    """Emulator + provisioner + process/docker runner on this machine."""

    name = "local"
    injects_api_faults = True

    def __init__(
        self,
        *,
        emulator: str = "auto",
        endpoint: str | None = None,
        port: int | None = None,
        runner: str = "auto",
        provisioner: str = "api",
        region: str | None = None,
        log_root: Path = Path("reports/logs"),
        image_tag: str | None = None,
        keep: bool = False,
        plug: PluggedConsumer | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.emulator_kind = emulator
        self.requested_endpoint = endpoint
        self.port = port
        self.runner_kind = runner
        self.provisioner_name = provisioner
        self.region = resolve_region(region)
        self.log_root = Path(log_root)
        self.image_tag = image_tag
        self.keep = keep
        #: whose consumer runs, and the directory a command starts in / a handler comes from
        self.plug = plug or PluggedConsumer()
        self.cwd = Path(cwd) if cwd is not None else Path.cwd()
        self.selection: Selection | None = None
        self.runner_name: str | None = None
        self.runner_reason = ""
        self._provisioner: Provisioner | None = None
        # One client per service for the whole run: building one loads botocore's models
        # again (tens of ms of CPU), and boto3 clients are safe to share between threads.
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: RunSettings, *, run_dir: Path) -> LocalTarget:
        return cls(
            emulator=settings.emulator or "auto",
            endpoint=settings.endpoint,
            port=settings.emulator_port,
            runner=settings.runner,
            provisioner=settings.provisioner or "api",
            region=settings.region,
            log_root=run_dir / "logs",
            image_tag=settings.image_tag,
            keep=settings.keep,
            plug=settings.plugged,
        )

    # -- session -----------------------------------------------------------------------------

    def open(self) -> None:
        """Choose (and start, when needed) the emulator, and choose the runner."""
        if self.selection is not None:
            return
        self.runner_name, self.runner_reason = resolve_runner(
            self.runner_kind, image_tag=self.image_tag, plug=self.plug
        )
        problem = plug_problem(self.plug, cwd=self.cwd)
        if problem:
            raise ConfigError(problem)
        self.selection = select(
            self.emulator_kind, endpoint=self.requested_endpoint, port=self.port
        )
        if self.plug.external and self.selection.endpoints.split:
            # the recording pass-through forwards to one endpoint: DynamoDB calls would
            # bypass it, and what it observes (the effect before the delete) would be lost
            self.selection.close()
            self.selection = None
            raise ConfigError(
                f"{self.plug.flag} with per-service endpoints (--emulator "
                f"{self.emulator_kind}) is not supported: the pass-through that watches your "
                "consumer forwards to one emulator; choose one --emulator"
            )
        log.info(
            "target.opened",
            extra={"emulator": self.selection.emulator.name, "reason": self.selection.reason},
        )

    def close(self) -> None:
        if self.handle is not None:
            self.teardown()
        if self.selection is not None:
            self.selection.close()
            self.selection = None
        self._clients = {}  # rebound, not cleared: a fork's parent keeps its own
        self._provisioner = None

    def fork(self) -> LocalTarget:
        """A target on this one's emulator (started once, by this one) with its own stacks."""
        self.open()
        assert self.selection is not None
        twin = LocalTarget(
            emulator=self.emulator_kind,
            endpoint=self.requested_endpoint,
            port=self.port,
            runner=self.runner_kind,
            provisioner=self.provisioner_name,
            region=self.region,
            log_root=self.log_root,
            image_tag=self.image_tag,
            keep=self.keep,
            plug=self.plug,
            cwd=self.cwd,
        )
        twin.runner_name, twin.runner_reason = self.runner_name, self.runner_reason
        # not owned: closing the twin leaves the emulators to this target (each service's too)
        sel = self.selection
        services = tuple((s, Selection(p.emulator, False, p.reason)) for s, p in sel.services)
        twin.selection = Selection(sel.emulator, False, sel.reason, services)
        # shared, thread-safe: the clients and the provisioner (it keeps no per-stack state)
        twin._clients, twin._clients_lock = self._clients, self._clients_lock
        twin._provisioner = self.provisioner
        return twin

    @property
    def endpoint(self) -> str:
        if self.selection is None:
            raise InfrastructureError("the local target is not open: call open() first")
        return self.selection.endpoint

    @property
    def endpoints(self) -> Endpoints:
        """Where each service is reached (per-service endpoints: SQS and DynamoDB apart)."""
        if self.selection is None:
            raise InfrastructureError("the local target is not open: call open() first")
        return self.selection.endpoints

    def capabilities(self) -> frozenset[str] | None:
        if self.selection is None:
            return None
        return self.selection.capabilities()

    # -- per stack ---------------------------------------------------------------------------

    @property
    def provisioner(self) -> Provisioner:
        if self._provisioner is None:
            self._provisioner = get_provisioner(
                self.provisioner_name, endpoint_url=self.endpoints, region=self.region
            )
        return self._provisioner

    def provision(self, spec: StackSpec) -> StackHandle:
        self.open()
        if self.handle is not None:
            self.teardown()
        handle = self.provisioner.provision(spec)
        self.handle = handle
        self.log_dir = self.log_root / spec.prefix
        assert self.runner_name is not None
        try:
            self.runner = get_runner(
                self.runner_name,
                log_dir=self.log_dir,
                image_tag=self.image_tag,
                run_id=spec.prefix,
                plug=self.plug,
                cwd=self.cwd,
            )
            if self._wants_passthrough(self.runner) or self._wants_faults(self.runner):
                self.passthrough = PassThrough(
                    self.endpoint, record_dir=self.log_dir, plan=self.fault_plan
                )
        except Exception:
            self.teardown()  # never leave the stack behind because the runner failed
            raise
        return handle

    def _wants_passthrough(self, runner: object) -> bool:
        """A consumer seen from outside needs one; a container must share the host's loopback.

        The proxies listen on 127.0.0.1 only, so a container on another network (bridge, a
        compose network) talks to the emulator directly, and what only the pass-through shows
        is reported as not observable.
        """
        if not self.plug.external:
            return False
        return not isinstance(runner, DockerRunner) or runner.network == HOST_NETWORK

    def _wants_faults(self, runner: object) -> bool:
        """A fault plan puts every consumer behind the proxy, the kit's own included."""
        if self.fault_plan is None:
            return False
        if isinstance(runner, DockerRunner) and runner.network != HOST_NETWORK:
            raise ConfigError(
                f"API faults need the consumers on the host network (the fault proxy listens "
                f"on 127.0.0.1): set {ENV_DOCKER_NETWORK}={HOST_NETWORK} or use --runner process"
            )
        return True

    def sees_calls(self) -> bool:
        if not self.plug.external or self.runner_name is None:
            return False
        if self.runner_name != "docker":
            return True
        return (os.environ.get(ENV_DOCKER_NETWORK) or HOST_NETWORK) == HOST_NETWORK

    def start_consumers(
        self,
        n: int,
        settings: ConsumerSettings,
        *,
        restart: RestartPolicy = RestartPolicy.ON_FAILURE,
    ) -> list[ConsumerHandle]:
        """Start ``n`` consumers; behind the pass-through, each slot gets its own endpoint."""
        passthrough = self.passthrough
        if passthrough is None:
            return super().start_consumers(n, settings, restart=restart)
        runner, stack = self._active()
        started: list[ConsumerHandle] = []
        for _ in range(n):
            endpoint = passthrough.endpoint(len(runner.handles))
            env = {
                **stack.consumer_env(),
                ENV_AWS_ENDPOINT_URL: endpoint,
                # Some SDKs (JavaScript's) send SQS calls to the queue URL's host, not the
                # endpoint: the queue URL names the pass-through too (emulators go by the path).
                ENV_QUEUE_URL: via(stack.queue_url, endpoint),
            }
            started += runner.start(1, settings, env=env, restart=restart)
        return started

    def client(self, service: str) -> Any:
        with self._clients_lock:
            if service not in self._clients:
                self._clients[service] = make_client(
                    service, endpoint_url=self.endpoints, region=self.region
                )
            return self._clients[service]

    def teardown(self) -> None:
        """Stop the consumers, then destroy the stack (``keep``: leave the stack). Idempotent."""
        runner, handle, passthrough = self.runner, self.handle, self.passthrough
        self.runner, self.handle, self.passthrough = None, None, None
        try:
            if runner is not None:
                runner.stop_all()
        finally:
            if passthrough is not None:
                passthrough.stop()
        if handle is not None and not self.keep:
            self.provisioner.destroy(handle)

    def describe(self) -> dict[str, Any]:
        sel = self.selection
        return {
            "target": self.name,
            "emulator": _emulator_name(sel) if sel else self.emulator_kind,
            "emulator_reason": sel.reason if sel else None,
            "endpoint": sel.endpoint if sel else self.requested_endpoint,
            # which service ran where (one emulator, or per-service endpoints)
            "services": sel.describe_services() if sel else None,
            "runner": self.runner_name or self.runner_kind,
            "runner_reason": self.runner_reason,
            "provisioner": self.provisioner_name,
            "region": self.region,
            "consumer": self.plug.describe(),
            "passthrough": self.sees_calls(),
        }


def _emulator_name(sel: Selection) -> str:
    """``ministack``, or per service: ``sqs=localstack,dynamodb=ministack``."""
    if not sel.services:
        return sel.emulator.name
    return ",".join(f"{service}={part.emulator.name}" for service, part in sel.services)


def via(url: str, endpoint: str) -> str:
    """``url`` with the scheme and host of ``endpoint`` (the same path, query and fragment)."""
    target, parts = urlsplit(endpoint), urlsplit(url)
    return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, parts.fragment))
