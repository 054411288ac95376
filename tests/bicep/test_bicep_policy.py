"""Security and compliance policy, asserted on the parsed templates."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.bicep import roles
from tests.bicep.bicep_tree import (
    ARCHIVE,
    FUNCTION_APP,
    HOST,
    KEYVAULT,
    MAIN,
    MONITORING,
    PARAMS,
    PEOPLE,
    bicep_files,
    bicepparam_values,
    body,
    guids,
    parse,
    resources_of_type,
    walk,
)

pytestmark = pytest.mark.bicep


STORAGE_ACCOUNT = "Microsoft.Storage/storageAccounts"


def only(tree: dict[str, Any], type_name: str) -> dict[str, Any]:
    found = [r for r in resources_of_type(tree, type_name).values() if not r["existing"]]
    assert len(found) == 1, f"expected one {type_name}, found {len(found)}"
    return body(found[0])


def main_param_default(name: str) -> Any:
    return parse(MAIN)["parameters"][name]["default"]


def main_passes(module: str, param: str) -> Any:
    return body(parse(MAIN)["modules"][module])["params"][param]


# --- storage ---------------------------------------------------------------


@pytest.mark.parametrize("path", [HOST, ARCHIVE], ids=["host", "archive"])
def test_storage_accounts_refuse_keys_old_tls_and_anonymous_reads(path: Any) -> None:
    props = only(parse(path), STORAGE_ACCOUNT)["properties"]
    assert props["allowSharedKeyAccess"] is False
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["allowBlobPublicAccess"] is False
    assert props["supportsHttpsTrafficOnly"] is True
    assert props["defaultToOAuthAuthentication"] is True


def test_archive_immutability_uses_the_retention_parameter() -> None:
    tree = parse(ARCHIVE)
    worm = only(tree, STORAGE_ACCOUNT)["properties"]["immutableStorageWithVersioning"]
    assert worm["enabled"] is True
    policy = worm["immutabilityPolicy"]
    assert policy["immutabilityPeriodSinceCreationInDays"] == "retentionDays"
    assert "retentionDays" in tree["parameters"]
    assert main_passes("archiveStorage", "retentionDays") == "retentionDays"
    assert main_param_default("retentionDays") == 2557
    assert bicepparam_values(PARAMS)[1]["retentionDays"] == "2557"
    blob_service = only(tree, "Microsoft.Storage/storageAccounts/blobServices")
    assert blob_service["properties"]["isVersioningEnabled"] is True


def test_archive_policy_is_deployed_unlocked_unless_already_locked() -> None:
    worm = only(parse(ARCHIVE), STORAGE_ACCOUNT)["properties"]["immutableStorageWithVersioning"]
    state = worm["immutabilityPolicy"]["state"]["operator"]["operands"]
    assert state["condition"] == "retentionPolicyLocked"
    assert (state["true_value"], state["false_value"]) == ("Locked", "Unlocked")
    assert main_param_default("retentionPolicyLocked") is False


def test_archive_is_encrypted_with_a_customer_managed_key_for_queues_and_tables_too() -> None:
    account = only(parse(ARCHIVE), STORAGE_ACCOUNT)
    encryption = account["properties"]["encryption"]
    assert encryption["keySource"] == "Microsoft.Keyvault"
    assert encryption["keyvaultproperties"]["keyvaulturi"] == "keyVaultUri"
    assert encryption["keyvaultproperties"]["keyname"] == "encryptionKeyName"
    assert "keyversion" not in encryption["keyvaultproperties"], "pinning a version stops rotation"
    assert encryption["identity"]["userAssignedIdentity"] == "encryptionIdentityId"
    for service in ("blob", "queue", "table"):
        assert encryption["services"][service] == {"enabled": True, "keyType": "Account"}
    assert account["identity"]["type"] == "UserAssigned"


def test_lifecycle_tiers_by_the_parameters_and_never_deletes() -> None:
    # Issue 14: one move for `media` only; tests/bicep/test_lifecycle.py evaluates it.
    tree = parse(ARCHIVE)
    policy = only(tree, "Microsoft.Storage/storageAccounts/managementPolicies")
    tiers = tree["variables"]["mediaTierActions"]["value"]
    days = {
        node["daysAfterCreationGreaterThan"]
        for node in walk(tiers)
        if isinstance(node, dict) and "daysAfterCreationGreaterThan" in node
    }
    assert days == {"mediaTierAfterDays"}
    actions = {key for node in walk([policy, tiers]) if isinstance(node, dict) for key in node}
    assert {"tierToCool", "tierToCold", "tierToArchive"} <= actions
    assert "delete" not in actions
    assert main_param_default("mediaTierAfterDays") == 90
    assert main_param_default("mediaTier") == "Cold"
    assert main_param_default("tierSmallMedia") is False
    assert main_passes("archiveStorage", "mediaTierAfterDays") == "mediaTierAfterDays"
    assert main_passes("archiveStorage", "tierSmallMedia") == "tierSmallMedia"
    text = ARCHIVE.read_text(encoding="utf-8")
    assert re.search(r"//.*cannot delete blobs.*\n//.*immutability policy", text)


def test_archive_access_is_logged_to_log_analytics() -> None:
    tree = parse(ARCHIVE)
    settings = resources_of_type(tree, "Microsoft.Insights/diagnosticSettings")
    scopes = {body(s)["scope"] for s in settings.values()}
    assert scopes == {"blobService", "queueService", "tableService"}
    logs = tree["variables"]["storageLogs"]["value"]
    assert {entry["category"] for entry in logs} == {"StorageRead", "StorageWrite", "StorageDelete"}
    for setting in settings.values():
        assert body(setting)["properties"]["logs"] == "storageLogs"


# --- key vault -------------------------------------------------------------


def test_key_vault_is_rbac_only_with_purge_protection() -> None:
    props = only(parse(KEYVAULT), "Microsoft.KeyVault/vaults")["properties"]
    assert props["enableRbacAuthorization"] is True
    assert props["enablePurgeProtection"] is True
    assert props["enableSoftDelete"] is True
    assert "accessPolicies" not in props


def test_key_vault_holds_separate_storage_and_signing_keys() -> None:
    keys = resources_of_type(parse(KEYVAULT), "Microsoft.KeyVault/vaults/keys")
    ops = {name: set(body(k)["properties"]["keyOps"]) for name, k in keys.items()}
    assert ops == {"storageKey": {"wrapKey", "unwrapKey"}, "manifestKey": {"sign", "verify"}}
    assert body(keys["storageKey"])["properties"]["kty"].startswith("RSA")
    # Seals are ES256 signatures: a P-256 key in an HSM.
    manifest = body(keys["manifestKey"])["properties"]
    assert (manifest["kty"], manifest["curveName"]) == ("EC-HSM", "P-256")


def test_app_may_only_sign_with_the_manifest_key() -> None:
    definitions = resources_of_type(parse(KEYVAULT), "Microsoft.Authorization/roleDefinitions")
    (permission,) = body(definitions["sealSignerRole"])["properties"]["permissions"]
    assert set(permission["dataActions"]) == {
        "Microsoft.KeyVault/vaults/keys/sign/action", "Microsoft.KeyVault/vaults/keys/read"
    }
    assert permission["actions"] == [] and permission["notDataActions"] == []


def test_key_vault_audit_events_are_logged() -> None:
    tree = parse(KEYVAULT)
    (setting,) = resources_of_type(tree, "Microsoft.Insights/diagnosticSettings").values()
    assert body(setting)["scope"] == "vault"
    assert body(setting)["properties"]["logs"] == [{"category": "AuditEvent", "enabled": True}]


def test_no_secrets_resource_or_value_in_the_templates() -> None:
    for path in bicep_files():
        assert not resources_of_type(parse(path), "Microsoft.KeyVault/vaults/secrets"), path.name


# --- function app ----------------------------------------------------------


def app_settings() -> dict[str, Any]:
    value: dict[str, Any] = parse(FUNCTION_APP)["variables"]["appSettings"]["value"]
    return value


def test_secrets_reach_the_app_only_as_key_vault_references() -> None:
    settings = app_settings()
    for name in ("WHATSAPP_APP_SECRET", "WHATSAPP_ACCESS_TOKEN", "WHATSAPP_VERIFY_TOKEN"):
        assert re.fullmatch(
            r"@Microsoft\.KeyVault\(SecretUri=\$\{keyVaultUri\}secrets/\$\{[\w.]+\}/\)",
            settings[name],
        ), name
    site = only(parse(FUNCTION_APP), "Microsoft.Web/sites")
    assert site["properties"]["keyVaultReferenceIdentity"] == "appIdentityId"


def test_storage_settings_are_identity_based() -> None:
    settings = app_settings()
    for prefix in ("AzureWebJobsStorage", "ARCHIVE_STORAGE"):
        assert settings[f"{prefix}__credential"] == "managedidentity"
        assert settings[f"{prefix}__clientId"] == "appClientId"
        assert prefix not in settings, "a bare connection setting would carry a key"
    for service in ("blob", "queue", "table"):
        assert f"ARCHIVE_STORAGE__{service}ServiceUri" in settings


def test_function_app_is_flex_consumption_python_311_with_its_own_identity() -> None:
    tree = parse(FUNCTION_APP)
    plan = only(tree, "Microsoft.Web/serverfarms")
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    site = only(tree, "Microsoft.Web/sites")
    assert site["identity"]["type"] == "UserAssigned"
    config = site["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    auth = config["deployment"]["storage"]["authentication"]
    assert auth["type"] == "UserAssignedIdentity"
    assert auth["userAssignedIdentityResourceId"] == "appIdentityId"
    assert site["properties"]["httpsOnly"] is True
    # Flex Consumption rejects these; the runtime comes from functionAppConfig.
    rejected = {"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION"}
    assert rejected & set(app_settings()) == set()
    policies = resources_of_type(tree, "Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    assert {body(p)["name"] for p in policies.values()} == {"scm", "ftp"}
    assert all(body(p)["properties"]["allow"] is False for p in policies.values())


def test_application_insights_takes_entra_id_tokens_only() -> None:
    component = only(parse(MONITORING), "Microsoft.Insights/components")
    assert component["properties"]["DisableLocalAuth"] is True
    auth = app_settings()["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]
    assert auth == "ClientId=${appClientId};Authorization=AAD"


def test_outputs_give_webhook_url_accounts_and_vault() -> None:
    outputs = parse(MAIN)["outputs"]
    expected = {"webhookUrl", "hostStorageAccountName", "archiveStorageAccountName", "keyVaultUri"}
    assert expected <= set(outputs)
    assert outputs["webhookUrl"]["value"].startswith("https://")


# --- RBAC ------------------------------------------------------------------


def test_no_owner_contributor_or_access_admin_role_anywhere() -> None:
    forbidden = {roles.OWNER, roles.CONTRIBUTOR, roles.USER_ACCESS_ADMINISTRATOR}
    for path in [*bicep_files(), PARAMS]:
        assert guids(path.read_text(encoding="utf-8")) & forbidden == set(), path.name
    for assignment in roles.assignments():
        assert set(assignment.roles) & forbidden == set(), assignment


def test_function_identity_roles_are_scoped_narrowly() -> None:
    app = {
        (a.file, a.scope): set(a.roles)
        for a in roles.assignments()
        if a.principal == "appPrincipalId"
    }
    assert app == {
        ("host-storage.bicep", "account"): {
            roles.BLOB_DATA_OWNER,
            roles.QUEUE_DATA_CONTRIBUTOR,
            roles.TABLE_DATA_CONTRIBUTOR,
        },
        ("archive-storage.bicep", "appContainers"): {roles.CUSTOM},
        ("archive-storage.bicep", "queues"): {roles.QUEUE_DATA_CONTRIBUTOR},
        ("archive-storage.bicep", "tables"): {roles.TABLE_DATA_CONTRIBUTOR},
        ("archive-storage.bicep", "auditContainer"): {roles.BLOB_DATA_READER},
        ("keyvault.bicep", "manifestKey"): {roles.CUSTOM},
        ("keyvault.bicep", "vault"): {roles.KV_SECRETS_USER},
        ("function-app.bicep", "appInsights"): {roles.MONITORING_METRICS_PUBLISHER},
        ("acs-events.bicep", "communication"): {roles.CUSTOM},
        # Deployed only with durableBackend 'durableTaskScheduler' (issue 14).
        ("durable-scheduler.bicep", "taskHub"): {roles.DURABLE_TASK_DATA_CONTRIBUTOR},
    }


def test_encryption_identity_can_only_use_the_storage_key() -> None:
    grants = [a for a in roles.assignments() if a.principal == "encryptionPrincipalId"]
    assert [(a.scope, a.roles) for a in grants] == [
        ("storageKey", (roles.KV_CRYPTO_SERVICE_ENCRYPTION_USER,))
    ]


def test_people_can_read_but_not_delete() -> None:
    allowed = {
        "adminsGroupPrincipalId": {
            roles.READER,
            roles.BLOB_DATA_READER,
            roles.QUEUE_DATA_READER,
            roles.QUEUE_MESSAGE_SENDER,
            roles.QUEUE_MESSAGE_PROCESSOR,
            roles.TABLE_DATA_READER,
            roles.CUSTOM,
        },
        "auditorsGroupPrincipalId": {roles.READER, roles.BLOB_DATA_READER},
    }
    people = [a for a in roles.assignments() if a.principal in allowed]
    assert {a.principal for a in people} == set(allowed)
    for grant in people:
        assert set(grant.roles) <= allowed[grant.principal], grant
    auditor_scopes = {a.scope for a in people if a.principal == "auditorsGroupPrincipalId"}
    assert auditor_scopes == {"account", "containers"}
    definitions = resources_of_type(parse(PEOPLE), "Microsoft.Authorization/roleDefinitions")
    customs = [body(r) for r in definitions.values()]
    assert customs
    for custom in customs:
        for permission in custom["properties"]["permissions"]:
            granted = [*permission["actions"], *permission["dataActions"]]
            assert not [g for g in granted if "delete" in g.lower() or "*" in g]
            blob_writes = {g for g in granted if g.endswith("/blobs/write")}
            assert blob_writes == set(), "blobs/write would let people overwrite"
            assert not permission.get("notActions") and not permission.get("notDataActions")


def test_people_parameters_are_optional() -> None:
    params = parse(MAIN)["parameters"]
    assert params["adminsGroupPrincipalId"]["default"] == ""
    assert params["auditorsGroupPrincipalId"]["default"] == ""


# --- secret literals -------------------------------------------------------

SECRET_PATTERNS = [
    re.compile(r"(AccountKey|SharedAccessKey|SharedAccessSignature|InstrumentationKey)=", re.I),
    re.compile(r"[?&]sig=", re.I),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY"),
    re.compile(r"\bEAA[A-Za-z0-9]{20,}"),  # Meta access tokens
    re.compile(r"(?<![0-9a-f-])[0-9a-f]{32,}(?![0-9a-f-])", re.I),  # app secrets, keys
    # base64 keys: long runs mixing digits, lower and upper case
    re.compile(r"(?=[A-Za-z0-9+/]*\d)(?=[A-Za-z0-9+/]*[a-z])(?=[A-Za-z0-9+/]*[A-Z])[A-Za-z0-9+/]{40,}"),
]
SECRET_NAMED = re.compile(r"secret|token|password|passwd|key", re.I)


def secret_literals(text: str) -> list[str]:
    return [m.group(0) for pattern in SECRET_PATTERNS for m in pattern.finditer(text)]


def test_secret_scanner_finds_planted_secrets() -> None:
    planted = (
        "var conn = 'DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abc=='\n"
        "var token = 'EAAGm0PX4ZCpsBAKZAZBnWZCZCZCZCZCZCZCZCZCZC'\n"
        "var appSecret = '0123456789abcdef0123456789abcdef'\n"
        "var key = 'q8Zx1Lw3Kd9Vn2Ty7Pb4Rm6Hs0Jc5Gf1Ae8Ud3Wo2Ik7Nl'\n"
    )
    assert len(secret_literals(planted)) >= 4


@pytest.mark.parametrize("path", [*bicep_files(), PARAMS], ids=lambda p: p.name)
def test_no_secret_literal_in_templates(path: Any) -> None:
    assert secret_literals(path.read_text(encoding="utf-8")) == []


def test_no_secure_parameter_has_a_default() -> None:
    for path in bicep_files():
        for name, param in parse(path).get("parameters", {}).items():
            decorators = {d["type"] for d in param.get("decorators", [])}
            if "secure" in decorators:
                # pycep reports "default": None for a parameter without one.
                assert param.get("default") is None, f"{path.name}: {name}"


def test_parameter_file_sets_no_secret_named_values() -> None:
    _, values = bicepparam_values(PARAMS)
    for name, value in values.items():
        if SECRET_NAMED.search(name):
            assert value in ("''", ""), name
