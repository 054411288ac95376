"""The evidence bundle of a production: file names, index.csv rows, manifest, README.txt.

Pure: the admin side (admin/export.py) streams blobs into the files these functions
name, and hands back the facts (sizes, hashes, proofs) the manifest records.

Layout (every name derives from content or ids, so a rerun names the same files):

    README.txt             how to verify, with and without wa-archive
    manifest.json          the query, who ran it and when, counts, every file's sha256/size,
                           every archived blob (container, name, sha256, file, proof)
    records.jsonl          the canonical record bytes exactly as stored, one per line
    index.csv              one row per record, spreadsheet-safe
    media/<sha256>.<ext>   media binaries, named by their SHA-256
    raw/<sha256>.json      the verbatim webhook bodies the records were derived from
    proofs/<container>/<sha256 of container/name>.json   one inclusion proof per blob
    proofs/seals/<seq>.json                              the signed seals (header + signature)
    proofs/public-keys.pem                               the seal keys the exporter had
    transcripts/, rsmf/    the optional renderings (html, pdf, rsmf)
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from archive.index import latest_status_wins
from archive.layout import extension_for_mime, partition_name
from archive.timestamps import from_iso

BUNDLE_SCHEMA = "wa-archive/export@1"
README_FILE = "README.txt"
MANIFEST_FILE = "manifest.json"
RECORDS_FILE = "records.jsonl"
INDEX_FILE = "index.csv"
MEDIA_DIR = "media/"
RAW_DIR = "raw/"
PROOFS_DIR = "proofs/"
SEALS_DIR = "proofs/seals/"
PUBLIC_KEYS_FILE = "proofs/public-keys.pem"
TRANSCRIPTS_DIR = "transcripts/"
RSMF_DIR = "rsmf/"
FORMATS = ("bundle", "html", "pdf", "rsmf")
PERIODS = ("range", "day")

# Spreadsheets run a cell that starts with one of these as a formula (CSV injection);
# tab and CR too, as OWASP lists them. Such a cell gets a leading apostrophe.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SAFE_EXT = re.compile(r"\A\.[a-z0-9]{1,8}\Z")
_SAFE_SEGMENT = re.compile(r"\A[A-Za-z0-9_.~-]{1,200}\Z")

INDEX_COLUMNS = (
    "local_time", "utc_time", "conversation", "from", "to", "direction", "event", "type",
    "text_or_caption", "latest_status", "media_files", "message_id", "record_path",
)


class BundleError(ValueError):
    """Options or data an export cannot be made from."""


def parse_formats(text: str) -> tuple[str, ...]:
    """`bundle,html` -> the formats in canonical order; the bundle is always included."""
    wanted = {part.strip().lower() for part in text.split(",") if part.strip()}
    unknown = wanted - set(FORMATS)
    if unknown:
        raise BundleError(f"unknown format(s): {', '.join(sorted(unknown))} "
                          f"(choose from {', '.join(FORMATS)})")
    wanted.add("bundle")
    return tuple(f for f in FORMATS if f in wanted)


# --- file names ------------------------------------------------------------------------

def _sha(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def media_extension(blob_name: str | None, mime_type: str | None) -> str:
    """The stored blob's own extension (the writer chose it from the mime type), else
    the mime type's; never anything a file manager could mistake for a path."""
    if blob_name and "." in blob_name.rsplit("/", 1)[-1]:
        ext = "." + blob_name.rsplit(".", 1)[-1].lower()
        if _SAFE_EXT.match(ext):
            return ext
    return extension_for_mime(mime_type)


def media_file(sha256: str, blob_name: str | None, mime_type: str | None) -> str:
    return f"{MEDIA_DIR}{sha256}{media_extension(blob_name, mime_type)}"


def raw_file(sha256: str) -> str:
    return f"{RAW_DIR}{sha256}.json"


def proof_file(container: str, name: str) -> str:
    """One proof per blob: two blobs with the same bytes (the same photo sent twice)
    share a media file but each has its own seal leaf, so the name hashes the path."""
    return f"{PROOFS_DIR}{container}/{_sha(container + '/' + name)}.json"


def seal_file(seq: int) -> str:
    return f"{SEALS_DIR}{seq:010d}.json"


def _segment(conversation_key: str) -> str:
    # Conversation keys are encoded ids ([A-Za-z0-9_.~-]); anything else (a key
    # from a hand-made record) becomes a hash rather than a path.
    return conversation_key if _SAFE_SEGMENT.match(conversation_key) else _sha(conversation_key)


def transcript_file(conversation_key: str, fmt: str, day: date | None = None) -> str:
    suffix = f"_{day.isoformat()}" if day else ""
    return f"{TRANSCRIPTS_DIR}{_segment(conversation_key)}{suffix}.{fmt}"


def rsmf_file(conversation_key: str, day: date | None, part: int, parts: int) -> str:
    suffix = f"_{day.isoformat()}" if day else ""
    numbered = f"_part{part:03d}" if parts > 1 else ""
    return f"{RSMF_DIR}{_segment(conversation_key)}{suffix}{numbered}.rsmf"


def is_bundle_path(path: str) -> bool:
    """A relative POSIX path with no `..`, empty or absolute parts (zip-slip safe)."""
    parts = path.split("/")
    return bool(path) and not path.startswith("/") and "\\" not in path and all(
        part not in ("", ".", "..") for part in parts)


# --- records ---------------------------------------------------------------------------

def record_line(data: bytes) -> bytes:
    """A stored record as one records.jsonl line. Records are canonical JSON, whose
    strings escape newlines, so a raw newline means the blob is not a canonical record."""
    if b"\n" in data or b"\r" in data:
        raise BundleError("a record holds a line break: it is not canonical JSON")
    return data + b"\n"


def latest_status(rows: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """message id -> its latest status, by the index's own rule (archive.index): a status
    further along the lifecycle wins whatever the arrival order; the same value, the later
    provider time. Statuses arrive out of order, and the export must not regress either."""
    latest: dict[str, tuple[datetime, str]] = {}
    for row in rows:
        if row.get("event") not in ("status", "delete") or not row.get("status"):
            continue
        message_id = str(row.get("message_id") or "")
        moment = from_iso(str(row.get("timestamp") or ""))
        if not message_id or moment is None:
            continue
        candidate = (moment, str(row["status"]))
        if latest_status_wins(latest.get(message_id), candidate):
            latest[message_id] = candidate
    return {message_id: value for message_id, (_, value) in latest.items()}


def csv_safe(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _text_of(record: Mapping[str, Any]) -> str:
    content = record.get("content")
    if not isinstance(content, Mapping):
        return ""
    for key in ("text", "caption", "body"):
        value = content.get(key)
        if isinstance(value, str) and value:
            return value
    for key in ("reaction", "system", "edited"):
        inner = content.get(key)
        if isinstance(inner, Mapping):
            for field in ("emoji", "body", "text", "caption"):
                value = inner.get(field)
                if isinstance(value, str) and value:
                    return value
    return ""


def local_and_utc(timestamp: str, tz: tzinfo) -> tuple[str, str]:
    moment = from_iso(timestamp)
    if moment is None:
        return "", timestamp
    moment = moment.astimezone(UTC)
    return (moment.astimezone(tz).isoformat(timespec="seconds"),
            moment.isoformat(timespec="seconds").replace("+00:00", "Z"))


def index_row(record: Mapping[str, Any], record_path: str, *, tz: tzinfo,
              latest: str | None, media_files: Sequence[str]) -> list[str]:
    """One index.csv row (already CSV-injection safe)."""
    local, utc = local_and_utc(str(record.get("timestamp") or ""), tz)
    conversation = record.get("conversation")
    key = conversation.get("key") if isinstance(conversation, Mapping) else ""
    status = record.get("status")
    if record.get("event") == "status" and isinstance(status, Mapping):
        latest = str(status.get("value") or "")
    cells = [local, utc, key, record.get("from"), record.get("to"), record.get("direction"),
             record.get("event"), record.get("type"), _text_of(record), latest or "",
             " ".join(media_files), record.get("message_id"), record_path]
    return [csv_safe(cell) for cell in cells]


def csv_bytes(rows: Iterable[Sequence[str]]) -> bytes:
    """RFC 4180 lines (CRLF, quoted where needed), UTF-8."""
    parts: list[str] = []

    class _Sink:  # csv.writer wants something with write(); the core opens no streams
        def write(self, text: str) -> int:
            parts.append(text)
            return len(text)

    writer = csv.writer(_Sink(), lineterminator="\r\n")
    for row in rows:
        writer.writerow(row)
    return "".join(parts).encode("utf-8")


def index_header() -> bytes:
    # A UTF-8 BOM, so Excel reads non-Latin names and text correctly.
    return b"\xef\xbb\xbf" + csv_bytes([INDEX_COLUMNS])


# --- manifest --------------------------------------------------------------------------

@dataclass(frozen=True)
class FileFact:
    path: str
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class BlobFact:
    """One archived blob in the bundle: where its bytes are and where its proof is."""

    container: str
    name: str
    size: int
    sha256: str
    file: str  # records.jsonl for records (see `line`), else media/... or raw/...
    line: int | None = None  # 1-based line of records.jsonl
    proof: str | None = None  # None: not sealed yet
    seal_seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"container": self.container, "name": self.name,
                                "size": self.size, "sha256": self.sha256, "file": self.file,
                                "proof": self.proof, "seal_seq": self.seal_seq}
        if self.line is not None:
            data["line"] = self.line
        return data


def build_manifest(
    *, export_id: str, query: Mapping[str, Any], created_by: str, created_at: str,
    tz_name: str, formats: Sequence[str], period: str, tool: str,
    files: Iterable[FileFact], blobs: Iterable[BlobFact],
    gaps: Iterable[Mapping[str, Any]], seals: Iterable[Mapping[str, Any]],
    conversations: int,
) -> dict[str, Any]:
    """The manifest: everything a verifier needs except the bytes themselves.

    `created_at` is when the export started (a resumed run keeps it), so a rerun of an
    interrupted export produces the same manifest."""
    file_list = sorted((f.to_dict() for f in files), key=lambda f: f["path"])
    blob_list = sorted((b.to_dict() for b in blobs), key=lambda b: (b["container"], b["name"]))
    unsealed = [{"container": b["container"], "name": b["name"]}
                for b in blob_list if b["proof"] is None]
    counts = {"records": sum(1 for b in blob_list if b["container"] == "records"),
              "media": sum(1 for b in blob_list if b["container"] == "media"),
              "raw": sum(1 for b in blob_list if b["container"] == "raw"),
              "files": len(file_list), "conversations": conversations,
              "unsealed": len(unsealed), "media_gaps": 0}
    gap_list = sorted((dict(g) for g in gaps), key=lambda g: (str(g.get("record")),
                                                              str(g.get("media_id"))))
    counts["media_gaps"] = len(gap_list)
    counts["bytes"] = sum(int(f["size"]) for f in file_list)
    return {
        "schema": BUNDLE_SCHEMA, "export_id": export_id, "tool": tool,
        "query": dict(query), "created_by": created_by, "created_at": created_at,
        "time_zone": tz_name, "formats": list(formats), "transcript_period": period,
        "counts": counts, "files": file_list, "blobs": blob_list, "unsealed": unsealed,
        "media_gaps": gap_list, "seals": sorted((dict(s) for s in seals),
                                                key=lambda s: int(s.get("seq", 0))),
    }


def seal_document(body: Mapping[str, Any], signature_hex: str) -> dict[str, Any]:
    """proofs/seals/<seq>.json: the signed seal header and its signature. The leaf list
    stays out: it names every other blob of the day (other customers' conversations);
    the root commits to it, and each proof carries its own audit path."""
    return {"seal": dict(body), "signature": signature_hex}


def day_of_blob(name: str) -> date | None:
    """The UTC day of a `year=/month=/day=` blob name, a small media blob's
    `small/year=...` included (None when it has none)."""
    match = re.match(r"\Ayear=(\d{4})/month=(\d{2})/day=(\d{2})/", partition_name(name))
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None
