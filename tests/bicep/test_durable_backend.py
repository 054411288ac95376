"""The Durable backend is a deployment choice (issue 14).

`durableBackend` 'azureStorage' (the default) deploys what it always did: no
Durable Task resources and no backend settings. 'durableTaskScheduler' adds a
scheduler, one task hub, the app identity's Durable Task Data Contributor role on
that task hub alone, and the settings the Functions host reads to use it.
Both are expanded from main.bicep (tests/bicep/bicep_eval.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from archive import names
from tests.bicep import roles
from tests.bicep.bicep_eval import (
    Scope,
    Unresolved,
    deployed_resources,
    main_scope,
    module_condition,
    module_scope,
)
from tests.bicep.bicep_tree import (
    FUNCTION_APP,
    MAIN,
    MODULES,
    PARAMS,
    REPO,
    bicep_files,
    bicepparam_values,
    body,
    parse,
)
from tests.bicep.code_settings import env_reads, names_settings

pytestmark = pytest.mark.bicep

SCHEDULER = "Microsoft.DurableTask/schedulers"
TASK_HUB = "Microsoft.DurableTask/schedulers/taskHubs"
ASSIGNMENT = "Microsoft.Authorization/roleAssignments"
MODULE = MODULES / "durable-scheduler.bicep"
CONNECTION = "DURABLE_TASK_SCHEDULER_CONNECTION_STRING"
HOST_PREFIX = "AzureFunctionsJobHost__extensions__durableTask__"
HOST_SETTINGS = {
    f"{HOST_PREFIX}storageProvider__type": "azureManaged",
    f"{HOST_PREFIX}storageProvider__connectionStringName": CONNECTION,
    f"{HOST_PREFIX}hubName": names.TASK_HUB,
}
DTS_SETTINGS = {CONNECTION, *HOST_SETTINGS}
WILDCARD = "0.0.0.0/0"
DTS = {"durableBackend": "durableTaskScheduler"}


def host_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REPO / "host.json").read_text(encoding="utf-8"))
    return data


def app_settings(**params: Any) -> dict[str, Any]:
    """name -> value of the site's app settings, for these main.bicep parameters."""
    app = module_scope(main_scope(**params), "functionApp")
    (site,) = [r for r in deployed_resources(app).values() if r["type"] == "Microsoft.Web/sites"]
    loop = body(site)["properties"]["siteConfig"]["appSettings"]
    return {entry["name"]: entry["value"] for entry in app.expand(loop)}


def durable_modules(main: Scope) -> list[str]:
    """The modules main.bicep deploys that hold Durable Task resources."""
    found = []
    for name, module in main.tree["modules"].items():
        path = (MAIN.parent / module["detail"]["path"]).resolve()
        types = {r["type"] for r in parse(path).get("resources", {}).values()}
        if any(t.startswith("Microsoft.DurableTask/") for t in types) and module_condition(
            main, name
        ):
            found.append(name)
    return found


def scheduler_deployment(**params: Any) -> tuple[Scope, dict[str, dict[str, Any]]]:
    main = main_scope(**DTS, **params)
    assert durable_modules(main) == ["durableScheduler"]
    scope = module_scope(main, "durableScheduler")
    return scope, deployed_resources(scope)


def only(resources: dict[str, dict[str, Any]], type_name: str) -> tuple[str, dict[str, Any]]:
    found = [(n, r) for n, r in resources.items() if r["type"] == type_name]
    assert len(found) == 1, f"expected one {type_name}, found {len(found)}"
    return found[0]


# --- the parameter -------------------------------------------------------------


def test_the_backend_is_a_parameter_defaulting_to_azure_storage() -> None:
    param = parse(MAIN)["parameters"]["durableBackend"]
    allowed = next(d for d in param["decorators"] if d["type"] == "allowed")["argument"]
    assert allowed == ["azureStorage", "durableTaskScheduler"]
    assert param["default"] == "azureStorage"
    assert bicepparam_values(PARAMS)[1]["durableBackend"] == "'azureStorage'"
    sku = parse(MAIN)["parameters"]["durableSchedulerSku"]
    sku_allowed = next(d for d in sku["decorators"] if d["type"] == "allowed")["argument"]
    assert sku_allowed == ["Consumption", "Dedicated"]
    assert parse(MAIN)["parameters"]["durableSchedulerIpAllowlist"]["default"] == []


@pytest.mark.parametrize("backend", ["azureStorage", "durableTaskScheduler"])
def test_both_backends_expand(backend: str) -> None:
    settings = app_settings(durableBackend=backend)
    assert settings["AzureWebJobsStorage__accountName"], "the host still needs its account"
    assert module_condition(main_scope(durableBackend=backend), "functionApp")


# --- azureStorage: nothing new -------------------------------------------------


def test_azure_storage_deploys_no_durable_task_resources_and_no_settings() -> None:
    main = main_scope()
    assert durable_modules(main) == []
    settings = app_settings()
    assert DTS_SETTINGS.isdisjoint(settings)
    assert not [s for s in settings if s.startswith("AzureFunctionsJobHost__")]
    assert main.eval(main.tree["outputs"]["durableSchedulerEndpoint"]["value"]) == ""


# --- durableTaskScheduler ------------------------------------------------------


def test_scheduler_and_task_hub_are_deployed() -> None:
    scope, resources = scheduler_deployment()
    name, scheduler = only(resources, SCHEDULER)
    props = scope.eval(body(scheduler))["properties"]
    assert props["sku"] == {"name": "Consumption"}
    _, hub = only(resources, TASK_HUB)
    hub_body = scope.eval(body(hub))
    assert body(hub)["parent"] == name
    assert hub_body["name"] == names.TASK_HUB == host_json()["extensions"]["durableTask"]["hubName"]
    # The GA API version (Azure/bicep-types-az generated/durabletask/2025-11-01).
    assert scheduler["api_version"] == hub["api_version"] == "2025-11-01"
    scheduler_name = scope.eval(body(scheduler))["name"]
    assert scheduler_name.startswith("dts-") and "${" not in scheduler_name


def test_dedicated_takes_its_capacity() -> None:
    scope, resources = scheduler_deployment(durableSchedulerSku="Dedicated",
                                            durableSchedulerCapacity=2)  # fmt: skip
    _, scheduler = only(resources, SCHEDULER)
    assert scope.eval(body(scheduler))["properties"]["sku"] == {"name": "Dedicated", "capacity": 2}


def test_exactly_one_role_assignment_data_contributor_on_the_task_hub() -> None:
    scope, resources = scheduler_deployment()
    hub_symbol, _ = only(resources, TASK_HUB)
    _, assignment = only(resources, ASSIGNMENT)
    config = body(assignment)
    assert config["scope"] == hub_symbol, "the task hub, not the scheduler or the group"
    props = scope.eval(config["properties"])
    assert props["principalType"] == "ServicePrincipal"
    assert props["principalId"] == Unresolved("<identities.outputs.appPrincipalId>")
    grants = roles.assignments([MODULE])
    assert [(a.scope, a.roles, a.principal) for a in grants] == [
        (hub_symbol, (roles.DURABLE_TASK_DATA_CONTRIBUTOR,), "appPrincipalId")
    ]
    # The only Durable Task role anywhere, and no other assignment in that module.
    everywhere = [a for a in roles.assignments() if roles.DURABLE_TASK_DATA_CONTRIBUTOR in a.roles]
    assert len(everywhere) == 1


@pytest.mark.parametrize(
    ("allowlist", "expected"),
    [(None, []), (["203.0.113.0/24"], ["203.0.113.0/24"]), ([WILDCARD], [WILDCARD])],
    ids=["default", "egress-range", "asked-for-wildcard"],
)
def test_no_wildcard_unless_the_parameter_asks(allowlist: Any, expected: list[str]) -> None:
    params = {} if allowlist is None else {"durableSchedulerIpAllowlist": allowlist}
    scope, resources = scheduler_deployment(**params)
    _, scheduler = only(resources, SCHEDULER)
    assert scope.eval(body(scheduler))["properties"]["ipAllowlist"] == expected
    for path in [*bicep_files(), PARAMS]:
        code = [
            line for line in path.read_text(encoding="utf-8").splitlines()
            if not line.lstrip().startswith(("//", "@description"))
        ]  # fmt: skip
        assert not [line for line in code if WILDCARD in line], path.name


def test_the_host_reads_the_azure_managed_provider_from_app_settings() -> None:
    settings = app_settings(**DTS)
    for name, value in HOST_SETTINGS.items():
        assert settings[name] == value, name
    connection = settings[CONNECTION]
    parts = dict(part.split("=", 1) for part in connection.split(";"))
    assert parts == {
        "Endpoint": "<durableScheduler.outputs.endpoint>",
        "Authentication": "ManagedIdentity",
        "ClientID": "<identities.outputs.appClientId>",
        "TaskHub": names.TASK_HUB,
    }
    # The same identity every other identity-based setting names.
    assert parts["ClientID"] == settings["AzureWebJobsStorage__clientId"]
    assert "AzureWebJobsStorage__accountName" in settings


def test_the_endpoint_output_comes_from_the_scheduler() -> None:
    main = main_scope(**DTS)
    assert main.eval(main.tree["outputs"]["durableSchedulerEndpoint"]["value"]) == Unresolved(
        "<durableScheduler.outputs.endpoint>"
    )
    outputs = parse(MODULE)["outputs"]
    assert outputs["endpoint"]["value"] == {
        "operator": {"type": "property_accessor", "operands": {
            "operand_1": "scheduler", "operand_2": {"operator": {
                "type": "property_accessor",
                "operands": {"operand_1": "properties", "operand_2": "endpoint"}}}}}
    }  # fmt: skip


def test_backend_settings_are_the_platforms_not_the_apps() -> None:
    # Read by the Functions host only, so they stay out of archive/names.py and the
    # app's code (test_bicep_consistency checks the app's own settings).
    assert DTS_SETTINGS.isdisjoint(names_settings())
    assert DTS_SETTINGS.isdisjoint(env_reads())
    app_vars = parse(FUNCTION_APP)["variables"]
    assert DTS_SETTINGS.isdisjoint(app_vars["appSettings"]["value"])


def test_host_json_keeps_azure_storage_and_a_bundle_with_azure_managed() -> None:
    data = host_json()
    assert data["extensionBundle"] == {
        "id": "Microsoft.Azure.Functions.ExtensionBundle",
        "version": "[4.32.0, 5.0.0)",
    }
    assert "storageProvider" not in data["extensions"]["durableTask"]
