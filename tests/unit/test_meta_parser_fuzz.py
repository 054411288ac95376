import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive.canonical import canonical_json
from archive.identity import event_fingerprint, event_instance_id
from archive.layout import record_blob_name
from archive.meta.parser import parse_webhook
from archive.record import RawRef, build_record, record_bytes
from tests.unit._meta_fixtures import fixture_bytes

pytestmark = pytest.mark.unit

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(
        st.sampled_from(["object", "entry", "changes", "field", "value", "messages", "statuses",
                         "message_echoes", "id", "from", "to", "type", "timestamp", "text",
                         "image", "status", "errors", "metadata", "contacts", "x"])
        | st.text(max_size=8),
        children,
        max_size=5,
    ),
    max_leaves=30,
)

_meta_values = st.fixed_dictionaries(
    {"metadata": st.just({"phone_number_id": "1", "display_phone_number": "2"})},
    optional={"messages": st.lists(_json | st.fixed_dictionaries({}, optional={
        "id": _json, "from": _json, "timestamp": _json, "type": st.sampled_from(
            ["text", "image", "audio", "reaction", "interactive", "edit", "revoke", "system",
             "location", "contacts", "button", "order", "weird"]) | _json,
        "text": _json, "image": _json, "reaction": _json, "interactive": _json, "edit": _json,
        "context": _json, "errors": _json}), max_size=3),
        "statuses": st.lists(_json, max_size=3), "errors": _json, "message_echoes": _json},
)
_webhooks = st.builds(
    lambda values, field: {"object": "whatsapp_business_account", "entry": [
        {"id": "9", "changes": [{"field": field, "value": v} for v in values]}]},
    st.lists(_meta_values, max_size=3),
    st.sampled_from(["messages", "smb_message_echoes", "history", ""]),
)


def _check_downstream(raw: bytes) -> None:
    result = parse_webhook(raw)
    for event in result.events:
        record = build_record(event, raw=RawRef("r", "0" * 64), received_at=event.timestamp)
        assert record_bytes(record)
        name = record_blob_name(event)
        assert name.isascii() and "\\" not in name and "?" not in name and "#" not in name
        instance = event_instance_id(event)
        assert len(instance) <= 100 and instance.isascii()
        assert len(event_fingerprint(event)) == 64


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    _check_downstream(raw)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_json)
def test_arbitrary_json_never_raises(value: object) -> None:
    _check_downstream(json.dumps(value).encode())


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_webhooks)
def test_webhook_shaped_json_never_raises(value: object) -> None:
    _check_downstream(canonical_json(value))


@settings(max_examples=200)
@given(st.data())
def test_mutated_fixture_bytes_never_raise(data: st.DataObject) -> None:
    raw = bytearray(fixture_bytes("multi"))
    for _ in range(data.draw(st.integers(1, 5))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position] = data.draw(st.integers(0, 255))
    _check_downstream(bytes(raw))
