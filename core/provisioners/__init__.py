"""Provisioners turn a StackSpec into resources: `api` (boto3, fast) or `terraform` (faithful)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.aws import Endpoints
from core.errors import ConfigError
from core.provisioners.api import ApiProvisioner
from core.provisioners.base import Provisioner
from core.provisioners.terraform import TerraformProvisioner

__all__ = [
    "PROVISIONERS",
    "ApiProvisioner",
    "Provisioner",
    "TerraformProvisioner",
    "get_provisioner",
]

PROVISIONERS: dict[str, type[ApiProvisioner] | type[TerraformProvisioner]] = {
    "api": ApiProvisioner,
    "terraform": TerraformProvisioner,
}


def get_provisioner(
    name: str,
    *,
    endpoint_url: str | Endpoints | None,
    region: str | None = None,
    variables: Mapping[str, Any] | None = None,
) -> Provisioner:
    """Build the provisioner called ``name`` (``api`` or ``terraform``).

    ``endpoint_url`` may be per service (:class:`core.aws.Endpoints`); only ``api`` takes a split.
    """
    try:
        cls = PROVISIONERS[name]
    except KeyError:
        raise ConfigError(f"unknown provisioner {name!r}: choose 'api' or 'terraform'") from None
    return cls(endpoint_url=endpoint_url, region=region, variables=variables)
