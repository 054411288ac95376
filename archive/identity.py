"""Deterministic ids for events: Durable instance ids and content fingerprints."""

from __future__ import annotations

import re

from archive.canonical import canonical_json, sha256_hex
from archive.events import CanonicalEvent
from archive.timestamps import iso_utc

_NOT_ID_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def timestamp_is_fallback(event: CanonicalEvent) -> bool:
    """True when the provider gave no usable time and the parser used the receive time."""
    return bool(event.content.get("timestamp_missing"))


def _provider_time(event: CanonicalEvent) -> str | None:
    # A fallback time differs per delivery, so it must not make a redelivery look new.
    return None if timestamp_is_fallback(event) else iso_utc(event.timestamp)


def event_instance_id(event: CanonicalEvent) -> str:
    """Durable instance id: ASCII, <= 100 chars, no ``/ \\ ? #``, same for a redelivery.

    Derived from the fingerprint, so two different versions of one provider event (a
    conflict) get separate orchestrations and the writer can keep and flag both, while a
    redelivery maps to the same instance. The ``delivered`` and ``read`` statuses of one
    wamid, or a message and its reaction, differ in the fingerprinted fields.
    """
    provider = _NOT_ID_SAFE.sub("_", event.provider)[:16] or "p"
    return f"{provider}-{event.event}-{event_fingerprint(event)}"


def scoped_id(prefix: str, scope: str | None, fragment: object) -> str:
    """A stable id for a provider event that carries none: ``<prefix>-<32 hex>``.

    Hashes ``fragment`` within ``scope`` (the body's sha256, or what else the caller
    says makes it unique), so a redelivery repeats the id while the same fragment
    elsewhere does not (it would otherwise be mistaken for a duplicate).
    """
    return f"{prefix}-{sha256_hex(canonical_json([scope, fragment]))[:32]}"


def event_fingerprint(event: CanonicalEvent) -> str:
    """SHA-256 over the provider-derived fields (never receive time or storage paths)."""
    data = event.to_dict()
    data["timestamp"] = _provider_time(event)
    data["content"] = {k: v for k, v in event.content.items() if k != "timestamp_missing"}
    return sha256_hex(canonical_json(data))
