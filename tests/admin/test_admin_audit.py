"""The audit trail around actions: intent first, outcome always, one entry per item."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

from admin.actions import audited_replay, audited_search
from admin.audit import AuditEntry, recent_entries, record_action
from admin.backlog import backlog
from admin.connection import AdminError, Archive, ArchiveTarget
from admin.poison import peek_poison
from admin.search import SearchQuery
from devhost.azurite import ACCOUNT_KEY, ACCOUNT_NAME
from tests.admin import seed
from tests.support import webhooks

pytestmark = pytest.mark.azurite


def without_blob_create(conn: str) -> Archive:
    """The same account through a SAS that may read, list, queue and delete, not create."""
    sas = generate_account_sas(
        ACCOUNT_NAME, ACCOUNT_KEY,
        resource_types=ResourceTypes(service=True, container=True, object=True),
        permission=AccountSasPermissions(read=True, list=True, add=True, update=True,
                                         process=True, delete=True),
        expiry=datetime.now(UTC) + timedelta(hours=1), services="bqt",
    )
    parts = dict(p.split("=", 1) for p in conn.split(";") if "=" in p)
    endpoints = ";".join(f"{k}={parts[k]}" for k in
                         ("BlobEndpoint", "QueueEndpoint", "TableEndpoint"))
    return Archive(ArchiveTarget(label="storage account 'devstoreaccount1' (no audit role)",
                                 connection_string=f"{endpoints};SharedAccessSignature={sas}"))


def newest(archive: Archive, count: int) -> list[AuditEntry]:
    return list(reversed(recent_entries(archive, limit=count)))


def poison_messages(count: int) -> None:
    for minute in range(count):
        seed.poison(webhooks.text_message(seed.new_wamid(), seed.new_customer(),
                                          1_750_000_000 + minute * 60))


def test_a_failed_intent_write_aborts_the_action(archive: Archive, azurite_conn: str) -> None:
    poison_messages(1)
    before = len(recent_entries(archive, limit=10_000))
    denied = without_blob_create(azurite_conn)
    assert len(peek_poison(denied)) == 1  # the same poison queue, readable

    with pytest.raises(AdminError, match=r"permission denied.*audit"):
        audited_replay(denied, all_poison=True)
    with pytest.raises(AdminError, match=r"permission denied.*audit"):
        audited_search(denied, SearchQuery(participant=seed.new_customer()))

    assert len(peek_poison(archive)) == 1
    assert backlog(archive).ingest_depth == 0
    assert len(recent_entries(archive, limit=10_000)) == before


def test_an_interrupted_replay_leaves_intent_items_and_outcome(archive: Archive) -> None:
    poison_messages(3)

    def interrupt(done: int, total: int | None) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        audited_replay(archive, all_poison=True, progress=interrupt)

    intent, item, outcome = (e.entry for e in newest(archive, 3))
    assert (intent["action"], intent["phase"]) == ("replay", "intent")
    assert (item["action"], item["phase"]) == ("replay_item", "item")
    assert (outcome["action"], outcome["phase"]) == ("replay", "outcome")
    assert outcome["result"].startswith("interrupted")
    assert outcome["intent"] == item["intent"] == newest(archive, 3)[0].name
    assert outcome["target"]["replayed"] == [item["target"]["id"]]
    # The two messages received but not replayed are visible again at once.
    assert len(peek_poison(archive)) == 2
    assert backlog(archive).ingest_depth == 1


def test_a_replay_writes_one_entry_per_item(archive: Archive) -> None:
    poison_messages(2)
    ids = [m.message_id for m in peek_poison(archive)]

    result = audited_replay(archive, ids=ids)

    assert sorted(result.replayed) == sorted(ids)
    entries = [e.entry for e in newest(archive, 4)]
    assert [(e["action"], e["phase"]) for e in entries] == [
        ("replay", "intent"), ("replay_item", "item"), ("replay_item", "item"),
        ("replay", "outcome"),
    ]
    assert sorted(e["target"]["id"] for e in entries[1:3]) == sorted(ids)
    assert all(e["target"]["kind"] == "poison" for e in entries[1:3])
    assert entries[3]["result"].startswith("ok: 2 replayed")


def test_entries_show_the_service_time_beside_the_client_time(archive: Archive) -> None:
    skewed = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)  # a client clock that is wrong
    written = record_action(archive, "search", {"query": {}}, "ok", when=skewed)
    assert written.service_time is not None
    assert abs(written.service_time - datetime.now(UTC)) < timedelta(minutes=5)
    (listed,) = [e for e in recent_entries(archive, now=skewed) if e.name == written.name]
    assert listed.entry["when"].startswith("2031-01-02T03:04:05")
    assert listed.service_time is not None
    assert abs(listed.service_time - written.service_time) < timedelta(seconds=2)

