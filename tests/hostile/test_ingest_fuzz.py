"""Hypothesis at the pipeline level: any signed body is accepted, kept verbatim, never raises.

Each example goes through the real POST handler (signature, cap, enqueue), the
`ingest` queue on Azurite, the queue worker's storage side and store_record for
every event it yields. The parser's own fuzzing lives in tests/unit; this checks
the storage path around it (envelope encoding, raw names, failure rows, records).
"""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive.names import RAW_CONTAINER
from storage.clients import blob_service
from tests.hostile.flow import archive_signed
from tests.support import webhooks

pytestmark = pytest.mark.azurite

FUZZ = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
_json = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=25,
)
_keys = st.sampled_from(["id", "from", "timestamp", "type", "text", "image", "status",
                         "statuses", "messages", "errors", "context", "recipient_id"])
_message = st.dictionaries(_keys, _json, max_size=6) | st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=40), "from": st.text(max_size=20),
     "timestamp": st.integers(-10**12, 10**12).map(str) | _json,
     "type": st.sampled_from(["text", "image", "reaction", "edit", "hologram"]) | _json},
    optional={"text": _json, "image": _json, "reaction": _json, "edit": _json},
)
_webhook = st.builds(
    lambda messages, statuses: webhooks.envelope({"messages": messages, "statuses": statuses}),
    st.lists(_message, max_size=3),
    st.lists(st.dictionaries(_keys, _json, max_size=5), max_size=2),
)


def check(body: bytes) -> None:
    archived = archive_signed(body)  # asserts the 200 and the queued sha256 itself
    envelope = archived.envelope
    assert envelope.sha256 == hashlib.sha256(body).hexdigest()
    assert hashlib.sha256(read_raw_of(envelope.raw_path)).hexdigest() == envelope.sha256
    assert len(archived.stored) == len(archived.parsed.events)
    assert all(s["state"] in ("stored", "duplicate", "conflict") for s in archived.stored)


def read_raw_of(path: str) -> bytes:
    return blob_service().get_container_client(RAW_CONTAINER).download_blob(path).readall()


@pytest.fixture(autouse=True)
def _archive(conn: str) -> None:
    """The pipeline's settings point at the session Azurite for every example."""


@FUZZ
@given(st.binary(max_size=2000))
def test_signed_arbitrary_bytes(body: bytes) -> None:
    check(body)


@FUZZ
@given(_json)
def test_signed_arbitrary_json(value: object) -> None:
    check(json.dumps(value).encode())


@FUZZ
@given(_webhook)
def test_signed_webhook_shaped_json(value: object) -> None:
    check(json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"))
