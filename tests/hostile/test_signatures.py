"""Signatures at the HTTP handler on Azurite: what is refused stores nothing at all."""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest

from archive.names import SETTING_APP_SECRET
from archive.signature import sign
from tests.hostile.flow import post_webhook, queued_sha256s, raw_blob_names
from tests.support import webhooks

pytestmark = pytest.mark.azurite

OLD_SECRET = "rotating-out-secret"
NEW_SECRET = "rotating-in-secret"


def fresh_body() -> bytes:
    doc = webhooks.text_message(f"wamid.{uuid.uuid4().hex}", "15551234567", 1764158400)
    return webhooks.body_of(doc)


def assert_nothing_stored(conn: str, body: bytes) -> None:
    digest = hashlib.sha256(body).hexdigest()
    assert digest not in queued_sha256s()
    assert raw_blob_names(conn, digest) == []


def good_signature(body: bytes) -> str:
    return sign(body, webhooks.APP_SECRET)


@pytest.mark.parametrize(
    "make_header",
    [
        pytest.param(lambda body: None, id="missing"),
        pytest.param(lambda body: "", id="empty"),
        pytest.param(lambda body: sign(body, "attacker-guess"), id="wrong-secret"),
        pytest.param(lambda body: sign(body + b" ", webhooks.APP_SECRET), id="other-body"),
        pytest.param(lambda body: "sha256=" + "0" * 64, id="zeros"),
        pytest.param(
            lambda body: "sha1=" + hashlib.sha1(body).hexdigest(),  # noqa: S324 - Meta's old header form
            id="sha1-form",
        ),
        pytest.param(lambda body: good_signature(body)[7:], id="no-prefix"),
        pytest.param(lambda body: good_signature(body) + "00", id="trailing-hex"),
        pytest.param(lambda body: good_signature(body)[:-1], id="truncated"),
        pytest.param(
            lambda body: f"{good_signature(body)}, {sign(body, 'x')}", id="two-values-joined"
        ),
        pytest.param(
            lambda body: good_signature(body).replace("sha256", "SHA256"), id="upper-algo"
        ),
    ],
)
def test_bad_signatures_get_401_and_store_nothing(conn: str, make_header: object) -> None:
    body = fresh_body()
    header = make_header(body)  # type: ignore[operator]
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["X-Hub-Signature-256"] = header
    response = post_webhook(body, headers)
    assert response.status_code == 401
    assert "error" in json.loads(response.get_body())
    assert_nothing_stored(conn, body)


@pytest.mark.parametrize(
    "reserialize",
    [
        pytest.param(lambda doc: json.dumps(doc, indent=2), id="pretty"),
        pytest.param(lambda doc: json.dumps(doc, separators=(",", ":")), id="compact"),
        pytest.param(lambda doc: json.dumps(doc, sort_keys=True), id="sorted"),
        pytest.param(lambda doc: json.dumps(doc, ensure_ascii=False) + "\n", id="newline"),
    ],
)
def test_signature_over_reserialized_json_fails(conn: str, reserialize: object) -> None:
    original = fresh_body()
    changed = reserialize(json.loads(original)).encode()  # type: ignore[operator]
    assert changed != original and json.loads(changed) == json.loads(original)
    headers = {"X-Hub-Signature-256": good_signature(original)}
    assert post_webhook(changed, headers).status_code == 401
    assert_nothing_stored(conn, changed)
    # The very bytes that were signed are accepted.
    assert post_webhook(original, headers).status_code == 200
    assert queued_sha256s() == [hashlib.sha256(original).hexdigest()]


def test_secret_rotation_accepts_both_then_refuses_the_retired_one(
    conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # During the rotation both secrets are listed (spaces around commas are tolerated).
    monkeypatch.setenv(SETTING_APP_SECRET, f" {NEW_SECRET} , {OLD_SECRET} ")
    by_old, by_new = fresh_body(), fresh_body()
    assert post_webhook(by_old, webhooks.signed_headers(by_old, OLD_SECRET)).status_code == 200
    assert post_webhook(by_new, webhooks.signed_headers(by_new, NEW_SECRET)).status_code == 200
    assert sorted(queued_sha256s()) == sorted(
        hashlib.sha256(b).hexdigest() for b in (by_old, by_new)
    )

    # Settings are read per request: removing the old secret takes effect at once.
    monkeypatch.setenv(SETTING_APP_SECRET, NEW_SECRET)
    late_old, late_new = fresh_body(), fresh_body()
    assert post_webhook(late_old, webhooks.signed_headers(late_old, OLD_SECRET)).status_code == 401
    assert_nothing_stored(conn, late_old)
    assert post_webhook(late_new, webhooks.signed_headers(late_new, NEW_SECRET)).status_code == 200
    assert queued_sha256s() == [hashlib.sha256(late_new).hexdigest()]


def test_no_secret_configured_fails_closed(conn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SETTING_APP_SECRET, " , ")
    body = fresh_body()
    response = post_webhook(body, webhooks.signed_headers(body, ""))
    assert response.status_code == 500
    # Generic to the caller (no setting names or identity modes); the log names it.
    assert json.loads(response.get_body()) == {"error": "internal error"}
    assert_nothing_stored(conn, body)
