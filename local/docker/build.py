"""Build the container images with no registry and no network inside a build.

1. **Base image**: ``debootstrap --variant=minbase --include=python3,ca-certificates <suite>``
   from the Debian mirror apt is configured with, trimmed (docs, man pages, locales, apt lists)
   and ``docker import``-ed. The rootfs tarball is cached under ``SQSKIT_IMAGE_CACHE`` so a
   second machine run imports it in seconds instead of bootstrapping again.
2. **Wheelhouse**: ``pip download --only-binary=:all:`` on the host for the *container's*
   Python (3.13), one directory per image, each with an exact-pinned ``requirements.txt`` and
   the ``pip`` wheel itself (a minbase Debian has no pip; a wheel is importable as a zip).
3. **Images**: ``docker build --platform linux/amd64`` of ``consumer/Dockerfile`` and
   ``local/docker/ministack.Dockerfile`` from the repository root.

Every step is idempotent: an existing image, a wheelhouse whose inputs did not change, and the
Docker layer cache make a second run take seconds.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ConfigError, InfrastructureError

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SUITE = "trixie"  # its python3 is 3.13, the version the wheelhouse targets
DEFAULT_PYTHON = "3.13"
DEFAULT_PLATFORM = "linux/amd64"  # as in the seed's build script
DEFAULT_BASE_TAG = "sqs-kit-base:trixie"
DEFAULT_CONSUMER_TAG = "sqs-kit-consumer:local"
DEFAULT_MINISTACK_TAG = "sqs-kit-ministack:local"
IMAGE_KINDS = ("consumer", "ministack")
DOCKERFILES = {
    "consumer": REPO_ROOT / "consumer" / "Dockerfile",
    "ministack": REPO_ROOT / "local" / "docker" / "ministack.Dockerfile",
}
# What the base image drops after debootstrap: none of it is needed at run time.
TRIM_PATHS = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/lintian",
    "var/cache/apt",
    "var/lib/apt/lists",
    "var/cache/debconf/templates.dat-old",
    "var/log",
)
_PLATFORM_RE = re.compile(r"^linux/(amd64|arm64)$")
_PY_RE = re.compile(r"^3\.(1[1-9])$")
_WHEEL_RE = re.compile(r"^(?P<name>[A-Za-z0-9_.]+)-(?P<version>[^-]+)-")


@dataclass(frozen=True)
class BuildConfig:
    """Where and what to build. Every field has a variable, read by :meth:`from_env`.

    SQSKIT_BASE_IMAGE (an existing image skips debootstrap), SQSKIT_CONSUMER_IMAGE,
    SQSKIT_MINISTACK_IMAGE, SQSKIT_DOCKER_PLATFORM, SQSKIT_DEBIAN_MIRROR, SQSKIT_DEBIAN_SUITE,
    SQSKIT_CONTAINER_PYTHON, SQSKIT_WHEELHOUSE, SQSKIT_IMAGE_CACHE.
    """

    base_image: str = DEFAULT_BASE_TAG
    consumer_image: str = DEFAULT_CONSUMER_TAG
    ministack_image: str = DEFAULT_MINISTACK_TAG
    platform: str = DEFAULT_PLATFORM
    mirror: str = DEFAULT_MIRROR
    suite: str = DEFAULT_SUITE
    python: str = DEFAULT_PYTHON
    wheelhouse: Path = REPO_ROOT / ".wheelhouse"
    cache_dir: Path = Path("/var/cache/sqs-kit")
    repo_root: Path = REPO_ROOT
    extra_build_args: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _PLATFORM_RE.match(self.platform):
            raise ConfigError(
                f"SQSKIT_DOCKER_PLATFORM={self.platform!r} is invalid: use linux/amd64 or "
                "linux/arm64"
            )
        if not _PY_RE.match(self.python):
            raise ConfigError(
                f"SQSKIT_CONTAINER_PYTHON={self.python!r} is invalid: use 3.11 .. 3.19"
            )
        if not self.mirror.startswith(("http://", "https://", "file:/")):
            raise ConfigError(
                f"SQSKIT_DEBIAN_MIRROR={self.mirror!r} is invalid: use an http(s):// or file:/ URL"
            )
        for name, tag in (
            ("SQSKIT_BASE_IMAGE", self.base_image),
            ("SQSKIT_CONSUMER_IMAGE", self.consumer_image),
            ("SQSKIT_MINISTACK_IMAGE", self.ministack_image),
        ):
            if not tag or any(c.isspace() for c in tag):
                raise ConfigError(f"{name}={tag!r} is invalid: give an image reference (name:tag)")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BuildConfig:
        env = os.environ if env is None else env
        return cls(
            base_image=env.get("SQSKIT_BASE_IMAGE", DEFAULT_BASE_TAG),
            consumer_image=env.get("SQSKIT_CONSUMER_IMAGE", DEFAULT_CONSUMER_TAG),
            ministack_image=env.get("SQSKIT_MINISTACK_IMAGE", DEFAULT_MINISTACK_TAG),
            platform=env.get("SQSKIT_DOCKER_PLATFORM", DEFAULT_PLATFORM),
            mirror=env.get("SQSKIT_DEBIAN_MIRROR") or detect_debian_mirror(),
            suite=env.get("SQSKIT_DEBIAN_SUITE", DEFAULT_SUITE),
            python=env.get("SQSKIT_CONTAINER_PYTHON", DEFAULT_PYTHON),
            wheelhouse=Path(env.get("SQSKIT_WHEELHOUSE", str(REPO_ROOT / ".wheelhouse"))),
            cache_dir=Path(env.get("SQSKIT_IMAGE_CACHE", "/var/cache/sqs-kit")),
        )

    def image_tag(self, kind: str) -> str:
        if kind == "consumer":
            return self.consumer_image
        if kind == "ministack":
            return self.ministack_image
        raise ConfigError(f"unknown image {kind!r}: choose {', '.join(IMAGE_KINDS)}")


# -- helpers ------------------------------------------------------------------------------------


def _run(argv: Sequence[str], *, what: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a build command; a failure raises with the command's last output lines."""
    log.info("build.exec", extra={"argv": " ".join(argv)})
    try:
        proc = subprocess.run(argv, text=True, capture_output=True, check=False, **kwargs)
    except OSError as exc:
        raise InfrastructureError(f"{what} failed: cannot run {argv[0]}: {exc}") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise InfrastructureError(f"{what} failed (exit {proc.returncode}):\n{tail}")
    return proc


def detect_debian_mirror(
    paths: Iterable[Path] = (Path("/etc/apt/sources.list.d"), Path("/etc/apt/sources.list")),
) -> str:
    """The main Debian archive URL apt is configured with (not -security), else deb.debian.org."""
    texts: list[str] = []
    for path in paths:
        files = sorted(path.glob("*")) if path.is_dir() else [path]
        for f in files:
            if f.is_file() and f.suffix in {".sources", ".list", ""}:
                try:
                    texts.append(f.read_text(errors="replace"))
                except OSError:
                    continue
    for text in texts:
        for url in _debian_uris(text):
            return url
    return DEFAULT_MIRROR


def _debian_uris(text: str) -> list[str]:
    uris: list[str] = []
    # deb822 stanzas: "URIs: <url>" with "Suites:" in the same stanza
    for stanza in re.split(r"\n\s*\n", text):
        fields = dict(
            (k.strip().lower(), v.strip())
            for k, _, v in (line.partition(":") for line in stanza.splitlines())
            if not k.startswith("#") and v
        )
        suites = fields.get("suites", "")
        for uri in fields.get("uris", "").split():
            if _is_debian_archive(uri) and "security" not in suites:
                uris.append(uri.rstrip("/"))
    # one-line format: "deb [opts] <url> <suite> <components>"
    for line in text.splitlines():
        parts = re.sub(r"\[[^]]*\]", "", line).split()
        if (
            len(parts) >= 3
            and parts[0] == "deb"
            and _is_debian_archive(parts[1])
            and "security" not in parts[2]
        ):
            uris.append(parts[1].rstrip("/"))
    return uris


def _is_debian_archive(uri: str) -> bool:
    return uri.startswith(("http://", "https://")) and uri.rstrip("/").endswith("/debian")


def image_exists(tag: str) -> bool:
    """True when the local engine has ``tag`` (never pulls)."""
    try:
        proc = subprocess.run(
            ["docker", "image", "inspect", "--format", "{{.Id}}", tag],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def image_size_bytes(tag: str) -> int:
    proc = _run(["docker", "image", "inspect", "--format", "{{.Size}}", tag], what="inspect")
    return int(proc.stdout.strip())


# -- 1. base image ------------------------------------------------------------------------------


def base_cache_tarball(cfg: BuildConfig) -> Path:
    return cfg.cache_dir / f"rootfs-{cfg.suite}-python3-minbase.tar"


def build_base(cfg: BuildConfig, *, force: bool = False) -> str:
    """Make sure ``cfg.base_image`` exists; returns how (``present|imported|bootstrapped``)."""
    if not force and image_exists(cfg.base_image):
        log.info("build.base.present", extra={"image": cfg.base_image})
        return "present"
    tarball = base_cache_tarball(cfg)
    how = "imported"
    if force or not tarball.is_file():
        _bootstrap_rootfs(cfg, tarball)
        how = "bootstrapped"
    _run(
        [
            "docker",
            "import",
            "--change",
            "ENV LANG=C.UTF-8",
            "--change",
            'CMD ["python3"]',
            str(tarball),
            cfg.base_image,
        ],
        what="docker import of the base image",
        timeout=600,
    )
    log.info("build.base.done", extra={"image": cfg.base_image, "how": how})
    return how


def _bootstrap_rootfs(cfg: BuildConfig, tarball: Path) -> None:
    if shutil.which("debootstrap") is None:
        raise InfrastructureError(
            "debootstrap is not installed: apt-get install -y debootstrap, or set "
            "SQSKIT_BASE_IMAGE to an image you already have (e.g. python:3.13-slim)"
        )
    if os.geteuid() != 0:
        raise InfrastructureError("debootstrap needs root: run the base build with sudo")
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sqskit-rootfs-", dir=tarball.parent) as tmp:
        rootfs = Path(tmp) / "rootfs"
        start = time.monotonic()
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3,ca-certificates",
                cfg.suite,
                str(rootfs),
                cfg.mirror,
            ],
            what=f"debootstrap {cfg.suite} from {cfg.mirror}",
            timeout=1800,
        )
        log.info(
            "build.base.bootstrapped",
            extra={"seconds": round(time.monotonic() - start, 1), "mirror": cfg.mirror},
        )
        trim_rootfs(rootfs)
        partial = tarball.with_suffix(".tar.partial")
        _run(
            ["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(partial), "."],
            what="tar of the base rootfs",
            timeout=600,
        )
        partial.replace(tarball)


def trim_rootfs(rootfs: Path) -> None:
    """Drop what a container never reads; keeps the image well under the 200 MB budget."""
    for rel in TRIM_PATHS:
        target = rootfs / rel
        if target.is_dir():
            for child in target.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
    for cache in rootfs.glob("usr/lib/python3*/**/__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


# -- 2. wheelhouse ------------------------------------------------------------------------------


def image_requirements(kind: str, repo_root: Path = REPO_ROOT) -> list[str]:
    """What each image installs: the consumer gets only pyproject's base dependencies."""
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    if kind == "consumer":
        return list(project["dependencies"])
    if kind == "ministack":
        # the same MiniStack the embedded emulator runs, so tier results agree
        try:
            return [f"ministack=={importlib.metadata.version('ministack')}"]
        except importlib.metadata.PackageNotFoundError:
            kit = project["optional-dependencies"]["kit"]
            return [req for req in kit if req.lower().startswith("ministack")]
    raise ConfigError(f"unknown image {kind!r}: choose {', '.join(IMAGE_KINDS)}")


def pip_download_argv(dest: Path, requirements: Sequence[str], python: str) -> list[str]:
    """``pip download`` for a Linux x86-64 CPython ``python``, binary wheels only."""
    abi = "cp" + python.replace(".", "")
    return [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--only-binary=:all:",
        "--python-version",
        python,
        "--implementation",
        "cp",
        "--abi",
        abi,
        "--abi",
        "abi3",
        "--abi",
        "none",
        "--platform",
        "manylinux2014_x86_64",
        "--platform",
        "manylinux_2_28_x86_64",
        "--platform",
        "any",
        "--dest",
        str(dest),
        *requirements,
        "pip",
    ]


def pinned_requirements(wheel_dir: Path) -> list[str]:
    """``name==version`` for every wheel in ``wheel_dir`` except pip itself."""
    pins = []
    for wheel in sorted(wheel_dir.glob("*.whl")):
        m = _WHEEL_RE.match(wheel.name)
        if m and m["name"].lower() != "pip":
            pins.append(f"{m['name'].replace('_', '-')}=={m['version']}")
    return pins


def build_wheelhouse(cfg: BuildConfig, kinds: Sequence[str] = IMAGE_KINDS) -> dict[str, str]:
    """Download each image's wheels into ``<wheelhouse>/<kind>/``; returns kind -> how."""
    result: dict[str, str] = {}
    for kind in kinds:
        reqs = image_requirements(kind, cfg.repo_root)
        dest = cfg.wheelhouse / kind
        stamp = dest / ".inputs"
        digest = hashlib.sha256(json.dumps([cfg.python, reqs]).encode()).hexdigest()
        if (
            stamp.is_file()
            and stamp.read_text() == digest
            and (dest / "requirements.txt").is_file()
        ):
            result[kind] = "cached"
            continue
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        _run(
            pip_download_argv(dest, reqs, cfg.python),
            what=f"pip download of the {kind} wheelhouse",
            timeout=900,
        )
        if not list(dest.glob("pip-*.whl")):
            raise InfrastructureError(f"the {kind} wheelhouse has no pip wheel in {dest}")
        (dest / "requirements.txt").write_text("\n".join(pinned_requirements(dest)) + "\n")
        stamp.write_text(digest)
        result[kind] = "downloaded"
        log.info("build.wheelhouse.done", extra={"kind": kind, "dir": str(dest)})
    return result


# -- 3. images ----------------------------------------------------------------------------------


def docker_build_argv(cfg: BuildConfig, kind: str, *, base_image: str | None = None) -> list[str]:
    """The ``docker build`` command for one image, from the repository root as context."""
    argv = [
        "docker",
        "build",
        "--platform",
        cfg.platform,
        "--file",
        str(DOCKERFILES[kind]),
        "--build-arg",
        f"BASE_IMAGE={base_image or cfg.base_image}",
        "--label",
        f"sqs-kit.image={kind}",
        "--tag",
        cfg.image_tag(kind),
    ]
    for key, value in sorted(cfg.extra_build_args.items()):
        argv += ["--build-arg", f"{key}={value}"]
    return [*argv, str(cfg.repo_root)]


def build_image(cfg: BuildConfig, kind: str) -> float:
    """Build one image (the layer cache makes a rebuild quick); returns seconds taken."""
    if kind not in IMAGE_KINDS:
        raise ConfigError(f"unknown image {kind!r}: choose {', '.join(IMAGE_KINDS)}")
    if not (cfg.wheelhouse / kind / "requirements.txt").is_file():
        raise InfrastructureError(
            f"no {kind} wheelhouse in {cfg.wheelhouse}: run `python -m local.docker wheelhouse`"
        )
    start = time.monotonic()
    # The legacy builder is what an engine without buildx has; it honours --platform too.
    env = {**os.environ, "DOCKER_BUILDKIT": os.environ.get("DOCKER_BUILDKIT", "0")}
    _run(docker_build_argv(cfg, kind), what=f"docker build of {kind}", timeout=1200, env=env)
    took = time.monotonic() - start
    log.info("build.image.done", extra={"image": cfg.image_tag(kind), "seconds": round(took, 1)})
    return took


def build_all(cfg: BuildConfig, *, kinds: Sequence[str] = IMAGE_KINDS) -> dict[str, str]:
    """Base image (if missing), wheelhouse, then each image; returns step -> what happened."""
    steps: dict[str, str] = {"base": build_base(cfg)}
    for kind, how in build_wheelhouse(cfg, kinds).items():
        steps[f"wheelhouse:{kind}"] = how
    for kind in kinds:
        took = build_image(cfg, kind)
        steps[f"image:{kind}"] = (
            f"{cfg.image_tag(kind)} {image_size_bytes(cfg.image_tag(kind)) / 1e6:.0f} MB "
            f"in {took:.1f} s"
        )
    # superseded kit images (untagged by the rebuild) would pile up run after run
    _run(
        ["docker", "image", "prune", "--force", "--filter", "label=sqs-kit.image"],
        what="pruning superseded images",
        timeout=120,
    )
    return steps
