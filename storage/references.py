"""Completeness across containers: what records and index rows point at must exist.

- every record's raw body (`raw.path`) exists with the record's `raw.sha256`;
- every media item a record says is `stored` exists with its `sha256`;
- every IndexByDay row of a sealed day points at an existing record.

A reference is looked up first among the sealed leaves already at hand (no call),
then with one Get Blob Properties (the writers' sha256 is in the metadata).
"""

from __future__ import annotations

import json
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from archive.names import MEDIA_CONTAINER, RAW_CONTAINER, RECORDS_CONTAINER, TABLE_BY_DAY
from archive.seal import Leaf
from archive.seal_check import Finding

# Records are small JSON documents; anything larger is not parsed for references.
MAX_RECORD_BYTES = 4 * 1024 * 1024


class References:
    def __init__(self, blobs: BlobServiceClient, tables: TableServiceClient | None) -> None:
        self.blobs = blobs
        self.tables = tables
        self.known: dict[tuple[str, str], str] = {}

    def learn(self, leaves: list[Leaf]) -> None:
        self.known.update({leaf.key: leaf.sha256 for leaf in leaves})

    def _sha256_of(self, container: str, name: str) -> str | None:
        """The blob's sha256 (sealed, else from its metadata); None when it does not exist."""
        if (container, name) in self.known:
            return self.known[(container, name)]
        try:
            props = self.blobs.get_container_client(container).get_blob_client(
                name).get_blob_properties()
        except ResourceNotFoundError:
            return None
        return str((props.metadata or {}).get("sha256", ""))

    def _expect(self, subject: str, container: str, name: Any, sha256: Any, what: str
                ) -> Finding | None:
        if not isinstance(name, str) or not name:
            return None
        found = self._sha256_of(container, name)
        if found is None:
            return Finding("completeness", f"{what}_missing", subject,
                           f"its {what} {container}/{name} does not exist")
        if isinstance(sha256, str) and sha256 and found and found != sha256:
            return Finding("completeness", f"{what}_sha256_mismatch", subject,
                           f"its {what} {container}/{name} has another sha256")
        return None

    def check_record(self, name: str, data: bytes) -> list[Finding]:
        subject = f"{RECORDS_CONTAINER}/{name}"
        try:
            doc = json.loads(data)
        except ValueError:
            return [Finding("completeness", "record_unreadable", subject, "not JSON")]
        if not isinstance(doc, dict):
            return [Finding("completeness", "record_unreadable", subject, "not an object")]
        found: list[Finding | None] = []
        raw = doc.get("raw")
        if isinstance(raw, dict):
            found.append(self._expect(subject, RAW_CONTAINER, raw.get("path"),
                                      raw.get("sha256"), "raw_body"))
        media = doc.get("media")
        items = media if isinstance(media, list) else [media] if isinstance(media, dict) else []
        for item in items:
            if isinstance(item, dict) and item.get("state") == "stored":
                found.append(self._expect(subject, MEDIA_CONTAINER, item.get("blob_path"),
                                          item.get("sha256"), "media"))
        return [f for f in found if f is not None]

    def check_index_day(self, day: str) -> list[Finding]:
        """Every IndexByDay row of `day` points at an existing record."""
        if self.tables is None:
            return []
        table = self.tables.get_table_client(TABLE_BY_DAY)
        found: list[Finding] = []
        rows = table.query_entities(f"PartitionKey eq '{day}'",
                                    select=["RowKey", "record_path"])
        for row in rows:
            path = row.get("record_path")
            if isinstance(path, str) and self._sha256_of(RECORDS_CONTAINER, path) is None:
                found.append(Finding("completeness", "index_row_dangling",
                                     f"{TABLE_BY_DAY}/{day}/{row.get('RowKey')}",
                                     f"points at {RECORDS_CONTAINER}/{path}, which does not exist"))
        return found
