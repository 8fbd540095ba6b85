"""Offline container builds: a Debian base image, a wheelhouse, the consumer and emulator images.

Nothing here pulls from a registry or fetches packages inside a build: the base image comes
from ``debootstrap`` + ``docker import`` (or any image you name), and every Python dependency
is downloaded on the host into a wheelhouse that the Dockerfiles install from.
"""

from local.docker.build import (
    BuildConfig,
    build_all,
    build_base,
    build_image,
    build_wheelhouse,
    image_exists,
)

__all__ = [
    "BuildConfig",
    "build_all",
    "build_base",
    "build_image",
    "build_wheelhouse",
    "image_exists",
]
