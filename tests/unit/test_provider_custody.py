"""Custody of the issue-13 providers: what is kept, what re-verifies, what never does."""

from __future__ import annotations

import json
import urllib.parse
from datetime import UTC, datetime

import pytest

from archive.custody import (
    AUTHENTICATED_BY,
    METHOD_ACS,
    METHOD_OF_SOURCE,
    METHOD_OUTBOUND,
    METHOD_TWILIO,
    METHOD_WASENDER,
    Custody,
    custody_from_metadata,
    custody_key_id,
    front_door_mac,
    key_id,
    outbound_mac,
    verdict,
    verifying_key_id,
)
from archive.media_hosts import default_media_hosts, parse_allowlist
from archive.names import (
    SETTING_ACS_ENDPOINT,
    SETTING_MEDIA_HOST_ALLOWLIST,
    SETTING_PUBLIC_BASE_URL,
    SETTING_TWILIO_AUTH_TOKEN,
    SETTING_WASENDER_WEBHOOK_SECRET,
)
from archive.twilio_signature import sign_form
from storage import settings
from storage.envelope import EnvelopeError, decode, encode, new_envelope

pytestmark = pytest.mark.unit

MAC_KEY = "custody-mac-key-0123456789abcdef"
OLD_MAC_KEY = "custody-mac-key-retired-0123456"
TOKEN = "0123456789abcdef0123456789abcdef"
URL = "https://archive.example.com/api/webhooks/twilio"
AT = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
BODY = b'{"event":"messages.received","data":{}}'


def test_every_source_has_a_method_and_every_mac_method_names_its_mechanism() -> None:
    assert METHOD_OF_SOURCE["wasender"] == METHOD_WASENDER
    assert METHOD_OF_SOURCE["twilio"] == METHOD_TWILIO
    assert METHOD_OF_SOURCE["acs"] == METHOD_ACS
    assert AUTHENTICATED_BY[METHOD_ACS] == {"entra-bearer", "url-secret"}


@pytest.mark.parametrize(("method", "how"), [
    (METHOD_WASENDER, "x-webhook-signature"),
    (METHOD_ACS, "entra-bearer"),
    (METHOD_ACS, "url-secret"),
])
def test_front_door_mac_verifies_with_current_and_rotated_keys(method: str, how: str) -> None:
    mac = front_door_mac(method, how, BODY, OLD_MAC_KEY)
    found = verifying_key_id(method, BODY, mac, [MAC_KEY, OLD_MAC_KEY], authenticated_by=how)
    assert found == key_id(OLD_MAC_KEY)
    assert verifying_key_id(method, BODY + b" ", mac, [MAC_KEY, OLD_MAC_KEY],
                            authenticated_by=how) is None


def test_front_door_mac_is_bound_to_method_and_mechanism() -> None:
    mac = front_door_mac(METHOD_ACS, "url-secret", BODY, MAC_KEY)
    # Relabelled: another mechanism, another method, no mechanism, or the outbound MAC.
    assert verifying_key_id(METHOD_ACS, BODY, mac, [MAC_KEY], authenticated_by="entra-bearer") \
        is None
    assert verifying_key_id(METHOD_WASENDER, BODY, mac, [MAC_KEY],
                            authenticated_by="url-secret") is None
    assert verifying_key_id(METHOD_ACS, BODY, mac, [MAC_KEY]) is None
    assert verifying_key_id(METHOD_OUTBOUND, BODY, mac, [MAC_KEY]) is None
    outbound = outbound_mac(BODY, MAC_KEY)
    assert verifying_key_id(METHOD_ACS, BODY, outbound, [MAC_KEY],
                            authenticated_by="url-secret") is None
    # A mechanism the method does not have is refused even with a matching MAC.
    forged = front_door_mac(METHOD_ACS, "anonymous", BODY, MAC_KEY)
    assert verifying_key_id(METHOD_ACS, BODY, forged, [MAC_KEY], authenticated_by="anonymous") \
        is None


def test_twilio_custody_needs_the_signed_url() -> None:
    body = urllib.parse.urlencode({"MessageSid": "SM1", "Body": "hi"}).encode()
    signature = sign_form(TOKEN, URL, body)
    how = "x-twilio-signature"
    assert verifying_key_id(METHOD_TWILIO, body, signature, [TOKEN], authenticated_by=how,
                            signed_url=URL) == key_id(TOKEN)
    assert verifying_key_id(METHOD_TWILIO, body, signature, [TOKEN], authenticated_by=how) is None
    assert verifying_key_id(METHOD_TWILIO, body, signature, [TOKEN], authenticated_by=how,
                            signed_url=URL + "?x=1") is None
    # A signed URL on another method, or one custody could not keep, is refused.
    assert verifying_key_id(METHOD_OUTBOUND, body, outbound_mac(body, TOKEN), [TOKEN],
                            signed_url=URL) is None
    assert verifying_key_id(METHOD_TWILIO, body, signature, [TOKEN], authenticated_by=how,
                            signed_url=URL + " ") is None


def test_custody_round_trips_through_metadata_and_record() -> None:
    body = urllib.parse.urlencode({"MessageSid": "SM1"}).encode()
    custody = Custody(METHOD_TWILIO, sign_form(TOKEN, URL, body), key_id(TOKEN), AT,
                      authenticated_by="x-twilio-signature", signed_url=URL)
    metadata = custody.to_metadata("ab" * 32, "twilio")
    assert metadata["signed_url"] == URL and metadata["authenticated_by"] == "x-twilio-signature"
    assert all(value.isascii() for value in metadata.values())
    back = custody_from_metadata(metadata)
    assert back == custody
    assert custody_key_id(back, body, [TOKEN]) == key_id(TOKEN)
    record = custody.to_record()
    assert record["signed_by"] == "twilio" and record["signed_url"] == URL
    # Meta and outbound keep the shape they had: no new keys.
    plain = Custody(METHOD_OUTBOUND, outbound_mac(BODY, MAC_KEY), key_id(MAC_KEY), AT)
    assert "authenticated_by" not in plain.to_record()
    assert "signed_url" not in plain.to_metadata("cd" * 32, "outbound")


def test_verdict_tells_retired_keys_from_forgeries() -> None:
    how = "x-webhook-signature"
    mac = front_door_mac(METHOD_WASENDER, how, BODY, OLD_MAC_KEY)
    assert verdict(METHOD_WASENDER, BODY, mac, key_id(OLD_MAC_KEY), [MAC_KEY],
                   authenticated_by=how) == "secret-retired"
    assert verdict(METHOD_WASENDER, BODY + b"x", mac, key_id(MAC_KEY), [MAC_KEY],
                   authenticated_by=how) == "invalid"
    assert verdict(METHOD_WASENDER, BODY, mac, key_id(OLD_MAC_KEY), [MAC_KEY, OLD_MAC_KEY],
                   authenticated_by=how) == "verified"


def test_envelope_carries_the_custody_facts_and_refuses_odd_ones() -> None:
    envelope = new_envelope("twilio", b"MessageSid=SM1", AT, "sig",
                            authenticated_by="x-twilio-signature", signed_url=URL)
    again = decode(encode(envelope, inline=True))
    assert again == envelope
    meta = new_envelope("meta", BODY, AT, "sha256=" + "0" * 64)
    text = encode(meta, inline=True)
    assert "signed_url" not in text and "authenticated_by" not in text
    doc = json.loads(text)
    for bad in ({"signed_url": 7}, {"authenticated_by": "x" * 5000}, {"source": "telegram"}):
        with pytest.raises(EnvelopeError):
            decode(json.dumps({**doc, **bad}))


def test_default_media_hosts_per_provider() -> None:
    assert default_media_hosts("wasender") == ("www.wasenderapi.com",)
    assert default_media_hosts("twilio") == ("api.twilio.com", "mms.twiliocdn.com")
    assert default_media_hosts("acs", acs_endpoint="https://Res.Communication.Azure.com/") == (
        "res.communication.azure.com",
    )
    assert default_media_hosts("acs", acs_endpoint=None) == ()
    assert default_media_hosts("telegram") == ()
    twilio = parse_allowlist(None, defaults=default_media_hosts("twilio"))
    assert twilio.allows_host("mms.twiliocdn.com") and not twilio.allows_host("graph.facebook.com")
    # The override still wins for every provider.
    assert parse_allowlist("127.0.0.1", defaults=default_media_hosts("twilio")).exact == {
        "127.0.0.1"
    }


# --- settings of the issue-13 providers ------------------------------------------------


@pytest.mark.parametrize("value", [
    "http://archive.example.com", "https://archive.example.com/?x=1", "https://u:p@h.example",
    "ftp://h.example", "https://h.example/#f", "@Microsoft.KeyVault(SecretUri=https://kv/x)",
    "https://h.example/ path",
])
def test_public_base_url_refuses_what_twilio_could_not_have_called(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(SETTING_PUBLIC_BASE_URL, value)
    with pytest.raises(settings.SettingError) as raised:
        settings.public_base_url()
    assert value not in str(raised.value)  # the message names the setting, never its value


def test_public_base_url_accepts_https_and_local_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SETTING_PUBLIC_BASE_URL, "https://archive.example.com/")
    assert settings.public_base_url() == "https://archive.example.com"
    monkeypatch.setenv(SETTING_PUBLIC_BASE_URL, "http://127.0.0.1:7071")
    assert settings.public_base_url() == "http://127.0.0.1:7071"
    monkeypatch.delenv(SETTING_PUBLIC_BASE_URL)
    with pytest.raises(settings.SettingError):
        settings.public_base_url()


@pytest.mark.parametrize("name", [SETTING_WASENDER_WEBHOOK_SECRET, SETTING_TWILIO_AUTH_TOKEN])
def test_provider_secrets_refuse_references_and_short_values(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    read = {SETTING_WASENDER_WEBHOOK_SECRET: settings.wasender_webhook_secrets,
            SETTING_TWILIO_AUTH_TOKEN: settings.twilio_auth_tokens}[name]
    for bad in ("@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/x/)",
                "short", f"{TOKEN},tiny", ""):
        monkeypatch.setenv(name, bad)
        with pytest.raises(settings.SettingError):
            read()
    monkeypatch.setenv(name, f"{TOKEN}, {MAC_KEY} ")
    assert read() == [TOKEN, MAC_KEY]


def test_media_allowlist_per_provider_and_the_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SETTING_MEDIA_HOST_ALLOWLIST, raising=False)
    monkeypatch.setenv(SETTING_ACS_ENDPOINT, "endpoint=https://res.communication.azure.com/;"
                       "accesskey=c2VjcmV0")
    assert settings.acs_endpoint() == "https://res.communication.azure.com"
    assert settings.media_host_allowlist("acs").exact == {"res.communication.azure.com"}
    assert settings.media_host_allowlist("twilio").allows_host("mms.twiliocdn.com")
    assert not settings.media_host_allowlist("wasender").allows_host("graph.facebook.com")
    assert settings.media_host_allowlist().allows_host("graph.facebook.com")
    monkeypatch.setenv(SETTING_MEDIA_HOST_ALLOWLIST, "127.0.0.1")
    for provider in ("meta", "wasender", "twilio", "acs"):
        assert settings.media_host_allowlist(provider).exact == {"127.0.0.1"}
