"""`wa-archive export`: a production of everything in a scope, with offline proofs.

The run, in phases (each resumable; see admin/export_files.py for the staging folder):

1. select: the index rows in scope, sorted by provider time (saved for a resume);
2. records: each record's bytes, exactly as stored, as one records.jsonl line, its
   index.csv row, and (for the renderings) a per-conversation spill file;
3. blobs: the raw bodies and stored media, streamed in 4 MiB chunks straight into their
   files while hashing, named by SHA-256; a file a previous run finished is kept when
   its bytes still hash to its name;
4. proofs: one inclusion proof per blob against its day's seal (all proofs of a seal
   from one tree build), the signed seals and the public keys;
5. renderings: transcripts (html, pdf) and RSMF, per conversation and period;
6. README.txt, manifest.json, then the rename (or the zip) that makes it the production.

Memory holds the selection (a path and a few ids per record), the list of blobs and
files for the manifest, and one day's seal leaves or one conversation at a time; never
a whole media file. Exporting is audited: the intent before anything is read, the
outcome with the manifest's SHA-256.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from admin.audit import audited, who
from admin.connection import AdminError, Archive
from admin.export_files import CHUNK, Staging, staging_paths
from admin.export_proofs import ProofWriter
from admin.export_select import (
    Selected,
    iter_lines,
    load_selection,
    matter_scope,
    save_selection,
    select,
)
from archive.canonical import canonical_json, sha256_hex
from archive.export import bundle as b
from archive.export.bundle_readme import readme_text
from archive.names import MEDIA_CONTAINER, RAW_CONTAINER, RECORDS_CONTAINER
from archive.scope import Scope
from storage.clients import Profile, service_client

TOOL = "wa-archive export 1"
DOWNLOAD_THREADS = 4
RECORD_WINDOW = 64


@dataclass(frozen=True)
class ExportOptions:
    out: Path
    scope: Scope | None = None
    matter_id: str | None = None
    formats: tuple[str, ...] = ("bundle",)
    tz_name: str = "UTC"
    period: str = "range"
    data_dir: Path | None = None


@dataclass
class ExportProgress:
    phase: str = "select"
    events_done: int = 0
    events_total: int = 0
    bytes_done: int = 0
    bytes_total: int = 0


@dataclass(frozen=True)
class ExportResult:
    out: Path
    export_id: str
    manifest_sha256: str
    counts: dict[str, int]
    resumed: bool

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "export_id": self.export_id,
                "manifest_sha256": self.manifest_sha256, "counts": self.counts,
                "resumed": self.resumed}


@dataclass
class MediaRef:
    name: str
    sha256: str
    size: int
    mime_type: str | None
    filename: str | None


@dataclass
class Collected:
    """What the records pass learns: the blobs to fetch and prove, the gaps."""

    records: list[b.BlobFact] = field(default_factory=list)
    raw: dict[str, str] = field(default_factory=dict)  # blob name -> sha256
    media: dict[str, MediaRef] = field(default_factory=dict)  # blob name -> ref
    gaps: list[dict[str, Any]] = field(default_factory=list)
    conversations: dict[str, str] = field(default_factory=dict)  # key -> spill file


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise AdminError(f"unknown time zone {name!r} (an IANA name, e.g. Europe/London)"
                         ) from None


def _media_of(record: dict[str, Any], record_path: str, collected: Collected) -> list[str]:
    """Register a record's media; the bundle file names for its index.csv row."""
    names: list[str] = []
    for item in record.get("media") or ():
        if not isinstance(item, dict):
            continue
        blob, sha = item.get("blob_path"), item.get("sha256")
        if item.get("state") == "stored" and isinstance(blob, str) and isinstance(sha, str):
            ref = collected.media.setdefault(blob, MediaRef(
                blob, sha, int(item.get("size") or 0), item.get("mime_type"),
                item.get("filename")))
            names.append(b.media_file(ref.sha256, blob, ref.mime_type))
        else:
            collected.gaps.append({"record": record_path, "media_id": item.get("media_id"),
                                   "state": item.get("state"), "reason": item.get("reason")})
            names.append(f"[{item.get('state') or 'missing'}]")
    return names


class Exporter:
    def __init__(self, archive: Archive, options: ExportOptions, scope: Scope,
                 progress: Callable[[ExportProgress], None] | None,
                 on_file: Callable[[str], None] | None) -> None:
        self.archive = archive
        self.options = options
        self.scope = scope
        self.tz = zone(options.tz_name)
        self.report = progress or (lambda _p: None)
        self.progress = ExportProgress()
        self.staging_dir, self.partial_zip = staging_paths(options.out)
        self.staging = Staging(self.staging_dir, on_file)
        # Bulk reads get the worker profile: longer read timeouts and more retries.
        self.blobs = service_client(type(archive.blobs), archive.target.account(),
                                    Profile.WORKER)
        self.resumed = False

    def query(self) -> dict[str, Any]:
        return {"scope": self.scope.to_dict(), "matter": self.options.matter_id,
                "formats": list(self.options.formats), "time_zone": self.options.tz_name,
                "transcript_period": self.options.period}

    # --- phase 1 --------------------------------------------------------------------

    def begin(self) -> tuple[dict[str, Any], list[Selected]]:
        if self.options.out.exists():
            raise AdminError(f"{self.options.out} already exists: exports never overwrite; "
                             "choose another --out")
        state = self.staging.load_state()
        selection_file = self.staging.scratch("selection.jsonl") if state else None
        if state and state.get("query") == self.query() and selection_file is not None:
            selection = load_selection(selection_file)
            if selection is not None:
                self.resumed = True
                return state, selection
        # Not resumable (another query, or no usable state): start cleanly.
        shutil.rmtree(self.staging_dir, ignore_errors=True)
        if self.partial_zip is not None:
            self.partial_zip.unlink(missing_ok=True)
        self.staging.prepare()
        selection = select(self.archive, self.scope)
        save_selection(self.staging.scratch("selection.jsonl"), selection)
        state = {"query": self.query(), "export_id": uuid.uuid4().hex,
                 "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                 "created_by": who(self.archive)}
        self.staging.save_state(state)
        return state, selection

    # --- phase 2 --------------------------------------------------------------------

    def _record_bytes(self, selection: list[Selected], state: dict[str, Any]) -> Any:
        """Each record's stored bytes, in selection order: from the finished records.jsonl
        of an interrupted run when it is intact, else from storage."""
        done = state.get("records")
        if done and self.staging.existing(b.RECORDS_FILE, done.get("sha256")):
            for line in iter_lines(self.staging.path(b.RECORDS_FILE)):
                yield line[:-1]
            return
        container = self.blobs.get_container_client(RECORDS_CONTAINER)

        def read(item: Selected) -> bytes:
            return container.download_blob(item.record_path).readall()

        # A few reads in flight (each is a round trip), in order, one window at a time:
        # memory holds at most RECORD_WINDOW records.
        with ThreadPoolExecutor(DOWNLOAD_THREADS) as pool:
            for start in range(0, len(selection), RECORD_WINDOW):
                window = selection[start:start + RECORD_WINDOW]

                def batch(window: list[Selected] = window) -> list[bytes]:
                    return list(pool.map(read, window))

                yield from self.archive.call("blob", "read the records", batch)

    def records(self, selection: list[Selected], state: dict[str, Any]) -> Collected:
        self.progress.phase, self.progress.events_total = "records", len(selection)
        latest = b.latest_status(item.row() for item in selection)
        collected = Collected()
        spill_dir = self.staging.scratch("conversations")
        shutil.rmtree(spill_dir, ignore_errors=True)
        spill_dir.mkdir()
        render = any(f in self.options.formats for f in ("html", "pdf", "rsmf"))
        jsonl = self.staging.open_writer(b.RECORDS_FILE)
        index = self.staging.open_writer(b.INDEX_FILE)
        index.write(b.index_header())
        try:
            for number, (item, data) in enumerate(
                    zip(selection, self._record_bytes(selection, state), strict=True), 1):
                line = b.record_line(data)
                jsonl.write(line)
                record = json.loads(data)
                collected.records.append(b.BlobFact(
                    RECORDS_CONTAINER, item.record_path, len(data), sha256_hex(data),
                    b.RECORDS_FILE, line=number))
                raw = record.get("raw") or {}
                if isinstance(raw.get("path"), str) and isinstance(raw.get("sha256"), str):
                    collected.raw[raw["path"]] = raw["sha256"]
                media = _media_of(record, item.record_path, collected)
                index.write(b.csv_bytes([b.index_row(
                    record, item.record_path, tz=self.tz,
                    latest=latest.get(item.message_id), media_files=media)]))
                self._spill(spill_dir if render else None, record, item.record_path, data,
                            collected)
                self.progress.events_done = number
                self.report(self.progress)
        except BaseException:
            jsonl.abort()
            index.abort()
            raise
        fact = jsonl.close()
        index.close()
        state["records"] = {"sha256": fact.sha256, "size": fact.size}
        self.staging.save_state(state)
        return collected

    @staticmethod
    def _spill(folder: Path | None, record: dict[str, Any], path: str, data: bytes,
               collected: Collected) -> None:
        """Note the record's conversation; for the renderings, append it to that
        conversation's spill file (renderers then hold one conversation at a time)."""
        conversation = record.get("conversation") or {}
        key = str(conversation.get("key") or "") if isinstance(conversation, dict) else ""
        name = collected.conversations.setdefault(key, sha256_hex(key.encode()) + ".jsonl")
        if folder is None:
            return
        with (folder / name).open("ab") as handle:
            handle.write(canonical_json([path, data.decode("utf-8")]) + b"\n")

    # --- phase 3 --------------------------------------------------------------------

    def _fetch(self, container: str, name: str, rel: str, sha: str) -> b.FileFact:
        if rel in self.staging.facts:  # the same bytes under another blob name
            return self.staging.facts[rel]
        kept = self.staging.existing(rel, sha)
        if kept is not None:
            self._count(kept.size)
            return kept
        client = self.blobs.get_container_client(container)
        return self.archive.call("blob", f"read a {container} blob", lambda: (
            self.staging.write_chunks(
                rel, client.download_blob(name, max_concurrency=1).chunks(), sha,
                progress=self._count)))

    def _count(self, size: int) -> None:
        self.progress.bytes_done += size
        self.report(self.progress)

    def fetch_blobs(self, collected: Collected) -> list[b.BlobFact]:
        self.progress.phase = "media"
        jobs: list[tuple[str, str, str, str]] = []
        for name, sha in sorted(collected.raw.items()):
            jobs.append((RAW_CONTAINER, name, b.raw_file(sha), sha))
        for name, ref in sorted(collected.media.items()):
            jobs.append((MEDIA_CONTAINER, name, b.media_file(ref.sha256, name, ref.mime_type),
                         ref.sha256))
        self.progress.bytes_total = sum(ref.size for ref in collected.media.values())
        # Distinct files first (a photo sent twice is fetched once), a few at a time:
        # downloads wait on the network, and each streams in 4 MiB chunks.
        unique = list({job[2]: job for job in jobs}.values())
        with ThreadPoolExecutor(DOWNLOAD_THREADS) as pool:
            futures = [pool.submit(self._fetch, *job) for job in unique]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)  # stop at the first failure
                raise
        facts: list[b.BlobFact] = []
        for container, name, rel, sha in jobs:
            fact = self.staging.facts[rel]
            facts.append(b.BlobFact(container, name, fact.size, sha, rel))
        return facts

    # --- phases 4-6 -----------------------------------------------------------------

    def run(self) -> ExportResult:
        state, selection = self.begin()
        collected = self.records(selection, state)
        blobs = [*collected.records, *self.fetch_blobs(collected)]
        self.progress.phase = "proofs"
        self.report(self.progress)
        proofs = ProofWriter(self.archive, self.staging, self.options.data_dir)
        blobs, seals = proofs.write(blobs)
        if len(self.options.formats) > 1:
            self.progress.phase = "renderings"
            self.report(self.progress)
            from admin.export_render import render_all

            render_all(self, collected, state)
        return self.finish(state, blobs, seals, collected)

    def media_files(self, collected: Collected) -> dict[str, tuple[str, MediaRef]]:
        """media sha256 -> (bundle file, ref), for the renderings' links and attachments."""
        return {ref.sha256: (b.media_file(ref.sha256, name, ref.mime_type), ref)
                for name, ref in sorted(collected.media.items())}

    def finish(self, state: dict[str, Any], blobs: list[b.BlobFact],
               seals: list[dict[str, Any]], collected: Collected) -> ExportResult:
        self.progress.phase = "manifest"
        self.report(self.progress)
        self.staging.write_bytes(b.README_FILE, readme_text().encode("utf-8"))
        manifest = b.build_manifest(
            export_id=state["export_id"], query=state["query"],
            created_by=state["created_by"], created_at=state["created_at"],
            tz_name=self.options.tz_name, formats=self.options.formats,
            period=self.options.period, tool=TOOL, files=self.staging.facts.values(),
            blobs=blobs, gaps=collected.gaps, seals=seals,
            conversations=len(collected.conversations))
        # Encoded piece by piece: with tens of thousands of files the whole text would be
        # one more large string in memory.
        writer = self.staging.open_writer(b.MANIFEST_FILE)
        encoder = json.JSONEncoder(indent=1, sort_keys=True, ensure_ascii=False)
        for piece in encoder.iterencode(manifest):
            writer.write(piece.encode("utf-8"))
        manifest_fact = writer.close()
        del manifest["files"], manifest["blobs"]
        self.staging.drop_stray(set(self.staging.facts))
        created = datetime.fromisoformat(state["created_at"])
        if self.partial_zip is not None:
            self.progress.phase = "zip"
            self.report(self.progress)
            self.staging.finish_zip(self.partial_zip, self.options.out,
                                    created.astimezone(UTC).timetuple()[:6])
        else:
            self.staging.finish_folder(self.options.out)
        return ExportResult(self.options.out, state["export_id"], manifest_fact.sha256,
                            dict(manifest["counts"]), self.resumed)


def run_export(archive: Archive, options: ExportOptions, *,
               progress: Callable[[ExportProgress], None] | None = None,
               on_file: Callable[[str], None] | None = None) -> ExportResult:
    """Export, audited: intent first; the outcome carries the manifest's SHA-256."""
    if options.period not in b.PERIODS:
        raise AdminError(f"--transcript-period must be one of {', '.join(b.PERIODS)}")
    zone(options.tz_name)
    target: dict[str, Any] = {"out": str(options.out), "formats": list(options.formats),
                              "time_zone": options.tz_name}
    if options.matter_id:
        target["matter"] = options.matter_id
    elif options.scope is not None:
        target["scope"] = options.scope.to_dict()
    with audited(archive, "export", target) as run:
        scope = (matter_scope(archive, options.matter_id) if options.matter_id
                 else options.scope)
        if scope is None:
            raise AdminError("export needs a scope: --participant, --business and "
                             "--customer, or --matter")
        target["scope"] = scope.to_dict()
        result = Exporter(archive, options, scope, progress, on_file).run()
        run.target["manifest_sha256"] = result.manifest_sha256
        run.target["export_id"] = result.export_id
        run.result = (f"ok: {result.counts.get('records', 0)} records, "
                      f"{result.counts.get('files', 0)} files, manifest sha256 "
                      f"{result.manifest_sha256}")
    return result


__all__ = ["CHUNK", "ExportOptions", "ExportProgress", "ExportResult", "run_export"]
