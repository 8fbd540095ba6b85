"""The Terraform provisioner's plumbing, without terraform: variables, copies, errors."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from core.errors import ConfigError, ProvisionError
from core.provisioners import get_provisioner
from core.provisioners import terraform as tfp
from core.stack import StackHandle, StackSpec
from core.terraform import MAIN_ROOT, SCENARIO_ROOT
from core.terraform import cli as tfcli
from core.terraform import mirror as tfmirror
from core.terraform.cli import TerraformCli, copy_config


def _fake_tool(tmp_path: Path, body: str) -> str:
    script = tmp_path / "fake-terraform"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


@pytest.mark.unit
def test_get_provisioner_builds_the_terraform_provisioner(tmp_path):
    p = get_provisioner("terraform", endpoint_url="http://127.0.0.1:1", region="eu-west-1")
    assert isinstance(p, tfp.TerraformProvisioner)
    assert p.name == "terraform"
    assert p.region == "eu-west-1"


@pytest.mark.unit
def test_tfvars_follow_the_spec_and_cap_the_message_size(tmp_path):
    p = tfp.TerraformProvisioner(endpoint_url="http://127.0.0.1:1", state_dir=tmp_path)
    spec = StackSpec(
        prefix="tfu-abc",
        visibility_timeout=30,
        max_receive_count=3,
        max_message_size=1_048_576,
        tags={"a": "b"},
    )
    values = p.tfvars(spec)
    assert values["prefix"] == "tfu-abc"
    assert values["visibility_timeout"] == 30
    assert values["max_receive_count"] == 3
    assert values["tags"] == {"a": "b"}
    # hashicorp/aws 5.100 cannot declare 1 MiB (the SQS maximum): it is capped, not rejected.
    assert spec.max_message_size > tfp.PROVIDER_MAX_MESSAGE_SIZE
    assert values["max_message_size"] == tfp.PROVIDER_MAX_MESSAGE_SIZE
    # Extra variables (the aws target's image tag) win.
    p.variables["visibility_timeout"] = 99
    p.variables["container_image_tag"] = "abc123"
    values = p.tfvars(spec)
    assert values["visibility_timeout"] == 99
    assert values["container_image_tag"] == "abc123"
    # On an emulator the main infrastructure's state is never joined.
    assert "main_state_path" not in values


@pytest.mark.unit
def test_parallelism_and_timeout_are_validated(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="parallelism=0"):
        tfp.TerraformProvisioner(endpoint_url=None, state_dir=tmp_path, parallelism=0)
    monkeypatch.setenv(tfp.ENV_TIMEOUT, "nope")
    with pytest.raises(ConfigError, match=tfp.ENV_TIMEOUT):
        tfp.TerraformProvisioner(endpoint_url=None, state_dir=tmp_path)


@pytest.mark.unit
def test_handle_from_outputs_and_missing_output(tmp_path):
    p = tfp.TerraformProvisioner(endpoint_url="http://e:1", region="us-east-1", state_dir=tmp_path)
    outputs = {
        "region": "us-east-1",
        "queue_url": "http://e:1/0/x-queue",
        "queue_arn": "arn:aws:sqs:us-east-1:0:x-queue",
        "dlq_url": "http://e:1/0/x-dlq",
        "dlq_arn": "arn:aws:sqs:us-east-1:0:x-dlq",
        "status_table": "x-message-status",
        "completed_table": "x-message-completed",
    }
    handle = p.handle_from_outputs(outputs, "x1")
    assert handle.provisioner == "terraform"
    assert handle.endpoint_url == "http://e:1"
    assert handle.dlq_arn.endswith("x-dlq")
    del outputs["dlq_arn"]
    with pytest.raises(ProvisionError, match="dlq_arn"):
        p.handle_from_outputs(outputs, "x1")


@pytest.mark.unit
def test_copy_config_copies_configuration_and_the_lock_file_only(tmp_path):
    dest = tmp_path / "copy"
    root = copy_config(SCENARIO_ROOT, dest)
    names = sorted(p.name for p in root.iterdir())
    assert names == [".terraform.lock.hcl", "main.tf", "outputs.tf", "variables.tf", "versions.tf"]
    # the staged copy is locked to exactly the committed provider
    lock = (SCENARIO_ROOT / tfcli.LOCK_FILE).read_text()
    assert (root / tfcli.LOCK_FILE).read_text() == lock
    module = dest / "terraform" / "modules" / "stack"
    assert (module / "main.tf").is_file()
    # The root's relative module source resolves inside the copy.
    assert (root / "../../terraform/modules/stack/main.tf").resolve().is_file()
    assert not list(dest.rglob("*.tfstate"))
    assert not list(dest.rglob(".terraform"))


@pytest.mark.unit
def test_init_never_changes_a_committed_lock_file(tmp_path, monkeypatch):
    # GIVEN a fake terraform that records its arguments
    fake = _fake_tool(tmp_path, f'echo "$@" >> {tmp_path}/args')
    monkeypatch.setattr(tfcli, "tool_path", lambda name: fake)
    root = copy_config(SCENARIO_ROOT, tmp_path / "copy")
    # WHEN a staged root with its lock file is initialised
    TerraformCli(workdir=root, plugin_dir=tmp_path).init({"workspace_dir": "d"})
    # THEN init may only use the locked provider (no new selection, no upgrade)
    (args,) = (tmp_path / "args").read_text().splitlines()
    assert "-lockfile=readonly" in args.split()
    # AND a root without a lock file is initialised as before (terraform writes one)
    (root / tfcli.LOCK_FILE).unlink()
    TerraformCli(workdir=root).init()
    assert "-lockfile=readonly" not in (tmp_path / "args").read_text().splitlines()[-1]


@pytest.mark.unit
def test_cli_env_points_tflocal_at_the_emulator(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_WORKSPACE", "leaked")
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(tmp_path / "missing.rc"))
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    cli = TerraformCli(workdir=tmp_path, endpoint_url="http://127.0.0.1:9", region="eu-west-3")
    env = cli.env()
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9"
    assert env["AWS_DEFAULT_REGION"] == "eu-west-3"
    assert "TF_WORKSPACE" not in env
    assert "TF_CLI_CONFIG_FILE" not in env
    assert cli.uses_tflocal
    aws = TerraformCli(workdir=tmp_path)
    assert not aws.uses_tflocal
    assert "AWS_ENDPOINT_URL" not in aws.env()


@pytest.mark.unit
def test_a_failing_command_raises_with_its_output(tmp_path, monkeypatch):
    fake = _fake_tool(tmp_path, 'echo "Error: something broke"; exit 3')
    monkeypatch.setattr(tfcli, "tool_path", lambda name: fake)
    cli = TerraformCli(workdir=tmp_path, timeout_s=10)
    with pytest.raises(ProvisionError, match=r"exit 3[\s\S]*something broke"):
        cli.run("apply")


@pytest.mark.unit
def test_a_missing_binary_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(tfcli, "tool_path", lambda name: None)
    with pytest.raises(ProvisionError, match="terraform-local"):
        TerraformCli(workdir=tmp_path, endpoint_url="http://e:1").run("init")


@pytest.mark.unit
def test_outputs_parse_terraform_output_json(tmp_path, monkeypatch):
    payload = json.dumps({"queue_url": {"value": "u", "type": "string", "sensitive": False}})
    fake = _fake_tool(tmp_path, f"echo '{payload}'")
    monkeypatch.setattr(tfcli, "tool_path", lambda name: fake)
    assert TerraformCli(workdir=tmp_path).outputs() == {"queue_url": "u"}


@pytest.mark.unit
def test_failed_apply_destroys_and_raises(tmp_path, monkeypatch):
    # GIVEN a terraform whose apply fails; every call is recorded
    calls = tmp_path / "calls.log"
    fake = _fake_tool(
        tmp_path,
        f'echo "$@" >> {calls}\ncase "$1" in apply) echo "Error: boom"; exit 1;; esac\nexit 0',
    )
    monkeypatch.setattr(tfcli, "tool_path", lambda name: fake)
    monkeypatch.setattr(tfp, "find_plugin_dir", lambda: None)
    p = tfp.TerraformProvisioner(endpoint_url="http://e:1", state_dir=tmp_path / "states")
    # WHEN provisioning THEN the error names the failure
    with pytest.raises(ProvisionError, match="boom"):
        p.provision(StackSpec(prefix="tfu-fail"))
    # AND the partial stack was destroyed and its workspace deleted
    log = calls.read_text()
    assert "workspace select -no-color -or-create=true tfu-fail" in log
    assert "destroy -auto-approve" in log
    assert "workspace delete -no-color tfu-fail" in log


@pytest.mark.unit
def test_destroy_of_an_unknown_workspace_is_a_no_op(tmp_path, monkeypatch):
    monkeypatch.setattr(tfcli, "tool_path", lambda name: pytest.fail("terraform must not run"))
    p = tfp.TerraformProvisioner(endpoint_url=None, state_dir=tmp_path)
    handle = StackHandle(
        prefix="gone-1",
        region="us-east-1",
        queue_url="u",
        queue_arn="a",
        dlq_url="d",
        dlq_arn="da",
        status_table="s",
        completed_table="c",
    )
    p.destroy(handle)
    assert p.workspaces() == []


# -- the provider mirror -------------------------------------------------------------------------


def _mirror(root: Path, version: str = "5.100.0") -> Path:
    plat = root / "registry.terraform.io/hashicorp/aws" / version / tfmirror.platform_dir()
    plat.mkdir(parents=True)
    (plat / f"terraform-provider-aws_v{version}_x5").write_text("")
    return root


@pytest.mark.unit
def test_mirror_from_env_var(tmp_path, monkeypatch):
    root = _mirror(tmp_path / "m")
    monkeypatch.setenv(tfmirror.ENV_VAR, str(root))
    assert tfmirror.find_provider_mirror() == root
    assert tfmirror.provider_versions(root) == ["5.100.0"]


@pytest.mark.unit
def test_a_wrong_env_var_is_not_silently_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv(tfmirror.ENV_VAR, str(tmp_path / "empty"))
    monkeypatch.setattr(tfmirror, "KNOWN_PLACES", (_mirror(tmp_path / "known"),))
    assert tfmirror.find_provider_mirror() is None


@pytest.mark.unit
def test_mirror_from_known_places(tmp_path, monkeypatch):
    monkeypatch.delenv(tfmirror.ENV_VAR, raising=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    # A directory without the provider binary does not count.
    half = tmp_path / "half" / "registry.terraform.io/hashicorp/aws/5.1.0" / tfmirror.platform_dir()
    half.mkdir(parents=True)
    good = _mirror(tmp_path / "good")
    monkeypatch.setattr(tfmirror, "KNOWN_PLACES", (empty, tmp_path / "half", good))
    assert tfmirror.find_provider_mirror() == good
    monkeypatch.setattr(tfmirror, "KNOWN_PLACES", (empty,))
    assert tfmirror.find_provider_mirror() is None


# -- the main infrastructure: where its state is, and what an apply used -------------------------


@pytest.mark.unit
def test_main_state_path_follows_the_variable(tmp_path):
    from core.terraform import MAIN_STATE
    from core.terraform.main_infra import main_state_path

    assert main_state_path({}) == MAIN_STATE
    assert main_state_path({"SQSKIT_MAIN_STATE": str(tmp_path / "m.tfstate")}) == (
        tmp_path / "m.tfstate"
    )


@pytest.mark.unit
def test_a_private_copy_keeps_its_state_where_it_was_asked_to(tmp_path, monkeypatch):
    from core.terraform.main_infra import MainInfrastructure

    calls = tmp_path / "calls.log"
    fake = _fake_tool(tmp_path, f'echo "$@" >> {calls}')
    monkeypatch.setattr(tfcli, "tool_path", lambda name: fake)
    state = tmp_path / "elsewhere" / "terraform.tfstate"
    state.parent.mkdir()
    state.write_text(json.dumps({"outputs": {"queue_url": {"value": "http://q"}}}))
    infra = MainInfrastructure(
        endpoint_url="http://e:1",
        variables={"desired_count": 0},
        workdir=copy_config(MAIN_ROOT, tmp_path / "copy"),
        state_file=state,
    )
    # WHEN it applies and destroys THEN terraform is told where the state is, every time
    assert infra.apply() == {"queue_url": "http://q"}
    infra.destroy()
    applied, destroyed = [
        line for line in calls.read_text().splitlines() if line.split()[0] in {"apply", "destroy"}
    ]
    assert f"-state={state}" in applied and f"-state={state}" in destroyed
    assert "-var=desired_count=0" in applied


@pytest.mark.unit
def test_the_digest_changes_with_the_variables_and_the_configuration(tmp_path, monkeypatch):
    from core.terraform import main_infra

    base = main_infra.config_digest({"desired_count": 0, "aws_region": "us-east-1"})
    assert base == main_infra.config_digest({"aws_region": "us-east-1", "desired_count": 0})
    assert base != main_infra.config_digest({"desired_count": 1, "aws_region": "us-east-1"})
    root = copy_config(MAIN_ROOT, tmp_path / "copy")
    monkeypatch.setattr(main_infra, "MODULES_DIR", root / "modules")
    same = main_infra.config_digest({"desired_count": 0, "aws_region": "us-east-1"}, root)
    assert same == base
    (root / "main.tf").write_text((root / "main.tf").read_text() + "\n# edited\n")
    edited = main_infra.config_digest({"desired_count": 0, "aws_region": "us-east-1"}, root)
    assert edited != base
