"""Legal holds on real Azurite: the Holds table, apply/release over a scope, resume, and
the archive-time hold in store_record.

Azurite has no versioning or legal holds, so there the Holds table is what counts: these
tests check what the jobs decide per blob (hold / keep / release) and what the table
says. The per-version calls are checked through the blob-version adapter with a
recording stand-in for the versions (`Versions`), over the real blobs and index.
Each test uses customers of its own, so the shared Azurite and Holds table do not mix.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from admin.connection import Archive, open_archive
from admin.holds import check_message, list_holds, place_hold, release_hold, resume_hold
from archive.holds import HoldError, new_matter
from archive.layout import media_blob_name
from archive.names import MEDIA_CONTAINER, RAW_CONTAINER, RECORDS_CONTAINER
from archive.scope import Scope
from ingest.worker import orchestration_input, prepare
from orchestrations.steps import store_record
from storage import hold_apply
from storage.blob_versions import BlobVersion
from storage.hold_apply import BlobDecision, HoldJob, VersionOps, hold_written
from storage.holds import HoldProgress, HoldStore, released, reset_shared_cache
from tests.admin.seed import new_customer, new_wamid
from tests.support import webhooks
from tests.support.envelopes import meta_envelope
from tests.support.pipeline_env import use_archive

pytestmark = pytest.mark.azurite

TS = int(datetime(2026, 11, 20, 10, tzinfo=UTC).timestamp())
NOW = timedelta(0)  # settle: no pipeline cache to wait for in these tests


@pytest.fixture
def archive(monkeypatch: pytest.MonkeyPatch, azurite_conn: str) -> Iterator[Archive]:
    use_archive(monkeypatch, azurite_conn)
    reset_shared_cache()
    yield open_archive()
    reset_shared_cache()


def matter_id() -> str:
    return f"CASE-{uuid.uuid4().hex[:8]}"


def store_body(doc: dict[str, Any], media: bytes | None = None) -> list[dict[str, Any]]:
    """Queue worker + store_record for each event; an image's media stored for real."""
    envelope = meta_envelope(webhooks.body_of(doc), datetime.now(UTC))
    results = []
    for index, event in enumerate(prepare(envelope).events):
        outcomes = []
        if media is not None and event.media:
            path = media_blob_name(event, event.media[0], "image/jpeg")
            BlobServiceClient.from_connection_string(
                open_archive().target.connection_string or ""
            ).get_container_client(MEDIA_CONTAINER).upload_blob(path, media, overwrite=True)
            outcomes.append({"media_id": event.media[0].media_id, "state": "stored",
                             "blob_path": path, "sha256": hashlib.sha256(media).hexdigest(),
                             "size": len(media), "mime_type": "image/jpeg"})
        results.append(store_record({**orchestration_input(envelope, event, index),
                                     "media": outcomes}))
    return results


def text(customer: str, minute: int = 0, wamid: str | None = None) -> dict[str, Any]:
    (result,) = store_body(webhooks.text_message(wamid or new_wamid(), customer,
                                                 TS + 60 * minute))
    return result


def two_customers_one_body(a: str, b: str) -> list[dict[str, Any]]:
    doc = webhooks.text_message(new_wamid(), a, TS + 30)
    value = doc["entry"][0]["changes"][0]["value"]
    value["contacts"].append({"profile": {"name": "Other"}, "wa_id": b})
    value["messages"].append({"from": b, "id": new_wamid(), "timestamp": str(TS + 31),
                              "type": "text", "text": {"body": "x"}})
    return store_body(doc)


def raw_of(archive: Archive, record_path: str) -> str:
    doc = json.loads(archive.container(RECORDS_CONTAINER).download_blob(record_path).readall())
    return str(doc["raw"]["path"])


class Decisions:
    def __init__(self) -> None:
        self.items: list[BlobDecision] = []

    def __call__(self, decision: BlobDecision) -> None:
        self.items.append(decision)

    def of(self, container: str) -> dict[str, str]:
        return {d.name: d.decision for d in self.items if d.container == container}


def test_hold_store_round_trip_create_only_and_etag_guard(archive: Archive) -> None:
    store = HoldStore(archive.tables)
    placed = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
    matter = new_matter(matter_id(), Scope(participant=new_customer()), "SEC inquiry",
                        "alice@host", placed)
    store.place(matter)
    assert store.get(matter.matter_id) == matter
    assert matter.matter_id in {m.matter_id for m in store.in_force()}
    with pytest.raises(HoldError, match="already exists"):
        store.place(matter)
    row = store.row(matter.matter_id)
    assert row is not None
    moved = store.update(row, progress=HoldProgress(records_done=3, cursor="a/b.json"))
    again = store.row(matter.matter_id)
    assert again is not None and again.progress.records_done == 3
    assert again.progress.cursor == "a/b.json"
    with pytest.raises(HoldError, match="changed by another run"):
        store.update(row, progress=HoldProgress(records_done=9))  # stale ETag
    assert store.update(moved, progress=HoldProgress(records_done=4)).progress.records_done == 4
    assert store.get("no-such-matter") is None


def test_hold_placed_while_events_arrive_covers_them(archive: Archive) -> None:
    customer, bystander = new_customer(), new_customer()
    old = [text(customer, 0)["path"], text(customer, 1)["path"]]
    text(bystander, 2)  # loads this process's hold cache before the matter exists
    mid = matter_id()
    row = place_hold(archive, mid, Scope(participant=customer), "FINRA 4511 request",
                     wait=False, settle=timedelta(hours=1))
    assert (row.matter.state, row.progress.records_done, row.progress.passes) == (
        "applying", 2, 1)
    assert row.progress.blobs_unsupported == row.progress.blobs_held == 4  # 2 records, 2 raws

    stale_wamid = new_wamid()
    stale = text(customer, 3, wamid=stale_wamid)
    assert "holds" not in stale  # the cache has not refreshed: the settling pass covers it
    reset_shared_cache()  # what the TTL does within a minute
    fresh = text(customer, 4)
    assert fresh["holds"]["matters"] == [mid]
    assert fresh["holds"]["result"] == "unsupported"  # Azurite: the Holds table counts
    assert "holds" not in text(bystander, 5)

    decided = Decisions()
    row = resume_hold(archive, mid, settle=NOW, on_blob=decided)
    assert row.matter.state == "active"
    records = decided.of(RECORDS_CONTAINER)
    assert set(records) == {*old, stale["path"], fresh["path"]}
    assert set(records.values()) == {"hold"}
    assert raw_of(archive, stale["path"]) in decided.of(RAW_CONTAINER)
    assert [r["matters"] for r in check_message(archive, stale_wamid)] == [[mid]]
    listed = {r.matter.matter_id: r for r in list_holds(archive)}
    assert listed[mid].matter.placed_by and listed[mid].matter.reason == "FINRA 4511 request"


def test_overlapping_matters_release_keeps_what_the_other_covers(archive: Archive) -> None:
    a, b = new_customer(), new_customer()
    shared_a, shared_b = two_customers_one_body(a, b)  # one raw body, both customers
    a_wamid = new_wamid()
    a_alone = text(a, 10, wamid=a_wamid)
    a_other = text(a, 11)
    m_a, m_b, m_msg = matter_id(), matter_id(), matter_id()
    place_hold(archive, m_a, Scope(participant=a), "case A", settle=NOW)
    place_hold(archive, m_b, Scope(participant=b), "case B", settle=NOW)
    place_hold(archive, m_msg, Scope(message_id=a_wamid), "one message", settle=NOW)

    decided = Decisions()
    row = release_hold(archive, m_a, settle=NOW, on_blob=decided)
    assert row.matter.state == "released"
    assert row.matter.released_by and row.matter.released_at is not None
    records = decided.of(RECORDS_CONTAINER)
    assert records == {shared_a["path"]: "release", a_alone["path"]: "keep",
                       a_other["path"]: "release"}
    raws = decided.of(RAW_CONTAINER)
    assert raws[raw_of(archive, shared_a["path"])] == "keep"  # b's event is in it
    assert raws[raw_of(archive, a_alone["path"])] == "keep"
    assert raws[raw_of(archive, a_other["path"])] == "release"
    assert row.progress.blobs_kept == 3 and row.progress.blobs_released == 3
    assert shared_b["path"] not in records
    assert [r["matters"] for r in check_message(archive, a_wamid)] == [[m_msg]]
    # A released matter stays in the table, released, and binds nothing.
    store = HoldStore(archive.tables)
    assert m_a not in {m.matter_id for m in store.in_force()}
    assert release_hold(archive, m_a, settle=NOW).matter.state == "released"


def test_an_interrupted_apply_resumes_after_its_cursor(
    archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hold_apply, "CHECKPOINT_EVERY", 1)
    customer = new_customer()
    paths = {text(customer, minute)["path"] for minute in range(3)}
    mid = matter_id()

    class Boom(Exception):
        pass

    seen: list[str] = []

    def interrupt(decision: BlobDecision) -> None:
        if decision.container == RECORDS_CONTAINER:
            seen.append(decision.name)
            if len(seen) == 2:
                raise Boom

    with pytest.raises(Boom):
        place_hold(archive, mid, Scope(participant=customer), "why", settle=NOW,
                   on_blob=interrupt)
    row = HoldStore(archive.tables).row(mid)
    assert row is not None and row.matter.state == "applying" and row.matter.in_force
    assert row.progress.records_done == 1 and row.progress.cursor == seen[0]

    passes: list[list[str]] = [[]]

    def record(decision: BlobDecision) -> None:
        if decision.container == RECORDS_CONTAINER:
            passes[-1].append(decision.name)

    def pass_done(_p: HoldProgress, what: str) -> None:
        if what == "pass done":
            passes.append([])

    row = resume_hold(archive, mid, settle=NOW, on_blob=record, progress=pass_done)
    assert row.matter.state == "active" and row.progress.records_done == 3
    resumed, full = passes[0], passes[1]
    assert seen[0] not in resumed and set(resumed) | {seen[0]} == paths  # after the cursor
    assert set(full) == paths  # the settling pass starts from scratch


class Versions:
    """Two versions per existing blob, with legal-hold flags kept here: the blob-version
    adapter's calls recorded over the real containers (Azurite keeps no versions)."""

    def __init__(self) -> None:
        self.held: dict[tuple[str, str, str], bool] = {}
        self.calls: list[tuple[str, str, str | None, bool]] = []

    def _versions(self, container: ContainerClient, name: str) -> list[BlobVersion]:
        return [BlobVersion(container.container_name, name, vid, vid == "v2", 1,
                            self.held.get((container.container_name, name, vid), False),
                            None, None) for vid in ("v1", "v2")]

    def versions_of(self, container: ContainerClient, name: str) -> list[BlobVersion]:
        return self._versions(container, name) if container.get_blob_client(name).exists() \
            else []

    def list_versions(self, container: ContainerClient, prefix: str) -> Iterator[BlobVersion]:
        for blob in container.list_blobs(name_starts_with=prefix):
            yield from self._versions(container, blob.name)

    def set_legal_hold(self, container: ContainerClient, version: BlobVersion, on: bool) -> str:
        assert version.version_id is not None
        self.calls.append((container.container_name, version.name, version.version_id, on))
        self.held[(container.container_name, version.name, version.version_id)] = on
        return "set"

    def ops(self) -> VersionOps:
        return VersionOps(versions_of=self.versions_of, list_versions=self.list_versions,
                          set_legal_hold=self.set_legal_hold,
                          versioning_supported=lambda _s: True)

    def blobs_held(self) -> set[tuple[str, str]]:
        return {(c, n) for (c, n, _v), on in self.held.items() if on}


def test_every_version_in_scope_gets_its_hold_and_release_clears_only_unshared(
    archive: Archive,
) -> None:
    a, b = new_customer(), new_customer()
    image = store_body(webhooks.image_message(new_wamid(), a, TS + 5, "9001"), media=b"jpeg")[0]
    plain = text(a, 6)
    b_only = text(b, 7)
    versions = Versions()
    store = HoldStore(archive.tables)
    m_a, m_image = matter_id(), matter_id()
    job = HoldJob(store, archive.blobs, archive.tables, ops=versions.ops(), settle=NOW)
    placed = datetime.now(UTC)
    store.place(new_matter(m_a, Scope(participant=a), "why", "alice", placed))
    assert job.run(m_a).matter.state == "active"

    image_doc = json.loads(archive.container(RECORDS_CONTAINER)
                           .download_blob(image["path"]).readall())
    media_path = image_doc["media"][0]["blob_path"]
    expected = {(RECORDS_CONTAINER, image["path"]), (RECORDS_CONTAINER, plain["path"]),
                (MEDIA_CONTAINER, media_path), (RAW_CONTAINER, raw_of(archive, image["path"])),
                (RAW_CONTAINER, raw_of(archive, plain["path"]))}
    assert versions.blobs_held() == expected
    assert len(versions.calls) == 2 * len(expected)  # each version once, none for b
    assert all(name != b_only["path"] for _c, name, _v, _on in versions.calls)

    versions.calls.clear()
    assert job.run(m_a).matter.state == "active"  # a re-run sets nothing already set
    assert versions.calls == []

    store.place(new_matter(m_image, Scope(message_id=image_doc["message_id"]), "why",
                           "alice", placed))
    job.run(m_image)
    releasing = store.row(m_a)
    assert releasing is not None
    store.update(releasing, matter=released(releasing.matter, "bob", datetime.now(UTC)),
                 progress=HoldProgress())
    assert job.run(m_a).matter.state == "released"
    assert versions.blobs_held() == {
        (RECORDS_CONTAINER, image["path"]), (MEDIA_CONTAINER, media_path),
        (RAW_CONTAINER, raw_of(archive, image["path"]))}


def test_store_record_hold_sets_every_version_of_record_media_and_raw(archive: Archive) -> None:
    customer = new_customer()
    image = store_body(webhooks.image_message(new_wamid(), customer, TS + 8, "9002"),
                       media=b"jpeg")[0]
    record = json.loads(archive.container(RECORDS_CONTAINER)
                        .download_blob(image["path"]).readall())
    versions = Versions()
    result = hold_written(archive.blobs, record, image["path"], ["M1"], ops=versions.ops())
    assert result == {"matters": ["M1"], "blobs": 3, "result": "set", "gone": 0}
    assert {c for c, _n, _v, _on in versions.calls} == {
        RECORDS_CONTAINER, MEDIA_CONTAINER, RAW_CONTAINER}
    assert len(versions.calls) == 6  # 3 blobs x 2 versions
    unsupported = hold_written(archive.blobs, record, image["path"], ["M1"])
    assert unsupported["result"] == "unsupported"  # the real adapter on Azurite
