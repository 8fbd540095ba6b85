"""docker-compose.yml structure, URL rewriting and build helpers: no engine needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from core.errors import ConfigError
from local.docker.build import (
    BuildConfig,
    _debian_uris,
    detect_debian_mirror,
    docker_build_argv,
    image_requirements,
    pinned_requirements,
    pip_download_argv,
)
from local.docker.engine import container_safe_env, docker_runner_available
from scenarios.runners.docker import DockerRunner

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_compose_has_one_profile_per_emulator(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("localstack", "ministack", "moto"):
        assert services[name]["profiles"] == [name]
        assert "healthcheck" in services[name]


def test_compose_localstack_defaults_to_the_tokenless_tag_with_path_urls(
    compose: dict[str, Any],
) -> None:
    ls = compose["services"]["localstack"]
    assert ls["image"].endswith(":4.14.0}")
    assert "localstack/localstack" in ls["image"]
    assert ls["environment"]["SQS_ENDPOINT_STRATEGY"] == "path"
    assert "LOCALSTACK_HOST" in ls["environment"]
    assert "/_localstack/init/ready" in " ".join(ls["healthcheck"]["test"])


def test_compose_consumer_scales_and_reads_dotenv(compose: dict[str, Any]) -> None:
    consumer = compose["services"]["consumer"]
    assert "container_name" not in consumer  # a fixed name would forbid --scale
    assert "profiles" not in consumer
    assert consumer["env_file"][0]["path"].endswith(".env}")
    assert consumer["read_only"] is True
    assert consumer["network_mode"] == "${SQSKIT_CONSUMER_NETWORK:-host}"
    assert consumer["build"]["dockerfile"] == "consumer/Dockerfile"


def test_container_safe_env_rewrites_only_loopback_urls() -> None:
    env = {
        "QUEUE_URL": "http://127.0.0.1:4566/000000000000/q",
        "AWS_ENDPOINT_URL": "http://localhost:4566",
        "DLQ_URL": "https://sqs.eu-west-1.amazonaws.com/1/dlq",
        "OTHER": "http://127.0.0.1:1",
    }
    out = container_safe_env(env, "localstack:4566")
    assert out["QUEUE_URL"] == "http://localstack:4566/000000000000/q"
    assert out["AWS_ENDPOINT_URL"] == "http://localstack:4566"
    assert out["DLQ_URL"] == env["DLQ_URL"]
    assert out["OTHER"] == env["OTHER"]
    # a bare host keeps the original port
    assert container_safe_env(env, "host.docker.internal")["AWS_ENDPOINT_URL"] == (
        "http://host.docker.internal:4566"
    )


def test_container_safe_env_rewrites_the_per_service_endpoints() -> None:
    env = {
        "AWS_ENDPOINT_URL_SQS": "http://127.0.0.1:4601",
        "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:4602",
    }
    out = container_safe_env(env, "host.docker.internal")
    assert out["AWS_ENDPOINT_URL_SQS"] == "http://host.docker.internal:4601"
    assert out["AWS_ENDPOINT_URL_DYNAMODB"] == "http://host.docker.internal:4602"


@pytest.mark.parametrize("bad", ["", "http://x/y", "a/b"])
def test_container_safe_env_rejects_a_bad_host(bad: str) -> None:
    with pytest.raises(ConfigError, match="endpoint_host"):
        container_safe_env({}, bad)


def test_bridge_runner_gets_container_safe_env_and_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    runner = DockerRunner.__new__(DockerRunner)  # no engine: only the env logic
    runner.endpoint_host = "host.docker.internal"
    env = runner.container_env({"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"})
    assert env["AWS_ENDPOINT_URL"] == "http://host.docker.internal:4566"
    assert env["AWS_ACCESS_KEY_ID"] == "test"


def test_mirror_detection_skips_security_and_reads_both_formats(tmp_path: Path) -> None:
    sources = tmp_path / "debian.sources"
    sources.write_text(
        "Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\n"
    )
    assert detect_debian_mirror([sources]) == "http://mirror.example/debian"
    assert _debian_uris("deb [arch=amd64] http://m.example/debian trixie main") == [
        "http://m.example/debian"
    ]
    assert detect_debian_mirror([tmp_path / "missing"]) == "http://deb.debian.org/debian"


def test_build_config_validates_with_the_variable_name() -> None:
    with pytest.raises(ConfigError, match="SQSKIT_DOCKER_PLATFORM"):
        BuildConfig.from_env({"SQSKIT_DOCKER_PLATFORM": "windows/amd64"})
    with pytest.raises(ConfigError, match="SQSKIT_CONTAINER_PYTHON"):
        BuildConfig.from_env({"SQSKIT_CONTAINER_PYTHON": "2.7"})


def test_build_defaults_to_linux_amd64_and_passes_the_base_image() -> None:
    cfg = BuildConfig.from_env({"SQSKIT_BASE_IMAGE": "python:3.13-slim"})
    argv = docker_build_argv(cfg, "consumer")
    assert argv[argv.index("--platform") + 1] == "linux/amd64"
    assert "BASE_IMAGE=python:3.13-slim" in argv
    assert argv[-1] == str(ROOT)


def test_consumer_wheelhouse_is_only_the_base_dependencies() -> None:
    reqs = image_requirements("consumer")
    names = sorted(r.split(">")[0].split("=")[0].split("<")[0] for r in reqs)
    assert names == ["boto3", "cachetools"]
    argv = pip_download_argv(Path("/w"), reqs, "3.13")
    assert argv[argv.index("--python-version") + 1] == "3.13"
    assert "--only-binary=:all:" in argv
    assert argv[-1] == "pip"


def test_pinned_requirements_come_from_wheel_names(tmp_path: Path) -> None:
    for name in (
        "boto3-1.44.8-py3-none-any.whl",
        "python_dateutil-2.9.0.post0-py2.py3-none-any.whl",
        "pip-26.3-py3-none-any.whl",
    ):
        (tmp_path / name).write_bytes(b"")
    assert pinned_requirements(tmp_path) == ["boto3==1.44.8", "python-dateutil==2.9.0.post0"]


def test_auto_detection_without_an_engine_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such.sock")
    ok, reason = docker_runner_available("sqs-kit-consumer:local")
    assert not ok
    assert "no Docker engine answers" in reason
