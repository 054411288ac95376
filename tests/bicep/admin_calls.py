"""The archive-account calls the admin tools make, read from their source.

Every Storage SDK method the admin code names (called, or passed as a callable to
`archive.call`) becomes (service, resource, RBAC action). The resource is the
queue, container or table the client was made for, when the code says so with an
`archive.names` constant (`archive.queue(INGEST_POISON_QUEUE)`); when it does not
(a client passed in as a parameter), it is every resource of that service the
module names, or every resource of the service when the module names none.

The action per method follows the RBAC actions Microsoft documents per data
operation (learn.microsoft.com: "Actions and attributes for Azure role assignment
conditions" for queues and blobs; "Azure built-in roles for Storage" for tables).
Where the docs do not say which of two actions the service checks (Merge/Insert
Entity), the method needs both, so a role granting only one still fails the test.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from archive import names
from tests.bicep.bicep_tree import REPO

QUEUE = "Microsoft.Storage/storageAccounts/queueServices/queues/"
TABLE = "Microsoft.Storage/storageAccounts/tableServices/tables/"
BLOB = "Microsoft.Storage/storageAccounts/blobServices/containers/"

QUEUE_READ = f"{QUEUE[:-1]}/read"  # control-plane action of Storage Queue Data Reader
MESSAGES_READ = f"{QUEUE}messages/read"
MESSAGES_ADD = f"{QUEUE}messages/add/action"
MESSAGES_WRITE = f"{QUEUE}messages/write"
MESSAGES_DELETE = f"{QUEUE}messages/delete"
MESSAGES_PROCESS = f"{QUEUE}messages/process/action"
ENTITIES_READ = f"{TABLE}entities/read"
ENTITIES_WRITE = f"{TABLE}entities/write"
ENTITIES_ADD = f"{TABLE}entities/add/action"
ENTITIES_UPDATE = f"{TABLE}entities/update/action"
ENTITIES_DELETE = f"{TABLE}entities/delete"
BLOBS_READ = f"{BLOB}blobs/read"
BLOBS_ADD = f"{BLOB}blobs/add/action"
BLOBS_WRITE = f"{BLOB}blobs/write"
BLOBS_DELETE = f"{BLOB}blobs/delete"
# Delete Blob with versionid (a previous version): learn.microsoft.com versioning-overview,
# "Azure RBAC action to delete a blob version".
BLOBS_DELETE_VERSION = f"{BLOB}blobs/deleteBlobVersion/action"
# Set Blob Legal Hold: the ABAC reference names runAsSuperUser ("Write blob legal hold
# and immutability policy"), the REST authorization table containers/write (control
# plane). The docs disagree, so a call needs both, like Merge Entity below.
BLOBS_IMMUTABLE_STORAGE = f"{BLOB}blobs/immutableStorage/runAsSuperUser/action"
CONTAINERS_READ = f"{BLOB[:-1]}/read"  # Get Container Properties (control plane)
CONTAINERS_WRITE = f"{BLOB[:-1]}/write"

# method -> (service, actions it needs, all of them)
SDK_CALLS: dict[str, tuple[str, frozenset[str]]] = {
    # Get Queue Metadata: refused to Message Processor, allowed to Queue Data Reader.
    "get_queue_properties": ("queue", frozenset({QUEUE_READ})),
    "peek_messages": ("queue", frozenset({MESSAGES_READ})),  # "Peek messages"
    "receive_messages": ("queue", frozenset({MESSAGES_PROCESS})),  # "Get or delete messages"
    "receive_message": ("queue", frozenset({MESSAGES_PROCESS})),
    "delete_message": ("queue", frozenset({MESSAGES_PROCESS})),
    "update_message": ("queue", frozenset({MESSAGES_WRITE})),  # "Put or update a message"
    "send_message": ("queue", frozenset({MESSAGES_ADD})),  # "Put a message"
    "clear_messages": ("queue", frozenset({MESSAGES_DELETE})),  # "Clear messages"
    "query_entities": ("table", frozenset({ENTITIES_READ})),
    "list_entities": ("table", frozenset({ENTITIES_READ})),
    "get_entity": ("table", frozenset({ENTITIES_READ})),
    "create_entity": ("table", frozenset({ENTITIES_WRITE, ENTITIES_ADD})),
    "update_entity": ("table", frozenset({ENTITIES_WRITE, ENTITIES_UPDATE})),
    "upsert_entity": ("table", frozenset({ENTITIES_WRITE, ENTITIES_ADD, ENTITIES_UPDATE})),
    "delete_entity": ("table", frozenset({ENTITIES_DELETE})),
    "submit_transaction": ("table", frozenset({ENTITIES_WRITE, ENTITIES_ADD,
                                               ENTITIES_UPDATE, ENTITIES_DELETE})),
    "download_blob": ("blob", frozenset({BLOBS_READ})),
    "get_blob_properties": ("blob", frozenset({BLOBS_READ})),
    "list_blobs": ("blob", frozenset({BLOBS_READ})),
    "walk_blobs": ("blob", frozenset({BLOBS_READ})),
    "exists": ("blob", frozenset({BLOBS_READ})),
    "get_blob_tags": ("blob", frozenset({BLOBS_READ})),
    # overwrite=False (the default) is Put Blob with If-None-Match: *, a create.
    "upload_blob": ("blob", frozenset({BLOBS_ADD})),
    "set_blob_metadata": ("blob", frozenset({BLOBS_WRITE})),
    "set_http_headers": ("blob", frozenset({BLOBS_WRITE})),
    "set_standard_blob_tier": ("blob", frozenset({BLOBS_WRITE})),
    "delete_blob": ("blob", frozenset({BLOBS_DELETE})),
    "delete_blobs": ("blob", frozenset({BLOBS_DELETE})),
    "get_container_properties": ("blob", frozenset({CONTAINERS_READ})),
    "set_legal_hold": ("blob", frozenset({BLOBS_IMMUTABLE_STORAGE, CONTAINERS_WRITE})),
    # storage/blob_versions.py, called by name (also through an injectable `ops`):
    # one version listing, versioning detection, and a delete by version id.
    "versions_of": ("blob", frozenset({BLOBS_READ})),
    "list_versions": ("blob", frozenset({BLOBS_READ})),
    "versioning_supported": ("blob", frozenset({BLOBS_READ, CONTAINERS_READ})),
    "delete_version": ("blob", frozenset({BLOBS_DELETE, BLOBS_DELETE_VERSION})),
}
# Helpers in storage/ that make one SDK call on a fixed resource for their caller.
HELPER_CALLS: dict[str, tuple[str, str, str]] = {
    "write_failure": ("table", names.TABLE_FAILURES, "upsert_entity"),  # storage/index_writer.py
}
# Client attributes that make no request.
NEUTRAL = frozenset({
    "get_blob_client", "get_container_client", "get_queue_client", "get_table_client",
    "url", "account_name", "container_name", "queue_name", "table_name", "blob_name",
    "primary_endpoint", "credential", "close",
})  # fmt: skip
FACTORIES = {  # call attribute -> service of the client it returns
    "queue": "queue", "get_queue_client": "queue",
    "container": "blob", "get_container_client": "blob",
    "get_table_client": "table",
}  # fmt: skip

# Admin code, plus the storage modules the admin tools call with the admin's own
# identity: the index reader (search, show), reconciliation (`custody reconcile`), and
# legal holds (`hold place|release|resume|list|check`: the Holds table, the scope's
# index rows, the per-version hold job).
SCANNED = (
    "admin", "storage/index_reader.py", "storage/reconcile.py",
    "storage/holds.py", "storage/hold_apply.py", "storage/scope_reader.py",
)  # fmt: skip
# `wa-archive retention run` is another duty, held by the retention operators group
# (bicep/modules/retention-access.bicep), not by admins, who never delete: these
# modules are left out of the admins' scan and scanned for the operators instead.
# (Modules not written yet are skipped until they exist.)
RETENTION_SCANNED = ("admin/retention.py", "storage/retention.py", "storage/disposal.py")

SERVICE_RESOURCES = {
    "blob": tuple(names.CONTAINERS),
    "queue": tuple(names.QUEUES),
    "table": tuple(names.INDEX_TABLES),
}


@dataclass(frozen=True)
class Call:
    file: str
    line: int
    method: str
    service: str
    resources: tuple[str, ...]
    actions: frozenset[str]


def _files(entries: tuple[str, ...], leave_out: tuple[str, ...] = ()) -> list[Path]:
    found: list[Path] = []
    for entry in entries:
        path = REPO / entry
        if path.is_dir():
            found.extend(sorted(path.rglob("*.py")))
        elif path.exists():
            found.append(path)
    skipped = {REPO / entry for entry in leave_out}
    return [path for path in found if path not in skipped]


def scanned_files() -> list[Path]:
    return _files(SCANNED, leave_out=RETENTION_SCANNED)


def retention_files() -> list[Path]:
    return _files(RETENTION_SCANNED)


def _calls(paths: list[Path]) -> list[Call]:
    calls: list[Call] = []
    for path in paths:
        calls.extend(calls_in(path.read_text(encoding="utf-8"), str(path.relative_to(REPO))))
    return calls


def admin_calls() -> list[Call]:
    return _calls(scanned_files())


def retention_operator_calls() -> list[Call]:
    """The calls `wa-archive retention run` makes under the operator's own identity."""
    return _calls(retention_files())


def _constant(node: ast.AST | None) -> str | None:
    """A resource name given as a literal or an archive.names constant."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name | ast.Attribute):
        key = node.id if isinstance(node, ast.Name) else node.attr
        value = getattr(names, key, None)
        return value if isinstance(value, str) else None
    return None


def _module_resources(tree: ast.Module, service: str) -> tuple[str, ...]:
    known = SERVICE_RESOURCES[service]
    named = {
        value
        for node in ast.walk(tree)
        if isinstance(node, ast.Name | ast.Attribute)
        and (value := _constant(node)) in known
    }
    return tuple(sorted(named)) if named else known


class _Scope:
    """Local variables of one function bound to a client of a known resource."""

    def __init__(self, function: ast.AST, outer: _Scope | None = None) -> None:
        self.bound: dict[str, tuple[str, str]] = dict(outer.bound) if outer else {}
        for node in ast.walk(function):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name) and (found := self.client(node.value)):
                    self.bound[target.id] = found

    def client(self, node: ast.AST) -> tuple[str, str] | None:
        """(service, resource) of a client expression, when the code fixes both."""
        if isinstance(node, ast.Name):
            return self.bound.get(node.id)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            attr = node.func.attr
            if attr == "get_blob_client":
                return self.client(node.func.value)
            if attr in FACTORIES and node.args and (name := _constant(node.args[0])):
                return FACTORIES[attr], name
        return None


def _functions(tree: ast.Module) -> Iterator[ast.AST]:
    yield tree
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def calls_in(source: str, label: str = "<source>") -> list[Call]:
    """Every SDK method named in `source`, with the resources and actions it needs.

    Raises AssertionError for an attribute of a known client that is neither a
    mapped SDK method nor neutral: a new kind of call must be mapped before it
    can pass.
    """
    tree = ast.parse(source)
    innermost: dict[int, _Scope] = {}
    for function in _functions(tree):  # outer functions first: inner ones see their names
        scope = _Scope(function, innermost.get(id(function)))
        for node in ast.walk(function):
            innermost[id(node)] = scope  # later (inner) functions overwrite
    calls: list[Call] = []
    for node in ast.walk(tree):
        scope = innermost.get(id(node)) or _Scope(tree)
        if isinstance(node, ast.Attribute):
            known = scope.client(node.value)
            if node.attr not in SDK_CALLS:
                assert known is None or node.attr in NEUTRAL, (
                    f"{label}:{node.lineno}: `{node.attr}` on a {known[0]} client is not "
                    f"mapped to an RBAC action in tests/bicep/admin_calls.py"
                )
                continue
            service, actions = SDK_CALLS[node.attr]
            if known is not None:
                assert known[0] == service, f"{label}:{node.lineno}: {node.attr} on {known}"
                resources: tuple[str, ...] = (known[1],)
            else:
                resources = _module_resources(tree, service)
            calls.append(Call(label, node.lineno, node.attr, service, resources, actions))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in HELPER_CALLS
        ):
            service, resource, method = HELPER_CALLS[node.func.id]
            actions = SDK_CALLS[method][1]
            calls.append(Call(label, node.lineno, node.func.id, service, (resource,), actions))
    return calls


def needed(calls: list[Call]) -> dict[tuple[str, str], set[str]]:
    """(service, resource) -> every action the calls need there."""
    result: dict[tuple[str, str], set[str]] = {}
    for call in calls:
        for resource in call.resources:
            result.setdefault((call.service, resource), set()).update(call.actions)
    return result
