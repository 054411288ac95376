"""Issue 11: the retention and legal-hold identity, its roles, and the people's duties.

The retention timer and the legal holds set at archive time run under a user-assigned
identity of their own (RETENTION_IDENTITY_CLIENT_ID), so the app identity keeps
create-only writing. Each role is custom and its actions are asserted exactly here;
each assignment is asserted by scope. Which action Set Blob Legal Hold checks is not
settled by the docs (runAsSuperUser per the ABAC reference, containers/write per the
REST authorization table): both are granted, and asserted, until Azure says which.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from archive import names
from tests.bicep import admin_calls, roles
from tests.bicep.admin_calls import calls_in, needed
from tests.bicep.bicep_tree import (
    ARCHIVE,
    FUNCTION_APP,
    MAIN,
    MODULES,
    PEOPLE,
    REPO,
    bicep_files,
    body,
    parse,
    resources_of_type,
)

pytestmark = pytest.mark.bicep

RETENTION = MODULES / "retention-access.bicep"
IDENTITIES = MODULES / "identities.bicep"
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"

B = "Microsoft.Storage/storageAccounts/blobServices/containers"
T = "Microsoft.Storage/storageAccounts/tableServices/tables"
READ_AND_CREATE = {f"{B}/blobs/read", f"{B}/blobs/add/action"}
DELETES = {f"{B}/blobs/delete", f"{B}/blobs/deleteBlobVersion/action"}
LEGAL_HOLD = {f"{B}/blobs/immutableStorage/runAsSuperUser/action", f"{B}/write"}
ROW_WRITES = {f"{T}/entities/{a}" for a in ("read", "write", "add/action", "update/action")}
RECORD_CONTAINERS = [names.RAW_CONTAINER, names.RECORDS_CONTAINER, names.MEDIA_CONTAINER]
PRUNED_TABLES = [
    names.TABLE_BY_MESSAGE,
    names.TABLE_BY_PARTICIPANT,
    names.TABLE_BY_DAY,
    names.TABLE_BY_TERM,
    names.TABLE_FLAGS,
]
RETENTION_PRINCIPAL = "retentionPrincipalId"
OPERATORS = "retentionOperatorsGroupPrincipalId"
ROLE_DEFINITIONS = "Microsoft.Authorization/roleDefinitions"


def dotted(value: Any) -> str:
    if isinstance(value, dict) and value.get("operator", {}).get("type") == "property_accessor":
        operands = value["operator"]["operands"]
        return f"{dotted(operands['operand_1'])}.{dotted(operands['operand_2'])}"
    return str(value)


def module_params(name: str) -> dict[str, Any]:
    params: dict[str, Any] = body(parse(MAIN)["modules"][name])["params"]
    return params


def role(path: Path, symbol: str) -> tuple[set[str], set[str]]:
    """(actions, dataActions) of a custom role definition; no not-actions anywhere."""
    (permission,) = body(parse(path)["resources"][symbol])["properties"]["permissions"]
    assert permission["notActions"] == [] and permission["notDataActions"] == []
    return set(permission["actions"]), set(permission["dataActions"])


def grants(principal: str) -> dict[tuple[str, str], str]:
    """(file, scope symbol) -> role definition expression, for one principal."""
    found: dict[tuple[str, str], str] = {}
    for path in bicep_files():
        assignments = resources_of_type(parse(path), "Microsoft.Authorization/roleAssignments")
        for resource in assignments.values():
            props = body(resource)["properties"]
            if props["principalId"] != principal:
                continue
            scope = roles._scope_name(body(resource).get("scope"))
            definition = props["roleDefinitionId"]
            if isinstance(definition, dict) and "function" in definition:  # a built-in role
                found[(path.name, scope)] = roles._role_ids(parse(path), definition, {})[0]
            else:
                found[(path.name, scope)] = dotted(definition)
    return found


# --- the identity -------------------------------------------------------------


def test_the_retention_identity_exists_and_main_names_it() -> None:
    tree = parse(IDENTITIES)
    identity = tree["resources"]["retentionIdentity"]
    assert identity["type"] == "Microsoft.ManagedIdentity/userAssignedIdentities"
    assert body(identity)["name"] == "retentionIdentityName"
    assert {"retentionIdentityId", "retentionPrincipalId", "retentionClientId"} <= set(
        tree["outputs"]
    )
    main = parse(MAIN)
    assert main["variables"]["names"]["value"]["retentionIdentity"] == "id-${prefix}-ret-${suffix}"
    assert dotted(module_params("identities")["retentionIdentityName"]) == (
        "names.retentionIdentity"
    )


def test_the_function_app_carries_both_identities() -> None:
    tree = parse(FUNCTION_APP)
    site = next(r for r in tree["resources"].values() if r["type"] == "Microsoft.Web/sites")
    identity = body(site)["identity"]
    assert identity["type"] == "UserAssigned"
    assert set(identity["userAssignedIdentities"]) == {
        "'${appIdentityId}'",
        "'${retentionIdentityId}'",
    }
    # Key Vault references resolve as the app, never as the retention identity.
    assert body(site)["properties"]["keyVaultReferenceIdentity"] == "appIdentityId"
    params = module_params("functionApp")
    assert dotted(params["retentionIdentityId"]) == "identities.outputs.retentionIdentityId"
    assert dotted(params["retentionClientId"]) == "identities.outputs.retentionClientId"


def test_app_settings_name_the_retention_identity_and_schedule() -> None:
    settings = parse(FUNCTION_APP)["variables"]["appSettings"]["value"]
    assert settings[names.SETTING_RETENTION_IDENTITY] == "retentionClientId"
    assert settings[names.SETTING_RETENTION_SCHEDULE] == "0 30 4 * * *"
    # After the day's seal (01:30) and its verification (03:30).
    assert settings[names.SETTING_SEAL_SCHEDULE] == "0 30 1 * * *"
    assert settings[names.SETTING_VERIFY_SCHEDULE] == "0 30 3 * * *"
    # Everything else still runs as the app identity.
    assert settings["AZURE_CLIENT_ID"] == "appClientId"
    assert settings[f"{names.SETTING_ARCHIVE_STORAGE}__clientId"] == "appClientId"


def test_main_passes_the_names_py_resources_to_the_retention_module() -> None:
    params = module_params("retentionAccess")
    assert params["recordContainerNames"] == RECORD_CONTAINERS
    assert params["sealsContainerName"] == names.SEALS_CONTAINER
    assert params["prunedTableNames"] == PRUNED_TABLES
    assert params["keptTableNames"] == [names.TABLE_FAILURES, names.TABLE_HOLDS]
    assert set(params["prunedTableNames"] + params["keptTableNames"]) == set(names.INDEX_TABLES)
    assert params["holdsTableName"] == names.TABLE_HOLDS
    assert dotted(params["retentionPrincipalId"]) == "identities.outputs.retentionPrincipalId"
    assert dotted(params["createOnlyRoleId"]) == "archiveStorage.outputs.createOnlyRoleId"
    assert parse(ARCHIVE)["outputs"]["createOnlyRoleId"]["value"] == {
        "operator": {
            "type": "property_accessor",
            "operands": {"operand_1": "appCreateOnlyRole", "operand_2": "id"},
        }
    }
    assert parse(MAIN)["parameters"][OPERATORS]["default"] == ""
    assert module_params("retentionAccess")[OPERATORS] == OPERATORS


# --- its roles --------------------------------------------------------------------


def test_the_retention_role_grants_exactly_these_actions() -> None:
    actions, data_actions = role(RETENTION, "retentionRole")
    assert actions == {f"{B}/read", f"{B}/write"}
    assert data_actions == {
        f"{B}/blobs/read",
        f"{B}/blobs/delete",
        f"{B}/blobs/deleteBlobVersion/action",
        f"{B}/blobs/immutableStorage/runAsSuperUser/action",
    }
    # Never an overwrite, a create, tags, or a wildcard (Storage Blob Data Owner has blobs/*).
    assert not {a for a in actions | data_actions if "*" in a or a.endswith("/blobs/write")}


def test_the_table_roles_grant_exactly_these_actions() -> None:
    assert role(RETENTION, "indexPrunerRole") == (set(), ROW_WRITES | {f"{T}/entities/delete"})
    assert role(RETENTION, "rowKeeperRole") == (set(), ROW_WRITES)


def test_the_retention_identity_is_scoped_per_container_and_table() -> None:
    assert grants(RETENTION_PRINCIPAL) == {
        ("retention-access.bicep", "recordContainers"): "retentionRole.id",
        ("retention-access.bicep", "sealsContainer"): "createOnlyRoleId",
        ("retention-access.bicep", "prunedTables"): "indexPrunerRole.id",
        ("retention-access.bicep", "keptTables"): "rowKeeperRole.id",
    }
    tree = parse(RETENTION)
    loops = {
        symbol: tree["resources"][symbol]["config"]["loop_type"]["detail"]["array_name"]
        for symbol in ("recordContainers", "prunedTables", "keptTables")
    }
    assert loops == {
        "recordContainers": "recordContainerNames",
        "prunedTables": "prunedTableNames",
        "keptTables": "keptTableNames",
    }
    assert body(tree["resources"]["sealsContainer"])["name"] == (
        "${accountName}/default/${sealsContainerName}"
    )


def test_seals_get_the_read_and_create_only_role() -> None:
    _, data_actions = role(ARCHIVE, "appCreateOnlyRole")
    assert data_actions == READ_AND_CREATE


def test_custom_roles_are_assignable_in_the_resource_group_only() -> None:
    for path in (RETENTION, PEOPLE):
        for resource in resources_of_type(parse(path), ROLE_DEFINITIONS).values():
            props = body(resource)["properties"]
            assert props["type"] == "CustomRole"
            (scope,) = props["assignableScopes"]  # resourceGroup().id, nothing wider
            operands = scope["operator"]["operands"]
            assert operands["operand_1"]["function"]["type"] == "resource_group"
            assert operands["operand_1"]["function"]["parameters"] == {
                "resource_group_name": None, "subscription_id": None,
            }  # fmt: skip
            assert operands["operand_2"] == "id"


# --- the app identity did not gain anything ----------------------------------------


def test_the_app_identity_gained_no_delete_or_legal_hold_action() -> None:
    forbidden = DELETES | LEGAL_HOLD
    for (file, scope), definition in grants("appPrincipalId").items():
        assert file != "retention-access.bicep"
        if definition.endswith(".id") and file == "archive-storage.bicep":
            actions, data_actions = role(ARCHIVE, definition.removesuffix(".id"))
            assert (actions | data_actions) & forbidden == set(), scope
    actions, data_actions = role(ARCHIVE, "appCreateOnlyRole")
    assert (actions, data_actions) == (set(), READ_AND_CREATE)


def test_the_app_identity_has_no_role_on_the_holds_table() -> None:
    tree = parse(ARCHIVE)
    table_names = tree["variables"]["tableNames"]["value"]
    app_tables = tree["variables"]["appTableNames"]["value"]
    assert names.TABLE_HOLDS in table_names and names.TABLE_HOLDS not in app_tables
    # The app's assignments index `tables` by position: appTableNames must be its start.
    assert table_names[: len(app_tables)] == app_tables
    loop = tree["resources"]["appTableAccess"]["config"]["loop_type"]["detail"]
    assert loop["array_name"] == "appTableNames"


# --- people: admins hold, retention operators delete, nobody both --------------------


def test_admins_set_legal_holds_and_keep_the_holds_table_but_never_delete() -> None:
    assert role(PEOPLE, "legalHoldSetter") == (
        {f"{B}/write"}, {f"{B}/blobs/immutableStorage/runAsSuperUser/action"}
    )
    assert role(PEOPLE, "holdKeeper") == (set(), ROW_WRITES)
    admins = grants("adminsGroupPrincipalId")
    assert admins[("people-access.bicep", "holdContainers")] == "legalHoldSetter.id"
    assert admins[("people-access.bicep", "holdsTable")] == "holdKeeper.id"
    params = module_params("peopleAccess")
    assert params["holdContainerNames"] == RECORD_CONTAINERS
    assert params["holdsTableName"] == names.TABLE_HOLDS


def test_retention_operators_delete_versions_but_hold_nothing() -> None:
    actions, data_actions = role(RETENTION, "versionDisposerRole")
    assert actions == {f"{B}/read"}
    assert data_actions == {f"{B}/blobs/read"} | DELETES
    assert grants(OPERATORS) == {
        ("retention-access.bicep", "recordContainers"): "versionDisposerRole.id",
        ("retention-access.bicep", "sealsContainer"): "createOnlyRoleId",
        ("retention-access.bicep", "prunedTables"): "indexPrunerRole.id",
        ("retention-access.bicep", "holdsTable"): roles.TABLE_DATA_READER,
    }
    # Every one of them is skipped when no operators group is given.
    assignments = resources_of_type(parse(RETENTION), "Microsoft.Authorization/roleAssignments")
    for symbol, resource in assignments.items():
        if body(resource)["properties"]["principalId"] != OPERATORS:
            continue
        config = resource["config"]
        if loop := config.get("loop_type"):
            condition = loop["detail"]["array_name"]["operator"]["operands"]["condition"]
        else:
            condition = config["condition"]
        assert condition == "hasOperators", symbol
    assert body(parse(RETENTION)["resources"]["versionDisposerRole"])  # defined...
    assert parse(RETENTION)["resources"]["versionDisposerRole"]["config"]["condition"] == (
        "hasOperators"
    )  # ...only with operators


def test_no_group_can_both_delete_versions_and_clear_legal_holds() -> None:
    people = {"adminsGroupPrincipalId", "auditorsGroupPrincipalId", OPERATORS}
    for principal in people:
        granted: set[str] = set()
        for (file, _), definition in grants(principal).items():
            if definition.endswith(".id"):
                path = MODULES / file
                actions, data_actions = role(path, definition.removesuffix(".id"))
                granted |= actions | data_actions
        assert not (granted & DELETES and granted & LEGAL_HOLD), principal


# --- the code's calls are covered -------------------------------------------------------


def _granted(principal: str, path: Path) -> dict[tuple[str, str], set[str]]:
    """(service, resource) -> actions, for `principal`'s assignments in one module."""
    params = module_params("retentionAccess" if path == RETENTION else "peopleAccess")
    service_of = {"recordContainers": "blob", "sealsContainer": "blob",
                  "prunedTables": "table", "keptTables": "table", "holdsTable": "table"}
    resources_of = {
        "recordContainers": params.get("recordContainerNames", []),
        "sealsContainer": [params.get("sealsContainerName")],
        "prunedTables": params.get("prunedTableNames", []),
        "keptTables": params.get("keptTableNames", []),
        "holdsTable": [params.get("holdsTableName")],
    }
    result: dict[tuple[str, str], set[str]] = {}
    for (file, scope), definition in grants(principal).items():
        if file != path.name:
            continue
        permissions: set[str]
        if definition == "createOnlyRoleId":
            permissions = READ_AND_CREATE
        elif definition.endswith(".id"):
            actions, data_actions = role(path, definition.removesuffix(".id"))
            permissions = actions | data_actions
        else:
            builtin_actions, builtin_data = roles.BUILTIN_PERMISSIONS[definition]
            permissions = set(builtin_actions | builtin_data)
        for resource in resources_of[scope]:
            result.setdefault((service_of[scope], resource), set()).update(permissions)
    return result


def _gaps(calls: list[admin_calls.Call], principal: str) -> dict[tuple[str, str], set[str]]:
    have = _granted(principal, RETENTION)
    return {
        key: lacking
        for key, wanted in needed(calls).items()
        if (lacking := wanted - have.get(key, set()))
    }


def test_the_hold_job_needs_the_legal_hold_actions_on_the_record_containers() -> None:
    wanted = needed([c for c in admin_calls.admin_calls() if c.method == "set_legal_hold"])
    for container in RECORD_CONTAINERS:
        assert wanted[("blob", container)] == LEGAL_HOLD


# A call into storage/blob_versions.py names no client, so the scanner charges it to
# every container its module names: each synthetic module below names only its own.
VERSION_CALLS = (
    "from archive.names import RAW_CONTAINER, RECORDS_CONTAINER, MEDIA_CONTAINER\n"
    "def run(blobs, v):\n"
    "    for name in (RAW_CONTAINER, RECORDS_CONTAINER, MEDIA_CONTAINER):\n"
    "        c = blobs.get_container_client(name)\n"
    "        blob_versions.versions_of(c, 'x'); blob_versions.list_versions(c, 'p')\n"
    "        blob_versions.delete_version(c, v)\n"
)
CERTIFICATE_CALLS = (
    "from archive.names import SEALS_CONTAINER\n"
    "def certify(blobs):\n"
    "    seals = blobs.get_container_client(SEALS_CONTAINER)\n"
    "    seals.upload_blob('cert', b''); seals.download_blob('plan')\n"
)
INDEX_CALLS = (
    "from archive.names import TABLE_BY_DAY, TABLE_BY_MESSAGE, TABLE_HOLDS\n"
    "def prune(tables):\n"
    "    tables.get_table_client(TABLE_BY_DAY).query_entities('x')\n"
    "    tables.get_table_client(TABLE_BY_MESSAGE).delete_entity('p', 'r')\n"
    "    tables.get_table_client(TABLE_HOLDS).query_entities('x')\n"
)
HOLD_CALLS = (
    "from archive.names import RECORDS_CONTAINER\n"
    "def hold(blobs, v):\n"
    "    blob_versions.set_legal_hold(blobs.get_container_client(RECORDS_CONTAINER), v, 1)\n"
)


def test_the_retention_identity_covers_the_version_adapter_and_the_holds_table() -> None:
    holds_rows = (
        "from archive.names import TABLE_HOLDS\n"
        "def f(tables):\n"
        "    tables.get_table_client(TABLE_HOLDS).update_entity({})\n"
    )
    calls = [
        *calls_in(VERSION_CALLS), *calls_in(CERTIFICATE_CALLS), *calls_in(INDEX_CALLS),
        *calls_in(HOLD_CALLS), *calls_in(holds_rows),
    ]
    assert _gaps(calls, RETENTION_PRINCIPAL) == {}
    # ...while a delete in seals or of a Holds row is refused.
    refused = calls_in(
        "from archive.names import SEALS_CONTAINER, TABLE_HOLDS\n"
        "def f(blobs, tables):\n"
        "    blobs.get_container_client(SEALS_CONTAINER).delete_blob('x')\n"
        "    tables.get_table_client(TABLE_HOLDS).delete_entity('p', 'r')\n"
    )
    assert _gaps(refused, RETENTION_PRINCIPAL) == {
        ("blob", names.SEALS_CONTAINER): {admin_calls.BLOBS_DELETE},
        ("table", names.TABLE_HOLDS): {admin_calls.ENTITIES_DELETE},
    }


def test_retention_operators_cover_the_retention_run_but_not_legal_holds() -> None:
    # The run's modules are scanned once they exist; every call must then be covered.
    assert _gaps(admin_calls.retention_operator_calls(), OPERATORS) == {}
    calls = [*calls_in(VERSION_CALLS), *calls_in(CERTIFICATE_CALLS), *calls_in(INDEX_CALLS)]
    assert _gaps(calls, OPERATORS) == {}
    assert _gaps(calls_in(HOLD_CALLS), OPERATORS) == {("blob", names.RECORDS_CONTAINER): LEGAL_HOLD}


def test_the_retention_modules_are_left_out_of_the_admins_scan() -> None:
    admin_files = {str(p.relative_to(REPO)) for p in admin_calls.scanned_files()}
    assert admin_files.isdisjoint(admin_calls.RETENTION_SCANNED)
    assert {"storage/holds.py", "storage/hold_apply.py"} <= admin_files


# --- checkov ------------------------------------------------------------------------------


def test_checkov_passes_the_retention_module() -> None:
    assert CHECKOV.exists(), "run scripts/bootstrap: it installs checkov into .venv-checkov"
    completed = subprocess.run(
        [str(CHECKOV), "--framework", "bicep", "--file", str(RETENTION),
         "--output", "json", "--skip-download"],
        capture_output=True, text=True, timeout=240, check=False, cwd=REPO,
    )  # fmt: skip
    data = json.loads(completed.stdout)
    report: dict[str, Any] = data if isinstance(data, dict) else data[0]
    assert report["results"]["failed_checks"] == []
    assert report["summary"]["parsing_errors"] == 0
    # CKV_AZURE_39 (no custom owner role) ran on each of the four role definitions.
    passed = [c["check_id"] for c in report["results"]["passed_checks"]]
    assert passed.count("CKV_AZURE_39") == 4
