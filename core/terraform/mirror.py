"""Find the filesystem mirror of the hashicorp/aws provider that `terraform init` installs from.

Registry downloads are not possible everywhere the kit runs, so the Terraform paths use
``terraform init -plugin-dir=<mirror>``. The mirror is the usual unpacked layout:
``<root>/registry.terraform.io/hashicorp/aws/<version>/<os>_<arch>/terraform-provider-aws_*``.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

#: Environment variable naming the mirror root; it wins over every known place.
ENV_VAR = "TF_PLUGIN_DIR"

#: Places searched, in order, when ``TF_PLUGIN_DIR`` is unset.
KNOWN_PLACES: tuple[Path, ...] = (
    Path("/opt/tf-plugins"),
    Path("/usr/local/share/terraform/plugins"),
    Path("/usr/share/terraform/plugins"),
    Path.home() / ".terraform.d" / "plugins",
    Path.home() / ".local" / "share" / "terraform" / "plugins",
)

_PROVIDER = Path("registry.terraform.io") / "hashicorp" / "aws"


def platform_dir() -> str:
    """Terraform's ``<os>_<arch>`` name for this machine (``linux_amd64``)."""
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine
    )
    return f"{platform.system().lower()}_{arch}"


def provider_versions(root: Path) -> list[str]:
    """Versions of hashicorp/aws under ``root`` that have a binary for this platform."""
    base = root / _PROVIDER
    if not base.is_dir():
        return []
    found = []
    for version_dir in sorted(base.iterdir()):
        plat = version_dir / platform_dir()
        if plat.is_dir() and any(
            p.name.startswith("terraform-provider-aws") for p in plat.iterdir()
        ):
            found.append(version_dir.name)
    return found


def find_provider_mirror() -> Path | None:
    """The mirror root holding hashicorp/aws for this platform, or None when there is none.

    ``TF_PLUGIN_DIR`` is checked first (and only it, when set, so a wrong value is not
    silently replaced by another mirror); otherwise the known places are tried in order.
    """
    given = os.environ.get(ENV_VAR, "").strip()
    candidates = [Path(given).expanduser()] if given else list(KNOWN_PLACES)
    for root in candidates:
        if provider_versions(root):
            return root
    return None
