"""Create-only blob writes: the archive never overwrites what it has stored.

Every write sends If-None-Match: * (overwrite=False). When the name exists, the
caller decides between "duplicate" (same content: a redelivery, fine) and
"conflict" (different content under the same name: keep both, flag it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import ContainerClient, ContentSettings

from archive.layout import conflict_blob_name
from archive.record import record_fingerprint

JSON_CONTENT = "application/json"
WriteState = Literal["stored", "duplicate", "conflict"]


@dataclass(frozen=True)
class WriteOutcome:
    state: WriteState
    path: str  # where these bytes live now (the conflict sibling for a conflict)
    sha256: str


def create_only(
    container: ContainerClient,
    name: str,
    data: bytes,
    content_type: str = JSON_CONTENT,
    metadata: dict[str, str] | None = None,
) -> bool:
    """Write `data` under `name` unless the name exists. True when this call created it."""
    try:
        container.upload_blob(
            name,
            data,
            overwrite=False,
            content_settings=ContentSettings(content_type=content_type),
            metadata=metadata,
        )
    except ResourceExistsError:
        return False
    return True


def read_blob(container: ContainerClient, name: str) -> bytes:
    return container.download_blob(name).readall()


def read_blob_with_metadata(container: ContainerClient, name: str) -> tuple[bytes, dict[str, str]]:
    """Body and metadata from one Get Blob call (the response headers carry the metadata)."""
    downloader = container.download_blob(name)
    return downloader.readall(), dict(downloader.properties.metadata or {})


def write_record(
    container: ContainerClient, name: str, data: bytes, fingerprint: str
) -> WriteOutcome:
    """Store a canonical record create-only; classify an existing name as duplicate or conflict."""
    digest = hashlib.sha256(data).hexdigest()
    # The sha256 rides in the create call, so sealing can list instead of download.
    metadata = {"sha256": digest}
    if create_only(container, name, data, metadata=metadata):
        return WriteOutcome("stored", name, digest)
    existing = read_blob(container, name)
    if existing == data or record_fingerprint(existing) == fingerprint:
        return WriteOutcome("duplicate", name, hashlib.sha256(existing).hexdigest())
    sibling = conflict_blob_name(name, digest)
    # An existing sibling holds these very bytes.
    create_only(container, sibling, data, metadata=metadata)
    return WriteOutcome("conflict", sibling, digest)
