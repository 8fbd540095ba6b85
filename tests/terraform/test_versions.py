"""The provider is pinned to the 5.x line and locked: no run can pick up hashicorp/aws 6.x."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.errors import ProvisionError
from core.terraform.cli import TerraformCli, copy_config, find_plugin_dir
from tests.terraform.staging import LOCK_FILE, ROOTS, init, root_id, stage

LOCKED_VERSION = "5.100.0"
PROVIDER = Path("registry.terraform.io") / "hashicorp" / "aws"


def _fake_mirror(base: Path, real: Path, versions: list[str]) -> Path:
    """A filesystem mirror offering ``versions`` of hashicorp/aws (links to the real binary)."""
    binary = next(
        (real / PROVIDER / LOCKED_VERSION / "linux_amd64").glob("terraform-provider-aws*")
    )
    for version in versions:
        plat = base / PROVIDER / version / "linux_amd64"
        plat.mkdir(parents=True)
        os.symlink(binary, plat / f"terraform-provider-aws_v{version}_x5")
    return base


@pytest.mark.unit
@pytest.mark.parametrize("root", ROOTS, ids=root_id)
def test_each_root_commits_a_lock_file_for_the_pinned_version(root: Path):
    text = (root / LOCK_FILE).read_text()
    assert 'provider "registry.terraform.io/hashicorp/aws"' in text
    assert f'version     = "{LOCKED_VERSION}"' in text
    # linux_amd64's h1 (the mirror's package) plus the registry's zip hashes for other platforms.
    assert "h1:" in text
    assert text.count('"zh:') >= 10


@pytest.mark.terraform
@pytest.mark.parametrize("root", ROOTS, ids=root_id)
def test_init_accepts_the_committed_lock_file_unchanged(require_terraform, tmp_path, root: Path):
    # GIVEN the root with its committed lock file WHEN init must not touch the lock
    workdir = stage(root, tmp_path)
    init(workdir, find_plugin_dir(), "-lockfile=readonly")
    # THEN it installed the locked version from the mirror, and the lock is byte-identical
    assert (workdir / LOCK_FILE).read_text() == (root / LOCK_FILE).read_text()
    installed = workdir / ".terraform" / "providers" / PROVIDER / LOCKED_VERSION
    assert installed.is_dir()


@pytest.mark.terraform
@pytest.mark.parametrize("root", ROOTS, ids=root_id)
def test_readonly_init_fails_without_the_lock_file(require_terraform, tmp_path, root: Path):
    # The check above can fail: without a lock file, readonly init refuses to choose a version.
    workdir = stage(root, tmp_path, lock=False)
    with pytest.raises(ProvisionError, match="lock"):
        init(workdir, find_plugin_dir(), "-lockfile=readonly")


@pytest.mark.terraform
@pytest.mark.parametrize("root", ROOTS, ids=root_id)
def test_the_version_constraint_never_selects_6x(require_terraform, tmp_path, root: Path):
    # GIVEN a mirror that offers 5.100.0 and two newer majors, and no lock file
    real = find_plugin_dir()
    assert real is not None
    mirror = _fake_mirror(tmp_path / "mirror", real, [LOCKED_VERSION, "6.0.0", "6.14.1"])
    workdir = stage(root, tmp_path / "cfg", lock=False)
    # WHEN terraform chooses a version from it
    init(workdir, mirror)
    # THEN it chose the newest 5.x, not 6.x
    text = (workdir / LOCK_FILE).read_text()
    assert f'version     = "{LOCKED_VERSION}"' in text, text


@pytest.mark.terraform
@pytest.mark.parametrize("root", ROOTS, ids=root_id)
def test_the_kits_staged_copies_init_from_the_lock_alone(require_terraform, tmp_path, root: Path):
    # GIVEN a staged copy as the provisioner and the main infrastructure make it
    workdir = copy_config(root, tmp_path)
    # WHEN the kit's own init runs in it (readonly: the lock decides the provider)
    TerraformCli(workdir=workdir, plugin_dir=find_plugin_dir(), timeout_s=300).init()
    # THEN the locked version is installed and the lock is byte-identical
    assert (workdir / LOCK_FILE).read_text() == (root / LOCK_FILE).read_text()
    assert (workdir / ".terraform" / "providers" / PROVIDER / LOCKED_VERSION).is_dir()
