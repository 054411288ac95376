"""The admins' roles are exactly what the admin tools call (issue 20 item 7).

tests/bicep/admin_calls.py reads admin/ (and the storage helpers it runs with the
admin's identity) for every Storage SDK call; this file reads the admins' role
assignments from bicep/modules/people-access.bicep and checks, per queue, table
and container, that every action a call needs is granted there, and that no data
action is granted that no call needs. A new call without a role fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from admin import connection
from archive import names
from tests.bicep import admin_calls, roles
from tests.bicep.admin_calls import Call, calls_in, needed
from tests.bicep.bicep_tree import (
    ARCHIVE,
    MAIN,
    PEOPLE,
    body,
    interpolations,
    parse,
    resources_of_type,
)

pytestmark = pytest.mark.bicep

ADMINS = "adminsGroupPrincipalId"
SERVICE_OF_TYPE = {
    "microsoft.storage/storageaccounts/blobservices/containers": "blob",
    "microsoft.storage/storageaccounts/queueservices/queues": "queue",
    "microsoft.storage/storageaccounts/tableservices/tables": "table",
}
Granted = dict[tuple[str, str], set[str]]


def _dotted(value: Any) -> str:
    if isinstance(value, dict) and value.get("operator", {}).get("type") == "property_accessor":
        operands = value["operator"]["operands"]
        return f"{_dotted(operands['operand_1'])}.{_dotted(operands['operand_2'])}"
    return str(value)


def _main_value(param: str) -> Any:
    """What main.bicep passes the people-access module for `param`, resolved."""
    value = body(parse(MAIN)["modules"]["peopleAccess"])["params"][param]
    dotted = _dotted(value)
    if dotted.startswith("archiveStorage.outputs."):
        output = parse(ARCHIVE)["outputs"][dotted.rsplit(".", 1)[1]]["value"]
        return parse(ARCHIVE)["variables"][output]["value"]
    return value


def _scope_resources(tree: dict[str, Any], symbol: str) -> tuple[str, tuple[str, ...]]:
    """(service, resource names) of an `existing` scope symbol in people-access."""
    resource = tree["resources"][symbol]
    service = SERVICE_OF_TYPE.get(resource["type"].lower(), "")
    loop = resource["config"].get("loop_type")
    if loop:
        return service, tuple(_main_value(loop["detail"]["array_name"]))
    last = list(interpolations(body(resource)["name"]))[-1]
    return service, (str(_main_value(last)),)


def _role_permissions(
    tree: dict[str, Any], role: str, definition: Any
) -> tuple[set[str], set[str]]:
    if role != roles.CUSTOM:
        actions, data_actions = roles.BUILTIN_PERMISSIONS[role]
        return set(actions), set(data_actions)
    symbol = _dotted(definition).split(".")[0]
    (permission,) = body(tree["resources"][symbol])["properties"]["permissions"]
    assert not permission["notActions"] and not permission["notDataActions"]
    return set(permission["actions"]), set(permission["dataActions"])


def admin_grants(path: Path = PEOPLE) -> tuple[Granted, Granted]:
    """(control actions, data actions) granted to admins, per (service, resource)."""
    tree = parse(path)
    control: Granted = {}
    data: Granted = {}
    assignments = resources_of_type(tree, "Microsoft.Authorization/roleAssignments")
    for assignment in roles.assignments([path]):
        if assignment.principal != ADMINS or assignment.scope == "account":
            continue
        definition = body(assignments[assignment.name])["properties"]["roleDefinitionId"]
        service, resources = _scope_resources(tree, assignment.scope)
        for role in assignment.roles:
            actions, data_actions = _role_permissions(tree, role, definition)
            for resource in resources:
                control.setdefault((service, resource), set()).update(actions)
                data.setdefault((service, resource), set()).update(data_actions)
    return control, data


def missing_grants(calls: list[Call], path: Path = PEOPLE) -> dict[tuple[str, str], set[str]]:
    control, data = admin_grants(path)
    gaps: dict[tuple[str, str], set[str]] = {}
    for key, actions in needed(calls).items():
        have = control.get(key, set()) | data.get(key, set())
        if lacking := actions - have:
            gaps[key] = lacking
    return gaps


def test_the_admin_code_makes_the_calls_the_tools_are_known_for() -> None:
    methods = {(c.method, r) for c in admin_calls.admin_calls() for r in c.resources}
    for expected in [
        ("get_queue_properties", names.INGEST_POISON_QUEUE),  # dashboard, replay --all-poison
        ("receive_messages", names.INGEST_POISON_QUEUE),
        ("delete_message", names.INGEST_POISON_QUEUE),
        ("update_message", names.INGEST_POISON_QUEUE),
        ("send_message", names.INGEST_QUEUE),
        ("query_entities", names.TABLE_BY_PARTICIPANT),
        ("update_entity", names.TABLE_FAILURES),
        ("upload_blob", names.AUDIT_CONTAINER),
    ]:
        assert expected in methods


def test_admins_hold_every_action_the_admin_code_needs() -> None:
    assert missing_grants(admin_calls.admin_calls()) == {}


def test_admins_hold_no_data_action_that_no_call_needs() -> None:
    wanted = needed(admin_calls.admin_calls())
    _, data = admin_grants()
    extra = {key: actions - wanted.get(key, set()) for key, actions in data.items()}
    assert {key: actions for key, actions in extra.items() if actions} == {}


def test_admins_can_never_delete_or_overwrite_archived_data() -> None:
    control, data = admin_grants()
    for key in set(control) | set(data):
        granted = control.get(key, set()) | data.get(key, set())
        forbidden = {
            a for a in granted
            if a.endswith("/delete") or a.endswith("/blobs/write") or a.endswith("/queues/write")
            or a.endswith("/tables/write") or "*" in a
        }  # fmt: skip
        assert forbidden == set(), key


def test_a_new_call_without_a_role_fails() -> None:
    source = (
        "from archive.names import INGEST_POISON_QUEUE, TABLE_BY_DAY\n"
        "def purge(archive):\n"
        "    archive.queue(INGEST_POISON_QUEUE).clear_messages()\n"
        "    archive.tables.get_table_client(TABLE_BY_DAY).delete_entity('p', 'r')\n"
    )
    gaps = missing_grants(calls_in(source))
    assert gaps == {
        ("queue", names.INGEST_POISON_QUEUE): {admin_calls.MESSAGES_DELETE},
        ("table", names.TABLE_BY_DAY): {admin_calls.ENTITIES_DELETE},
    }


def test_an_unmapped_client_method_is_refused() -> None:
    source = (
        "from archive.names import INGEST_QUEUE\n"
        "def f(archive):\n"
        "    queue = archive.queue(INGEST_QUEUE)\n"
        "    queue.set_queue_metadata({'a': 'b'})\n"
    )
    with pytest.raises(AssertionError, match="set_queue_metadata"):
        calls_in(source)


def test_a_client_passed_in_needs_the_role_on_every_resource_its_module_names() -> None:
    source = (
        "from archive.names import INGEST_QUEUE, INGEST_POISON_QUEUE\n"
        "def depth(archive, name):\n"
        "    return archive.queue(name).get_queue_properties()\n"
        "NAMES = (INGEST_QUEUE, INGEST_POISON_QUEUE)\n"
    )
    (call,) = calls_in(source)
    assert set(call.resources) == {names.INGEST_QUEUE, names.INGEST_POISON_QUEUE}


def test_the_pre_issue_20_poison_grant_would_fail(tmp_path: Path) -> None:
    """Message Processor alone on ingest-poison: no Get Queue Metadata, no release."""
    text = PEOPLE.read_text(encoding="utf-8")
    start = text.index("resource adminPoisonReader")
    end = text.index("// Replaying a dead letter marks")
    old = tmp_path / "people-access.bicep"
    old.write_text(
        text[:start]
        + "resource adminPoisonProcessor 'Microsoft.Authorization/roleAssignments@2022-04-01'"
        " = if (hasAdmins) {\n  name: 'x'\n  scope: poisonQueue\n  properties: {\n"
        "    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions',"
        f" '{roles.QUEUE_MESSAGE_PROCESSOR}')\n    principalId: adminsGroupPrincipalId\n"
        "    principalType: 'Group'\n  }\n}\n"
        + text[end:],
        encoding="utf-8",
    )
    gaps = missing_grants(admin_calls.admin_calls(), old)
    assert gaps[("queue", names.INGEST_POISON_QUEUE)] == {
        admin_calls.QUEUE_READ, admin_calls.MESSAGES_WRITE,
    }  # fmt: skip


def test_main_passes_the_failures_table() -> None:
    assert _main_value("failuresTableName") == names.TABLE_FAILURES


def _role_hints() -> dict[str, str]:
    tree = ast.parse(Path(connection.__file__).read_text(encoding="utf-8"))
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "ROLE_HINTS"
        ):
            value = ast.literal_eval(node.value)
            assert isinstance(value, dict)
            return {str(k): str(v) for k, v in value.items()}
    raise AssertionError("admin/connection.py has no ROLE_HINTS")


def test_role_hints_name_the_roles_the_template_grants() -> None:
    hints = _role_hints()
    assert "Storage Queue Data Reader" in hints["queue"]
    assert "Storage Queue Data Message Sender" in hints["queue"]
    assert "Poison Replayer" in hints["queue"]
    assert "Storage Table Data Reader" in hints["table"]
    assert "Failure Resolver" in hints["table"]
    assert "Storage Blob Data Reader" in hints["blob"]
    assert "Audit Appender" in hints["blob"]
    for hint in hints.values():  # never the broader roles the template avoids
        assert "Contributor" not in hint and "Owner" not in hint
