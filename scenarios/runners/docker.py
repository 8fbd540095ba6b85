"""The docker runner: each consumer incarnation is a container of the consumer image.

The base class supervises (restart on crash, event collection); this backend only launches,
signals, polls, reads logs and removes containers, through the Docker SDK.

- **Labels.** Every container carries ``sqs-kit.managed=true``, ``sqs-kit.run=<run id>``,
  ``sqs-kit.slot`` and ``sqs-kit.consumer-id``, so leftovers are always findable:
  :func:`remove_labelled_containers` (``python -m local.docker clean``) removes them.
- **No orphans.** :meth:`ConsumerRunner.stop_all` removes every container; an ``atexit`` hook
  force-removes this run's containers if the caller dies on Ctrl-C (KeyboardInterrupt) or an
  exception before it got there.
- **Networking.** ``network="host"`` (the default, and the only mode in an engine started with
  ``--bridge=none``) lets the consumer use the same loopback endpoint and queue URLs as the
  host. Any other network (``bridge``, or a compose network such as ``sqs-kit_default``)
  gets *container-safe* URLs: loopback hosts in ``AWS_ENDPOINT_URL``/``QUEUE_URL``/... are
  rewritten to ``endpoint_host`` (``host.docker.internal``, mapped to the host gateway, by
  default; ``localstack:4566`` for the compose emulator service).
- **Exit codes** are the container's, as on ECS: a SIGKILL shows up as 137, not -9.
- **Mounts.** ``mounts`` binds host directories read-only (``--handler`` mounts the user's
  working directory at :data:`USER_CODE_DIR`, which the worker appends to ``sys.path``).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import queue
import re
import secrets
import signal as signals
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consumer.contract import (
    ENV_AWS_ACCESS_KEY_ID,
    ENV_AWS_DEFAULT_REGION,
    ENV_AWS_REGION,
    ENV_AWS_SECRET_ACCESS_KEY,
    EXIT_SIGKILL_CONTAINER,
    IMAGE_LABEL_SETTLED_STOP,
    SIGNAL_SETTLED_STOP,
)
from core.aws import with_emulator_credentials
from core.errors import ConfigError, InfrastructureError
from local.docker.engine import (
    DEFAULT_IMAGE,
    HOST_GATEWAY_NAME,
    HOST_NETWORK,
    LABEL_CONSUMER,
    LABEL_MANAGED,
    LABEL_RUN,
    LABEL_SLOT,
    container_safe_env,
    docker_client,
    docker_module,
    remove_labelled_containers,
)
from scenarios.runners.base import ConsumerRunner, Incarnation

log = logging.getLogger(__name__)

# Unlike a subprocess, a container inherits nothing: these come from the caller's environment.
PASSTHROUGH_VARIABLES = (
    ENV_AWS_ACCESS_KEY_ID,
    ENV_AWS_SECRET_ACCESS_KEY,
    "AWS_SESSION_TOKEN",
    ENV_AWS_REGION,
    ENV_AWS_DEFAULT_REGION,
)
_EXITED = frozenset({"exited", "dead"})
#: the Docker network consumers join (default: the host's)
ENV_DOCKER_NETWORK = "SQSKIT_DOCKER_NETWORK"
#: where ``--handler`` mounts the user's working directory (read-only) in a container
USER_CODE_DIR = "/opt/sqs-kit/user"
_NAME_RE = re.compile(r"[^a-zA-Z0-9_.-]+")
_READER_JOIN_S = 5.0


@dataclass
class _Container:
    """What the runner keeps per container: the SDK object and a log reader thread."""

    container: Any
    consumer_id: str = ""
    lines: queue.SimpleQueue[str] = field(default_factory=queue.SimpleQueue)
    reader: threading.Thread | None = None
    exit_code: int | None = None


class DockerRunner(ConsumerRunner):
    """Consumers as containers of ``image`` on ``network`` (host networking by default).

    ``network`` and ``endpoint_host`` default to SQSKIT_DOCKER_NETWORK and
    SQSKIT_DOCKER_ENDPOINT_HOST; ``log_dir`` keeps each container's stdout (``.log``) and
    stderr (``.err``) like the process runner does.
    """

    name = "docker"

    def __init__(
        self,
        image: str = DEFAULT_IMAGE,
        network: str | None = None,
        *,
        endpoint_host: str | None = None,
        run_id: str | None = None,
        command: Sequence[str] | None = None,
        read_only: bool = True,
        client: Any = None,
        labels: Mapping[str, str] | None = None,
        log_dir: Path | None = None,
        mounts: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        if not image or any(c.isspace() for c in image):
            raise ConfigError(f"image={image!r} is invalid: give an image reference (name:tag)")
        network = network or os.environ.get(ENV_DOCKER_NETWORK) or HOST_NETWORK
        if any(c.isspace() for c in network):
            raise ConfigError(
                f"SQSKIT_DOCKER_NETWORK={network!r} is invalid: use host, bridge or a network name"
            )
        endpoint_host = endpoint_host or os.environ.get("SQSKIT_DOCKER_ENDPOINT_HOST") or None
        self.image = image
        self.network = network
        self.endpoint_host = endpoint_host or (
            None if network == HOST_NETWORK else HOST_GATEWAY_NAME
        )
        if self.endpoint_host is not None:
            container_safe_env({}, self.endpoint_host)  # validate early
        self.run_id = run_id or f"run-{secrets.token_hex(4)}"
        self.command = list(command) if command else None
        self.read_only = read_only
        self.extra_labels = dict(labels or {})
        self.log_dir = Path(log_dir) if log_dir is not None else None
        #: host directory -> container path, mounted read-only
        self.mounts = dict(mounts or {})
        self._client = client or docker_client()
        self._containers: dict[str, _Container] = {}
        # Ctrl-C (KeyboardInterrupt) or a crash of the caller: remove this run's containers.
        atexit.register(_cleanup_at_exit, weakref.ref(self))

    # -- what a scenario/target may ask -----------------------------------------------------------

    def container_env(self, env: Mapping[str, str]) -> dict[str, str]:
        """The environment a container gets.

        ``env`` plus the caller's AWS credentials and region (a container inherits nothing),
        dummy credentials when an emulator endpoint is set and there are none, and URLs made
        container-safe off the host network.
        """
        out = {k: os.environ[k] for k in PASSTHROUGH_VARIABLES if k in os.environ}
        out = with_emulator_credentials({**out, **env})
        if self.endpoint_host is None:
            return out
        return container_safe_env(out, self.endpoint_host)

    def labels_for(self, slot: int, consumer_id: str) -> dict[str, str]:
        return {
            **self.extra_labels,
            LABEL_MANAGED: "true",
            LABEL_RUN: self.run_id,
            LABEL_SLOT: str(slot),
            LABEL_CONSUMER: consumer_id,
        }

    def cleanup(self) -> list[str]:
        """Force-remove every container of this run, whatever its state."""
        for state in self._containers.values():
            with contextlib.suppress(Exception):
                state.container.remove(force=True)
        self._containers.clear()
        try:
            return remove_labelled_containers(run_id=self.run_id, client=self._client)
        except Exception:  # the engine went away: nothing more we can remove
            log.warning("docker.cleanup_failed", extra={"run": self.run_id})
            return []

    def image_settled_stop(self) -> int | None:
        """The settled-stop signal the image declares (``IMAGE_LABEL_SETTLED_STOP``) when it
        is the contract's; None for an image that predates it, or one not built yet (the
        launch says so)."""
        try:
            labels = self._client.images.get(self.image).labels or {}
        except Exception:  # not built, or the engine went away: the launch reports it
            return None
        declared = labels.get(IMAGE_LABEL_SETTLED_STOP)
        return SIGNAL_SETTLED_STOP if declared == SIGNAL_SETTLED_STOP.name else None

    # -- backend primitives -----------------------------------------------------------------------

    def _launch(self, slot: int, consumer_id: str, env: dict[str, str]) -> tuple[str, Any]:
        docker = docker_module()
        kwargs: dict[str, Any] = {
            "image": self.image,
            "detach": True,
            "name": _NAME_RE.sub("-", f"sqskit-{self.run_id}-{consumer_id}")[:120],
            "environment": self.container_env(env),
            "labels": self.labels_for(slot, consumer_id),
            "network_mode": self.network,
            "read_only": self.read_only,
            "tmpfs": {"/tmp": "rw,size=16m,mode=1777"},
        }
        if self.command:  # replaces the image's `python3 -m consumer` entry point
            kwargs["entrypoint"] = self.command
        if self.mounts:
            kwargs["volumes"] = {h: {"bind": c, "mode": "ro"} for h, c in self.mounts.items()}
        if self.network != HOST_NETWORK and self.endpoint_host == HOST_GATEWAY_NAME:
            kwargs["extra_hosts"] = {HOST_GATEWAY_NAME: "host-gateway"}
        try:
            container = self._client.containers.run(**kwargs)
        except docker.errors.ImageNotFound as exc:
            raise InfrastructureError(
                f"image {self.image} is not built: python -m local.docker build consumer"
            ) from exc
        except docker.errors.DockerException as exc:
            raise InfrastructureError(f"cannot start container for {consumer_id}: {exc}") from exc
        state = _Container(container=container, consumer_id=consumer_id)
        state.reader = threading.Thread(
            target=_read_logs,
            args=(container, state.lines),
            name=f"docker-logs-{consumer_id}",
            daemon=True,
        )
        state.reader.start()
        self._containers[container.id] = state
        return container.id[:12], state

    def _signal(self, inc: Incarnation, sig: int) -> None:
        state: _Container = inc.native
        try:
            state.container.kill(signal=signals.Signals(sig).name)
        except Exception as exc:  # it exited meanwhile (409 Conflict): poll() notices
            log.info(
                "docker.signal_skipped",
                extra={"consumer_id": inc.consumer_id, "reason": str(exc)[:200]},
            )

    def _exit_code(self, inc: Incarnation) -> int | None:
        state: _Container = inc.native
        if state.exit_code is not None:
            return state.exit_code
        # The log stream ends when the container stops: a cheap check before an API call.
        if state.reader is not None and state.reader.is_alive():
            return None
        try:
            state.container.reload()
        except Exception:  # removed behind our back: treat as killed
            state.exit_code = EXIT_SIGKILL_CONTAINER
            return state.exit_code
        attrs = state.container.attrs.get("State", {})
        if attrs.get("Status") not in _EXITED:
            if state.reader is not None and not state.reader.is_alive():
                # the stream dropped while the container runs: follow it again
                state.reader = threading.Thread(
                    target=_read_logs,
                    args=(state.container, state.lines, True),
                    name=f"docker-logs-{inc.consumer_id}",
                    daemon=True,
                )
                state.reader.start()
            return None
        state.exit_code = int(attrs.get("ExitCode", 1))
        return state.exit_code

    def _read_new_lines(self, inc: Incarnation) -> list[str]:
        state: _Container = inc.native
        lines = []
        while True:
            try:
                lines.append(state.lines.get_nowait())
            except queue.Empty:
                break
        if lines and self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            with (self.log_dir / f"{state.consumer_id}.log").open("a") as f:
                f.write("".join(line + "\n" for line in lines))
        return lines

    def stderr_tail(self, inc: Incarnation, chars: int = 2000) -> str:
        """The end of a container's stderr (while the container still exists)."""
        state: _Container | None = inc.native
        if state is None:
            return ""
        try:
            err = state.container.logs(stdout=False, stderr=True)
        except Exception:  # removed already, or the engine went away
            return ""
        return bytes(err).decode("utf-8", "replace")[-chars:]

    def _remove(self, inc: Incarnation) -> None:
        state: _Container = inc.native
        if state.reader is not None:
            state.reader.join(timeout=_READER_JOIN_S)
        if self.log_dir is not None:
            with contextlib.suppress(Exception):  # stderr is for humans: tracebacks, warnings
                err = state.container.logs(stdout=False, stderr=True)
                self.log_dir.mkdir(parents=True, exist_ok=True)
                (self.log_dir / f"{state.consumer_id}.err").write_bytes(err)
        try:
            state.container.remove(force=True)
        except Exception as exc:
            log.debug("docker.remove_skipped", extra={"reason": str(exc)[:200]})
        self._containers.pop(state.container.id, None)


def _read_logs(container: Any, sink: queue.SimpleQueue[str], since_now: bool = False) -> None:
    """Follow the container's stdout until it stops, one decoded line at a time."""
    kwargs: dict[str, Any] = {"stdout": True, "stderr": False, "stream": True, "follow": True}
    if since_now:
        kwargs["tail"] = 0
    buffer = b""
    try:
        for chunk in container.logs(**kwargs):
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                sink.put(line.decode("utf-8", errors="replace"))
    except Exception as exc:  # the engine closed the stream; _exit_code decides what it means
        log.debug("docker.log_stream_ended", extra={"reason": str(exc)[:200]})
    if buffer:
        sink.put(buffer.decode("utf-8", errors="replace"))


def _cleanup_at_exit(ref: weakref.ReferenceType[DockerRunner]) -> None:
    runner = ref()
    if runner is not None and runner._containers:
        runner.cleanup()
