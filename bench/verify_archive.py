"""Check an archive against the set of webhooks that was sent: nothing lost, nothing doubled.

Used by bench/load.py and by tests/reliability. For every event in the sent bodies:
exactly one record blob (and no `.conflict-` siblings), index rows in IndexByMessage
and IndexByDay (plus, for non-status events, the customer's IndexByParticipant
partition: a timeline row and a `c~` conversation row) pointing at that record and
nowhere else, the
latest status the furthest one sent, media blobs whose bytes hash to what the
Graph stand-in served (or an `unavailable` entry with a failures row when the media
never came), no other failure rows, empty `ingest` / `ingest-poison` queues, and
every orchestration Completed.

Expected record names come from the archive's own parser; the sender's own count of
events per body must agree with it, so an event the parser dropped is still noticed.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from archive.index import CONVERSATION_ROW_PREFIX, message_key, participant_key
from archive.layout import record_blob_name
from archive.meta.parser import parse_webhook
from archive.names import (
    INGEST_POISON_QUEUE,
    INGEST_QUEUE,
    MEDIA_CONTAINER,
    RECORDS_CONTAINER,
    TABLE_BY_DAY,
    TABLE_BY_MESSAGE,
    TABLE_BY_PARTICIPANT,
    TABLE_FAILURES,
    TASK_HUB,
)
from bench.load_workload import Workload

LATEST_STATUS_ROW = "latest-status"


@dataclass(frozen=True)
class ExpectedRecord:
    name: str
    message_id: str
    event: str
    customer_id: str
    media_ids: tuple[str, ...]


@dataclass
class Verdict:
    expected_events: int = 0
    records: int = 0
    media_checked: int = 0
    media_unavailable: int = 0
    index_rows: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, problem: str, examples: list[str] | set[str] | None = None) -> None:
        if examples is not None:
            shown = sorted(examples)[:5]
            problem = f"{problem}: {len(examples)} (e.g. {shown})"
        self.problems.append(problem)

    def summary(self) -> str:
        state = "OK" if self.ok else f"{len(self.problems)} problem(s)"
        return (
            f"verification {state}: {self.records}/{self.expected_events} records, "
            f"{self.media_checked} media blobs hashed, {self.media_unavailable} unavailable, "
            f"{self.index_rows} index rows"
        )


def expected_records(workload: Workload) -> tuple[dict[str, ExpectedRecord], list[str]]:
    """Record name -> what it must hold; plus disagreements between parser and generator."""
    expected: dict[str, ExpectedRecord] = {}
    problems: list[str] = []
    for body in workload.unique_bodies:
        parsed = parse_webhook(body)
        digest = hashlib.sha256(body).hexdigest()
        if parsed.problems or len(parsed.events) != workload.events_per_body[digest]:
            problems.append(
                f"body {digest[:12]}: parser gives {len(parsed.events)} events "
                f"({len(parsed.problems)} problems), sender built "
                f"{workload.events_per_body[digest]}"
            )
        for event in parsed.events:
            name = record_blob_name(event)
            if name in expected:
                problems.append(f"two sent events map to one record name {name}")
            expected[name] = ExpectedRecord(
                name=name,
                message_id=event.message_id,
                event=event.event,
                customer_id=event.customer_id,
                media_ids=tuple(m.media_id for m in event.media),
            )
    return expected, problems


def record_names(blobs: BlobServiceClient) -> list[str]:
    container = blobs.get_container_client(RECORDS_CONTAINER)
    return [b.name for b in container.list_blobs()]


def _rows(tables: TableServiceClient, table: str, columns: list[str]) -> list[dict[str, Any]]:
    client = tables.get_table_client(table)
    return list(client.list_entities(select=["PartitionKey", "RowKey", *columns]))


def _check_records(verdict: Verdict, expected: dict[str, ExpectedRecord], names: list[str]) -> None:
    conflicts = {n for n in names if ".conflict-" in n}
    plain = Counter(n for n in names if ".conflict-" not in n)
    verdict.records = sum(1 for n in plain if n in expected)
    if missing := set(expected) - set(plain):
        verdict.add("events without a record (LOST)", missing)
    if extra := set(plain) - set(expected):
        verdict.add("records for nothing that was sent", extra)
    if conflicts:
        verdict.add("conflict records", conflicts)


def _check_index(
    verdict: Verdict, tables: TableServiceClient, expected: dict[str, ExpectedRecord],
    latest: dict[str, str],
) -> None:
    non_status = {n for n, e in expected.items() if e.event != "status"}
    wanted = {
        TABLE_BY_MESSAGE: set(expected),
        TABLE_BY_DAY: set(expected),
    }
    for table, names in wanted.items():
        rows = _rows(tables, table, ["record_path", "status"])
        paths = Counter(
            str(r.get("record_path")) for r in rows if r["RowKey"] != LATEST_STATUS_ROW
        )
        verdict.index_rows += sum(paths.values())
        if missing := names - set(paths):
            verdict.add(f"{table}: events without a row", missing)
        if doubled := {p for p, c in paths.items() if c > 1}:
            verdict.add(f"{table}: records with more than one row", doubled)
        if stray := set(paths) - names:
            verdict.add(f"{table}: rows for unexpected records", stray)
        if table == TABLE_BY_MESSAGE:
            _check_latest(verdict, rows, latest)
    participant_rows = _rows(tables, TABLE_BY_PARTICIPANT, ["record_path"])
    verdict.index_rows += len(participant_rows)
    # Conversation rows: one per non-status record, in its customer's partition.
    conversation = Counter(
        (r["PartitionKey"], str(r.get("record_path"))) for r in participant_rows
        if str(r["RowKey"]).startswith(CONVERSATION_ROW_PREFIX)
    )
    if missing := {n for n in non_status
                   if (participant_key(expected[n].customer_id), n) not in conversation}:
        verdict.add(f"{TABLE_BY_PARTICIPANT}: events without a conversation row", missing)
    if doubled := {p for (_, p), c in conversation.items() if c > 1}:
        verdict.add(f"{TABLE_BY_PARTICIPANT}: records with more than one conversation row",
                    doubled)
    seen = {(r["PartitionKey"], str(r.get("record_path"))) for r in participant_rows
            if not str(r["RowKey"]).startswith(CONVERSATION_ROW_PREFIX)}
    missing = {
        n for n in non_status if (participant_key(expected[n].customer_id), n) not in seen
    }
    if missing:
        verdict.add(f"{TABLE_BY_PARTICIPANT}: events missing from the customer's timeline",
                    missing)
    if stray := ({p for _, p in seen} | {p for _, p in conversation}) - non_status:
        verdict.add(f"{TABLE_BY_PARTICIPANT}: rows for unexpected records", stray)


def _check_latest(verdict: Verdict, rows: list[dict[str, Any]], latest: dict[str, str]) -> None:
    found = {r["PartitionKey"]: r.get("status") for r in rows if r["RowKey"] == LATEST_STATUS_ROW}
    wrong = {
        f"{wamid}: {found.get(message_key(wamid))} != {value}"
        for wamid, value in latest.items()
        if found.get(message_key(wamid)) != value
    }
    if wrong:
        verdict.add("latest-status rows not the furthest status sent", wrong)


def _check_media(
    verdict: Verdict, blobs: BlobServiceClient, expected: dict[str, ExpectedRecord],
    workload: Workload, failure_refs: set[str],
) -> None:
    records = blobs.get_container_client(RECORDS_CONTAINER)
    media = blobs.get_container_client(MEDIA_CONTAINER)
    for name, item in expected.items():
        if not item.media_ids:
            continue
        try:
            record = json.loads(records.get_blob_client(name).download_blob().readall())
        except AzureError:
            continue  # already reported as a missing record
        entries = {m["media_id"]: m for m in record.get("media") or ()}
        for media_id in item.media_ids:
            plan = workload.media[media_id]
            entry = entries.get(media_id) or {}
            if entry.get("state") != plan.expected_state:
                verdict.add(f"{name}: media {media_id} is {entry.get('state')!r}, "
                            f"expected {plan.expected_state!r} ({entry.get('reason')})")
                continue
            if plan.expected_state == "unavailable":
                verdict.media_unavailable += 1
                if f"{name}#{media_id}" not in failure_refs:
                    verdict.add(f"{name}: unavailable media {media_id} has no failures row")
                continue
            data = media.get_blob_client(str(entry["blob_path"])).download_blob().readall()
            verdict.media_checked += 1
            if hashlib.sha256(data).hexdigest() != plan.sha256 or entry["sha256"] != plan.sha256:
                verdict.add(f"{name}: media {media_id} bytes differ from what was served")


def _check_failures(
    verdict: Verdict, tables: TableServiceClient, expected: dict[str, ExpectedRecord],
    workload: Workload,
) -> set[str]:
    rows = _rows(tables, TABLE_FAILURES, ["kind", "ref", "reason"])
    allowed = {
        f"{name}#{media_id}"
        for name, item in expected.items()
        for media_id in item.media_ids
        if workload.media[media_id].expected_state == "unavailable"
    }
    refs = {str(r.get("ref")) for r in rows if r.get("kind") == "media_unavailable"}
    unexpected = {
        f"{r.get('kind')}: {r.get('ref')} ({r.get('reason')})"
        for r in rows
        if not (r.get("kind") == "media_unavailable" and str(r.get("ref")) in allowed)
    }
    if unexpected:
        verdict.add("unexpected failures-table rows", unexpected)
    return refs


def queue_depths(conn: str) -> dict[str, int]:
    queues = QueueServiceClient.from_connection_string(conn)
    return {
        name: int(queues.get_queue_client(name).get_queue_properties().approximate_message_count
                  or 0)
        for name in (INGEST_QUEUE, INGEST_POISON_QUEUE)
    }


def orchestration_statuses(host_conn: str) -> Counter[str]:
    """RuntimeStatus counts in the task hub's Instances table (devhost and DTFx share it)."""
    client = TableServiceClient.from_connection_string(host_conn).get_table_client(
        f"{TASK_HUB}Instances"
    )
    try:
        return Counter(
            str(e.get("RuntimeStatus"))
            # devhost keeps history and inbox rows in the same table, under other RowKeys.
            for e in client.query_entities("RowKey eq ''", select=["RuntimeStatus"])
        )
    except ResourceNotFoundError:
        return Counter()


def verify_archive(conn: str, workload: Workload, host_conn: str | None = None) -> Verdict:
    """`conn`: the archive account; `host_conn`: AzureWebJobsStorage (default: the same)."""
    verdict = Verdict()
    expected, parse_problems = expected_records(workload)
    verdict.expected_events = len(expected)
    for problem in parse_problems:
        verdict.add(problem)
    blobs = BlobServiceClient.from_connection_string(conn)
    tables = TableServiceClient.from_connection_string(conn)
    _check_records(verdict, expected, record_names(blobs))
    failure_refs = _check_failures(verdict, tables, expected, workload)
    _check_media(verdict, blobs, expected, workload, failure_refs)
    _check_index(verdict, tables, expected, workload.latest_status)
    depths = queue_depths(conn)
    if any(depths.values()):
        verdict.add(f"queues not drained: {depths}")
    statuses = orchestration_statuses(host_conn or conn)
    if set(statuses) - {"Completed"}:
        verdict.add(f"orchestrations not all Completed: {dict(statuses)}")
    return verdict


def wait_for_archive(
    conn: str, workload: Workload, timeout: float = 300.0, poll: float = 1.0,
    since: float | None = None, progress: Callable[[int, int], None] | None = None,
) -> tuple[Verdict, float]:
    """Poll until every expected record exists and verification passes (or time runs out).

    Returns the last verdict and the seconds from `since` (a time.monotonic() value,
    default: now) to the poll that found the archive complete; the verification pass
    itself is not counted. `progress(archived, expected)` is called on every poll.
    Bounded: never waits past `timeout`.
    """
    started = time.monotonic()
    since = started if since is None else since
    deadline = started + timeout
    expected, _ = expected_records(workload)
    blobs = BlobServiceClient.from_connection_string(conn)
    while time.monotonic() < deadline:
        seen_at = time.monotonic()
        try:
            present = set(record_names(blobs))
            drained = not any(queue_depths(conn).values())
        except AzureError:
            present, drained = set(), False
        if progress is not None:
            progress(len(present & set(expected)), len(expected))
        if drained and set(expected) <= present:
            verdict = verify_archive(conn, workload)
            if verdict.ok:
                return verdict, seen_at - since
        time.sleep(poll)
    return verify_archive(conn, workload), time.monotonic() - since
