"""The metric catalogue's dimension allow-list: no content, phone number, id or path."""

from __future__ import annotations

import pytest

from archive import metrics as m

pytestmark = pytest.mark.unit


def test_allowed_dimensions_pass_through():
    assert m.dimensions(m.EVENTS_ARCHIVED, provider="meta", event="message", type="image") == {
        "provider": "meta",
        "event": "message",
        "type": "image",
    }
    assert m.dimensions(m.WEBHOOKS, provider="twilio", outcome="refused", reason="signature")
    assert m.dimensions(m.SETTINGS_UNRESOLVED, setting="WHATSAPP_APP_SECRET")


@pytest.mark.parametrize(
    ("metric", "key", "value"),
    [
        (m.WEBHOOKS, "reason", "+15551234567"),  # a phone number
        (m.WEBHOOKS, "reason", "15551234567"),  # digits first
        (m.WEBHOOKS, "reason", "hello, can you call me"),  # content
        (m.MEDIA_GAPS, "reason", "year=2026/month=01/day=02/meta/x.jpg"),  # a blob path
        (m.EVENTS_ARCHIVED, "provider", "someone-else"),  # not a provider
        (m.EVENTS_ARCHIVED, "event", "wamid.HBgLMTU1NTE"),  # a message id
        (m.SETTINGS_UNRESOLVED, "setting", "@Microsoft.KeyVault(SecretUri=https://v/)"),
        (m.POISON, "kind", "x" * 41),  # unbounded
    ],
)
def test_unsafe_values_are_refused(metric, key, value):
    with pytest.raises(m.UnsafeDimension) as caught:
        m.dimensions(metric, **{key: value})
    assert value not in str(caught.value)


def test_a_dimension_the_metric_does_not_declare_is_refused():
    with pytest.raises(m.UnsafeDimension, match="participant"):
        m.dimensions(m.EVENTS_ARCHIVED, participant="meta")


def test_names_are_unique_and_namespaced():
    names = [metric.name for metric in m.CATALOGUE]
    assert len(names) == len(set(names))
    assert all(name.startswith("wa_archive.") for name in names)
