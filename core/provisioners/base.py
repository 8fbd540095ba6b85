"""The Provisioner interface: the base owns the error handling, backends own four primitives."""

from __future__ import annotations

import abc
import logging
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from core.errors import ProvisionError
from core.stack import StackHandle, StackSpec

log = logging.getLogger(__name__)


class Provisioner(abc.ABC):
    """Creates and destroys the isolated stack a scenario runs on."""

    name: str = "base"

    def __init__(self, *, variables: Mapping[str, Any] | None = None) -> None:
        #: Terraform variables for the stack (the aws target passes its image, role, log group)
        self.variables: dict[str, Any] = dict(variables or {})

    def provision(self, spec: StackSpec) -> StackHandle:
        """Create the stack; on a partial failure, remove what was created and raise."""
        log.info("stack.provisioning", extra={"prefix": spec.prefix, "provisioner": self.name})
        try:
            return self._create(spec)
        except (ClientError, BotoCoreError) as exc:
            self._cleanup_partial(spec)
            raise ProvisionError(
                f"could not create stack {spec.prefix!r} with the {self.name} provisioner: {exc}"
            ) from exc

    def destroy(self, handle: StackHandle) -> None:
        """Remove the stack; resources already gone are not an error."""
        log.info("stack.destroying", extra={"prefix": handle.prefix, "provisioner": self.name})
        try:
            self._delete(handle)
        except (ClientError, BotoCoreError) as exc:
            raise ProvisionError(
                f"could not destroy stack {handle.prefix!r}: {exc}. "
                f"Run `scenario cleanup` to remove leftovers tagged sqs-kit-stack={handle.prefix}."
            ) from exc

    def outputs(self, handle: StackHandle) -> dict[str, Any]:
        """Every output recorded for the stack (cluster, task definition...); ``{}`` if none."""
        del handle
        return {}

    @abc.abstractmethod
    def _create(self, spec: StackSpec) -> StackHandle: ...

    @abc.abstractmethod
    def _delete(self, handle: StackHandle) -> None: ...

    def _cleanup_partial(self, spec: StackSpec) -> None:  # noqa: B027 - optional hook
        """Best-effort removal after a failed create; backends override when they can."""
