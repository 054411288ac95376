"""Lexicon supervision end to end: `lexicon set`, flags written as devhost archives, backfill.

A policy is set with the CLI while devhost runs (its policy cache lives HOLD_CACHE_SECONDS=2
here). Signed webhooks then exercise what the pipeline flags: case and diacritics, NEAR/3
(three words between flagged, four not), a caption, an edit, an exception, a rule scoped
to the other direction, and a text without hits. The records themselves carry nothing of
it. A second version with a new term is then backfilled over the day through the CLI
(`lexicon backfill --wait`, Durable API of devhost), which flags a message archived
before any policy existed, as version 2 from the backfill, with progress on stderr.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from admin.durable_api import SETTING_DURABLE_KEY, SETTING_DURABLE_URL, DurableApi, DurableSettings
from archive.flags import flag_row_key
from archive.identity import event_instance_id
from archive.names import RECORDS_CONTAINER, SETTING_HOLD_CACHE_SECONDS, TABLE_FLAGS
from archive.parsing import parse_body
from cli.main import main as cli_main
from devhost.azurite import Azurite
from storage.provision import ensure_archive_resources
from tests.e2e.pipeline_harness import DevHostProcess, send_webhook, wait_for
from tests.support import webhooks
from tests.support.media_server import MediaItem, MediaServer
from tests.support.pipeline_env import use_archive
from tests.unit._meta_fixtures import fixture_bytes

pytestmark = pytest.mark.e2e

MASTER_KEY = "e2e-master-key"
DAY = "2026-12-01"
T0 = int(datetime(2026, 12, 1, 10, tzinfo=UTC).timestamp())
CUSTOMER = "15557654321"
V1 = {
    "schema": "wa-archive/lexicon@1", "name": "e2e supervision",
    "exceptions": ["no guarantee"],
    "rules": [
        {"id": "garantia", "pattern": "garantia"},
        {"id": "guarantee-return", "pattern": "guarantee NEAR/3 return"},
        {"id": "delete-this", "pattern": "delete this"},
        {"id": "personal", "pattern": "my personal number", "scope": {"direction": "outbound"}},
    ],
}
V2 = {**V1, "rules": [*V1["rules"], {"id": "sure-thing", "pattern": "sure thing"}]}


@pytest.fixture
def devhost(
    fresh_azurite: Azurite, media_server: MediaServer, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[DevHostProcess]:
    ensure_archive_resources(fresh_azurite.connection_string)
    host = DevHostProcess(
        fresh_azurite.connection_string, media_server.base_url, tmp_path / "devhost.log",
        extra_env={"DEVHOST_MASTER_KEY": MASTER_KEY, SETTING_HOLD_CACHE_SECONDS: "2"},
    ).start()
    use_archive(monkeypatch, fresh_azurite.connection_string, media_server.base_url)
    # How `lexicon backfill` finds the Durable API (as for an Azure Function App).
    monkeypatch.setenv(SETTING_DURABLE_URL, f"{host.url}/runtime/webhooks/durabletask")
    monkeypatch.setenv(SETTING_DURABLE_KEY, MASTER_KEY)
    try:
        yield host
    finally:
        host.stop()


def cli(*argv: str) -> tuple[int, Any, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(list(argv))
    text = out.getvalue()
    return code, json.loads(text) if text.strip() else None, err.getvalue()


def _value(doc: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = doc["entry"][0]["changes"][0]["value"]
    return value


def text_doc(body: str, minute: int) -> dict[str, Any]:
    return webhooks.text_message(f"wamid.{uuid.uuid4().hex}==", CUSTOMER, T0 + 60 * minute, body)


def caption_doc(media_server: MediaServer, caption: str, minute: int) -> dict[str, Any]:
    media_id = f"media-{uuid.uuid4().hex[:8]}"
    item = media_server.add(media_id, MediaItem(data=os.urandom(2048)))
    doc = webhooks.image_message(f"wamid.{uuid.uuid4().hex}==", CUSTOMER, T0 + 60 * minute,
                                 media_id, item.sha256)
    _value(doc)["messages"][0]["image"]["caption"] = caption
    return doc


def edit_doc(new_text: str, minute: int) -> dict[str, Any]:
    """Meta's inbound edit fixture, with an id, time and new text of this test."""
    doc: dict[str, Any] = json.loads(fixture_bytes("inbound_edit"))
    message = _value(doc)["messages"][0]
    message.update({"id": f"wamid.{uuid.uuid4().hex}==", "from": CUSTOMER,
                    "timestamp": str(T0 + 60 * minute)})
    _value(doc)["contacts"][0]["wa_id"] = CUSTOMER
    message["edit"]["message"]["text"]["body"] = new_text
    return doc


def send(host: DevHostProcess, doc: dict[str, Any]) -> str:
    assert send_webhook(host, doc) == 200
    (event,) = parse_body("meta", webhooks.body_of(doc), datetime.now(UTC)).events
    return event_instance_id(event)


def archived(durable: DurableApi, instance_id: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        status = durable.status(instance_id)
        if not status or status.get("runtimeStatus") != "Completed":
            return None
        output = status.get("output") or {}
        return output.get("record") if isinstance(output, dict) else None

    return wait_for(f"record of {instance_id}", probe)


def flag_rows(conn: str) -> dict[str, dict[str, Any]]:
    table = TableServiceClient.from_connection_string(conn).get_table_client(TABLE_FLAGS)
    return {e["RowKey"]: dict(e) for e in table.list_entities()}


def test_policy_flags_at_archive_time_and_by_backfill(
    devhost: DevHostProcess, media_server: MediaServer, tmp_path: Path,
) -> None:
    conn = devhost.conn
    durable = DurableApi(DurableSettings(
        f"{devhost.url}/runtime/webhooks/durabletask", MASTER_KEY, "test"))
    # Archived before any policy: only the backfill of version 2 can flag it.
    older = archived(durable, send(devhost, text_doc("It is a sure thing, trust me", 0)))
    assert "flags" not in older

    v1 = tmp_path / "v1.json"
    v1.write_text(json.dumps(V1), encoding="utf-8")
    code, set1, _ = cli("lexicon", "set", str(v1), "--json")
    assert code == 0 and set1["version"] == 1 and set1["changed"]
    assert set1["pipeline_within_seconds"] == 60
    code, same, _ = cli("lexicon", "set", str(v1), "--json")
    assert code == 0 and (same["version"], same["changed"]) == (1, False)

    # Until devhost's cache (2 s) refreshes, new events may still miss the policy.
    minute = iter(range(1, 1000))
    wait_for("the pipeline to use version 1", lambda: archived(durable, send(
        devhost, text_doc("please delete this", next(minute)))).get("flags"), timeout=60)

    cases = {
        "diacritics": (text_doc("Le doy GARANTÍA total", next(minute)), ["garantia"]),
        "near3": (text_doc("I guarantee you a 10% return", next(minute)),
                  ["guarantee-return"]),
        "near4": (text_doc("I guarantee you a full 10% return", next(minute)), None),
        "caption": (caption_doc(media_server, "Signed. Delete this after reading",
                                next(minute)), ["delete-this"]),
        "edit": (edit_doc("actually, delete this one", next(minute)), ["delete-this"]),
        "exception": (text_doc("There is no guarantee of return", next(minute)), None),
        "scope": (text_doc("call my personal number", next(minute)), None),  # inbound
        "clean": (text_doc("see you tomorrow", next(minute)), None),
    }
    outputs = {name: archived(durable, send(devhost, doc)) for name, (doc, _) in
               cases.items()}
    rows = flag_rows(conn)
    for name, (_, rules) in cases.items():
        output = outputs[name]
        key = flag_row_key(output["path"], 1)
        if rules is None:
            assert "flags" not in output and key not in rows, name
            continue
        assert output["flags"] == {"version": 1, "rules": 1}, name
        row = rows[key]
        assert json.loads(row["rules"]) == rules, name
        assert (row["policy_version"], row["source"], row["PartitionKey"]) == (
            1, "archive", DAY), name
        assert row["policy_sha256"] == set1["sha256"]
    assert json.loads(rows[flag_row_key(outputs["edit"]["path"], 1)]["hits"])[0]["field"] == \
        "content.edited.text"
    assert json.loads(rows[flag_row_key(outputs["caption"]["path"], 1)]["hits"])[0][
        "field"] == "content.caption"
    assert json.loads(rows[flag_row_key(outputs["diacritics"]["path"], 1)]["hits"])[0][
        "matched"] == ["GARANTÍA"]

    # The record is what it would be without a policy: nothing of the flag is in it.
    records = BlobServiceClient.from_connection_string(conn).get_container_client(
        RECORDS_CONTAINER)
    flagged = json.loads(records.download_blob(outputs["near3"]["path"]).readall())
    assert not {"flags", "flag", "lexicon", "policy_version", "supervision"} & set(flagged)

    # Version 2 adds a term; its backfill reaches the message archived before any policy.
    v2 = tmp_path / "v2.json"
    v2.write_text(json.dumps(V2), encoding="utf-8")
    code, set2, _ = cli("lexicon", "set", str(v2), "--json")
    assert code == 0 and set2["version"] == 2
    code, listed, _ = cli("lexicon", "versions", "--json")
    assert code == 0 and [v["version"] for v in listed] == [1, 2]
    code, shown, _ = cli("lexicon", "show", "--version", "1", "--json")
    assert code == 0 and shown["sha256"] == set1["sha256"] and shown["policy"] == V1
    code, done, err = cli("lexicon", "backfill", "--version", "2", "--from", DAY, "--to", DAY,
                          "--wait", "--json")
    assert code == 0, err
    assert done["instance_id"] == f"lexicon-backfill-v2-{DAY}-{DAY}"
    assert done["status"] == "Completed"
    progress = done["progress"]
    assert (progress["days_total"], progress["days_done"], progress["done"]) == (1, 1, True)
    assert progress["records_read"] >= len(cases) + 2 and progress["flagged"] >= 5
    assert "backfill v2: day 2026-12-01" in err  # progress on stderr

    rows = flag_rows(conn)
    backfilled = rows[flag_row_key(older["path"], 2)]
    assert (backfilled["policy_version"], backfilled["source"]) == (2, "backfill")
    assert json.loads(backfilled["rules"]) == ["sure-thing"]
    assert backfilled["policy_sha256"] == set2["sha256"]
    assert flag_row_key(older["path"], 1) not in rows
    # Version 1's rows stay as the pipeline wrote them; nothing out of scope got flagged.
    assert rows[flag_row_key(outputs["near3"]["path"], 1)]["source"] == "archive"
    assert flag_row_key(outputs["scope"]["path"], 2) not in rows
    assert flag_row_key(outputs["near4"]["path"], 2) not in rows

    # A bad version number is a usage error; no Durable instance is started for it.
    code, _, err = cli("lexicon", "backfill", "--version", "7", "--from", DAY, "--to", DAY)
    assert code == 2 and "no policy version 7" in err

    # Review (issue 16): the pipeline's flag is in the queue, shown in its conversation,
    # decided through the CLI, and the decision is audited and closes it.
    near3 = f"{DAY}.{flag_row_key(outputs['near3']['path'], 1)}"
    code, listing, _ = cli("review", "list", "--from", DAY, "--to", DAY, "--json")
    assert code == 0 and near3 in {f["id"] for f in listing["flags"]}
    assert all(f["status"] == "open" for f in listing["flags"])
    code, shown, _ = cli("review", "show", near3, "--json")
    assert code == 0
    (mine,) = [m for m in shown["context"] if m["flagged"]]
    assert mine["text"] == "I guarantee you a 10% return"
    position = shown["context"].index(mine)
    # Same conversation, oldest first: the messages sent just before and after it.
    assert shown["context"][position - 1]["text"] == "Le doy GARANTÍA total"
    assert shown["context"][position + 1]["text"] == "I guarantee you a full 10% return"
    assert position <= 5 and len(shown["context"]) - position - 1 <= 5
    code, marked, _ = cli("review", "mark", near3, "--status", "escalated", "--comment",
                          "Promise of a return: to compliance.", "--json")
    assert code == 0 and (marked["previous"], marked["status"]) == ("open", "escalated")
    code, still_open, _ = cli("review", "list", "--from", DAY, "--to", DAY, "--json")
    assert near3 not in {f["id"] for f in still_open["flags"]}
    code, entries, _ = cli("audit", "--json")
    (outcome,) = [e for e in entries if e["action"] == "review_mark"
                  and e.get("phase") == "outcome"]
    assert outcome["target"]["flag"] == near3 and outcome["target"]["status"] == "escalated"
    assert outcome["target"]["decision"] == marked["decision"]
    assert outcome["who"] == marked["reviewer"] and outcome["result"].startswith("ok")
