"""The first deployment works in every Flex Consumption region (issue 20).

Items 1-5, 9, 10 and 12 asserted on the parsed templates; the expression that
chooses the host SKU is evaluated here for every region that matters.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.bicep import roles
from tests.bicep.bicep_tree import (
    ARCHIVE,
    BICEP_DIR,
    FUNCTION_APP,
    HOST,
    MAIN,
    bicep_files,
    body,
    parse,
    resources_of_type,
    walk,
)

pytestmark = pytest.mark.bicep

DOC = BICEP_DIR.parent / "docs" / "deploy.md"
ZRS_FAMILY = ("Standard_ZRS", "Standard_GZRS", "Standard_RAGZRS")
NO_ZRS_FLEX_REGIONS = (
    "australiasoutheast", "northcentralus", "southindia", "ukwest", "westcentralus", "westus",
)  # fmt: skip


def evaluate(node: Any, env: dict[str, Any], variables: dict[str, Any]) -> Any:
    """A small evaluator for the pycep forms main.bicep's choices use."""
    if isinstance(node, str):
        if node in env:
            return env[node]
        if node in variables:
            return evaluate(variables[node]["value"], env, variables)
        return node
    if isinstance(node, list | int | bool):
        return node
    if "operator" in node:
        kind, ops = node["operator"]["type"], node["operator"]["operands"]
        if kind == "conditional":
            branch = "true_value" if evaluate(ops["condition"], env, variables) else "false_value"
            return evaluate(ops[branch], env, variables)
        if kind == "not":
            return not evaluate(ops["bool_value"], env, variables)
        left = evaluate(ops["operand_1"], env, variables)
        if kind == "and":
            return bool(left) and bool(evaluate(ops["operand_2"], env, variables))
        if kind == "equals":
            return left == evaluate(ops["operand_2"], env, variables)
    function = node.get("function", {})
    kind, params = function.get("type"), function.get("parameters", {})
    args = [evaluate(v, env, variables) for v in params.values()]
    if kind == "contains":
        return args[1] in args[0]
    if kind == "to_lower":
        return str(args[0]).lower()
    if kind == "replace":
        return str(args[0]).replace(args[1], args[2])
    if kind == "empty":
        return not args[0]
    raise AssertionError(f"cannot evaluate {node}")


def main_variable(name: str, **env: Any) -> Any:
    variables = parse(MAIN)["variables"]
    return evaluate(variables[name]["value"], env, variables)


def main_module_params(name: str) -> dict[str, Any]:
    params: dict[str, Any] = body(parse(MAIN)["modules"][name])["params"]
    return params


# --- item 1: no ftpsState on the Flex site ----------------------------------


def test_the_flex_site_sets_no_ftps_state() -> None:
    (site,) = resources_of_type(parse(FUNCTION_APP), "Microsoft.Web/sites").values()
    keys = {k for node in walk(body(site)) if isinstance(node, dict) for k in node}
    assert "ftpsState" not in keys
    for path in bicep_files():
        assert not re.search(r"^\s*ftpsState\s*:", path.read_text(encoding="utf-8"), re.M)


def test_ftp_stays_off_through_the_publishing_credentials_policy() -> None:
    tree = parse(FUNCTION_APP)
    policies = resources_of_type(tree, "Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    ftp = [body(p) for p in policies.values() if body(p)["name"] == "ftp"]
    assert ftp and ftp[0]["properties"]["allow"] is False


# --- item 2: the host SKU is a parameter, chosen per region ---------------------


def test_host_sku_is_a_parameter_of_the_module() -> None:
    tree = parse(HOST)
    (account,) = resources_of_type(tree, "Microsoft.Storage/storageAccounts").values()
    assert body(account)["sku"]["name"] == "skuName"
    allowed = next(d for d in tree["parameters"]["skuName"]["decorators"] if d["type"] == "allowed")
    assert set(allowed["argument"]) == {"Standard_LRS", "Standard_ZRS"}
    assert main_module_params("hostStorage")["skuName"] == "hostSku"
    assert parse(MAIN)["parameters"]["hostStorageSkuName"]["default"] == "auto"
    assert "Standard_ZRS" not in HOST.read_text(encoding="utf-8").split("param skuName")[1]


@pytest.mark.parametrize("region", NO_ZRS_FLEX_REGIONS)
def test_auto_picks_lrs_where_the_region_has_no_zrs(region: str) -> None:
    assert main_variable("hostSku", hostStorageSkuName="auto", location=region) == "Standard_LRS"


@pytest.mark.parametrize("region", ["westeurope", "East US 2", "swedencentral"])
def test_auto_picks_zrs_elsewhere_and_an_explicit_sku_wins(region: str) -> None:
    assert main_variable("hostSku", hostStorageSkuName="auto", location=region) == "Standard_ZRS"
    assert main_variable(
        "hostSku", hostStorageSkuName="Standard_LRS", location=region
    ) == "Standard_LRS"


# --- item 5: lower-cased names --------------------------------------------------


def test_every_name_uses_the_lower_cased_prefix() -> None:
    tree = parse(MAIN)
    assert tree["variables"]["prefix"]["value"] == {
        "function": {"type": "to_lower", "parameters": {"string_to_change": "namePrefix"}}
    }
    for key, name in tree["variables"]["names"]["value"].items():
        assert "${prefix}" in name and "namePrefix" not in name, key
    code = [
        line for line in MAIN.read_text(encoding="utf-8").splitlines()
        if not line.lstrip().startswith(("//", "@", "param "))
    ]  # fmt: skip
    uses = [line for line in code if re.search(r"\bnamePrefix\b", line)]
    assert uses == ["var prefix = toLower(namePrefix)"]


def test_storage_names_would_be_valid_with_a_capitalised_prefix() -> None:
    prefix = main_variable("prefix", namePrefix="WaArch")
    names = parse(MAIN)["variables"]["names"]["value"]
    for key in ("hostStorage", "archiveStorage", "logArchive"):
        name = names[key].replace("${prefix}", prefix).replace("${suffix}", "a1b2c3d4")
        assert re.fullmatch(r"[a-z0-9]{3,24}", name), name


# --- item 4: the vault name seed ----------------------------------------------


def test_vault_name_takes_a_seed_and_keeps_its_name_without_one() -> None:
    tree = parse(MAIN)
    assert tree["parameters"]["keyVaultNameSeed"]["default"] == ""
    assert tree["variables"]["names"]["value"]["keyVault"] == "kv-${prefix}-${vaultSuffix}"
    ops = tree["variables"]["vaultSuffix"]["value"]["operator"]["operands"]
    assert ops["condition"]["function"]["parameters"]["item_to_test"] == "keyVaultNameSeed"
    assert ops["true_value"] == "suffix", "no seed: the name every existing deployment has"
    seeded = ops["false_value"]["function"]["parameters"]["original_value"]["function"]
    assert seeded["type"] == "unique_string"
    assert "keyVaultNameSeed" in seeded["parameters"].values()
    doc = DOC.read_text(encoding="utf-8")
    assert "keyVaultNameSeed" in doc and "az keyvault recover" in doc


# --- item 9: invalid combinations are refused -----------------------------------


def allowed_of(path: Any, param: str) -> list[Any]:
    decorators = parse(path)["parameters"][param]["decorators"]
    allowed: list[Any] = next(d for d in decorators if d["type"] == "allowed")["argument"]
    return allowed


def test_only_the_tier_and_sku_pairs_azure_supports_are_allowed() -> None:
    pairs = set(allowed_of(ARCHIVE, "tierAndSku"))
    tiers, skus = allowed_of(MAIN, "mediaTier"), allowed_of(MAIN, "archiveSkuName")
    for tier in tiers:
        for sku in skus:
            valid = tier != "Archive" or sku not in ZRS_FAMILY
            assert (f"{tier}/{sku}" in pairs) == valid, (tier, sku)
    assert pairs <= {f"{t}/{s}" for t in tiers for s in skus}


def test_main_passes_the_pair_and_the_module_splits_it() -> None:
    tree = parse(MAIN)
    assert tree["variables"]["tierAndSku"]["value"] == "${mediaTier}/${archiveSkuName}"
    params = main_module_params("archiveStorage")
    assert params["tierAndSku"] == "tierAndSku"
    assert "skuName" not in params and "mediaTier" not in params
    module = parse(ARCHIVE)
    assert {"skuName", "mediaTier"} <= set(module["variables"])
    assert {"skuName", "mediaTier"}.isdisjoint(module["parameters"])
    (account,) = [
        r for r in resources_of_type(module, "Microsoft.Storage/storageAccounts").values()
        if not r["existing"]
    ]
    assert body(account)["sku"]["name"] == "skuName"
    assert main_module_params("logArchive")["skuName"] == "archiveSkuName"


@pytest.mark.parametrize("path", [MAIN, FUNCTION_APP], ids=["main", "function-app"])
def test_instance_memory_refuses_512(path: Any) -> None:
    param = parse(path)["parameters"]["instanceMemoryMB"]
    allowed = next(d for d in param["decorators"] if d["type"] == "allowed")["argument"]
    assert 512 not in allowed and 2048 in allowed


# --- item 10: ARM can lock, and the parameter says so -----------------------------


@pytest.mark.parametrize("path", [MAIN, ARCHIVE], ids=["main", "archive-storage"])
def test_locked_parameter_warns_in_capitals(path: Any) -> None:
    param = parse(path)["parameters"]["retentionPolicyLocked"]
    description = next(d for d in param["decorators"] if d["type"] == "description")["argument"]
    assert "IRREVERSIBLY" in description and "NO CONFIRMATION" in description


def test_no_template_comment_says_arm_cannot_lock() -> None:
    for path in bicep_files():
        assert "cannot lock" not in path.read_text(encoding="utf-8").lower(), path.name


# --- item 12: nothing unbuilt is described as running ------------------------------


def test_templates_describe_the_retention_job_as_built() -> None:
    # Issue 11 built it: no template may still call it planned, and the lifecycle
    # comment must say where expiry happens instead of a delete rule.
    mentions = 0
    for path in bicep_files():
        text = path.read_text(encoding="utf-8")
        assert "daily manifests" not in text, path.name
        for match in re.finditer(r"retention job", text):
            mentions += 1
            near = text[max(0, match.start() - 120) : match.end() + 120]
            assert "planned" not in near and "not built" not in near, path.name
    assert mentions >= 2


# --- item 3: the documented deployer roles can create what the templates create ---


def created_types() -> set[str]:
    types: set[str] = set()
    for path in [*bicep_files(), BICEP_DIR / "activity-log.bicep"]:
        for resource in parse(path).get("resources", {}).values():
            if not resource["existing"]:
                types.add(resource["type"])
    return types


def required_deployer_actions() -> set[str]:
    return {f"{t}/write" for t in created_types() if t.startswith("Microsoft.Authorization/")} | {
        "Microsoft.Resources/deployments/write",
        "Microsoft.Storage/storageAccounts/write",
        "Microsoft.Web/sites/write",
    }


def documented_role_sets() -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("### 1. Prerequisites", 1)[1].split("### 2.", 1)[0]
    listed = section.split("one of these role sets:", 1)[1].split("\n\n", 1)[0]
    return [re.findall(r"\*\*([^*]+)\*\*", line) for line in listed.splitlines() if "**" in line]


def test_templates_create_custom_roles_and_locks() -> None:
    assert {
        "Microsoft.Authorization/roleDefinitions",
        "Microsoft.Authorization/roleAssignments",
        "Microsoft.Authorization/locks",
    } <= created_types()


def test_every_documented_deployer_role_set_can_deploy() -> None:
    sets = documented_role_sets()
    assert sets == [["Owner"], ["Contributor", "User Access Administrator"]]
    for role_set in sets:
        for action in required_deployer_actions():
            assert roles.deployer_allows(role_set, action), (role_set, action)


def test_the_old_documented_role_set_could_not_deploy() -> None:
    old = ["Contributor", "Role Based Access Control Administrator"]
    lacking = {a for a in required_deployer_actions() if not roles.deployer_allows(old, a)}
    assert lacking == {
        "Microsoft.Authorization/roleDefinitions/write",
        "Microsoft.Authorization/locks/write",
    }
