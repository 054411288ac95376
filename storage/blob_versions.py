"""Blob versions of the archive account: list them, hold them, delete them one by one.

The retention job and legal holds work on *versions*, not blob names: in the archive
account (versioning + version-level WORM) deleting a blob only turns its current version
into a previous one, and a legal hold sits on one version. So every call here names a
version by its id (Blob REST `versionid=`).

Azurite has no versioning, legal holds or immutability policies: listings carry no
VersionId, and Set Blob Legal Hold answers 501 `APINotImplemented`. There a blob is its
own single "version" with `version_id=None`, deletes are plain deletes, and holds rely on
the Holds table alone.

Nothing here logs a blob name: names carry phone numbers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobProperties, BlobServiceClient, ContainerClient

from archive.names import CONTAINERS

log = logging.getLogger(__name__)

# What List Blobs must return for each version (Blob REST `include=`); `metadata` brings
# the writers' `sha256`, so nothing has to be downloaded to know what a version holds.
_INCLUDE = ("versions", "legalhold", "immutabilitypolicy", "metadata")
# The plain listing, for a service that rejects the includes above.
_PLAIN_INCLUDE = ("metadata",)
# Documented answer to an include value the service does not know (400), and Azurite's
# answer to an operation it lacks (501).
_REJECTED_CODES = frozenset({"InvalidQueryParameterValue", "APINotImplemented"})
_HELD = "BlobImmutableDueToLegalHold"
_IMMUTABLE = "BlobImmutableDueToPolicy"


@dataclass(frozen=True)
class BlobVersion:
    container: str
    name: str
    version_id: str | None  # None where versioning is off (Azurite)
    is_current: bool
    size: int
    legal_hold: bool
    immutable_until: datetime | None
    sha256: str | None  # our `sha256` blob metadata where present


# Account URL -> versioning seen. One probe per account per process, and one log line.
_detected: dict[str, bool] = {}
_detect_lock = threading.Lock()


def versioning_supported(service: BlobServiceClient) -> bool:
    """Whether the account keeps blob versions (Azure archive account: yes; Azurite: no)."""
    key = _account_key(service)
    with _detect_lock:  # held across the probe so two threads never both probe and log
        if key not in _detected:
            _detected[key] = _probe(service)
            if _detected[key]:
                log.info("blob versioning detected: holds and deletes address versions")
            else:
                log.warning(
                    "no blob versioning on this account (Azurite or versioning off): "
                    "legal holds rely on the Holds table"
                )
        return _detected[key]


def forget_detection() -> None:
    """Drop the cached detections (tests; a process that re-points its account)."""
    with _detect_lock:
        _detected.clear()


def versions_of(container: ContainerClient, name: str) -> list[BlobVersion]:
    """Every version of one exact blob name, oldest first as the service lists them."""
    # A prefix listing also returns longer names (`x.json` matches `x.json.1`): keep exact.
    return [version for version in list_versions(container, name) if version.name == name]


def list_versions(container: ContainerClient, prefix: str) -> Iterator[BlobVersion]:
    """Every version under a prefix, from one paged listing (no per-blob calls)."""
    items = iter(container.list_blobs(name_starts_with=prefix, include=list(_INCLUDE)))
    try:
        # The listing is lazy: a rejected include surfaces on the first page request.
        first = next(items, None)
    except HttpResponseError as error:
        if not _include_rejected(error):
            raise
        log.info("the blob service rejected the version listing; listing current blobs only")
        items = iter(container.list_blobs(name_starts_with=prefix, include=list(_PLAIN_INCLUDE)))
        first = next(items, None)
    if first is None:
        return
    yield _version(container.container_name, first)
    for blob in items:
        yield _version(container.container_name, blob)


def set_legal_hold(
    container: ContainerClient, version: BlobVersion, on: bool
) -> Literal["set", "unsupported", "gone"]:
    """Set Blob Legal Hold on one version (PUT ?comp=legalhold&versionid=, x-ms-legal-hold)."""
    blob = container.get_blob_client(version.name)
    try:
        # version_id=None sends no `versionid`: the current blob (unversioned accounts).
        blob.set_legal_hold(on, version_id=version.version_id)
    except HttpResponseError as error:
        if error.status_code == 404:
            return "gone"
        if _unsupported(error):
            return "unsupported"
        raise
    return "set"


def delete_version(
    container: ContainerClient, version: BlobVersion
) -> Literal["deleted", "gone", "held", "immutable"]:
    """Delete one version (DELETE ?versionid=), or the blob itself where unversioned."""
    blob = container.get_blob_client(version.name)
    try:
        # version_id=None is a plain Delete Blob: right for Azurite, where the only
        # "version" is the blob. With versioning, a plain delete would only turn the
        # current version into a previous one and keep every byte.
        blob.delete_blob(version_id=version.version_id)
    except HttpResponseError as error:
        if error.status_code == 404:
            return "gone"
        if error.status_code == 409:
            code = _error_code(error)
            if code == _HELD:
                return "held"
            if code == _IMMUTABLE:
                return "immutable"
        raise
    return "deleted"


def _version(container: str, blob: BlobProperties) -> BlobVersion:
    version_id = blob.version_id or None
    policy = blob.immutability_policy
    sha256 = (blob.metadata or {}).get("sha256") or None
    return BlobVersion(
        container=container,
        name=blob.name,
        version_id=version_id,
        # IsCurrentVersion is only sent for the current one; without versioning the
        # listed blob is all there is, so it is current.
        is_current=bool(blob.is_current_version) if version_id else True,
        size=int(blob.size or 0),
        legal_hold=bool(blob.has_legal_hold),
        immutable_until=policy.expiry_time if policy is not None else None,
        sha256=sha256,
    )


def _probe(service: BlobServiceClient) -> bool:
    """Look at the archive containers until one shows versioning (a few calls, once)."""
    for name in CONTAINERS:
        container = service.get_container_client(name)
        try:
            # Version-level WORM needs versioning, and shows on an empty container too.
            if container.get_container_properties().immutable_storage_with_versioning_enabled:
                return True
        except HttpResponseError:
            pass  # missing container, or an identity without container read: look at blobs
        try:
            listing = container.list_blobs(include=["versions"], results_per_page=5)
            page: Iterator[BlobProperties] = next(listing.by_page(), iter(()))
            if any(blob.version_id for blob in page):
                return True
        except HttpResponseError as error:
            log.debug("versioning probe skipped a container (HTTP %s)", error.status_code)
    return False


def _account_key(service: BlobServiceClient) -> str:
    # The account URL without a SAS query: one entry per account, whatever the credential.
    return service.url.split("?", 1)[0].rstrip("/")


def _error_code(error: HttpResponseError) -> str | None:
    # The storage SDK sets `error_code` (a StorageErrorCode, a str enum) on errors it has
    # processed; operations that raise the generated client's error directly (Set Blob
    # Legal Hold) only carry the response header.
    code = getattr(error, "error_code", None)
    if code:
        return str(getattr(code, "value", code))
    headers = getattr(error.response, "headers", None) or {}
    header = headers.get("x-ms-error-code")
    return str(header) if header else None


def _include_rejected(error: HttpResponseError) -> bool:
    return error.status_code in (400, 501) and _error_code(error) in _REJECTED_CODES


def _unsupported(error: HttpResponseError) -> bool:
    # Azurite 3.x: 501 APINotImplemented. Any 501 means the service lacks the operation.
    return error.status_code == 501 or _error_code(error) == "APINotImplemented"
