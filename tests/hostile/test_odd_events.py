"""Hostile provider ids and unknown shapes, through the worker and store_record on Azurite."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from archive.encoding import decode_id
from storage.clients import table_service
from storage.index_reader import IndexReader
from tests.hostile.flow import archive_signed, read_record
from tests.support import webhooks

pytestmark = pytest.mark.azurite

T0 = 1764158400
FORBIDDEN_IN_NAMES = set("\\?#") | {chr(c) for c in range(32)} | {"\x7f"}

HOSTILE_IDS = [
    "wamid.HBgL/ab+cd==",
    "a%2Fb%00%",
    "../../../etc/passwd",
    "..",
    ".",
    "ends-with-dot.",
    "back\\slash",
    "ctl\x00\x01\x1f\x7f",
    "tab\tnew\nline\r",
    "#hash?query",
    "~~",
    "~2F",
    " spaced ",
    "\u00e9\u2603\U0001f642",
    "x" * 300,
]


def message(wamid: str, sender: str, n: int) -> dict[str, Any]:
    return {"from": sender, "id": wamid, "timestamp": str(T0 + n), "type": "text",
            "text": {"body": f"m{n}"}}


def assert_safe_name(path: str) -> None:
    assert path.isascii(), path
    assert not FORBIDDEN_IN_NAMES & set(path), path
    assert all(seg not in ("", ".", "..") and not seg.endswith(".")
               for seg in path.split("/")), path


def test_hostile_message_ids_archive_round_trip_and_are_findable(conn: str) -> None:
    run = uuid.uuid4().hex[:8]
    ids = [f"{run}{wamid}" if i % 2 else f"{wamid}{run}" for i, wamid in enumerate(HOSTILE_IDS)]
    sender = f"+44/7700=900+{run}"  # a participant is not assumed to be digits
    doc = webhooks.envelope({
        "contacts": [{"profile": {"name": "Client"}, "wa_id": sender}],
        "messages": [message(wamid, sender, n) for n, wamid in enumerate(ids)],
    })
    archived = archive_signed(json.dumps(doc).encode())

    assert [s["state"] for s in archived.stored] == ["stored"] * len(ids)
    paths = [s["path"] for s in archived.stored]
    assert len(set(paths)) == len(ids)  # injective: no two ids share a record
    reader = IndexReader(table_service())
    for wamid, path in zip(ids, paths, strict=True):
        assert_safe_name(path)
        segment = path.split("/")[-2]
        if "~h" in segment:
            assert len(wamid) > 150  # only over-long ids are shortened (hash, not reversible)
        else:
            assert decode_id(segment) == wamid
        assert read_record(conn, path)["message_id"] == wamid
        rows = reader.by_message(wamid)
        assert [(r["message_id"], r["record_path"]) for r in rows] == [(wamid, path)], repr(wamid)
        keys = rows[0]["PartitionKey"] + rows[0]["RowKey"]
        assert keys.isascii() and not (FORBIDDEN_IN_NAMES | {"/"}) & set(keys), keys
    timeline = reader.by_participant(sender, page_size=100).rows
    assert sorted(r["message_id"] for r in timeline) == sorted(ids)
    assert decode_id(paths[0].split("/")[-3].split("~~")[1]) == sender


def test_lone_surrogate_text_is_archived(conn: str) -> None:
    wamid = f"wamid.{uuid.uuid4().hex}"
    body = webhooks.body_of(webhooks.text_message(wamid, "15551234567", T0, "x"))
    body = body.replace(b'"body": "x"', b'"body": "\\ud800 half an emoji"')
    archived = archive_signed(body)
    (result,) = archived.stored
    record = read_record(conn, result["path"])
    assert record["content"]["text"] == "\ud800 half an emoji"
    assert IndexReader(table_service()).by_message(wamid)


def test_unknown_shapes_are_archived_with_their_fragment(conn: str) -> None:
    run = uuid.uuid4().hex
    hologram = {"from": "15551234567", "id": f"wamid.holo{run}", "timestamp": str(T0),
                "type": "hologram", "hologram": {"layers": [1, 2, {"deep": None}]}}
    no_type = {"from": "15551234567", "id": f"wamid.notype{run}", "timestamp": str(T0)}
    odd_status = {"id": f"wamid.status{run}", "status": "teleported", "timestamp": str(T0),
                  "recipient_id": "15551234567"}
    surprise = [{"id": f"surprise{run}", "kind": "future"}]
    future_change = {"field": f"future_field_{run[:6]}", "value": {"anything": [run]}}
    doc = webhooks.envelope({"messages": [hologram, no_type], "statuses": [odd_status],
                             "surprise": surprise})
    doc["entry"][0]["changes"].append(future_change)
    archived = archive_signed(json.dumps(doc).encode())

    records = [read_record(conn, s["path"]) for s in archived.stored]
    assert all(s["state"] == "stored" for s in archived.stored)
    by_type = {r["type"]: r for r in records}

    holo = by_type["unknown:hologram"]
    assert holo["event"] == "unknown" and holo["fragment"] == hologram
    assert IndexReader(table_service()).by_message(str(hologram["id"]))

    untyped = [r for r in records if r["message_id"] == no_type["id"]]
    assert len(untyped) == 1 and untyped[0]["event"] == "unknown"
    assert untyped[0]["fragment"] == no_type

    (status,) = [r for r in records if r["event"] == "status"]
    assert status["status"]["value"] == "teleported" and status["fragment"] == odd_status

    assert by_type["unknown:value:surprise"]["fragment"] == {"surprise": surprise}
    field = by_type[f"field:{future_change['field']}"]
    assert field["event"] == "system" and field["fragment"] == future_change
    assert len(records) == 5
