"""Supervision flags, review decisions and lexicon policy versions: names, keys, documents.

Where things live (archive account):

- **Policy versions**: blobs ``supervision/lexicon/v000001.json``, ... in the ``audit``
  container, create-only (WORM in Azure), so the archive itself records what was
  supervised and from when. The highest version is the active one. Two people setting a
  policy at once cannot both take a number: the second create finds it taken.
- **Flags**: table ``Flags``, one row per (record, policy version) with hits.
  PartitionKey = the record's provider day ``YYYY-MM-DD``; RowKey = 16 hex characters of
  SHA-256(record path, version). Deterministic, so a retried activity or a second backfill
  writes the same row. The flag id people type is ``<day>.<rowkey>``. Only the app's
  identity writes this table: a flag row never says whether it was reviewed.
- **Decisions**: blobs ``supervision/decisions/<day>/<rowkey>/<stamp>-<nonce>.json`` in
  ``audit``, create-only, with the reviewer's identity. A flag's status is its latest
  decision by the time Storage created the blob ("open" without one; admin/review.py),
  not by its name, which the writer chooses. Nobody can close a flag by editing a table
  row: the only way is a decision blob that names who made it, and it can never be
  removed. The audit entry of each decision names the blob and its sha256 (the entry
  sits in a sealed day folder; the decision's own folder is outside the daily seals).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from archive.timestamps import from_iso

FLAG_OPEN = "open"
DECISION_STATUSES = ("reviewed", "escalated", "false-positive")
FLAG_STATUSES = (FLAG_OPEN, *DECISION_STATUSES)
DECISION_SCHEMA = "wa-archive/review-decision@1"
POLICY_VERSION_SCHEMA = "wa-archive/lexicon-version@1"
MAX_COMMENT_CHARS = 4_000
# Where flags come from: the pipeline as it archives, or a backfill of a policy version.
FLAG_SOURCES = ("archive", "backfill")
# A flag row keeps at most this many hits (and this many characters of their JSON):
# Table properties hold 64 KiB, and a reviewer opens the record for the rest.
MAX_STORED_HITS = 100
MAX_HITS_CHARS = 16_000
MAX_MATCHED_CHARS = 200

SUPERVISION_PREFIX = "supervision/"
POLICY_PREFIX = f"{SUPERVISION_PREFIX}lexicon/"
DECISIONS_PREFIX = f"{SUPERVISION_PREFIX}decisions/"

_FLAG_ID = re.compile(r"(\d{4}-\d{2}-\d{2})\.([0-9a-f]{16})\Z")
_POLICY_NAME = re.compile(re.escape(POLICY_PREFIX) + r"v(\d{6})\.json\Z")


class FlagError(ValueError):
    """A malformed flag id, status or decision."""


# --- policy versions ---------------------------------------------------------------

def policy_version_name(version: int) -> str:
    if not 1 <= version <= 999_999:
        raise FlagError("a policy version is a number from 1 to 999999")
    return f"{POLICY_PREFIX}v{version:06d}.json"


def version_of(name: str) -> int | None:
    """The version number of a policy blob name; None for anything else."""
    found = _POLICY_NAME.match(name)
    return int(found.group(1)) if found else None


def policy_version_document(
    policy_document: Mapping[str, Any], *, version: int, sha256: str, set_by: str,
    set_at: datetime,
) -> dict[str, Any]:
    """What a stored version holds: the validated policy as written, and who set it when."""
    return {
        "schema": POLICY_VERSION_SCHEMA,
        "version": version,
        "policy_sha256": sha256,
        "set_by": set_by,
        "set_at": set_at.astimezone(UTC).isoformat(),
        "policy": dict(policy_document),
    }


# --- flags ---------------------------------------------------------------------------

def flag_row_key(record_path: str, version: int) -> str:
    return hashlib.sha256(f"{record_path}\n{version}".encode()).hexdigest()[:16]


def flag_id(day: str, row_key: str) -> str:
    return f"{day}.{row_key}"


def parse_flag_id(value: str) -> tuple[str, str]:
    """``(PartitionKey, RowKey)`` of a flag id ``YYYY-MM-DD.<16 hex>``."""
    found = _FLAG_ID.match(value.strip())
    if not found:
        raise FlagError("a flag id looks like 2026-12-05.0123456789abcdef")
    return found.group(1), found.group(2)


def record_day(record: Mapping[str, Any]) -> str:
    ts = from_iso(str(record.get("timestamp")))
    if ts is None:
        raise FlagError("the record has no ISO-8601 UTC timestamp")
    return ts.strftime("%Y-%m-%d")


def _bounded_hits(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first hits whose JSON fits one Table string property (32K UTF-16 units).

    NEAR pairs multiply (every qualifying pair is a hit), so a long message could
    otherwise make the row unwritable and the activity retry forever. Every rule that
    hit is still named in ``rules`` and ``hit_count`` counts them all.
    """
    kept: list[dict[str, Any]] = []
    size = 2
    for hit in found[:MAX_STORED_HITS]:
        hit = {**hit, "matched": [m[:MAX_MATCHED_CHARS] for m in hit["matched"]]}
        cost = len(json.dumps(hit, ensure_ascii=False)) + 1
        if size + cost > MAX_HITS_CHARS:
            break
        kept.append(hit)
        size += cost
    return kept


def flag_entity(
    record: Mapping[str, Any], record_path: str, *, version: int, policy_sha256: str,
    hits: Mapping[str, Iterable[Any]], source: str, flagged_at: datetime,
) -> dict[str, Any]:
    """The Flags row of a record a policy version hit. ``hits``: field -> lexicon Hits.

    It names the rules and the matched words (what a reviewer needs to see why), and
    the record's ids and participants; the message text itself stays in the record.
    """
    if source not in FLAG_SOURCES:
        raise FlagError(f"source must be one of {', '.join(FLAG_SOURCES)}")
    found = [{"rule": hit.rule, "field": field, "matched": list(hit.matched)}
             for field, field_hits in hits.items() for hit in field_hits]
    if not found:
        raise FlagError("a flag needs at least one hit")
    stored = _bounded_hits(found)
    conversation = record.get("conversation") or {}
    day = record_day(record)
    return {
        "PartitionKey": day,
        "RowKey": flag_row_key(record_path, version),
        "policy_version": version,
        "policy_sha256": policy_sha256,
        "rules": json.dumps(sorted({hit["rule"] for hit in found})),
        "hits": json.dumps(stored, ensure_ascii=False),
        # All of them, when `hits` had to leave some out to fit a table property.
        "hit_count": len(found),
        "record_path": record_path,
        "message_id": record.get("message_id"),
        "event": record.get("event"),
        "direction": record.get("direction"),
        "provider": record.get("provider"),
        "timestamp": record.get("timestamp"),
        "from": record.get("from"),
        "to": record.get("to"),
        "business_id": conversation.get("business_id"),
        "customer_id": conversation.get("customer_id"),
        "source": source,
        "flagged_at": flagged_at.astimezone(UTC).isoformat(),
    }


# --- decisions -----------------------------------------------------------------------

def decision_prefix(day: str, row_key: str | None = None) -> str:
    """Decisions of one day's flags, or of one flag."""
    return f"{DECISIONS_PREFIX}{day}/" + (f"{row_key}/" if row_key else "")


def decision_blob_name(flag: str, decided_at: datetime, nonce: str) -> str:
    day, row_key = parse_flag_id(flag)
    if not re.fullmatch(r"[0-9a-f]{8,32}", nonce):
        raise FlagError("nonce must be 8-32 lowercase hex characters")
    stamp = decided_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{decision_prefix(day, row_key)}{stamp}-{nonce}.json"


def flag_of_decision_name(name: str) -> str | None:
    """The flag id a decision blob belongs to; None for other names."""
    if not name.startswith(DECISIONS_PREFIX):
        return None
    parts = name[len(DECISIONS_PREFIX):].split("/")
    if len(parts) != 3:
        return None
    try:
        parse_flag_id(flag_id(parts[0], parts[1]))
    except FlagError:
        return None
    return flag_id(parts[0], parts[1])


def decision_document(
    flag: str, *, status: str, comment: str, reviewer: str, decided_at: datetime,
    flag_row: Mapping[str, Any],
) -> dict[str, Any]:
    parse_flag_id(flag)
    if status not in DECISION_STATUSES:
        raise FlagError(f"status must be one of {', '.join(DECISION_STATUSES)}")
    if not comment.strip():
        raise FlagError("a decision needs a comment")
    if len(comment) > MAX_COMMENT_CHARS:
        raise FlagError(f"a comment holds at most {MAX_COMMENT_CHARS} characters")
    if not reviewer.strip():
        raise FlagError("a decision needs the reviewer's identity")
    return {
        "schema": DECISION_SCHEMA,
        "flag": flag,
        "status": status,
        "comment": comment,
        "reviewer": reviewer,
        "decided_at": decided_at.astimezone(UTC).isoformat(),
        # What was decided on, so the decision stands on its own in the audit container.
        "policy_version": flag_row.get("policy_version"),
        "record_path": flag_row.get("record_path"),
        "rules": json.loads(str(flag_row.get("rules") or "[]")),
    }


@dataclass(frozen=True)
class Decision:
    name: str
    status: str
    reviewer: str
    decided_at: str
    comment: str


def decision_from(name: str, document: Mapping[str, Any]) -> Decision | None:
    """A stored decision, or None when the blob is not one (never trusted blindly)."""
    status = document.get("status")
    if document.get("schema") != DECISION_SCHEMA or status not in DECISION_STATUSES:
        return None
    if flag_of_decision_name(name) != document.get("flag"):
        return None  # a decision filed under another flag's folder decides nothing
    return Decision(name, str(status), str(document.get("reviewer") or ""),
                    str(document.get("decided_at") or ""), str(document.get("comment") or ""))
