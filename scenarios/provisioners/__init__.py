"""Provisioners turn a StackSpec into resources: `api` (boto3, fast) or `terraform` (faithful)."""

from scenarios.provisioners.base import Provisioner

__all__ = ["Provisioner", "get_provisioner"]


def get_provisioner(
    name: str, *, endpoint_url: str | None, region: str | None = None
) -> Provisioner:
    """Build the provisioner called ``name`` (``api`` or ``terraform``)."""
    from scenarios.errors import ConfigError

    if name == "api":
        from scenarios.provisioners.api import ApiProvisioner

        return ApiProvisioner(endpoint_url=endpoint_url, region=region)
    if name == "terraform":
        from scenarios.provisioners.terraform import TerraformProvisioner

        return TerraformProvisioner(endpoint_url=endpoint_url, region=region)
    raise ConfigError(f"unknown provisioner {name!r}: choose 'api' or 'terraform'")
