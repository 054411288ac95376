"""index_rows_in_scope on a real Azurite: what holds and exports select through the index."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from azure.data.tables import TableServiceClient

from archive.events import conversation_key_of
from archive.scope import Scope
from devhost.azurite import Azurite
from storage.index_writer import write_index_rows
from storage.provision import ensure_archive_resources

pytestmark = pytest.mark.azurite


@pytest.fixture(scope="module")
def tables(azurite: Azurite) -> Iterator[TableServiceClient]:
    ensure_archive_resources(azurite.connection_string)
    yield TableServiceClient.from_connection_string(azurite.connection_string)


def _record(message_id: str, event: str, ts: str, customer: str, business: str,
            *, direction: str = "inbound") -> dict[str, Any]:
    inbound = direction == "inbound"
    return {
        "event": event, "direction": direction, "type": "text", "provider": "meta",
        "message_id": message_id, "timestamp": ts,
        "from": customer if inbound else business, "to": business if inbound else customer,
        "conversation": {"business_id": business, "customer_id": customer,
                         "key": conversation_key_of(business, customer)},
        "status": {"value": "read"} if event == "status" else None,
        "media": [], "fingerprint": uuid.uuid4().hex * 2,
    }


def _store(tables: TableServiceClient, record: dict[str, Any]) -> str:
    path = f"records/{record['message_id']}/{record['event']}-{record['fingerprint'][:8]}.json"
    write_index_rows(tables, record, path)
    return path


@pytest.fixture(scope="module")
def world(tables: TableServiceClient) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    firm, alice, bob = f"firm{run}", f"alice{run}", f"bob{run}"
    paths = {
        "a_msg": _store(tables, _record(f"m1{run}", "message", "2026-03-01T10:00:00Z",
                                        alice, firm)),
        # A status of Alice's message, a day later: only in the by-message partition.
        "a_status": _store(tables, _record(f"m1{run}", "status", "2026-03-02T09:00:00Z", alice,
                                           firm, direction="outbound")),
        "a_late": _store(tables, _record(f"m2{run}", "message", "2026-04-01T10:00:00Z",
                                         alice, firm)),
        "b_msg": _store(tables, _record(f"m3{run}", "message", "2026-03-01T11:00:00Z", bob, firm)),
        # A status of a message the archive never saw sent: in no participant partition.
        "a_orphan": _store(tables, _record(f"m4{run}", "status", "2026-03-01T12:00:00Z", alice,
                                           firm, direction="outbound")),
    }
    return {"firm": firm, "alice": alice, "bob": bob, "paths": paths, "run": run}


def _paths(tables: TableServiceClient, scope: Scope) -> set[str]:
    from storage.scope_reader import index_rows_in_scope

    rows = list(index_rows_in_scope(tables, scope))
    paths = [str(r["record_path"]) for r in rows]
    assert len(paths) == len(set(paths)), "a record was yielded twice"
    return set(paths)


def test_participant_scope_includes_statuses_of_its_messages(tables, world) -> None:
    p = world["paths"]
    got = _paths(tables, Scope(participant=world["alice"]))
    assert got == {p["a_msg"], p["a_status"], p["a_late"]}


def test_a_bounded_range_also_finds_statuses_of_unseen_messages(tables, world) -> None:
    p = world["paths"]
    scope = Scope(participant=world["alice"], start=date(2026, 3, 1), end=date(2026, 3, 2))
    assert _paths(tables, scope) == {p["a_msg"], p["a_status"], p["a_orphan"]}


def test_conversation_scope_is_one_pair(tables, world) -> None:
    p = world["paths"]
    scope = Scope(business_id=world["firm"], customer_id=world["bob"])
    assert _paths(tables, scope) == {p["b_msg"]}


def test_message_scope_and_day_range(tables, world) -> None:
    p = world["paths"]
    run = world["run"]
    assert _paths(tables, Scope(message_id=f"m1{run}")) == {p["a_msg"], p["a_status"]}
    only_first_day = Scope(message_id=f"m1{run}", start=date(2026, 3, 1), end=date(2026, 3, 1))
    assert _paths(tables, only_first_day) == {p["a_msg"]}


def test_the_firm_number_covers_every_conversation(tables, world) -> None:
    got = _paths(tables, Scope(participant=world["firm"]))
    assert set(world["paths"].values()) - {world["paths"]["a_orphan"]} <= got
