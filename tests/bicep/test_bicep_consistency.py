"""Bicep, host.json, DESIGN.md and the code agree on resource and setting names."""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

import pytest

from archive import names
from devhost.config import BODY_LIMIT_SETTING
from storage import settings as app_defaults
from tests.bicep.bicep_tree import MAIN, MODULES, REPO, body, parse
from tests.bicep.code_settings import design_settings, env_reads, env_reads_in, names_settings

pytestmark = pytest.mark.bicep

DESIGN = REPO.parent / "shared" / "DESIGN.md"
HOST_JSON = REPO / "host.json"
# Read by the platform or the Azure SDK, not by our code.
PLATFORM_SETTINGS = {
    BODY_LIMIT_SETTING,
    "AZURE_CLIENT_ID",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
}


def archive_var(name: str) -> list[str]:
    value: list[str] = parse(MODULES / "archive-storage.bicep")["variables"][name]["value"]
    return value


def bicep_settings() -> set[str]:
    return set(parse(MODULES / "function-app.bicep")["variables"]["appSettings"]["value"])


def deployed(setting: str, deployed_names: set[str]) -> bool:
    """Set as itself, or in the identity-based `NAME__property` form."""
    return setting in deployed_names or any(
        name.startswith(f"{setting}__") for name in deployed_names
    )


def host_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(HOST_JSON.read_text(encoding="utf-8"))
    return data


def test_archive_resources_match_names_py() -> None:
    assert archive_var("containerNames") == list(names.CONTAINERS)
    assert archive_var("queueNames") == list(names.QUEUES)
    assert archive_var("tableNames") == list(names.INDEX_TABLES)
    people = body(parse(MAIN)["modules"]["peopleAccess"])["params"]
    assert people["auditContainerName"] == names.AUDIT_CONTAINER
    assert people["ingestQueueName"] == names.INGEST_QUEUE
    assert people["poisonQueueName"] == names.INGEST_POISON_QUEUE


def test_design_contract_resources_match_names_py() -> None:
    if not DESIGN.exists():
        # CI keeps shared/ beside the clone; without it the names.py side still holds.
        assert f"{names.INGEST_QUEUE}-poison" == names.INGEST_POISON_QUEUE
        return
    text = DESIGN.read_text(encoding="utf-8")
    containers_line = next(line for line in text.splitlines() if "Blob containers:" in line)
    assert re.findall(r"`(\w+)`", containers_line) == list(names.CONTAINERS)
    queue_line = next(line for line in text.splitlines() if line.startswith("- Queue:"))
    assert re.findall(r"`([\w-]+)`", queue_line) == [names.INGEST_QUEUE, names.INGEST_POISON_QUEUE]


def test_task_hub_is_one_name_everywhere() -> None:
    hub = host_json()["extensions"]["durableTask"]["hubName"]
    assert hub == names.TASK_HUB
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]{2,44}", hub)
    for path in [MAIN, *MODULES.glob("*.bicep")]:
        mentioned = set(re.findall(r"hubName\W+'(\w+)'", path.read_text(encoding="utf-8")))
        assert mentioned <= {names.TASK_HUB}, path.name


def test_webhook_output_uses_host_json_route_prefix() -> None:
    prefix = host_json()["extensions"]["http"]["routePrefix"]
    path = parse(MAIN)["variables"]["webhookPath"]["value"]
    assert path == f"/{prefix}/webhooks/meta"


def test_every_setting_in_names_py_is_deployed() -> None:
    deployed_names = bicep_settings()
    missing = {s for s in names_settings() if not deployed(s, deployed_names)}
    assert missing == set()


def test_every_setting_the_code_reads_is_deployed() -> None:
    reads = env_reads()
    assert names.SETTING_ARCHIVE_STORAGE in reads or names.SETTING_GRAPH_URL in reads
    deployed_names = bicep_settings()
    # A bare connection setting is the local (Azurite) form; Azure uses NAME__*.
    missing = {s for s in reads if not deployed(s, deployed_names)}
    assert missing == set()


def test_every_deployed_setting_is_read_by_someone() -> None:
    known = names_settings()
    unknown = {
        s
        for s in bicep_settings() - PLATFORM_SETTINGS
        if s not in known and s.split("__")[0] not in known
    }
    assert unknown == set()


# Settings DESIGN.md names before names.py, Bicep and the code have them: they join all
# three together. Issue 13 (WASender, Twilio, ACS, PUBLIC_BASE_URL) has landed; none pend.
PENDING_PROVIDER_SETTINGS: frozenset[str] = frozenset()


def test_design_settings_table_matches_names_py() -> None:
    if not DESIGN.exists():
        assert names.SETTING_ARCHIVE_STORAGE in names_settings()
        return
    assert design_settings(DESIGN) - PENDING_PROVIDER_SETTINGS <= names_settings()
    # A pending setting that names.py already defines must leave the pending list.
    assert PENDING_PROVIDER_SETTINGS.isdisjoint(names_settings())


def test_host_body_limit_is_the_webhook_cap() -> None:
    """The host must refuse an oversized body before buffering it for the app."""
    app_settings = parse(MODULES / "function-app.bicep")["variables"]["appSettings"]["value"]
    assert app_settings[BODY_LIMIT_SETTING] == app_settings[names.SETTING_MAX_WEBHOOK_BYTES]


def test_bicep_defaults_match_the_apps_defaults() -> None:
    params = parse(MAIN)["parameters"]
    assert params["retentionDays"]["default"] == app_defaults.DEFAULT_RETENTION_DAYS
    assert params["maxWebhookBytes"]["default"] == app_defaults.DEFAULT_MAX_WEBHOOK_BYTES
    assert params["maxMediaBytes"]["default"] == app_defaults.DEFAULT_MAX_MEDIA_BYTES
    assert params["graphUrl"]["default"] == app_defaults.DEFAULT_GRAPH_URL


def test_python_version_matches_pyproject() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    runtime = body(
        next(iter(r for r in parse(MODULES / "function-app.bicep")["resources"].values()
                  if r["type"] == "Microsoft.Web/sites"))
    )["properties"]["functionAppConfig"]["runtime"]
    assert f">={runtime['version']}" in project["project"]["requires-python"]


def test_setting_collector_resolves_constants_and_parameter_defaults() -> None:
    source = (
        "import os\n"
        "from archive.names import SETTING_ARCHIVE_STORAGE, SETTING_GRAPH_URL\n"
        "LOCAL = 'LOCAL_ONLY'\n"
        "def a(setting: str = SETTING_ARCHIVE_STORAGE) -> str:\n"
        "    return os.environ.get(f'{setting}__clientId', '')\n"
        "def b(name: str) -> str:\n"
        "    return os.environ[name] + os.getenv(SETTING_GRAPH_URL, '') + os.environ[LOCAL]\n"
    )
    assert env_reads_in(source) == {
        "ARCHIVE_STORAGE__clientId",
        "WHATSAPP_GRAPH_URL",
        "LOCAL_ONLY",
    }
