"""The reviewers' roles (issue 16): exactly what `wa-archive review` calls, nothing more.

tests/bicep/admin_calls.py reads admin/review.py (and admin/audit.py, which writes the
audit trail around each review action) for every Storage SDK call; this file reads
the reviewers' role assignments from bicep/modules/people-access.bicep and checks that
every action those calls need is granted on the right table or container, that no
other data action is, and that no reviewer role can write a table or delete a blob.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from admin.audit import audit_blob_name
from archive import names
from archive.flags import decision_blob_name, policy_version_name
from tests.bicep import roles
from tests.bicep.admin_calls import Call, calls_in, needed
from tests.bicep.bicep_tree import MAIN, PARAMS, PEOPLE, REPO, bicepparam_values, body, parse
from tests.bicep.test_admin_roles import _main_value, _role_permissions, _scope_resources

pytestmark = pytest.mark.bicep

REVIEWERS = "reviewersGroupPrincipalId"
REVIEW_CODE = ("admin/review.py", "admin/audit.py")
Granted = dict[tuple[str, str], set[str]]


def review_calls() -> list[Call]:
    return [call for path in REVIEW_CODE
            for call in calls_in((REPO / path).read_text(encoding="utf-8"), path)]


def reviewer_grants(path: Path = PEOPLE) -> tuple[Granted, list[roles.Assignment]]:
    """Actions (control and data) granted to reviewers per (service, resource)."""
    tree = parse(path)
    assignments = [a for a in roles.assignments([path]) if a.principal == REVIEWERS]
    granted: Granted = {}
    for assignment in assignments:
        definition = body(tree["resources"][assignment.name])["properties"]["roleDefinitionId"]
        service, resources = _scope_resources(tree, assignment.scope)
        for role in assignment.roles:
            actions, data_actions = _role_permissions(tree, role, definition)
            for resource in resources:
                granted.setdefault((service, resource), set()).update(actions | data_actions)
    return granted, assignments


def test_the_review_code_makes_the_calls_it_is_known_for() -> None:
    methods = {(c.method, r) for c in review_calls() for r in c.resources}
    assert {("query_entities", names.TABLE_FLAGS), ("get_entity", names.TABLE_FLAGS),
            ("query_entities", names.TABLE_BY_PARTICIPANT),
            ("download_blob", names.RECORDS_CONTAINER), ("list_blobs", names.AUDIT_CONTAINER),
            ("upload_blob", names.AUDIT_CONTAINER)} <= methods


def test_reviewers_get_exactly_four_assignments_on_their_resources() -> None:
    granted, assignments = reviewer_grants()
    assert sorted((a.scope, a.roles) for a in assignments) == sorted([
        ("flagsTable", (roles.TABLE_DATA_READER,)),
        ("conversationTable", (roles.TABLE_DATA_READER,)),
        ("recordsContainer", (roles.BLOB_DATA_READER,)),
        ("auditContainer", (roles.CUSTOM,)),
    ])
    assert set(granted) == {
        ("table", names.TABLE_FLAGS), ("table", names.TABLE_BY_PARTICIPANT),
        ("blob", names.RECORDS_CONTAINER), ("blob", names.AUDIT_CONTAINER),
    }
    # No Reader on the account, nothing on queues, media, raw bodies, seals, quarantine.
    assert all(a.scope != "account" for a in assignments)
    assert not {r for s, r in granted if s == "queue"}
    for container in (names.MEDIA_CONTAINER, names.RAW_CONTAINER, names.SEALS_CONTAINER,
                      names.DEADLETTER_CONTAINER, names.QUARANTINE_CONTAINER):
        assert ("blob", container) not in granted


def test_reviewers_hold_every_action_the_review_code_needs() -> None:
    granted, _ = reviewer_grants()
    gaps = {key: actions - granted.get(key, set())
            for key, actions in needed(review_calls()).items()}
    assert {key: lacking for key, lacking in gaps.items() if lacking} == {}


def _is_data(action: str) -> bool:
    """A data action (blobs, entities); control-plane reads come with the built-in roles."""
    return "/blobs/" in action or "/entities/" in action


def test_reviewers_hold_no_data_action_the_review_code_does_not_need() -> None:
    granted, _ = reviewer_grants()
    wanted = needed(review_calls())
    extra = {key: {a for a in actions - wanted.get(key, set()) if _is_data(a)}
             for key, actions in granted.items()}
    assert {key: actions for key, actions in extra.items() if actions} == {}


def _forbidden(actions: set[str]) -> set[str]:
    return {a for a in actions
            if a.endswith("/delete") or "delete" in a.lower() or "*" in a
            or a.endswith("/blobs/write") or "/queueServices/" in a
            or ("/tableServices/" in a and a.endswith(("/write", "/add/action", "/update/action")))}


def test_no_reviewer_role_can_write_a_table_or_delete_or_overwrite_a_blob() -> None:
    granted, _ = reviewer_grants()
    for key, actions in granted.items():
        assert _forbidden(actions) == set(), key


def test_a_table_contributor_for_reviewers_would_fail(tmp_path: Path) -> None:
    text = PEOPLE.read_text(encoding="utf-8")
    start = text.index("resource reviewerFlagsReader")
    end = text.index("resource reviewerConversationReader")
    widened = tmp_path / "people-access.bicep"
    widened.write_text(
        text[:start]
        + "resource reviewerFlagsWriter 'Microsoft.Authorization/roleAssignments@2022-04-01'"
        " = if (hasReviewers) {\n  name: 'x'\n  scope: flagsTable\n  properties: {\n"
        "    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions',"
        f" '{roles.TABLE_DATA_CONTRIBUTOR}')\n    principalId: reviewersGroupPrincipalId\n"
        "    principalType: 'Group'\n  }\n}\n\n"
        + text[end:],
        encoding="utf-8",
    )
    granted, _ = reviewer_grants(widened)
    assert _forbidden(granted[("table", names.TABLE_FLAGS)])


def _condition(symbol: str) -> Any:
    return parse(PEOPLE)["resources"][symbol]["config"]["condition"]


def test_every_reviewer_assignment_depends_on_the_group_and_the_appender_on_either() -> None:
    _, assignments = reviewer_grants()
    assert {_condition(a.name) for a in assignments} == {"hasReviewers"}
    assert _condition("auditAppender") == {"operator": {"type": "or", "operands": {
        "operand_1": "hasAdmins", "operand_2": "hasReviewers"}}}
    assert _condition("adminAuditAppend") == "hasAdmins"


def test_main_passes_the_reviewers_group_and_the_review_resources() -> None:
    assert parse(MAIN)["parameters"][REVIEWERS]["default"] == ""
    assert bicepparam_values(PARAMS)[1][REVIEWERS] == "''"
    assert _main_value(REVIEWERS) == REVIEWERS
    assert _main_value("flagsTableName") == names.TABLE_FLAGS
    assert _main_value("conversationTableName") == names.TABLE_BY_PARTICIPANT
    assert _main_value("recordsContainerName") == names.RECORDS_CONTAINER


# --- who may create what in `audit` (ABAC conditions on the blob path) -------------------

APPEND = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action"
BLOB_PATH = "@Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path]"
_CONDITION = re.compile(
    r"\(\(!\(ActionMatches\{'(?P<action>[^']+)'\}\)\) OR \((?P<paths>.+)\)\)\Z")


def _text(value: str, variables: dict[str, Any]) -> str:
    """A Bicep string variable as Azure receives it: interpolated, quotes unescaped."""
    def var(found: re.Match[str]) -> str:
        return _text(variables[found.group(1)]["value"], variables)
    return re.sub(r"\$\{(\w+)\}", var, value).replace("\\'", "'")


def _append_prefixes(assignment: str) -> tuple[str, ...]:
    """The blob-name prefixes an assignment's condition lets its group create in `audit`."""
    tree = parse(PEOPLE)
    properties = body(tree["resources"][assignment])["properties"]
    assert properties["conditionVersion"] == "2.0"
    condition = _text(tree["variables"][properties["condition"]]["value"], tree["variables"])
    found = _CONDITION.match(condition)
    assert found, condition
    assert found.group("action") == APPEND
    prefixes = []
    for clause in found.group("paths").split(" OR "):
        path, operator, literal = clause.split(" ", 2)
        assert (path, operator) == (BLOB_PATH, "StringStartsWith")
        assert literal.startswith("'") and literal.endswith("'")
        prefixes.append(literal[1:-1])
    return tuple(prefixes)


def _may_create(assignment: str, name: str) -> bool:
    return name.startswith(_append_prefixes(assignment))


def test_a_reviewer_cannot_create_a_policy_version_nor_an_admin_a_decision() -> None:
    """The attack: a reviewer creates `supervision/lexicon/v000009.json` with a harmless
    policy; the pipeline takes the newest valid version, and supervision is off. An admin
    creates a decision and closes a flag. The conditions refuse both."""
    when = datetime(2026, 12, 5, 9, tzinfo=UTC)
    decision = decision_blob_name("2026-12-05.0123456789abcdef", when, "a1b2c3d4")
    policy, entry = policy_version_name(9), audit_blob_name(when)
    assert _may_create("reviewerAuditAppend", decision)
    assert _may_create("reviewerAuditAppend", entry)
    assert not _may_create("reviewerAuditAppend", policy)
    assert _may_create("adminAuditAppend", policy)
    assert _may_create("adminAuditAppend", entry)
    assert not _may_create("adminAuditAppend", decision)
