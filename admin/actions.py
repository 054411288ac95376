"""The audited entry points: what the CLI and the TUI call for actions and views.

Each function does the work, then appends one audit entry with the outcome. A failed
action is audited too (result "error: ...") before the error propagates.
"""

from __future__ import annotations

from typing import Any

from admin.audit import record_action, who
from admin.connection import AdminError, Archive
from admin.detail import MessageDetail, message_detail
from admin.durable_api import DurableApi
from admin.poison import PoisonMessage, peek_poison
from admin.replay import Progress, ReplayResult, replay
from admin.search import DEFAULT_PAGE, SearchPage, SearchQuery, search


def audited_search(
    archive: Archive,
    query: SearchQuery,
    *,
    page_size: int = DEFAULT_PAGE,
    continuation: str | None = None,
) -> SearchPage:
    target: dict[str, Any] = {"query": query.describe(), "page": bool(continuation)}
    try:
        page = search(archive, query, page_size=page_size, continuation=continuation)
    except AdminError as exc:
        record_action(archive, "search", target, f"error: {exc}")
        raise
    record_action(archive, "search", target, f"ok: {len(page.rows)} rows from {page.table}")
    return page


def audited_detail(archive: Archive, message_id: str) -> MessageDetail:
    target = {"message_id": message_id}
    try:
        detail = message_detail(archive, message_id)
    except AdminError as exc:
        record_action(archive, "show", target, f"error: {exc}")
        raise
    record_action(archive, "show", target, "ok")
    return detail


def audited_replay(
    archive: Archive,
    *,
    ids: list[str] | None = None,
    all_poison: bool = False,
    progress: Progress | None = None,
    durable: DurableApi | None = None,
) -> ReplayResult:
    target: dict[str, Any] = {"ids": ids or [], "all_poison": all_poison}
    try:
        result = replay(
            archive, ids=ids, all_poison=all_poison, progress=progress, durable=durable,
            who=who(archive),
        )
    except AdminError as exc:
        record_action(archive, "replay", target, f"error: {exc}")
        raise
    target["replayed"] = result.replayed
    target["restarted"] = result.restarted
    target["refetching"] = result.refetching
    outcome = f"ok: {len(result.replayed)} replayed"
    if result.restarted:
        outcome += f", {len(result.restarted)} orchestration(s) restarted"
    if result.refetching:
        outcome += f", {len(result.refetching)} media refetch(es) queued"
    if result.not_found:
        outcome += f", not found: {', '.join(result.not_found)}"
    record_action(archive, "replay", target, outcome)
    return result


def audited_payload(archive: Archive, message: PoisonMessage) -> str:
    """Open a poison message's payload (message content): a view worth auditing."""
    record_action(archive, "view_payload", {"poison_message_id": message.message_id}, "ok")
    return message.payload_pretty()


def find_poison(archive: Archive, message_id: str) -> PoisonMessage | None:
    return next((m for m in peek_poison(archive) if m.message_id == message_id), None)
