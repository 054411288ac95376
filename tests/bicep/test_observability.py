"""Observability (issue 15): the action group, every alert rule with its threshold
parameter, its runbook link and its action group, the workbook over the whole metric
catalogue, and checkov on the module.

The module is read offline (pycep + tests/bicep/bicep_eval.py), as the other Bicep
tests read theirs: no Bicep compiler here.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import zoneinfo
from pathlib import Path
from typing import Any

import pytest

from archive import names
from archive.metrics import BY_NAME, CATALOGUE
from cli.main import build_parser
from tests.bicep.bicep_eval import Scope
from tests.bicep.bicep_tree import MODULES, REPO, body, parse, resources_of_type
from tests.bicep.runbook import az_commands, command_path
from tests.bicep.test_runbook import problems, recorded

pytestmark = pytest.mark.bicep

OBSERVABILITY = MODULES / "observability.bicep"
WORKBOOK = MODULES / "workbook.json"
# The alert runbook sections, after the status-check sections.
RUNBOOKS = [REPO / "docs" / "operations.md"]
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"

WORKSPACE = (
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/log"
)
VAULT = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv"
ARCHIVE = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/starch"
LOGS = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/stlogs"
RUNBOOK_URL = "https://example.org/wa-archive/blob/main/docs/operations.md"
REQUIRED = {
    "location": "westeurope",
    "tags": {"workload": "test"},
    "actionGroupName": "ag-test",
    "workspaceId": WORKSPACE,
    "keyVaultId": VAULT,
    "archiveStorageAccountId": ARCHIVE,
    "alertEmail": "ops@example.com",
    "alertWebhookUrl": "",
    "runbookBaseUrl": RUNBOOK_URL,
}

# anchor -> (threshold parameter or a constant, metric or table names the query reads,
#            parameters interpolated into the query)
RULES: dict[str, tuple[str | int, tuple[str, ...], tuple[str, ...]]] = {
    "poison-or-dead-letters-waiting": (
        "poisonDepthThreshold",
        ("wa_archive.queue.depth", "wa_archive.poison", '"ingest-poison"', '"deadletter"'),
        (),
    ),
    "ingest-queue-stalled": (
        "queueMaxAgeMinutes",
        ("wa_archive.queue.oldest_age", '"ingest"', "/ 60.0"),
        (),
    ),
    "no-events-archived-in-business-hours": (
        0,
        ("wa_archive.events.archived", "datetime_utc_to_local", "dayofweek", "hourofday"),
        ("noEventsMinutes", "businessHoursStart", "businessHoursEnd", "days", "businessTimeZone"),
    ),
    "webhook-5xx-rate": (
        "webhook5xxPercent",
        ("AppRequests", "toint(ResultCode) >= 500"),
        ("webhook5xxMinRequests",),
    ),
    "media-gaps-growing": ("mediaGapThreshold", ("wa_archive.media.gaps",), ()),
    "seal-missed": (0, ("wa_archive.seals", '"sealed"'), ("sealMissedHours",)),
    "verification-failed": (0, ("wa_archive.verifications", '"failed"'), ()),
    "key-vault-reference-unresolved": (0, ("wa_archive.settings.unresolved",), ()),
    "key-disabled-or-deleted": (
        0,
        ("AzureDiagnostics", '"KeyUpdate"', '"KeyDelete"', '"KeyPurge"'),
        ("keyVaultId",),
    ),
    "blob-immutability-policy-changed": (
        0,
        ("StorageBlobLogs", '"SetBlobImmutabilityPolicy"', '"DeleteBlobImmutabilityPolicy"'),
        ("archiveStorageAccountId",),
    ),
}
RETENTION_ANCHOR = "retention-policy-or-lock-changed"
# Rules whose query reaches further back than its window (ago() of a parameter).
LOOKS_BACK = {"no-events-archived-in-business-hours", "seal-missed"}
RETENTION_OPERATIONS = {
    "Microsoft.Storage/storageAccounts/write",
    "Microsoft.Storage/storageAccounts/blobServices/write",
    *(
        f"Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies/{op}"
        for op in ("write", "delete", "lock/action", "extend/action")
    ),
}
DEFAULTS = {
    "poisonDepthThreshold": 0,
    "queueMaxAgeMinutes": 10,
    "noEventsMinutes": 60,
    "businessHoursStart": 8,
    "businessHoursEnd": 18,
    "businessDays": [1, 2, 3, 4, 5],
    "businessTimeZone": "America/New_York",
    "webhook5xxPercent": 5,
    "webhook5xxMinRequests": 5,
    "mediaGapThreshold": 10,
    "mediaGapWindow": "PT1H",
    "sealMissedHours": 26,
}
# Log search alert windows the portal offers (aggregation granularity), in minutes.
WINDOWS = {"PT5M": 5, "PT15M": 15, "PT30M": 30, "PT1H": 60, "PT6H": 360, "P1D": 1440,
           "P2D": 2880}  # fmt: skip
METRIC_NAME = re.compile(r"wa_archive(?:\.[a-z_]+)+")
# A query's metric filter and the dimension keys it reads.
METRIC_FILTER = re.compile(r'Name == "(wa_archive[a-z_.]+)"')
DIMENSION = re.compile(r"Properties\.([a-z_]+)")


def tree() -> dict[str, Any]:
    return parse(OBSERVABILITY)


class ModuleScope(Scope):
    """bicep_eval's Scope, reading a property named `operator` (an alert criterion's
    GreaterThan, a dimension's Include) as a property, not as an expression."""

    def eval(self, node: Any, local: dict[str, Any] | None = None) -> Any:
        if isinstance(node, dict) and isinstance(node.get("operator"), str):
            return {key: self.eval(value, local or {}) for key, value in node.items()}
        return super().eval(node, local)


def scope(**params: Any) -> Scope:
    return ModuleScope(OBSERVABILITY, {**REQUIRED, **params})


def only(type_name: str) -> dict[str, Any]:
    (resource,) = resources_of_type(tree(), type_name).values()
    return resource


def log_rules(**params: Any) -> dict[str, dict[str, Any]]:
    """anchor -> the deployed scheduledQueryRules resource, loop expanded."""
    rules = scope(**params).expand(only("Microsoft.Insights/scheduledQueryRules")["config"])
    return {rule["name"].removeprefix("wa-archive-alert-"): rule for rule in rules}


def rule_entries() -> dict[str, dict[str, Any]]:
    """anchor -> the unevaluated entry of the logRules variable (symbols as written)."""
    return {entry["anchor"]: entry for entry in tree()["variables"]["logRules"]["value"]}


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def runbook_text() -> str:
    texts = [p.read_text(encoding="utf-8") for p in RUNBOOKS if p.exists()]
    assert texts, "no runbook: docs/operations.md"
    return "\n".join(texts)


def runbook_sections() -> dict[str, str]:
    """anchor -> body of each `##` section."""
    sections: dict[str, str] = {}
    for match in re.finditer(r"^##+ ([^\n]+)\n(.*?)(?=^##+ |\Z)", runbook_text(), re.M | re.S):
        sections[slug(match.group(1))] = match.group(2)
    return sections


# --- parameters ----------------------------------------------------------------


def test_threshold_parameters_have_the_documented_defaults() -> None:
    params = tree()["parameters"]
    for name, default in DEFAULTS.items():
        assert params[name]["default"] == default, name
    zoneinfo.ZoneInfo(params["businessTimeZone"]["default"])  # an IANA name


def test_email_has_no_default_and_the_webhook_is_secure_without_a_default() -> None:
    # pycep reports an absent default as `"default": None`.
    params = tree()["parameters"]
    assert params["alertEmail"].get("default") is None
    assert params["alertWebhookUrl"].get("default") is None
    assert "secure" in {d["type"] for d in params["alertWebhookUrl"]["decorators"]}
    assert params["runbookBaseUrl"].get("default") is None
    text = OBSERVABILITY.read_text(encoding="utf-8")
    for name in ("alertEmail", "alertWebhookUrl", "runbookBaseUrl"):
        assert re.search(rf"^param {name} string$", text, re.M), name


# --- action group --------------------------------------------------------------


def action_group(**params: Any) -> dict[str, Any]:
    evaluated: dict[str, Any] = scope(**params).eval(body(only("Microsoft.Insights/actionGroups")))
    return evaluated


def test_action_group_emails_the_given_address() -> None:
    group = action_group()
    assert group["properties"]["enabled"] is True
    assert len(group["properties"]["groupShortName"]) <= 12
    (email,) = group["properties"]["emailReceivers"]
    assert email["emailAddress"] == "ops@example.com"
    assert email["useCommonAlertSchema"] is True


def test_an_empty_email_deploys_no_email_receiver() -> None:
    # main.bicep keeps alertEmail optional; the alerts still show in Azure Monitor.
    assert action_group(alertEmail="")["properties"]["emailReceivers"] == []


@pytest.mark.parametrize("url", ["", "https://hooks.example.org/alerts"])
def test_webhook_receiver_only_when_a_url_is_given(url: str) -> None:
    receivers = action_group(alertWebhookUrl=url)["properties"]["webhookReceivers"]
    if not url:
        assert receivers == []
    else:
        (hook,) = receivers
        assert hook["serviceUri"] == url


# --- log search rules --------------------------------------------------------------


def test_every_rule_of_the_issue_is_deployed() -> None:
    assert set(log_rules()) == set(RULES)
    assert set(rule_entries()) == set(RULES)


@pytest.mark.parametrize("anchor", sorted(RULES))
def test_rule_threshold_is_wired_to_its_parameter(anchor: str) -> None:
    threshold, reads, interpolated = RULES[anchor]
    entry = rule_entries()[anchor]
    assert entry["threshold"] == threshold  # the parameter symbol itself, or a constant
    for name in interpolated:
        assert "${" + name + "}" in entry["query"], name
    rule = log_rules()[anchor]
    (criterion,) = rule["properties"]["criteria"]["allOf"]
    expected = DEFAULTS[threshold] if isinstance(threshold, str) else threshold
    assert criterion["threshold"] == expected
    assert criterion["operator"] == "GreaterThan"
    for text in reads:
        assert text in criterion["query"], text
    # The measured column is one the query produces.
    assert re.search(rf"\b{criterion['metricMeasureColumn']} =", criterion["query"])


def test_a_changed_threshold_reaches_the_rule() -> None:
    rules = log_rules(queueMaxAgeMinutes=3, webhook5xxPercent=20, mediaGapThreshold=50)
    threshold = {a: r["properties"]["criteria"]["allOf"][0]["threshold"] for a, r in rules.items()}
    assert threshold["ingest-queue-stalled"] == 3
    assert threshold["webhook-5xx-rate"] == 20
    assert threshold["media-gaps-growing"] == 50
    assert rules["media-gaps-growing"]["properties"]["windowSize"] == "PT1H"
    assert log_rules(mediaGapWindow="PT6H")["media-gaps-growing"]["properties"]["windowSize"] == (
        "PT6H"
    )


def test_business_hours_reach_the_no_events_query() -> None:
    rules = log_rules(noEventsMinutes=90, businessHoursStart=9, businessHoursEnd=17,
                      businessTimeZone="Europe/London")  # fmt: skip
    query = rules["no-events-archived-in-business-hours"]["properties"]["criteria"]["allOf"][0][
        "query"
    ]
    assert 'let tz = "Europe/London"' in query
    assert "ago(90m)" in query
    assert "hourofday(fromLocal) >= 9" in query and "hourofday(nowLocal) < 17" in query
    assert "set_has_element(dynamic(" in query
    assert "iff(inHours and archived == 0, 1, 0)" in query


def test_seal_rule_looks_back_its_parameter_and_spares_a_new_deployment() -> None:
    rule = log_rules(sealMissedHours=30)["seal-missed"]["properties"]
    query = rule["criteria"]["allOf"][0]["query"]
    assert query.count("ago(30h)") == 2
    assert "let alive" in query
    assert WINDOWS[rule["overrideQueryTimeRange"]] >= 30 * 60


@pytest.mark.parametrize("anchor", sorted(RULES))
def test_rule_is_enabled_scoped_attached_and_links_its_runbook(anchor: str) -> None:
    properties = log_rules()[anchor]["properties"]
    link = f"{RUNBOOK_URL}#{anchor}"
    assert properties["enabled"] is True
    assert properties["scopes"] == [WORKSPACE]
    assert properties["actions"]["actionGroups"] == ["<actionGroup.id>"]
    assert properties["actions"]["customProperties"]["runbook"] == link
    assert properties["description"].endswith(f"Runbook: {link}")
    assert properties["severity"] in range(5)
    assert properties["skipQueryValidation"] is True
    window = WINDOWS[properties["windowSize"]]
    assert WINDOWS[properties["evaluationFrequency"]] <= window
    override = properties["overrideQueryTimeRange"]
    if anchor in LOOKS_BACK:
        assert override == "P2D"
    else:
        assert override is None


def test_split_rules_name_a_column_their_query_produces() -> None:
    for anchor, rule in log_rules().items():
        (criterion,) = rule["properties"]["criteria"]["allOf"]
        for dimension in criterion["dimensions"]:
            column = rf"\b(by|project) {dimension['name']}\b"
            assert re.search(column, criterion["query"]), anchor


def test_queue_names_in_the_rules_are_the_archive_names() -> None:
    queries = {a: r["properties"]["criteria"]["allOf"][0]["query"] for a, r in log_rules().items()}
    assert f'"{names.INGEST_POISON_QUEUE}"' in queries["poison-or-dead-letters-waiting"]
    assert f'"{names.DEADLETTER_CONTAINER}"' in queries["poison-or-dead-letters-waiting"]
    assert f'== "{names.INGEST_QUEUE}"' in queries["ingest-queue-stalled"]


# --- activity log alert ----------------------------------------------------------


def retention_alert(**params: Any) -> dict[str, Any]:
    resource = only("Microsoft.Insights/activityLogAlerts")
    s = scope(**params)
    evaluated: dict[str, Any] = s.eval(body(resource))
    conditions = body(resource)["properties"]["condition"]["allOf"][1]["anyOf"]
    loop = tree()["variables"][conditions]["value"]  # a `[for ...]` variable
    evaluated["properties"]["condition"]["allOf"][1]["anyOf"] = s.expand(loop)
    return evaluated


def test_retention_policy_and_lock_changes_alert_from_the_activity_log() -> None:
    alert = retention_alert(logArchiveAccountId=LOGS)
    properties = alert["properties"]
    assert alert["location"] == "Global"
    assert properties["enabled"] is True
    assert properties["scopes"] == [ARCHIVE, LOGS]
    category, operations = properties["condition"]["allOf"]
    assert category == {"field": "category", "equals": "Administrative"}
    assert {c["equals"] for c in operations["anyOf"]} == RETENTION_OPERATIONS
    assert {c["field"] for c in operations["anyOf"]} == {"operationName"}
    (group,) = properties["actions"]["actionGroups"]
    link = f"{RUNBOOK_URL}#{RETENTION_ANCHOR}"
    assert group["actionGroupId"] == "<actionGroup.id>"
    assert group["webhookProperties"]["runbook"] == link
    assert properties["description"].endswith(f"Runbook: {link}")


def test_retention_alert_watches_only_the_archive_without_a_log_archive() -> None:
    assert retention_alert()["properties"]["scopes"] == [ARCHIVE]


# --- runbook -----------------------------------------------------------------------


def test_every_rule_links_a_runbook_section_that_exists() -> None:
    sections = runbook_sections()
    for anchor in [*RULES, RETENTION_ANCHOR]:
        assert anchor in sections, f"no runbook section for #{anchor}"
        text = sections[anchor]
        assert "**What it means:**" in text and "**What to do:**" in text, anchor
        assert re.search(r"```bash\n.*?\b(wa-archive|az|kql) ", text, re.S), anchor


def test_runbook_wa_archive_commands_exist() -> None:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    used = set(re.findall(r"\bwa-archive ([a-z][a-z-]+)", runbook_text()))
    assert used and used <= set(sub.choices), used - set(sub.choices)


def test_runbook_az_lines_that_azure_cli_flags_know_parse() -> None:
    """Every `az` line whose command is in az_cli_flags.json must parse; the rest are listed
    (regenerate az_cli_flags.json with them when the runbook joins the tested docs)."""
    text = runbook_text()
    commands = recorded()
    known, unknown = [], set()
    for args in az_commands(text):
        path = command_path(args, set(commands))
        if path is None:
            unknown.add(" ".join(w for w in args[:4] if not w.startswith("-")))
        else:
            known.append(args)
    assert known
    assert [p for args in known for p in problems(args, commands)] == []
    assert all(u.split()[0] in {"keyvault", "storage", "role"} for u in unknown), unknown


def test_slug_is_githubs() -> None:
    assert slug("Webhook 5xx rate") == "webhook-5xx-rate"
    assert slug("Key Vault reference unresolved") == "key-vault-reference-unresolved"
    assert slug("Poison or dead letters waiting") == "poison-or-dead-letters-waiting"


# --- workbook ------------------------------------------------------------------------


def workbook_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(WORKBOOK.read_text(encoding="utf-8"))
    return data


def workbook_queries() -> list[str]:
    return [i["content"]["query"] for i in workbook_json()["items"] if i["type"] == 3]


def test_workbook_resource_is_deployed_with_a_deterministic_guid_name() -> None:
    resource = only("Microsoft.Insights/workbooks")
    config = body(resource)
    assert config["name"]["function"]["type"] == "guid"
    assert config["kind"] == "shared"
    properties = config["properties"]
    assert properties["sourceId"] == "workspaceId"
    assert properties["category"] == "workbook"
    serialized = properties["serializedData"]["function"]
    assert serialized["type"] == "replace"
    loaded = serialized["parameters"]["original_string"]["function"]
    assert loaded["type"] == "load_text_content"
    assert (OBSERVABILITY.parent / loaded["parameters"]["file_path"]) == WORKBOOK


def test_workbook_charts_every_catalogue_metric_over_time() -> None:
    data = workbook_json()
    assert data["version"] == "Notebook/1.0"
    assert data["fallbackResourceIds"] == ["__WORKSPACE_ID__"]
    queries = workbook_queries()
    charted = {name for q in queries for name in METRIC_FILTER.findall(q)}
    assert charted == {m.name for m in CATALOGUE}
    for item in workbook_json()["items"]:
        if item["type"] == 3:
            assert item["content"]["visualization"] == "timechart"
            assert item["content"]["timeContextFromParameter"] == "TimeRange"
            assert "{TimeRange:grain}" in item["content"]["query"]


# --- consistency with archive/metrics.py --------------------------------------------


def metric_texts() -> dict[str, str]:
    return {
        OBSERVABILITY.name: OBSERVABILITY.read_text(encoding="utf-8"),
        WORKBOOK.name: WORKBOOK.read_text(encoding="utf-8"),
        "runbook": runbook_text(),
    }


def test_every_metric_name_used_is_in_the_catalogue() -> None:
    for where, text in metric_texts().items():
        used = set(METRIC_NAME.findall(text))
        assert used - set(BY_NAME) == set(), where


def evaluated_queries() -> list[str]:
    rules = log_rules()
    return [r["properties"]["criteria"]["allOf"][0]["query"] for r in rules.values()] + [
        *workbook_queries()
    ]


def test_every_dimension_a_query_reads_is_one_its_metric_declares() -> None:
    checked = 0
    # One metric per `let` statement or pipeline: `;` separates them.
    for segment in (part for query in evaluated_queries() for part in query.split(";")):
        metrics = set(METRIC_FILTER.findall(segment))
        if not metrics:
            continue
        (metric,) = metrics
        for key in DIMENSION.findall(segment):
            assert key in BY_NAME[metric].dimensions, f"{metric}: {key}"
            checked += 1
    assert checked >= 10


def test_the_consistency_checks_can_fail(tmp_path: Path) -> None:
    assert set(METRIC_NAME.findall('Name == "wa_archive.queue.dept"')) - set(BY_NAME)
    assert "channel" not in BY_NAME["wa_archive.webhooks"].dimensions
    assert DIMENSION.findall("tostring(Properties.channel)") == ["channel"]


# --- checkov ---------------------------------------------------------------------------


def test_checkov_passes_the_module() -> None:
    assert CHECKOV.exists(), "run scripts/bootstrap: it installs checkov into .venv-checkov"
    completed = subprocess.run(
        [str(CHECKOV), "--framework", "bicep", "--file", str(OBSERVABILITY),
         "--output", "json", "--skip-download"],
        capture_output=True, text=True, timeout=240, check=False, cwd=REPO,
    )  # fmt: skip
    assert completed.stdout.strip(), completed.stderr[-2000:]
    data = json.loads(completed.stdout)
    report: dict[str, Any] = data if isinstance(data, dict) else data[0]
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["failed"] == 0, report["results"]["failed_checks"]
    assert report["summary"]["resource_count"] >= 4


def test_outputs_are_the_action_group_and_the_workbook() -> None:
    outputs = tree()["outputs"]
    assert {"actionGroupId", "workbookId"} <= set(outputs)
