"""The AWS code path rehearsed here: ``scenario run X --target aws --emulator ministack``.

One command does what docs/aws.md once listed as six manual steps:

1. checks that a Docker engine answers (MiniStack runs each ECS task as a container) and that
   terraform, tflocal and the provider mirror are there;
2. builds the consumer image from this checkout (the layer cache makes it seconds), or reuses
   the one there is when it cannot be built here;
3. finds the emulator and the main infrastructure: those of ``make local-up`` when they are up
   (a MiniStack whose ``terraform/`` state answers), so Terraform applies only the run's
   workspace; otherwise it starts a private MiniStack and applies ``terraform/`` into it
   through tflocal (``desired_count=0``);
4. runs the unchanged ``aws`` target against it (a Terraform workspace per run, RunTask,
   CloudWatch Logs, the oracle, destroy), with the host network mode MiniStack needs;
5. stops what it started: the private MiniStack, its task containers, its Terraform copy.

The report says it was a rehearsal (``target_info.rehearsal``), with the emulator, the network
mode, where the main infrastructure came from and the image.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import capabilities as cap
from core.aws import resolve_region
from core.errors import InfrastructureError
from core.stack import StackHandle, StackSpec
from core.terraform import MAIN_ROOT
from core.terraform.cli import copy_config
from core.terraform.main_infra import MainInfrastructure
from core.terraform.outputs import state_outputs_or_empty
from local.config import LocalConfig
from local.docker.build import BuildConfig, build_image, image_exists
from local.docker.engine import docker_client
from local.emulators import embedded
from local.emulators.base import answers
from local.emulators.embedded import EmbeddedEmulator
from local.emulators.ministack import CAPABILITIES as MINISTACK_CAPABILITIES
from local.infra import (
    LOCAL_MAIN_VARIABLES,
    is_emulator_deployment,
    main_answers,
    read_state,
    terraform_ready,
)
from scenarios.targets.aws import (
    ENV_CONTAINER_IMAGE,
    ENV_NETWORK_MODE,
    AwsTarget,
    AwsTargetConfig,
)
from scenarios.targets.base import Target, Workload

log = logging.getLogger(__name__)

REHEARSAL_EMULATOR = "ministack"
#: MiniStack gives an awsvpc task no route to itself on an engine without a bridge network
#: (docs/aws.md, "Emulator-backed runs"); on the host network the task reaches it on loopback.
DEFAULT_NETWORK_MODE = "host"
_READY_TIMEOUT_S = 20.0
_ONE_LINE = 240


def _one_line(text: str) -> str:
    first = (text.strip().splitlines() or [""])[0]
    return first if len(first) <= _ONE_LINE else first[: _ONE_LINE - 3] + "..."


# -- what a rehearsal runs against ------------------------------------------------------------


@dataclass
class Environment:
    """The emulator and main infrastructure of one rehearsal, and whether it owns them."""

    endpoint: str
    region: str
    main_outputs: dict[str, Any]
    how: str
    #: a private emulator this run started (None: `make local-up`'s, left running)
    emulator: EmbeddedEmulator | None = None
    workdir: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def close(self) -> None:
        """Stop the private emulator, remove its task containers and its Terraform copy."""
        emulator, self.emulator = self.emulator, None
        if emulator is not None:
            emulator.stop()
            remove_task_containers(emulator.port)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None


def reusable_local_up(state_dir: Path, region: str | None) -> tuple[Environment | None, str]:
    """`make local-up`'s MiniStack and main infrastructure when a rehearsal can use them.

    Returns (environment, "") or (None, why not), the reason being said to the user.
    """
    state = read_state(state_dir)
    if state is None:
        return None, f"`make local-up` is not running (no state in {state_dir})"
    outputs = state_outputs_or_empty(Path(state.main_state)) if state.main_state else {}
    main_region = str(outputs.get("aws_region") or "")
    if state.emulator != REHEARSAL_EMULATOR:
        why = f"`make local-up` runs {state.emulator}, whose ECS does not run containers"
    elif not (state.endpoint and answers(state.endpoint)):
        why = f"`make local-up`'s {state.emulator} at {state.endpoint} does not answer"
    elif not outputs or not is_emulator_deployment(outputs):
        why = "`make local-up` did not apply terraform/ (the API fast path?)"
    elif region and main_region and region != main_region:
        why = f"`make local-up`'s main infrastructure is in {main_region}, not {region}"
    else:
        ok, detail = main_answers(outputs, state.endpoint)
        why = "" if ok else f"`make local-up`'s main infrastructure does not answer ({detail})"
    if why:
        return None, why
    how = (
        f"reused `make local-up`'s {state.emulator} at {state.endpoint} and its main infrastructure"
    )
    return Environment(state.endpoint, main_region or resolve_region(region), outputs, how), ""


def private_environment(region: str | None, *, log_dir: Path) -> Environment:
    """A MiniStack of this run's own, with ``terraform/`` applied into it (about a minute)."""
    started = time.monotonic()
    emulator = embedded(REHEARSAL_EMULATOR, None, ready_timeout=_READY_TIMEOUT_S, log_dir=log_dir)
    emulator.start()
    workdir = Path(tempfile.mkdtemp(prefix="sqskit-rehearsal-main-"))
    env = Environment(emulator.endpoint, resolve_region(region), {}, "", emulator, workdir)
    env.timings["emulator_s"] = round(time.monotonic() - started, 2)
    try:
        infra = MainInfrastructure(
            endpoint_url=emulator.endpoint,
            region=env.region,
            variables=dict(LOCAL_MAIN_VARIABLES),
            workdir=copy_config(MAIN_ROOT, workdir),
        )
        applied = time.monotonic()
        env.main_outputs = infra.apply()
        env.timings["main_apply_s"] = round(time.monotonic() - applied, 1)
    except BaseException:
        env.close()
        raise
    env.how = (
        f"started {REHEARSAL_EMULATOR} on port {emulator.port} and applied terraform/ in "
        f"{env.timings['main_apply_s']:.0f} s (`make local-up` first saves this on every run)"
    )
    return env


def remove_task_containers(port: int) -> int:
    """Remove the task containers a MiniStack on ``port`` left (its ``ministack.instance``)."""
    try:
        engine = docker_client(timeout=30)
    except InfrastructureError:
        return 0
    instance = f"{os.environ.get('MINISTACK_HOSTNAME') or socket.gethostname()}:{port}"
    removed = 0
    try:
        for container in engine.containers.list(
            all=True, filters={"label": ["ministack=ecs", f"ministack.instance={instance}"]}
        ):
            try:
                container.remove(force=True)
                removed += 1
            except Exception:  # gone already, or the engine refused: nothing left to do here
                log.info("rehearsal.container_not_removed", extra={"id": container.id})
    finally:
        engine.close()
    return removed


# -- the consumer image ------------------------------------------------------------------------


def require_tools() -> None:
    """Raise a one-line InfrastructureError when Docker or the Terraform toolchain is missing."""
    try:
        docker_client(timeout=10).close()
    except InfrastructureError as exc:
        raise InfrastructureError(
            "the rehearsal needs Docker (MiniStack runs each ECS task as a container): "
            + _one_line(str(exc))
        ) from exc
    ok, why = terraform_ready()
    if not ok:
        raise InfrastructureError(f"the rehearsal applies Terraform through tflocal, but {why}")


def ensure_image(explicit: str | None) -> tuple[str, str]:
    """The consumer image the tasks run, and how it was got: given, built or reused."""
    if explicit:
        if not image_exists(explicit):
            raise InfrastructureError(
                f"the consumer image {explicit} is not on the Docker engine: build it, or let "
                f"the rehearsal build one (unset {ENV_CONTAINER_IMAGE} and --image-tag)"
            )
        return explicit, "given"
    cfg = BuildConfig.from_env()
    tag = cfg.consumer_image
    wheelhouse = cfg.wheelhouse / "consumer" / "requirements.txt"
    if wheelhouse.is_file() and image_exists(cfg.base_image):
        took = build_image(cfg, "consumer")
        return tag, f"built from this checkout in {took:.1f} s"
    if image_exists(tag):
        return tag, (
            f"reused: cannot rebuild here (no wheelhouse at {wheelhouse.parent} or no base "
            f"image {cfg.base_image}; `make image` makes both)"
        )
    raise InfrastructureError(
        f"no consumer image {tag}, and neither a wheelhouse nor a base image to build it: "
        "run `make image` once"
    )


# -- the target ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RehearsalOptions:
    """What a rehearsal is asked for (the CLI's settings)."""

    emulator: str = "auto"
    region: str | None = None
    image_tag: str | None = None
    keep: bool = False
    log_dir: Path = Path("reports")
    #: ``--consumer-image``: the tasks run this image instead of the kit's consumer
    consumer_image: str | None = None


class RehearsalTarget(Target):
    """The ``aws`` target against an emulator this class finds or starts (see the module doc).

    Everything per stack is the unchanged :class:`AwsTarget`'s, built in ``open`` once the
    endpoint and the main outputs are known; this class only adds the environment around it.
    """

    name = "aws"

    def __init__(
        self,
        options: RehearsalOptions | None = None,
        *,
        check_tools: Callable[[], None] | None = None,
        get_image: Callable[[str | None], tuple[str, str]] | None = None,
        find_local_up: Callable[[str | None], tuple[Environment | None, str]] | None = None,
        start_private: Callable[[str | None], Environment] | None = None,
        make_target: Callable[[AwsTargetConfig], AwsTarget] = AwsTarget,
    ) -> None:
        self.options = options or RehearsalOptions()
        self._check_tools = check_tools or require_tools
        self._get_image = get_image or ensure_image
        self._find_local_up = find_local_up or (
            lambda region: reusable_local_up(LocalConfig.from_env().state_dir, region)
        )
        self._start_private = start_private or (
            lambda region: private_environment(region, log_dir=self.options.log_dir)
        )
        self._make_target = make_target
        self.environment: Environment | None = None
        self.inner: AwsTarget | None = None
        self.image: tuple[str, str] | None = None
        self.reuse_note = ""
        self.setup_s: dict[str, float] = {}

    # -- session -----------------------------------------------------------------------------

    def preflight(self, workload: Workload) -> str | None:
        """What the rehearsal will do; nothing is created on AWS."""
        del workload
        return (
            "aws target rehearsed on this machine: MiniStack stands in for AWS (RunTask runs the "
            "consumer image on Docker); nothing is created on AWS and nothing costs money"
        )

    def open(self) -> None:
        """Docker and Terraform, the image, the emulator and main infrastructure, the aws target."""
        if self.inner is not None:
            return
        self._check_tools()
        started = time.monotonic()
        explicit = (
            self.options.consumer_image or os.environ.get(ENV_CONTAINER_IMAGE, "").strip() or None
        )
        if explicit is None and self.options.image_tag:
            repository = BuildConfig.from_env().consumer_image.rsplit(":", 1)[0]
            explicit = f"{repository}:{self.options.image_tag}"
        self.image = self._get_image(explicit)
        self.setup_s["image_s"] = round(time.monotonic() - started, 1)
        env, self.reuse_note = self._find_local_up(self.options.region)
        if env is None:
            log.info("rehearsal.private_emulator", extra={"reason": self.reuse_note})
            env = self._start_private(self.options.region)
        self.environment = env
        self.setup_s.update(env.timings)
        try:
            network = os.environ.get(ENV_NETWORK_MODE, "").strip() or DEFAULT_NETWORK_MODE
            self.inner = self._make_target(
                AwsTargetConfig(
                    region=env.region,
                    endpoint_url=env.endpoint,
                    provisioner="terraform",
                    keep=self.options.keep,
                    main_outputs=env.main_outputs,
                    container_image=self.image[0],
                    network_mode=network,
                )
            )
            self.inner.open()
        except BaseException:
            self.close()
            raise
        log.info("rehearsal.opened", extra={"endpoint": env.endpoint, "how": env.how})

    def close(self) -> None:
        """Tear down a stack still up, then stop what ``open`` started (nothing of local-up's)."""
        try:
            if self.inner is not None and self.handle is not None:
                self.teardown()
        finally:
            if self.environment is not None:
                self.environment.close()

    def _target(self) -> AwsTarget:
        if self.inner is None:
            raise InfrastructureError("the rehearsal is not open: call open() first")
        return self.inner

    # -- per stack: the aws target's own ----------------------------------------------------------

    def provision(self, spec: StackSpec) -> StackHandle:
        inner = self._target()
        try:
            return inner.provision(spec)
        finally:
            self.handle, self.runner, self.log_dir = inner.handle, inner.runner, inner.log_dir

    def teardown(self) -> None:
        inner = self._target()
        try:
            inner.teardown()
        finally:
            self.handle, self.runner = inner.handle, inner.runner

    def client(self, service: str) -> Any:
        return self._target().client(service)

    def stop_timeout(self, timeout: float) -> float:
        return self._target().stop_timeout(timeout) if self.inner else timeout

    def capabilities(self) -> frozenset[str] | None:
        """MiniStack's, as the probe proved them, plus running tasks (Docker answered)."""
        return MINISTACK_CAPABILITIES | {cap.ECS_API, cap.ECS_RUNS_CONTAINERS}

    def describe(self) -> dict[str, Any]:
        fields: dict[str, Any] = self.inner.describe() if self.inner else {"target": self.name}
        env = self.environment
        fields.update(
            rehearsal=True,
            emulator=REHEARSAL_EMULATOR,
            emulator_reason=env.how if env else self.options.emulator,
            main_infrastructure=env.how if env else None,
            image=f"{self.image[0]} ({self.image[1]})" if self.image else None,
            rehearsal_setup_s=dict(self.setup_s),
        )
        fields.setdefault(
            "network_mode", os.environ.get(ENV_NETWORK_MODE, "").strip() or DEFAULT_NETWORK_MODE
        )
        if self.reuse_note:
            fields["local_up_not_reused"] = self.reuse_note
        return fields
