"""boto3 clients built at call time, with botocore's standard retry mode.

Emulators accept any credentials; when an endpoint override is set and the environment has
none, the contract's dummy pair is used, so a laptop needs no AWS setup.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ProfileNotFound

from consumer.contract import (
    EMULATOR_CREDENTIALS,
    ENV_AWS_ACCESS_KEY_ID,
    ENV_AWS_DEFAULT_REGION,
    ENV_AWS_ENDPOINT_URL,
    ENV_AWS_ENDPOINT_URL_DYNAMODB,
    ENV_AWS_ENDPOINT_URL_SQS,
    ENV_AWS_REGION,
    ENV_AWS_SECRET_ACCESS_KEY,
)
from core.errors import ConfigError

#: The last resort, after every source the SDK knows: the main infrastructure's own default
#: (``aws_region`` in terraform/variables.tf), so a run with nothing configured lands where
#: ``make aws-up`` put the cluster.
DEFAULT_REGION = "us-west-1"
ENV_AWS_PROFILE = "AWS_PROFILE"

#: where a region came from (``RegionChoice.source``)
SOURCE_EXPLICIT = "explicit (--region)"
SOURCE_DEFAULT = f"the kit's default ({DEFAULT_REGION}, the main infrastructure's default)"


#: the services a run can send to endpoints of their own, and the SDK variable for each
#: (botocore prefers ``AWS_ENDPOINT_URL_<SERVICE>`` over ``AWS_ENDPOINT_URL``)
SERVICE_ENDPOINT_VARIABLES: dict[str, str] = {
    "sqs": ENV_AWS_ENDPOINT_URL_SQS,
    "dynamodb": ENV_AWS_ENDPOINT_URL_DYNAMODB,
}


@dataclass(frozen=True)
class Endpoints:
    """Where a run reaches AWS: one endpoint for every service, or one per service.

    ``default`` serves every service without an entry in ``services`` (``None``: AWS itself).
    A split such as SQS on LocalStack and DynamoDB on MiniStack is
    ``Endpoints(sqs_url, (("dynamodb", ministack_url),))``.
    """

    default: str | None
    services: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        for service, _url in self.services:
            if service not in SERVICE_ENDPOINT_VARIABLES:
                raise ConfigError(
                    f"no per-service endpoint for {service!r}: "
                    f"allowed {', '.join(SERVICE_ENDPOINT_VARIABLES)}"
                )

    def url(self, service: str) -> str | None:
        """The endpoint ``service`` is reached at."""
        return dict(self.services).get(service, self.default)

    @property
    def split(self) -> bool:
        """True when some service is reached elsewhere than at ``default``."""
        return any(url != self.default for _service, url in self.services)

    def env(self) -> dict[str, str]:
        """The SDK variables that route a process's clients (``AWS_ENDPOINT_URL[_<SERVICE>]``)."""
        out: dict[str, str] = {}
        if self.default:
            out[ENV_AWS_ENDPOINT_URL] = self.default
        for service, url in self.services:
            out[SERVICE_ENDPOINT_VARIABLES[service]] = url
        return out

    def by_service(self) -> dict[str, str | None]:
        """Every splittable service and its endpoint, for reports."""
        return {service: self.url(service) for service in SERVICE_ENDPOINT_VARIABLES}


def endpoint_for(service: str, endpoint_url: str | Endpoints | None) -> str | None:
    """The one URL ``service`` uses, whether the run has one endpoint or one per service."""
    if isinstance(endpoint_url, Endpoints):
        return endpoint_url.url(service)
    return endpoint_url


def retry_config(
    max_attempts: int = 8, *, connect_timeout: float = 5, read_timeout: float = 30
) -> Config:
    """The one botocore retry policy the kit uses: standard mode, bounded attempts."""
    return Config(
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )


@dataclass(frozen=True)
class RegionChoice:
    """A region and where it came from (for the report and for mismatch errors)."""

    region: str
    source: str

    @property
    def chosen(self) -> bool:
        """True when the user set it (a flag or an environment variable), not a default."""
        return self.source == SOURCE_EXPLICIT or self.source.startswith("AWS_")


def region_choice(
    region: str | None = None,
    *,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> RegionChoice:
    """``region``, else AWS_REGION, else the SDK's own resolution, else :data:`DEFAULT_REGION`.

    The SDK's resolution is botocore's: AWS_DEFAULT_REGION, then the ``region`` of the profile
    (``profile``, else AWS_PROFILE, else ``default``) in ``~/.aws/config`` (or
    AWS_CONFIG_FILE). Passing a region to boto3 explicitly skips that file, so the kit asks the
    session first instead of guessing.
    """
    env = os.environ if environ is None else environ
    if region:
        return RegionChoice(region, SOURCE_EXPLICIT)
    for name in (ENV_AWS_REGION, ENV_AWS_DEFAULT_REGION):
        value = env.get(name, "").strip()
        if value:
            return RegionChoice(value, name)
    try:
        session = (
            boto3.session.Session(profile_name=profile) if profile else boto3.session.Session()
        )
    except ProfileNotFound as exc:
        name = profile or env.get(ENV_AWS_PROFILE, "")
        raise ConfigError(
            f"{ENV_AWS_PROFILE}={name!r} names no profile in the AWS config: "
            "run `aws configure --profile NAME`, or unset it"
        ) from exc
    if session.region_name:
        return RegionChoice(
            str(session.region_name), f"profile {session.profile_name!r} in the AWS config"
        )
    return RegionChoice(DEFAULT_REGION, SOURCE_DEFAULT)


def resolve_region(region: str | None = None, *, profile: str | None = None) -> str:
    """The region :func:`region_choice` resolves (see there for the order)."""
    return region_choice(region, profile=profile).region


def with_emulator_credentials(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` plus the dummy credentials when it points at an emulator and carries none."""
    out = dict(env)
    pointed = any(out.get(v) for v in (ENV_AWS_ENDPOINT_URL, *SERVICE_ENDPOINT_VARIABLES.values()))
    if pointed and ENV_AWS_ACCESS_KEY_ID not in out:
        out.update(EMULATOR_CREDENTIALS)
    return out


def client(
    service: str,
    *,
    endpoint_url: str | Endpoints | None = None,
    region: str | None = None,
    profile: str | None = None,
    config: Config | None = None,
) -> Any:
    """A boto3 client for ``service``; no ``endpoint_url`` means AWS (or AWS_ENDPOINT_URL).

    ``endpoint_url`` may be :class:`Endpoints`: the client then goes to ``service``'s own.
    """
    endpoint_url = endpoint_for(service, endpoint_url)
    session = boto3.session.Session(profile_name=profile) if profile else boto3.session.Session()
    kwargs: dict[str, Any] = {
        "region_name": resolve_region(region, profile=profile),
        "config": config or retry_config(),
    }
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
        if session.get_credentials() is None:
            kwargs["aws_access_key_id"] = EMULATOR_CREDENTIALS[ENV_AWS_ACCESS_KEY_ID]
            kwargs["aws_secret_access_key"] = EMULATOR_CREDENTIALS[ENV_AWS_SECRET_ACCESS_KEY]
    factory: Any = session.client  # boto3's overloads want a literal service name
    return factory(service, **kwargs)
