import hashlib
import hmac
import json

import pytest

from archive import signature
from archive.signature import parse_secrets, sign, verify_signature

pytestmark = pytest.mark.unit

BODY = b'{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[]}]}'


def test_valid_signature() -> None:
    expected = hmac.new(b"s3cret", BODY, hashlib.sha256).hexdigest()
    assert verify_signature(BODY, f"sha256={expected}", ["s3cret"])


def test_uppercase_hex_accepted() -> None:
    header = "sha256=" + sign(BODY, "s3cret").removeprefix("sha256=").upper()
    assert verify_signature(BODY, header, ["s3cret"])


def test_wrong_secret() -> None:
    assert not verify_signature(BODY, sign(BODY, "other"), ["s3cret"])


def test_missing_header() -> None:
    assert not verify_signature(BODY, None, ["s3cret"])


@pytest.mark.parametrize(
    "header",
    ["", "sha256=", "sha1=" + "0" * 40, "sha256=" + "g" * 64, "sha256=" + "0" * 63, "0" * 64,
     "sha256 = " + "0" * 64],
)
def test_malformed_header(header: str) -> None:
    assert not verify_signature(BODY, header, ["s3cret"])


def test_rotation_accepts_either_secret() -> None:
    secrets = parse_secrets("new-secret, old-secret")
    assert secrets == ("new-secret", "old-secret")
    assert verify_signature(BODY, sign(BODY, "old-secret"), secrets)
    assert verify_signature(BODY, sign(BODY, "new-secret"), secrets)
    assert not verify_signature(BODY, sign(BODY, "retired"), secrets)


def test_empty_secrets_reject() -> None:
    assert not verify_signature(BODY, sign(BODY, ""), [])
    assert not verify_signature(BODY, sign(BODY, ""), [""])
    assert parse_secrets(None) == ()
    assert parse_secrets(" , ") == ()


def test_signature_over_reserialized_json_fails() -> None:
    header = sign(BODY, "s3cret")
    reserialized = json.dumps(json.loads(BODY), indent=1).encode()
    assert reserialized != BODY
    assert not verify_signature(reserialized, header, ["s3cret"])


def test_one_changed_byte_fails() -> None:
    header = sign(BODY, "s3cret")
    tampered = BODY.replace(b'"1"', b'"2"')
    assert not verify_signature(tampered, header, ["s3cret"])


def test_constant_time_compare_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert signature.hmac is hmac  # type: ignore[attr-defined]
    assert verify_signature(BODY, sign(BODY, "b"), ["a", "b"])
    # Every configured secret is compared (no early exit revealing which one matched).
    assert len(calls) == 2
