"""Leftovers on AWS: find every resource a run left behind, by tag, and remove it.

Every resource a run creates is tagged ``managed-by=sqs-kit`` and ``sqs-kit-stack=<prefix>``;
``scenario cleanup --target aws`` lists them (and removes them with ``--yes``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from core.errors import InfrastructureError
from core.stack import KIT_TAG

log = logging.getLogger(__name__)

#: per-run stack prefixes look like ``sqskit-3f9a1c``; the main infrastructure (``sqs-demo``)
#: never matches, so a default cleanup cannot touch it.
DEFAULT_STACK_GLOB = "sqskit-*"
#: removal order: what uses a thing goes before the thing
_REMOVAL_ORDER = (
    "fis-template",  # its experiment acts on the tasks: stopped first
    "task",
    "service",
    "task-definition",
    "cluster",
    "queue",
    "table",
    "log-group",
    "role",
)


@dataclass(frozen=True)
class Leftover:
    """One tagged resource that a run left behind."""

    arn: str
    kind: str  # one of _REMOVAL_ORDER
    name: str
    stack: str
    note: str = ""  # e.g. "inactive" for a deregistered task definition revision

    @property
    def order(self) -> int:
        return (
            _REMOVAL_ORDER.index(self.kind) if self.kind in _REMOVAL_ORDER else len(_REMOVAL_ORDER)
        )


def classify_arn(arn: str) -> tuple[str, str] | None:
    """(kind, name) for the ARNs cleanup knows how to remove, else None."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return None
    service, resource = parts[2], parts[5]
    kind, name = "", ""
    if service == "sqs":
        kind, name = "queue", resource
    elif service == "dynamodb" and resource.startswith("table/"):
        kind, name = "table", resource.split("/", 1)[1]
    elif service == "logs" and resource.startswith("log-group:"):
        kind, name = "log-group", resource.split(":", 1)[1].removesuffix(":*")
    elif service == "iam" and resource.startswith("role/"):
        kind, name = "role", resource.rsplit("/", 1)[-1]
    elif service == "ecs":
        kind, _, name = resource.partition("/")
    return (kind, name) if kind in _REMOVAL_ORDER and name else None


def _tags_dict(tags: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for tag in tags or []:
        key = tag.get("Key", tag.get("key"))
        value = tag.get("Value", tag.get("value", ""))
        if key is not None:
            out[str(key)] = str(value)
    return out


def _matches(tags: Mapping[str, str], stack_glob: str) -> str | None:
    if tags.get("managed-by") != KIT_TAG_VALUE:
        return None
    stack = tags.get("sqs-kit-stack", "")
    return stack if stack and fnmatchcase(stack, stack_glob) else None


KIT_TAG_VALUE = KIT_TAG


def find_leftovers(
    client_for: Callable[[str], Any], *, stack_glob: str = DEFAULT_STACK_GLOB
) -> list[Leftover]:
    """Every resource tagged managed-by=sqs-kit whose sqs-kit-stack tag matches ``stack_glob``.

    Sources: the Resource Groups Tagging API (queues, tables, log groups, ECS clusters, task
    definitions, services), plus the listings it does not cover: running ECS tasks (their
    tags, in every cluster), IAM roles (global, so not in a regional tag search) and a run's
    FIS experiment templates (``SQSKIT_AWS_FIS_NETWORK_FAULTS``; skipped with a log line when
    the caller may not list them, as without terraform/iam/sqs-kit-fis-policy.json).
    """
    found: dict[str, Leftover] = {}
    try:
        for item in [
            *_tagged_resources(
                client_for("resourcegroupstaggingapi"), client_for("ecs"), stack_glob
            ),
            *_tagged_tasks(client_for("ecs"), stack_glob),
            *_tagged_roles(client_for("iam"), stack_glob),
            *_tagged_fis_templates(client_for("fis"), stack_glob),
        ]:
            found[item.arn] = item
    except (ClientError, BotoCoreError) as exc:
        raise InfrastructureError(f"could not list tagged resources: {exc}") from exc
    return sorted(found.values(), key=lambda item: (item.order, item.arn))


def _leftover(arn: str, stack: str) -> Leftover | None:
    kind_name = classify_arn(arn)
    if kind_name is None:
        return None
    return Leftover(arn=arn, kind=kind_name[0], name=kind_name[1], stack=stack)


def _tagged_resources(tagging: Any, ecs: Any, stack_glob: str) -> Iterator[Leftover]:
    for page in tagging.get_paginator("get_resources").paginate(
        TagFilters=[{"Key": "managed-by", "Values": [KIT_TAG_VALUE]}]
    ):
        for item in page.get("ResourceTagMappingList", []):
            stack = _matches(_tags_dict(item.get("Tags")), stack_glob)
            leftover = _leftover(item["ResourceARN"], stack) if stack else None
            if leftover is None or leftover.kind == "task":
                continue  # tasks: only running ones count, and _tagged_tasks lists those
            if leftover.kind == "task-definition":
                status = ecs.describe_task_definition(taskDefinition=leftover.arn)[
                    "taskDefinition"
                ].get("status", "ACTIVE")
                if status == "DELETE_IN_PROGRESS":
                    continue
                if status != "ACTIVE":
                    leftover = replace(leftover, note=status.lower())
            yield leftover


def _tagged_tasks(ecs: Any, stack_glob: str) -> Iterator[Leftover]:
    for cluster_page in ecs.get_paginator("list_clusters").paginate():
        for cluster in cluster_page.get("clusterArns", []):
            cluster_name = cluster.rsplit("/", 1)[-1]
            for task_page in ecs.get_paginator("list_tasks").paginate(
                cluster=cluster, desiredStatus="RUNNING"
            ):
                arns = task_page.get("taskArns", [])
                for start in range(0, len(arns), 100):
                    described = ecs.describe_tasks(
                        cluster=cluster, tasks=arns[start : start + 100], include=["TAGS"]
                    )
                    for task in described.get("tasks", []):
                        stack = _matches(_tags_dict(task.get("tags")), stack_glob)
                        if stack:
                            task_id = task["taskArn"].rsplit("/", 1)[-1]
                            yield Leftover(
                                arn=task["taskArn"],
                                kind="task",
                                name=f"{cluster_name}/{task_id}",
                                stack=stack,
                            )


def _tagged_roles(iam: Any, stack_glob: str) -> Iterator[Leftover]:
    name_start = stack_glob.split("*", 1)[0].split("?", 1)[0]
    for page in iam.get_paginator("list_roles").paginate():
        for role in page.get("Roles", []):
            if not role["RoleName"].startswith(name_start):
                continue
            tags = _tags_dict(iam.list_role_tags(RoleName=role["RoleName"]).get("Tags"))
            stack = _matches(tags, stack_glob)
            if stack:
                yield Leftover(arn=role["Arn"], kind="role", name=role["RoleName"], stack=stack)


def _tagged_fis_templates(fis: Any, stack_glob: str) -> Iterator[Leftover]:
    try:
        pages = list(fis.get_paginator("list_experiment_templates").paginate())
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in {
            "AccessDeniedException",
            "AccessDenied",
        }:
            raise
        log.warning("cleanup.fis_skipped", extra={"reason": "not allowed to list FIS templates"})
        return
    for page in pages:
        for template in page.get("experimentTemplates", []):
            stack = _matches(template.get("tags") or {}, stack_glob)
            if stack:
                yield Leftover(
                    arn=template.get("arn") or template["id"],
                    kind="fis-template",
                    name=template["id"],
                    stack=stack,
                )


def remove_leftover(client_for: Callable[[str], Any], item: Leftover) -> None:
    """Delete one leftover; a resource that is already gone is not an error."""
    try:
        _remove(client_for, item)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in {
            "ResourceNotFoundException",
            "NoSuchEntity",
            "AWS.SimpleQueueService.NonExistentQueue",
            "QueueDoesNotExist",
            "ClusterNotFoundException",
            "ServiceNotFoundException",
        }:
            return
        raise InfrastructureError(f"could not remove {item.kind} {item.name}: {exc}") from exc


def _remove_fis_template(fis: Any, template_id: str) -> None:
    """Stop the template's unfinished experiments (they act on the run's tasks), then delete it."""
    for page in fis.get_paginator("list_experiments").paginate(experimentTemplateId=template_id):
        for experiment in page.get("experiments", []):
            if experiment.get("state", {}).get("status") in {"pending", "initiating", "running"}:
                fis.stop_experiment(id=experiment["id"])
    fis.delete_experiment_template(id=template_id)


def _remove(client_for: Callable[[str], Any], item: Leftover) -> None:
    if item.kind == "fis-template":
        _remove_fis_template(client_for("fis"), item.name)
    elif item.kind == "task":
        cluster = item.name.split("/", 1)[0] if "/" in item.name else "default"
        client_for("ecs").stop_task(cluster=cluster, task=item.arn, reason="sqs-kit cleanup")
    elif item.kind == "service":
        cluster, _, service = item.name.partition("/")
        client_for("ecs").delete_service(cluster=cluster, service=service, force=True)
    elif item.kind == "task-definition":
        ecs = client_for("ecs")
        status = ecs.describe_task_definition(taskDefinition=item.arn)["taskDefinition"]["status"]
        if status == "DELETE_IN_PROGRESS":
            return
        if status == "ACTIVE":
            ecs.deregister_task_definition(taskDefinition=item.arn)
        # a deregistered (INACTIVE) revision keeps its tags until it is deleted
        ecs.delete_task_definitions(taskDefinitions=[item.arn])
    elif item.kind == "cluster":
        client_for("ecs").delete_cluster(cluster=item.arn)
    elif item.kind == "queue":
        sqs = client_for("sqs")
        sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=item.name)["QueueUrl"])
    elif item.kind == "table":
        client_for("dynamodb").delete_table(TableName=item.name)
    elif item.kind == "log-group":
        client_for("logs").delete_log_group(logGroupName=item.name)
    elif item.kind == "role":
        _remove_role(client_for("iam"), item.name)


def _remove_role(iam: Any, name: str) -> None:
    """Inline policies and attachments go first: IAM refuses to delete a role that has them."""
    for policy in iam.list_role_policies(RoleName=name).get("PolicyNames", []):
        iam.delete_role_policy(RoleName=name, PolicyName=policy)
    for policy in iam.list_attached_role_policies(RoleName=name).get("AttachedPolicies", []):
        iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
    iam.delete_role(RoleName=name)
