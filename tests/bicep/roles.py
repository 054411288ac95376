"""Role assignments as declared in the templates, with role ids resolved to GUIDs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.bicep.bicep_tree import bicep_files, body, parse, resolve, resources_of_type

OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"  # built-in roles docs, "Privileged"
USER_ACCESS_ADMINISTRATOR = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"

# Built-in role ids used by the templates (learn.microsoft.com "Azure built-in roles").
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
QUEUE_DATA_CONTRIBUTOR = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
QUEUE_DATA_READER = "19e7f393-937e-4f77-808e-94535e297925"
QUEUE_MESSAGE_SENDER = "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a"
QUEUE_MESSAGE_PROCESSOR = "8a0f0c08-91a1-4084-bc3d-661d67233fed"
TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
TABLE_DATA_READER = "76199698-9eea-4c19-bc75-cec21354c6b6"
KV_CRYPTO_USER = "12338af0-0e69-4776-bea7-57ae8d297424"
KV_CRYPTO_SERVICE_ENCRYPTION_USER = "e147488a-f6f5-4113-8e2d-b22465e65bf6"
KV_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
# "Azure built-in roles", Integration (also the reference file, section 2).
DURABLE_TASK_DATA_CONTRIBUTOR = "0ad04412-c4d5-4796-b79c-f76d14c8d402"
CUSTOM = "custom"


@dataclass(frozen=True)
class Assignment:
    file: str
    name: str
    roles: tuple[str, ...]
    principal: str
    scope: str


def assignments(files: list[Path] | None = None) -> list[Assignment]:
    found: list[Assignment] = []
    for path in files or bicep_files():
        tree = parse(path)
        for name, res in resources_of_type(tree, "Microsoft.Authorization/roleAssignments").items():
            config = body(res)
            loop = res["config"].get("loop_type") or {}
            props = config["properties"]
            found.append(
                Assignment(
                    file=path.name,
                    name=name,
                    roles=_role_ids(tree, props["roleDefinitionId"], loop),
                    principal=str(props["principalId"]),
                    scope=_scope_name(config.get("scope")),
                )
            )
    return found


def _role_ids(tree: dict[str, Any], definition: Any, loop: dict[str, Any]) -> tuple[str, ...]:
    if not (isinstance(definition, dict) and "function" in definition):
        return (CUSTOM,)
    name = definition["function"]["parameters"]["resource_name_1"]
    detail = loop.get("detail", {})
    if name == detail.get("item_name"):
        values = resolve(tree, detail["array_name"])
        return tuple(str(v).lower() for v in values)
    return (str(resolve(tree, name)).lower(),)


def _scope_name(scope: Any) -> str:
    """The symbol a scope points at: `account`, or `containers` for `containers[i]`."""
    if isinstance(scope, str):
        return scope
    if isinstance(scope, dict) and "operator" in scope:
        return _scope_name(scope["operator"]["operands"]["operand_1"])
    return "<resource group>"


# What each built-in role grants: (actions, dataActions), copied from
# learn.microsoft.com "Azure built-in roles for Storage" / "... for Privileged"
# (MicrosoftDocs/azure-docs articles/role-based-access-control/built-in-roles/).
_Q = "Microsoft.Storage/storageAccounts/queueServices/queues"
_T = "Microsoft.Storage/storageAccounts/tableServices/tables"
_B = "Microsoft.Storage/storageAccounts/blobServices/containers"
BUILTIN_PERMISSIONS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    QUEUE_DATA_READER: (frozenset({f"{_Q}/read"}), frozenset({f"{_Q}/messages/read"})),
    QUEUE_MESSAGE_SENDER: (frozenset(), frozenset({f"{_Q}/messages/add/action"})),
    QUEUE_MESSAGE_PROCESSOR: (
        frozenset(), frozenset({f"{_Q}/messages/read", f"{_Q}/messages/process/action"})
    ),
    QUEUE_DATA_CONTRIBUTOR: (
        frozenset({f"{_Q}/delete", f"{_Q}/read", f"{_Q}/write"}),
        frozenset({f"{_Q}/messages/{a}" for a in ("delete", "read", "write", "process/action")}),
    ),
    TABLE_DATA_READER: (frozenset({f"{_T}/read"}), frozenset({f"{_T}/entities/read"})),
    TABLE_DATA_CONTRIBUTOR: (
        frozenset({f"{_T}/read", f"{_T}/write", f"{_T}/delete"}),
        frozenset({f"{_T}/entities/{a}"
                   for a in ("read", "write", "delete", "add/action", "update/action")}),
    ),
    BLOB_DATA_READER: (
        frozenset({f"{_B}/read", "Microsoft.Storage/storageAccounts/blobServices/"
                   "generateUserDelegationKey/action"}),
        frozenset({f"{_B}/blobs/read"}),
    ),
    READER: (frozenset({"*/read"}), frozenset()),
}

# Deployer roles: (actions, notActions), same source ("Privileged").
DEPLOYER_ROLES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "Owner": (frozenset({"*"}), frozenset()),
    "Contributor": (
        frozenset({"*"}),
        frozenset({"Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write",
                   "Microsoft.Authorization/elevateAccess/Action"}),
    ),
    "User Access Administrator": (
        frozenset({"*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"}), frozenset()
    ),
    "Role Based Access Control Administrator": (
        frozenset({"Microsoft.Authorization/roleAssignments/write",
                   "Microsoft.Authorization/roleAssignments/delete",
                   "*/read", "Microsoft.Support/*"}),
        frozenset(),
    ),
}


def _matches(pattern: str, action: str) -> bool:
    """Azure's wildcard match: `*` stands for any run of characters, case-insensitively."""
    parts = pattern.lower().split("*")
    text = action.lower()
    if len(parts) == 1:
        return text == parts[0]
    if not (text.startswith(parts[0]) and text.endswith(parts[-1])):
        return False
    position = len(parts[0])
    for middle in parts[1:-1]:
        found = text.find(middle, position)
        if found < 0:
            return False
        position = found + len(middle)
    return position <= len(text) - len(parts[-1])


def deployer_allows(role_names: list[str], action: str) -> bool:
    """True when any one of the roles grants the action (roles add up; notActions
    only narrow the role they belong to)."""
    for name in role_names:
        actions, not_actions = DEPLOYER_ROLES[name]
        if any(_matches(a, action) for a in actions) and not any(
            _matches(n, action) for n in not_actions
        ):
            return True
    return False
