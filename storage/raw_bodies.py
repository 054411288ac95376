"""The `raw` container as the root of custody: write a verified body once, read it back verified.

Every record is re-derived from a raw body read through `read_verified`, never from
an orchestration input, so nothing that can reach the queue or the Durable API can
put words into `records` that a provider (or the authenticated front door) did not
sign. The custody facts live in the raw blob's metadata, written in the same create
call as the body (no extra storage operation), and are read back in the same Get Blob
call as the body.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from azure.storage.blob import ContainerClient

from archive.custody import (
    MAC_METHODS,
    METHOD_META,
    METHOD_OF_SOURCE,
    METHOD_TWILIO,
    Custody,
    CustodyError,
    custody_from_metadata,
    custody_key_id,
)
from storage import settings
from storage.blobs import create_only, read_blob, read_blob_with_metadata


@dataclass(frozen=True)
class VerifiedRaw:
    path: str
    body: bytes
    sha256: str
    source: str
    custody: Custody


def custody_secrets(method: str) -> list[str]:
    """The secrets that can verify a body of this custody method (current and rotated)."""
    if method == METHOD_META:
        return settings.app_secrets()
    if method == METHOD_TWILIO:
        return settings.twilio_auth_tokens()
    if method in MAC_METHODS:
        # Outbound captures, WASender and ACS: the front door's MAC (no credential kept).
        return settings.custody_mac_keys()
    raise CustodyError("unknown custody method")


def name_sha256(path: str) -> str:
    """The body sha256 a raw blob name promises (`.../<sha256>.json`)."""
    return path.rsplit("/", 1)[-1].removesuffix(".json")


def store_raw(container: ContainerClient, path: str, body: bytes, custody: Custody,
              source: str) -> bool:
    """Create the raw blob with its custody metadata; True when this call created it.

    An existing blob must hold these very bytes: the name is the body's sha256, so
    anything else there means the blob or the message was tampered with.
    """
    digest = hashlib.sha256(body).hexdigest()
    if create_only(container, path, body, metadata=custody.to_metadata(digest, source)):
        return True
    if hashlib.sha256(read_blob(container, path)).hexdigest() != digest:
        raise CustodyError("the raw blob under this name holds different bytes")
    return False


def read_verified(container: ContainerClient, path: str) -> VerifiedRaw:
    """Read a raw body and prove it: name, bytes, metadata and signature must all agree."""
    body, metadata = read_blob_with_metadata(container, path)
    digest = hashlib.sha256(body).hexdigest()
    if digest != name_sha256(path) or metadata.get("sha256") != digest:
        raise CustodyError("raw body does not match the sha256 its name and metadata record")
    custody = custody_from_metadata(metadata)
    source = metadata.get("source", "")
    if METHOD_OF_SOURCE.get(source) != custody.method:
        raise CustodyError("raw body's source and custody method disagree")
    secrets = custody_secrets(custody.method)
    if custody_key_id(custody, body, secrets) is None:
        raise CustodyError("raw body's stored signature does not verify")
    return VerifiedRaw(path, body, digest, source, custody)
