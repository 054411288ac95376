"""Key and lock, narrowed blob roles, and an access trail as long as the records.

Issue 9 ("Key and lock", "Audit") and issue 21 items 1 and 7, asserted on the
parsed templates.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from archive import names
from ingest.housekeeping import DEFAULT_POISON_DRAIN_SCHEDULE
from tests.bicep import roles
from tests.bicep.bicep_tree import (
    ACTIVITY_LOG,
    ALERTS,
    ARCHIVE,
    BICEP_DIR,
    FUNCTION_APP,
    HOST,
    KEYVAULT,
    LOG_ARCHIVE,
    MAIN,
    PARAMS,
    PEOPLE,
    bicepparam_values,
    body,
    parse,
    resolve,
    resources_of_type,
    undeclared_symbols,
)

pytestmark = pytest.mark.bicep


LOCKS = "Microsoft.Authorization/locks"
DIAGNOSTICS = "Microsoft.Insights/diagnosticSettings"
ROLE_DEFINITIONS = "Microsoft.Authorization/roleDefinitions"
BLOB_ACTION = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/"
READ_AND_CREATE = {f"{BLOB_ACTION}read", f"{BLOB_ACTION}add/action"}
# Built-in roles that can overwrite or delete blobs.
BLOB_WRITERS = {roles.BLOB_DATA_CONTRIBUTOR, roles.BLOB_DATA_OWNER}
# Categories Azure Monitor writes to insights-logs-<category lowercased>.
ROUTED_CATEGORIES = {
    "StorageRead", "StorageWrite", "StorageDelete", "AuditEvent", "FunctionAppLogs",
}  # fmt: skip
IMMUTABILITY_POLICIES = (
    "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies"
)


def created(tree: dict[str, Any], type_name: str) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in resources_of_type(tree, type_name).items() if not r["existing"]}


def only(tree: dict[str, Any], type_name: str) -> dict[str, Any]:
    found = list(created(tree, type_name).values())
    assert len(found) == 1, f"expected one {type_name}, found {len(found)}"
    return body(found[0])


def main_module(name: str) -> dict[str, Any]:
    params: dict[str, Any] = body(parse(MAIN)["modules"][name])["params"]
    return params


def dotted(value: Any) -> Any:
    """`a.b.c` for pycep's nested property accessors; anything else unchanged."""
    if isinstance(value, dict) and value.get("operator", {}).get("type") == "property_accessor":
        operands = value["operator"]["operands"]
        return f"{dotted(operands['operand_1'])}.{dotted(operands['operand_2'])}"
    return value


def diagnostic_categories(setting: dict[str, Any], tree: dict[str, Any]) -> set[str]:
    """Categories a diagnostic setting enables, whether listed, looped or a variable."""
    logs = resolve(tree, body(setting)["properties"]["logs"])
    if isinstance(logs, dict) and "loop_type" in logs:
        items = logs["loop_type"]["detail"]["array_name"]
        if isinstance(items, dict) and "property_accessor" in str(items):
            operands = items["operator"]["operands"]
            items = resolve(tree, operands["operand_1"])[operands["operand_2"]]
        return set(resolve(tree, items))
    return {entry["category"] for entry in logs if entry.get("enabled")}


# --- issue 9: key and lock -------------------------------------------------


@pytest.mark.parametrize(
    ("path", "scope"),
    [(KEYVAULT, "vault"), (ARCHIVE, "account"), (LOG_ARCHIVE, "account")],
    ids=["key-vault", "archive-account", "log-archive-account"],
)
def test_can_not_delete_lock(path: Any, scope: str) -> None:
    lock = only(parse(path), LOCKS)
    assert lock["scope"] == scope
    assert lock["properties"]["level"] == "CanNotDelete"
    assert "docs/deploy.md" in lock["properties"]["notes"]


def test_main_deploys_the_alerts_module_with_an_optional_email() -> None:
    assert parse(MAIN)["modules"]["alerts"]["detail"]["path"] == "modules/alerts.bicep"
    assert parse(MAIN)["parameters"]["alertEmail"]["default"] == ""
    # One action group for every alert: observability.bicep owns it (email + webhook;
    # tests/bicep/test_observability.py), the key/lock alert points at it.
    assert main_module("observability")["alertEmail"] == "alertEmail"
    assert dotted(main_module("alerts")["actionGroupId"]) == "observability.outputs.actionGroupId"
    assert bicepparam_values(PARAMS)[1]["alertEmail"] == "''"
    assert not created(parse(ALERTS), "Microsoft.Insights/actionGroups")


def test_activity_log_alert_fires_on_key_change_vault_delete_and_lock_delete() -> None:
    tree = parse(ALERTS)
    alert = only(tree, "Microsoft.Insights/activityLogAlerts")
    props = alert["properties"]
    assert props["enabled"] is True
    conditions = props["condition"]["allOf"]
    assert {"field": "category", "equals": "Administrative"} in conditions
    (any_of,) = [c["anyOf"] for c in conditions if "anyOf" in c]
    operations = {leaf["equals"] for leaf in any_of if leaf["field"] == "operationName"}
    assert operations == {
        "Microsoft.KeyVault/vaults/keys/write",
        "Microsoft.KeyVault/vaults/delete",
        "Microsoft.Authorization/locks/delete",
    }
    (group,) = props["actions"]["actionGroups"]
    assert group["actionGroupId"] == "actionGroupId"


def test_data_plane_key_disable_or_delete_is_alerted_from_the_vaults_own_workspace() -> None:
    # The rule itself is tested in test_observability.py; here: the vault's AuditEvent,
    # which it reads, reaches the workspace the rule queries.
    vault_setting = only(parse(KEYVAULT), DIAGNOSTICS)
    assert vault_setting["properties"]["workspaceId"] == "workspaceId"
    assert main_module("observability")["workspaceId"] == main_module("keyVault")["workspaceId"]
    assert dotted(main_module("observability")["keyVaultId"]) == "keyVault.outputs.vaultId"


# --- issue 9: audit appender -----------------------------------------------


def custom_role(path: Any, name_part: str) -> dict[str, Any]:
    found = [
        body(r) for r in created(parse(path), ROLE_DEFINITIONS).values()
        if name_part in body(r)["properties"]["roleName"]
    ]
    assert len(found) == 1, f"expected one custom role named like {name_part!r}"
    return found[0]


def test_audit_appender_can_read_and_create_but_never_overwrite() -> None:
    role = custom_role(PEOPLE, "Audit Appender")
    (permission,) = role["properties"]["permissions"]
    assert set(permission["dataActions"]) == READ_AND_CREATE
    assert f"{BLOB_ACTION}write" not in permission["dataActions"]


# --- issue 21 item 1: the app identity can only create ---------------------


def test_app_blob_role_is_read_and_create_only() -> None:
    role = only(parse(ARCHIVE), ROLE_DEFINITIONS)
    (permission,) = role["properties"]["permissions"]
    assert set(permission["dataActions"]) == READ_AND_CREATE
    assert permission["actions"] == []
    assert permission["notDataActions"] == []


def test_app_creates_in_every_worm_container_except_audit() -> None:
    tree = parse(ARCHIVE)
    app_containers = tree["variables"]["appBlobContainerNames"]["value"]
    assert set(app_containers) == set(names.CONTAINERS) - {names.AUDIT_CONTAINER}
    grants = [
        body(r)
        for r in created(tree, "Microsoft.Authorization/roleAssignments").values()
        if body(r)["properties"]["principalId"] == "appPrincipalId"
        and r["config"].get("loop_type", {}).get("detail", {}).get("array_name")
        == "appBlobContainerNames"
    ]
    assert len(grants) == 1
    assert dotted(grants[0]["properties"]["roleDefinitionId"]) == "appCreateOnlyRole.id"
    assert grants[0]["scope"]["operator"]["operands"]["operand_1"] == "appContainers"
    existing = resources_of_type(tree, "Microsoft.Storage/storageAccounts/blobServices/containers")
    loop = existing["appContainers"]["config"]["loop_type"]["detail"]
    assert loop["array_name"] == "appBlobContainerNames"


def test_app_has_no_blob_writer_role_on_the_archive_account() -> None:
    archive_grants = [
        a for a in roles.assignments([ARCHIVE, PEOPLE]) if a.principal == "appPrincipalId"
    ]
    assert archive_grants, "the app must still be able to reach the archive"
    for grant in archive_grants:
        assert set(grant.roles) & BLOB_WRITERS == set(), grant
    text = ARCHIVE.read_text(encoding="utf-8")
    for role_id in BLOB_WRITERS:
        assert role_id not in text


def test_app_only_reads_the_audit_container() -> None:
    tree = parse(ARCHIVE)
    grants = {a.scope: a.roles for a in roles.assignments([ARCHIVE])
              if a.principal == "appPrincipalId"}
    # The create-only containers, queues, tables, and read (seal + verify) on audit.
    assert set(grants) == {"appContainers", "queues", "tables", "auditContainer"}
    assert grants["auditContainer"] == (roles.BLOB_DATA_READER,)
    existing = resources_of_type(tree, "Microsoft.Storage/storageAccounts/blobServices/containers")
    assert body(existing["auditContainer"])["name"] == names.AUDIT_CONTAINER
    assert names.AUDIT_CONTAINER not in tree["variables"]["appBlobContainerNames"]["value"]
    assert names.AUDIT_CONTAINER not in names.QUEUES + names.INDEX_TABLES


def test_role_comment_states_what_the_docs_say_about_block_uploads() -> None:
    text = ARCHIVE.read_text(encoding="utf-8")
    assert re.search(r"Put Blob and\s*\n//\s*Put Block List", text)
    assert "Put Block" in text and "blobs/write" in text and "add/action" in text


# --- issue 21 item 7: the access trail outlives Log Analytics --------------


def test_log_archive_containers_are_immutable_for_the_record_retention() -> None:
    tree = parse(LOG_ARCHIVE)
    containers = tree["variables"]["logContainerNames"]["value"]
    expected = {f"insights-logs-{c.lower()}" for c in ROUTED_CATEGORIES}
    assert set(containers) == expected | {"insights-activity-logs"}
    policies = created(tree, IMMUTABILITY_POLICIES)
    (policy,) = policies.values()
    # Empty once locked: Azure refuses to re-put a locked container policy.
    looped = policy["config"]["loop_type"]["detail"]["array_name"]["operator"]["operands"]
    assert looped["condition"] == "retentionPolicyLocked"
    assert (looped["true_value"], looped["false_value"]) == ([], "logContainerNames")
    assert main_module("logArchive")["retentionPolicyLocked"] == "retentionPolicyLocked"
    props = body(policy)["properties"]
    assert props["immutabilityPeriodSinceCreationInDays"] == "retentionDays"
    # Azure Monitor appends to hourly blobs; without this every append is refused.
    assert props["allowProtectedAppendWrites"] is True
    assert main_module("logArchive")["retentionDays"] == "retentionDays"


def test_log_archive_account_refuses_keys_and_anonymous_reads() -> None:
    props = only(parse(LOG_ARCHIVE), "Microsoft.Storage/storageAccounts")["properties"]
    assert props["allowSharedKeyAccess"] is False
    assert props["allowBlobPublicAccess"] is False
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert "immutableStorageWithVersioning" not in props
    text = LOG_ARCHIVE.read_text(encoding="utf-8")
    assert "Why a separate account" in text


def test_no_principal_gets_a_role_on_the_log_archive() -> None:
    assert roles.assignments([LOG_ARCHIVE]) == []


@pytest.mark.parametrize(
    ("path", "scopes", "categories"),
    [
        (ARCHIVE, {"blobService", "queueService", "tableService"},
         {"StorageRead", "StorageWrite", "StorageDelete"}),
        (HOST, {"blobService", "queueService", "tableService"},
         {"StorageRead", "StorageWrite", "StorageDelete"}),
        (KEYVAULT, {"vault"}, {"AuditEvent"}),
        (FUNCTION_APP, {"site"}, {"FunctionAppLogs"}),
    ],
    ids=["archive-account", "host-account", "key-vault", "function-app"],
)  # fmt: skip
def test_diagnostic_settings_reach_log_analytics_and_the_log_archive(
    path: Any, scopes: set[str], categories: set[str]
) -> None:
    tree = parse(path)
    settings = created(tree, DIAGNOSTICS)
    assert {body(s)["scope"] for s in settings.values()} == scopes
    found: set[str] = set()
    for setting in settings.values():
        props = body(setting)["properties"]
        assert props["workspaceId"] == "workspaceId"
        assert props["storageAccountId"] == "logArchiveAccountId"
        found |= diagnostic_categories(setting, tree)
    assert found == categories
    assert found <= ROUTED_CATEGORIES, "a category without an immutable container"


def test_host_account_logs_writes_everywhere_and_reads_on_blobs() -> None:
    logs = parse(HOST)["variables"]["hostLogs"]["value"]
    assert set(logs["blob"]) == {"StorageRead", "StorageWrite", "StorageDelete"}
    for service in ("queue", "table"):
        assert set(logs[service]) == {"StorageWrite", "StorageDelete"}


def test_every_module_with_a_diagnostic_setting_gets_the_log_archive_from_main() -> None:
    for module in ("archiveStorage", "hostStorage", "keyVault", "functionApp"):
        params = main_module(module)
        assert dotted(params["logArchiveAccountId"]) == "logArchive.outputs.accountId", module
        assert dotted(params["workspaceId"]) == "monitoring.outputs.workspaceId", module


def test_activity_log_is_exported_at_subscription_scope() -> None:
    tree = parse(ACTIVITY_LOG)
    assert tree["globals"]["scope"]["value"] == "subscription"
    assert undeclared_symbols(ACTIVITY_LOG.read_text(encoding="utf-8")) == set()
    setting = only(tree, DIAGNOSTICS)
    assert "scope" not in setting, "no scope: the subscription itself"
    props = setting["properties"]
    assert props["storageAccountId"] == "logArchiveAccountId"
    assert props["workspaceId"] == "workspaceId"
    categories = set(tree["variables"]["activityCategories"]["value"])
    assert {"Administrative", "Security", "Policy"} <= categories
    assert "insights-activity-logs" in parse(LOG_ARCHIVE)["variables"]["logContainerNames"]["value"]
    outputs = parse(MAIN)["outputs"]
    assert {"logArchiveAccountId", "workspaceId"} <= set(outputs)


def test_deploy_doc_runs_the_activity_log_step() -> None:
    doc = (BICEP_DIR.parent / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert "az deployment sub create" in doc
    assert "bicep/activity-log.bicep" in doc


# --- new app settings --------------------------------------------------------


def test_custody_mac_key_is_a_key_vault_reference() -> None:
    tree = parse(FUNCTION_APP)
    settings = tree["variables"]["appSettings"]["value"]
    assert re.fullmatch(
        r"@Microsoft\.KeyVault\(SecretUri=\$\{keyVaultUri\}secrets/"
        r"\$\{secretReferences\.CUSTODY_MAC_KEY\}/\)",
        settings[names.SETTING_CUSTODY_MAC_KEY],
    )
    secret_names = tree["variables"]["secretReferences"]["value"]
    assert secret_names[names.SETTING_CUSTODY_MAC_KEY] == "custody-mac-key"


def test_plain_lists_are_parameters_with_empty_defaults() -> None:
    settings = parse(FUNCTION_APP)["variables"]["appSettings"]["value"]
    assert settings[names.SETTING_MEDIA_HOST_ALLOWLIST] == "mediaHostAllowlist"
    assert settings[names.SETTING_OUTBOUND_SENDERS] == "outboundSenderIds"
    params = parse(MAIN)["parameters"]
    for name in ("mediaHostAllowlist", "outboundSenderIds"):
        assert params[name]["default"] == ""
        assert main_module("functionApp")[name] == name


def test_poison_drain_schedule_is_deployed_as_the_apps_default() -> None:
    settings = parse(FUNCTION_APP)["variables"]["appSettings"]["value"]
    assert settings[names.SETTING_POISON_DRAIN_SCHEDULE] == DEFAULT_POISON_DRAIN_SCHEDULE


def test_seal_and_verify_schedules_are_deployed_as_the_apps_defaults() -> None:
    from orchestrations.seal_day import DEFAULT_SEAL_SCHEDULE
    from orchestrations.verify_run import DEFAULT_VERIFY_SCHEDULE

    settings = parse(FUNCTION_APP)["variables"]["appSettings"]["value"]
    assert settings[names.SETTING_SEAL_SCHEDULE] == DEFAULT_SEAL_SCHEDULE
    assert settings[names.SETTING_VERIFY_SCHEDULE] == DEFAULT_VERIFY_SCHEDULE
