"""Lexicon policy versions in the `audit` container, and the pipeline's cache of the active one.

A version is the blob ``supervision/lexicon/vNNNNNN.json`` (archive.flags): canonical JSON
of ``{schema, version, policy_sha256, set_by, set_at, policy}``, written create-only
(If-None-Match: *), so a number is taken once and never rewritten (WORM in Azure). The
newest version is the active one.

Reading a version re-validates it: the stored policy is parsed again and its sha256 must
equal the recorded ``policy_sha256`` (and the number inside must be the one in the name).
Anything else is a ``LexiconStoreError``: a version that does not hash to what it says
is never used. The active policy is the newest version that reads cleanly; a newer one
that does not is reported (``versions`` and the pipeline's error log), not used.

The pipeline asks ``PolicyCache.active()`` for every event. While the cache is fresh that
costs no storage call; once per TTL it lists the version names (one call) and reads a
version blob only when the newest number changed. The TTL is HOLD_CACHE_SECONDS (1-60 s,
default 60), the same bound legal holds promise, so no new setting is needed: a policy
set at T is used by every Functions instance from T + TTL at the latest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContainerClient

from archive.canonical import canonical_json
from archive.flags import (
    POLICY_PREFIX,
    POLICY_VERSION_SCHEMA,
    policy_version_document,
    policy_version_name,
    version_of,
)
from archive.lexicon import CompiledPolicy, Policy, PolicyError, compile_policy, parse_policy
from storage.blobs import create_only
from storage.holds import CACHE_TTL_SECONDS, cache_ttl

log = logging.getLogger("wa_archive.lexicon")

# Two admins setting a policy at once: each lost race re-lists and takes the next number.
MAX_SET_ATTEMPTS = 10
# The pipeline's cache bound, whatever HOLD_CACHE_SECONDS says (the CLI tells admins this).
PIPELINE_DELAY_SECONDS = CACHE_TTL_SECONDS


class LexiconStoreError(RuntimeError):
    """A stored version that cannot be used (unreadable, tampered), or no number free."""


class VersionNotFoundError(LexiconStoreError):
    """No policy version under that number."""


@dataclass(frozen=True)
class PolicyVersion:
    version: int
    sha256: str
    set_by: str
    set_at: str
    policy: Policy

    @property
    def blob_name(self) -> str:
        return policy_version_name(self.version)

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "sha256": self.sha256, "set_by": self.set_by,
                "set_at": self.set_at, "name": self.policy.name,
                "rules": len(self.policy.rules), "blob": self.blob_name,
                "policy": self.policy.document}


def _version_bytes(doc: dict[str, Any]) -> bytes:
    return canonical_json(doc)


def version_numbers(container: ContainerClient) -> list[int]:
    """Every stored version number, ascending (one listing call per 5,000 names)."""
    try:
        names = [b.name for b in container.list_blobs(name_starts_with=POLICY_PREFIX)]
    except ResourceNotFoundError:
        return []  # no audit container yet: no policy was ever set
    return sorted(n for n in (version_of(name) for name in names) if n is not None)


def parse_version(version: int, data: bytes) -> PolicyVersion:
    """A stored version's bytes, checked: schema, number, policy valid, sha256 matching."""
    label = f"policy version {version}"
    try:
        doc = json.loads(data)
    except ValueError:
        raise LexiconStoreError(f"{label} is not valid JSON: refusing it") from None
    if not isinstance(doc, dict) or doc.get("schema") != POLICY_VERSION_SCHEMA:
        raise LexiconStoreError(f"{label} is not a {POLICY_VERSION_SCHEMA} document")
    if doc.get("version") != version:
        raise LexiconStoreError(
            f"{label} says it is version {doc.get('version')!r}: refusing it")
    try:
        policy = parse_policy(doc.get("policy"))
    except PolicyError as exc:
        raise LexiconStoreError(f"{label} holds an invalid policy ({exc}): refusing it") from None
    recorded = doc.get("policy_sha256")
    if policy.sha256 != recorded:
        raise LexiconStoreError(
            f"{label}: the stored policy hashes to {policy.sha256}, not the recorded "
            f"policy_sha256 {recorded!r}; it was altered or written by hand, refusing it")
    return PolicyVersion(version, policy.sha256, str(doc.get("set_by") or ""),
                         str(doc.get("set_at") or ""), policy)


def read_version(container: ContainerClient, version: int) -> PolicyVersion:
    """Version ``version``, re-validated (LexiconStoreError if it does not check out)."""
    name = policy_version_name(version)
    try:
        data = container.download_blob(name).readall()
    except ResourceNotFoundError:
        raise VersionNotFoundError(f"no policy version {version}") from None
    return parse_version(version, data)


def newest_valid(
    container: ContainerClient, numbers: list[int]
) -> tuple[PolicyVersion | None, list[tuple[int, str]]]:
    """The newest version that reads cleanly, and the (number, error) of newer bad ones."""
    refused: list[tuple[int, str]] = []
    for number in sorted(numbers, reverse=True):
        try:
            return read_version(container, number), refused
        except VersionNotFoundError:
            continue  # listed, then gone: only possible outside WORM (Azurite)
        except LexiconStoreError as exc:
            refused.append((number, str(exc)))
    return None, refused


def active(container: ContainerClient) -> PolicyVersion | None:
    """The policy in force: the newest valid version; None when none was ever set."""
    return newest_valid(container, version_numbers(container))[0]


def versions(container: ContainerClient) -> list[PolicyVersion | LexiconStoreError]:
    """Every version, oldest first; one that does not check out is its error."""
    found: list[PolicyVersion | LexiconStoreError] = []
    for number in version_numbers(container):
        try:
            found.append(read_version(container, number))
        except LexiconStoreError as exc:
            found.append(exc)
    return found


def set_policy(
    container: ContainerClient, policy: Policy, set_by: str, now: datetime
) -> tuple[PolicyVersion, bool]:
    """Store ``policy`` as the next version; (version, True), or (active, False) if the
    active version already has the same sha256 (no new blob)."""
    # Validated again: a Policy built by hand must not reach storage unchecked.
    policy = parse_policy(policy.document)
    for _ in range(MAX_SET_ATTEMPTS):
        numbers = version_numbers(container)
        current, _refused = newest_valid(container, numbers)
        if current is not None and current.sha256 == policy.sha256:
            return current, False
        number = (max(numbers) if numbers else 0) + 1
        doc = policy_version_document(policy.document, version=number, sha256=policy.sha256,
                                      set_by=set_by, set_at=now)
        data = _version_bytes(doc)
        if create_only(container, policy_version_name(number), data,
                       metadata={"sha256": hashlib.sha256(data).hexdigest()}):
            return parse_version(number, data), True
        # Someone else took this number between our listing and our create: look again
        # (their policy may even be this one, which then is "unchanged").
    raise LexiconStoreError(
        f"could not take a policy version number after {MAX_SET_ATTEMPTS} attempts "
        "(others are setting policies at the same time); try again")


@dataclass(frozen=True)
class ActivePolicy:
    version: int
    sha256: str
    compiled: CompiledPolicy


class PolicyCache:
    """The active compiled policy, re-listed at most once per TTL.

    A listing or read failure raises (the activity retries): deciding "no policy" because
    storage was unreachable would archive messages unsupervised. A version that fails its
    check is logged as an error and skipped in favour of the newest valid one, because it
    will never become valid (WORM) and must not stop archiving.
    """

    def __init__(
        self, container: Callable[[], ContainerClient], *, ttl: float = CACHE_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._container = container
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._newest: int | None = None  # newest number listed at the last refresh
        self._active: ActivePolicy | None = None
        self._loaded_at: float | None = None

    def active(self) -> ActivePolicy | None:
        with self._lock:
            now = self._clock()
            if self._loaded_at is None or now - self._loaded_at >= self._ttl:
                self._refresh()
                self._loaded_at = now
            return self._active

    def _refresh(self) -> None:
        container = self._container()
        numbers = version_numbers(container)
        newest = max(numbers) if numbers else None
        if newest == self._newest:
            return  # versions are immutable: the same newest number, the same policy
        found, refused = newest_valid(container, numbers)
        for number, _error in refused:
            log.error("lexicon policy version %d failed its check; not used", number)
        self._active = None if found is None else ActivePolicy(
            found.version, found.sha256, compile_policy(found.policy))
        self._newest = newest
        log.info("lexicon policy active version=%s", found.version if found else "none")

    def invalidate(self) -> None:
        with self._lock:
            self._loaded_at = None


_shared: PolicyCache | None = None
_shared_lock = threading.Lock()


def shared_policy_cache(container: Callable[[], ContainerClient]) -> PolicyCache:
    """The process-wide cache; ``container`` builds the app's `audit` container client."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = PolicyCache(container, ttl=cache_ttl())
        return _shared


def reset_shared_policy_cache() -> None:
    """For tests that change the policy under a long-lived process."""
    global _shared
    with _shared_lock:
        _shared = None


_versions_lock = threading.Lock()
_compiled_versions: dict[tuple[str, int], ActivePolicy] = {}


def compiled_version(container: ContainerClient, version: int) -> ActivePolicy:
    """Version ``version`` compiled, read once per process: a stored version never changes
    (create-only; WORM in Azure), so a backfill's pages do not re-read it."""
    key = (container.url, version)
    with _versions_lock:
        cached = _compiled_versions.get(key)
    if cached is not None:
        return cached
    found = read_version(container, version)
    compiled = ActivePolicy(found.version, found.sha256, compile_policy(found.policy))
    with _versions_lock:
        _compiled_versions[key] = compiled
    return compiled
