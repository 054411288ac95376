"""The audited entry points: what the CLI and the TUI call for actions and views.

Each one runs inside admin.audit.audited: an intent entry is written first (no
entry, no action), and the outcome is written however the work ends, an error or
Ctrl-C included. A replay also writes one entry per item before touching it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from admin.audit import audited
from admin.connection import Archive
from admin.detail import MessageDetail, message_detail
from admin.durable_api import DurableApi
from admin.poison import PoisonMessage, peek_poison
from admin.replay import Progress, ReplayResult, replay
from admin.search import DEFAULT_PAGE, SearchPage, SearchQuery, search
from admin.text_search import TextPage, TextProgress, TextQuery, search_text


def audited_search(
    archive: Archive,
    query: SearchQuery,
    *,
    page_size: int = DEFAULT_PAGE,
    continuation: str | None = None,
) -> SearchPage:
    target: dict[str, Any] = {"query": query.describe(), "page": bool(continuation)}
    with audited(archive, "search", target) as run:
        page = search(archive, query, page_size=page_size, continuation=continuation)
        run.result = f"ok: {len(page.rows)} rows from {page.table}"
    return page


def audited_text_search(
    archive: Archive,
    query: TextQuery,
    *,
    page_size: int = DEFAULT_PAGE,
    continuation: str | None = None,
    scan: bool = False,
    progress: Callable[[TextProgress], None] | None = None,
) -> TextPage:
    """A keyword search. The phrase is recorded like any other search facet: an auditor
    must be able to tell what was searched for (the audit container is not a log)."""
    target: dict[str, Any] = {"query": query.describe(), "page": bool(continuation),
                              "scan": scan}
    with audited(archive, "search_text", target) as run:
        page = search_text(archive, query, page_size=page_size, continuation=continuation,
                           scan=scan, progress=progress)
        run.result = (f"ok: {len(page.rows)} rows, {page.days_indexed} day(s) indexed, "
                      f"{page.days_scanned} day(s) scanned, {page.records_read} record(s) read")
    return page


def audited_detail(archive: Archive, message_id: str) -> MessageDetail:
    with audited(archive, "show", {"message_id": message_id}):
        return message_detail(archive, message_id)


def _replay_outcome(result: ReplayResult) -> str:
    outcome = f"{len(result.replayed)} replayed"
    if result.restarted:
        outcome += f", {len(result.restarted)} orchestration(s) restarted"
    if result.refetching:
        outcome += f", {len(result.refetching)} media refetch(es) queued"
    if result.requeued:
        outcome += f", {len(result.requeued)} dead letter(s) requeued"
    if result.not_found:
        outcome += f", not found: {', '.join(result.not_found)}"
    return outcome


def audited_replay(
    archive: Archive,
    *,
    ids: list[str] | None = None,
    all_poison: bool = False,
    progress: Progress | None = None,
    durable: DurableApi | None = None,
) -> ReplayResult:
    target: dict[str, Any] = {"ids": ids or [], "all_poison": all_poison}
    result = ReplayResult()
    with audited(archive, "replay", target) as run:
        try:
            replay(
                archive, ids=ids, all_poison=all_poison, progress=progress, durable=durable,
                who=run.actor, before_item=run.item, into=result,
            )
            run.result = f"ok: {_replay_outcome(result)}"
        finally:
            # What was done so far, also when the replay stops half-way.
            target.update(result.to_json())
    return result


def audited_payload(archive: Archive, message: PoisonMessage) -> str:
    """Open a poison message's payload (message content): a view worth auditing."""
    with audited(archive, "view_payload", {"poison_message_id": message.message_id}):
        return message.payload_pretty()


def find_poison(archive: Archive, message_id: str) -> PoisonMessage | None:
    return next((m for m in peek_poison(archive) if m.message_id == message_id), None)

