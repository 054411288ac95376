"""Lexicon policy versions and flags on real Azurite (issue #16).

Store-level tests use a container of their own on the session's Azurite (versions are
create-only and the pipeline reads `audit`, so nothing here may leave a policy there).
The pipeline and backfill tests run on a private Azurite, whose `audit` container they
may fill: store_record flags with the active policy, a retry writes no second row, a
record without hits costs no flag row, and a backfill page flags with the exact version
asked for.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from admin.connection import DATA_DIR_SETTING, Archive, open_archive
from admin.durable_api import SETTING_DURABLE_KEY, SETTING_DURABLE_URL
from admin.lexicon import list_versions, set_policy, show_policy
from archive.canonical import canonical_json
from archive.flags import flag_row_key, policy_version_document, policy_version_name
from archive.lexicon import Policy, parse_policy
from archive.names import RECORDS_CONTAINER, TABLE_FLAGS
from cli.main import main as cli_main
from devhost.azurite import Azurite
from ingest.worker import orchestration_input, prepare
from orchestrations.steps import store_record
from storage import lexicon_store as store
from storage.flags import backfill_page
from storage.holds import reset_shared_cache
from storage.lexicon_store import LexiconStoreError, PolicyCache, VersionNotFoundError
from tests.admin.seed import new_customer, new_wamid
from tests.support import webhooks
from tests.support.envelopes import meta_envelope
from tests.support.pipeline_env import use_archive

pytestmark = pytest.mark.azurite

NOW = datetime(2026, 12, 5, 9, tzinfo=UTC)
TS = int(datetime(2026, 12, 4, 10, tzinfo=UTC).timestamp())


def policy(*patterns: str) -> Policy:
    return parse_policy({"schema": "wa-archive/lexicon@1", "name": "t", "rules": [
        {"id": f"r{i}", "pattern": p} for i, p in enumerate(patterns)]})


@pytest.fixture
def container(azurite_conn: str, unique_name: str) -> ContainerClient:
    client = BlobServiceClient.from_connection_string(azurite_conn)
    created = client.get_container_client(unique_name)
    created.create_container()
    return created


def test_set_is_create_only_numbered_and_unchanged_when_identical(
    container: ContainerClient,
) -> None:
    assert store.active(container) is None and store.versions(container) == []
    first, changed = store.set_policy(container, policy("delete this"), "alice", NOW)
    assert (first.version, changed, first.set_by) == (1, True, "alice")
    again, changed = store.set_policy(container, policy("delete this"), "bob", NOW)
    assert (again.version, changed, again.set_by) == (1, False, "alice")
    assert [b.name for b in container.list_blobs()] == [policy_version_name(1)]
    second, changed = store.set_policy(container, policy("off the record"), "bob", NOW)
    assert (second.version, changed) == (2, True)
    assert store.active(container) == second
    assert store.read_version(container, 1) == first
    assert [v.version for v in store.versions(container)
            if not isinstance(v, Exception)] == [1, 2]
    # Setting the older policy again is a change: it becomes version 3.
    third, changed = store.set_policy(container, policy("delete this"), "carol", NOW)
    assert (third.version, changed, third.sha256) == (3, True, first.sha256)
    blob = container.get_blob_client(policy_version_name(1))
    assert blob.get_blob_properties().metadata["sha256"]  # sealing lists, never downloads


def test_a_tampered_version_is_refused_and_never_active(container: ContainerClient) -> None:
    good, _ = store.set_policy(container, policy("delete this"), "alice", NOW)
    # Written straight with the SDK under the next name: a policy that is not its hash.
    forged = policy_version_document(policy("harmless words").document, version=2,
                                     sha256=good.sha256, set_by="mallory", set_at=NOW)
    container.upload_blob(policy_version_name(2), canonical_json(forged))
    with pytest.raises(LexiconStoreError, match="policy version 2: the stored policy hashes"):
        store.read_version(container, 2)
    assert store.active(container) == good
    listed = store.versions(container)
    assert listed[0] == good and isinstance(listed[1], LexiconStoreError)
    with pytest.raises(VersionNotFoundError, match="no policy version 9"):
        store.read_version(container, 9)
    # The next set skips the taken number: nothing is ever overwritten.
    after, changed = store.set_policy(container, policy("off the record"), "alice", NOW)
    assert (after.version, changed) == (3, True)


def test_concurrent_sets_take_distinct_numbers(container: ContainerClient) -> None:
    barrier = threading.Barrier(4)
    results: list[tuple[int, bool, str]] = []

    def put(patterns: str) -> None:
        barrier.wait()
        found, changed = store.set_policy(container, policy(patterns), "t", NOW)
        results.append((found.version, changed, found.sha256))

    threads = [threading.Thread(target=put, args=(p,))
               for p in ("delete this", "off the record", "delete this", "off the record")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    created = [r for r in results if r[1]]
    numbers = [r[0] for r in created]
    assert len(numbers) == len(set(numbers)) >= 2  # no number taken twice
    stored = {v.version: v.sha256 for v in store.versions(container)
              if not isinstance(v, Exception)}
    assert sorted(stored) == list(range(1, len(stored) + 1))
    assert {sha for _, _, sha in created} == {policy("delete this").sha256,
                                              policy("off the record").sha256}
    assert all(stored[number] == sha for number, _, sha in results)


def test_cache_uses_a_new_version_only_after_its_ttl(container: ContainerClient) -> None:
    now = [0.0]
    cache = PolicyCache(lambda: container, ttl=30, clock=lambda: now[0])
    assert cache.active() is None
    store.set_policy(container, policy("delete this"), "t", NOW)
    now[0] = 29
    assert cache.active() is None  # still the cached answer: no storage call
    now[0] = 30
    first = cache.active()
    assert first is not None and first.version == 1
    assert [h.rule for h in first.compiled.match("please delete this")] == ["r0"]
    store.set_policy(container, policy("off the record"), "t", NOW)
    now[0] = 60
    assert cache.active() is not None and cache.active().version == 2  # type: ignore[union-attr]


# --- the pipeline and the backfill, on a private Azurite ---------------------------------

@pytest.fixture
def archive(monkeypatch: pytest.MonkeyPatch, fresh_azurite: Azurite) -> Iterator[Archive]:
    use_archive(monkeypatch, fresh_azurite.connection_string)
    store.reset_shared_policy_cache()
    reset_shared_cache()
    yield open_archive()
    store.reset_shared_policy_cache()
    reset_shared_cache()


def store_text(body: str, customer: str, wamid: str | None = None) -> dict[str, Any]:
    doc = webhooks.text_message(wamid or new_wamid(), customer, TS, body)
    envelope = meta_envelope(webhooks.body_of(doc), datetime.now(UTC))
    (event,) = prepare(envelope).events
    return store_record({**orchestration_input(envelope, event, 0), "media": []})


def flag_rows(archive: Archive) -> list[dict[str, Any]]:
    return [dict(e) for e in archive.tables.get_table_client(TABLE_FLAGS).list_entities()]


def test_store_record_flags_with_the_active_policy_once(archive: Archive) -> None:
    customer = new_customer()
    unflagged = store_text("I guarantee a big return", customer)  # before any policy
    assert "flags" not in unflagged
    version, _ = set_policy(archive, policy("guarantee NEAR/3 return", "delete this"))
    assert show_policy(archive).version == version.version == 1
    store.reset_shared_policy_cache()  # this process's cache: the TTL is not under test here

    wamid = new_wamid()
    text = "I GUARANTEE you a 10% return. Delete this."
    stored = store_text(text, customer, wamid)
    assert stored["state"] == "stored" and stored["flags"] == {"version": 1, "rules": 2}
    retried = store_text(text, customer, wamid)
    assert retried["state"] == "duplicate" and retried["flags"] == stored["flags"]
    assert "flags" not in store_text("nothing to see", customer)

    (row,) = flag_rows(archive)
    assert row["RowKey"] == flag_row_key(stored["path"], 1)
    assert (row["PartitionKey"], row["source"], row["policy_version"]) == (
        "2026-12-04", "archive", 1)
    assert json.loads(row["rules"]) == ["r0", "r1"]
    record = json.loads(archive.container(RECORDS_CONTAINER)
                        .download_blob(stored["path"]).readall())
    assert not {"flags", "flag", "lexicon", "policy_version"} & set(record)

    # A backfill of version 2 reaches the record archived before any policy.
    set_policy(archive, policy("big return"))
    day = datetime.fromtimestamp(TS, UTC).date()
    page = backfill_page(archive.blobs, archive.tables, version=2, day=day, marker=None,
                         now=NOW, page_size=2)
    total = page
    while total.next_marker:
        total = backfill_page(archive.blobs, archive.tables, version=2, day=day,
                              marker=total.next_marker, now=NOW, page_size=2)
    rows = {r["RowKey"]: r for r in flag_rows(archive)}
    backfilled = rows[flag_row_key(unflagged["path"], 2)]
    assert (backfilled["source"], backfilled["policy_version"]) == ("backfill", 2)
    assert flag_row_key(stored["path"], 2) not in rows  # "big return" is not in it
    assert len(rows) == 2
    again = backfill_page(archive.blobs, archive.tables, version=1, day=day, marker=None,
                          now=NOW)
    assert again.flagged >= 1 and again.created == 1  # the pre-policy record, under v1
    assert [v.version for v in list_versions(archive) if not isinstance(v, Exception)] == [1, 2]


def test_backfill_refuses_a_version_that_fails_its_check(archive: Archive) -> None:
    good, _ = set_policy(archive, policy("delete this"))
    forged = policy_version_document(policy("x").document, version=2, sha256=good.sha256,
                                     set_by="m", set_at=NOW)
    archive.container("audit").upload_blob(policy_version_name(2), canonical_json(forged))
    with pytest.raises(LexiconStoreError, match="refusing it"):
        backfill_page(archive.blobs, archive.tables, version=2, day=NOW.date(), marker=None,
                      now=NOW)
    assert show_policy(archive).version == 1  # the active one is the newest valid


def test_cli_set_show_versions_and_errors(
    archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(DATA_DIR_SETTING, str(tmp_path))  # no durable-api.json in there
    for name in (SETTING_DURABLE_URL, SETTING_DURABLE_KEY):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policy("delete this").document), encoding="utf-8")
    assert cli_main(["lexicon", "show"]) == 2
    assert "no lexicon policy has been set" in capsys.readouterr().err
    assert cli_main(["lexicon", "set", str(path)]) == 0
    out = capsys.readouterr().out
    assert "policy version 1 set (sha256 " in out and "within 60 s" in out
    assert "lexicon backfill --version 1 --from" in out
    assert cli_main(["lexicon", "set", str(path)]) == 0
    assert capsys.readouterr().out.startswith("unchanged: version 1 already has this policy")
    assert cli_main(["lexicon", "show"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("version 1  sha256 ") and '"pattern": "delete this"' in out
    assert cli_main(["lexicon", "show", "--list"]) == 0
    assert capsys.readouterr().out.count("\n") == 1
    assert cli_main(["lexicon", "show", "--version", "5"]) == 2
    assert "no policy version 5" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "wa-archive/lexicon@1", "name": "x", "rules": []}')
    assert cli_main(["lexicon", "set", str(bad)]) == 2
    assert "rules: must be a non-empty list" in capsys.readouterr().err
    assert cli_main(["lexicon", "backfill", "--version", "1", "--from", "2026-12-01",
                     "--to", "2026-12-01"]) == 1
    assert "no Durable API found" in capsys.readouterr().err
    assert cli_main(["lexicon", "backfill", "--version", "1", "--from", "2026-12-02",
                     "--to", "2026-12-01"]) == 2
    assert "--to is before --from" in capsys.readouterr().err
    # A tampered newest version: `versions` shows it refused and exits 1.
    forged = policy_version_document(policy("x").document, version=2,
                                     sha256="0" * 64, set_by="m", set_at=NOW)
    archive.container("audit").upload_blob(policy_version_name(2), canonical_json(forged))
    capsys.readouterr()
    assert cli_main(["lexicon", "versions"]) == 1
    assert "REFUSED  policy version 2: the stored policy hashes" in capsys.readouterr().out
