"""Entra ID bearer tokens and URL secrets for Event Grid deliveries (no network: keys are fed)."""

from __future__ import annotations

import base64
import hmac
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from archive.acs.token import (
    TokenError,
    bearer_token,
    check_claims,
    check_header,
    issuers_for,
    parse_token,
)
from archive.names import (
    SETTING_ACS_WEBHOOK_AUDIENCE,
    SETTING_ACS_WEBHOOK_KEYS_URL,
    SETTING_ACS_WEBHOOK_SECRET,
    SETTING_ACS_WEBHOOK_TENANT_ID,
)
from storage import acs_auth
from storage.acs_auth import (
    AUTH_ENTRA,
    AUTH_URL_SECRET,
    KeyCache,
    KeysUnavailable,
    authenticate_acs,
    parse_keys,
    secret_matches,
    verify_bearer,
)
from storage.settings import SettingError
from tests.support.acs_stand_in import AUDIENCE, TENANT_ID, EntraIssuer

pytestmark = pytest.mark.unit

KEYS_URL = "http://127.0.0.1:9/keys"
SECRET = "acs-url-secret-0123456789abcdef"


@pytest.fixture(scope="module")
def issuer() -> EntraIssuer:
    return EntraIssuer()


class Feed:
    """A JWKS source under the test's control, counting fetches."""

    def __init__(self, issuer: EntraIssuer) -> None:
        self.issuer = issuer
        self.fetches = 0
        self.fail = False

    def __call__(self, url: str) -> bytes:
        self.fetches += 1
        if self.fail:
            raise KeysUnavailable("signing keys unreachable (URLError)")
        return self.issuer.jwks()


def cache(issuer: EntraIssuer, **kwargs: float) -> tuple[KeyCache, Feed]:
    feed = Feed(issuer)
    return KeyCache(KEYS_URL, fetch=feed, cooldown=kwargs.get("cooldown", 0.0),
                    ttl=kwargs.get("ttl", 3600.0)), feed


def valid(token: str, keys: KeyCache, now: datetime | None = None) -> bool:
    return verify_bearer(token, audiences=[AUDIENCE], tenant_id=TENANT_ID, keys=keys,
                         now=now or datetime.now(UTC))


def test_a_genuine_event_grid_token_is_accepted(issuer: EntraIssuer) -> None:
    keys, feed = cache(issuer)
    assert valid(issuer.mint(), keys)
    assert valid(issuer.mint(iss=issuer.issuer_v2, ver="2.0"), keys)
    assert feed.fetches == 1  # cached


def test_expired_token_is_refused_beyond_the_skew(issuer: EntraIssuer) -> None:
    keys, _ = cache(issuer)
    past = int(time.time()) - 3 * 3600
    token = issuer.mint(iat=past, nbf=past, exp=past + 3600)
    assert not valid(token, keys)
    almost = int(time.time()) - 60  # expired a minute ago: inside the 5-minute skew
    assert valid(issuer.mint(exp=almost), keys)


def test_token_not_yet_valid_is_refused(issuer: EntraIssuer) -> None:
    keys, _ = cache(issuer)
    assert not valid(issuer.mint(nbf=int(time.time()) + 3600, exp=int(time.time()) + 7200), keys)


@pytest.mark.parametrize("claims", [
    {"aud": "api://someone-else"},
    {"aud": None},
    {"aud": ["api://someone-else"]},
    {"tid": "00000000-0000-0000-0000-000000000000"},
    {"tid": None},
    {"iss": "https://sts.windows.net/00000000-0000-0000-0000-000000000000/"},
    {"iss": "https://login.microsoftonline.com/common/v2.0"},
    {"iss": "https://evil.example/" + TENANT_ID + "/"},
    {"exp": None},
    {"exp": "tomorrow"},
    {"exp": True},
    {"nbf": "now"},
])
def test_wrong_claims_are_refused(issuer: EntraIssuer, claims: dict[str, Any]) -> None:
    keys, feed = cache(issuer)
    assert not valid(issuer.mint(**claims), keys)
    assert feed.fetches == 0  # refused before any key is fetched


def test_an_audience_list_naming_us_is_accepted(issuer: EntraIssuer) -> None:
    keys, _ = cache(issuer)
    assert valid(issuer.mint(aud=["api://other", AUDIENCE]), keys)


def test_alg_none_is_refused(issuer: EntraIssuer) -> None:
    keys, _ = cache(issuer)
    assert not valid(issuer.mint(alg="none"), keys)
    with pytest.raises(TokenError, match="not RS256"):
        check_header(parse_token(issuer.mint(alg="none")).header)


def test_hs256_keyed_with_the_public_key_is_refused(issuer: EntraIssuer) -> None:
    keys, _ = cache(issuer)
    assert not valid(issuer.mint(alg="HS256"), keys)


@pytest.mark.parametrize("alg", ["RS384", "PS256", "ES256", "rs256", "HS512"])
def test_other_algorithms_are_refused(alg: str) -> None:
    with pytest.raises(TokenError):
        check_header({"alg": alg, "kid": "k"})


def test_header_needs_a_kid_and_no_crit() -> None:
    with pytest.raises(TokenError, match="key id"):
        check_header({"alg": "RS256"})
    with pytest.raises(TokenError, match="critical"):
        check_header({"alg": "RS256", "kid": "k", "crit": ["exp"]})


def test_tampered_payload_fails_the_signature(issuer: EntraIssuer) -> None:
    keys, _ = cache(issuer)
    head, _payload, signature = issuer.mint().split(".")
    forged_claims = issuer.claims(roles=["Admin"])
    forged = base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).rstrip(b"=").decode()
    assert not valid(f"{head}.{forged}.{signature}", keys)


def test_tampered_signature_and_other_key_fail(issuer: EntraIssuer) -> None:
    keys, _ = cache(issuer)
    head, payload, signature = issuer.mint().split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert not valid(f"{head}.{payload}.{flipped}", keys)
    stranger = EntraIssuer()  # same kid, another private key
    impostor = stranger.mint(kid=issuer.keys[0].kid)
    assert not valid(impostor, keys)


def test_unknown_kid_triggers_one_refresh(issuer: EntraIssuer) -> None:
    keys, feed = cache(issuer)
    assert valid(issuer.mint(), keys) and feed.fetches == 1
    rolled = issuer.add_key()  # Entra rolls over: the new key appears in the JWKS
    try:
        assert valid(issuer.mint(key=rolled), keys)
        assert feed.fetches == 2
        assert valid(issuer.mint(key=rolled), keys) and feed.fetches == 2
    finally:
        issuer.keys.remove(rolled)


def test_unpublished_kid_is_refused_and_refreshes_are_rate_limited(issuer: EntraIssuer) -> None:
    clock = [1000.0]
    feed = Feed(issuer)
    keys = KeyCache(KEYS_URL, fetch=feed, cooldown=60.0, clock=lambda: clock[0])
    hidden = issuer.add_key(published=False)
    try:
        assert not valid(issuer.mint(key=hidden), keys)
        assert not valid(issuer.mint(key=hidden), keys)
        assert feed.fetches == 1  # the first fetch; the cooldown blocks a second
        clock[0] += 61
        assert not valid(issuer.mint(key=hidden), keys)
        assert feed.fetches == 2
    finally:
        issuer.keys.remove(hidden)


def test_keys_are_refetched_after_their_ttl_and_kept_when_that_fails(
        issuer: EntraIssuer) -> None:
    clock = [0.0]
    feed = Feed(issuer)
    keys = KeyCache(KEYS_URL, fetch=feed, ttl=3600.0, clock=lambda: clock[0])
    assert valid(issuer.mint(), keys)
    clock[0] += 3601
    feed.fail = True
    assert valid(issuer.mint(), keys)  # the endpoint is down: the cached keys still serve
    assert feed.fetches == 2


def test_no_keys_at_all_cannot_be_judged(issuer: EntraIssuer) -> None:
    keys, feed = cache(issuer)
    feed.fail = True
    with pytest.raises(KeysUnavailable):
        valid(issuer.mint(), keys)


def test_parse_keys_skips_what_cannot_sign_rs256(issuer: EntraIssuer) -> None:
    good = issuer.keys[0].jwk()
    small = {**good, "kid": "small", "n": base64.urlsafe_b64encode(b"\x01" * 64).decode()}
    doc = {"keys": [good, small, {**good, "kid": "enc", "use": "enc"},
                    {**good, "kid": "ec", "kty": "EC"}, {**good, "kid": "ps", "alg": "PS256"},
                    "junk", {"kty": "RSA"}]}
    assert set(parse_keys(json.dumps(doc).encode())) == {good["kid"]}
    with pytest.raises(KeysUnavailable):
        parse_keys(b"<html>")


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c.d", "!!.e30.", "e30.e30", "x" * 20000,
                                   "W10.e30.", "e30.W10."])
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(TokenError):
        parsed = parse_token(token)
        check_header(parsed.header)


def test_bearer_header_parsing() -> None:
    assert bearer_token("Bearer abc.def.ghi") == "abc.def.ghi"
    assert bearer_token("bearer  abc.def.ghi ") == "abc.def.ghi"
    for value in (None, "", "Basic abc", "Bearer", "Bearer a b", "Bearerabc.def.ghi"):
        assert bearer_token(value) is None


def test_claims_need_an_aware_now_and_a_tenant() -> None:
    claims = {"aud": AUDIENCE, "iss": next(iter(issuers_for(TENANT_ID))), "tid": TENANT_ID,
              "exp": 2 ** 40}
    check_claims(claims, audiences=[AUDIENCE], tenant_id=TENANT_ID.upper(),
                 at=datetime.now(UTC))
    with pytest.raises(ValueError):
        check_claims(claims, audiences=[AUDIENCE], tenant_id=TENANT_ID,
                     at=datetime(2024, 1, 1))
    with pytest.raises(TokenError):
        check_claims(claims, audiences=[AUDIENCE], tenant_id=" ", at=datetime.now(UTC))
    with pytest.raises(TokenError):
        check_claims(claims, audiences=[""], tenant_id=TENANT_ID, at=datetime.now(UTC))


def test_claim_checks_use_the_given_time(issuer: EntraIssuer) -> None:
    claims = issuer.claims()
    later = datetime.fromtimestamp(claims["exp"], UTC) + timedelta(minutes=6)
    with pytest.raises(TokenError, match="expired"):
        check_claims(claims, audiences=[AUDIENCE], tenant_id=TENANT_ID, at=later)


# --- authenticate_acs: settings, precedence, URL secret ---------------------------------


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch, issuer: EntraIssuer) -> Feed:
    monkeypatch.setenv(SETTING_ACS_WEBHOOK_AUDIENCE, f"api://old-app, {AUDIENCE}")
    monkeypatch.setenv(SETTING_ACS_WEBHOOK_TENANT_ID, TENANT_ID)
    monkeypatch.setenv(SETTING_ACS_WEBHOOK_SECRET, f"retired-secret-0123456789,{SECRET}")
    monkeypatch.setenv(SETTING_ACS_WEBHOOK_KEYS_URL, KEYS_URL)
    feed = Feed(issuer)
    monkeypatch.setitem(acs_auth._caches, KEYS_URL, KeyCache(KEYS_URL, fetch=feed, cooldown=0))
    return feed


def test_authenticate_by_bearer(configured: Feed, issuer: EntraIssuer) -> None:
    headers = {"authorization": f"Bearer {issuer.mint()}"}
    assert authenticate_acs(headers, {}) == AUTH_ENTRA


def test_authenticate_by_url_secret_with_rotation(configured: Feed) -> None:
    assert authenticate_acs({}, {"secret": SECRET}) == AUTH_URL_SECRET
    assert authenticate_acs({}, {"secret": "retired-secret-0123456789"}) == AUTH_URL_SECRET
    assert authenticate_acs({}, {"secret": SECRET[:-1]}) is None
    assert authenticate_acs({}, {}) is None


def test_a_presented_bad_token_is_refused_even_with_the_secret(
        configured: Feed, issuer: EntraIssuer) -> None:
    forged = issuer.mint(alg="none")
    assert authenticate_acs({"Authorization": f"Bearer {forged}"}, {"secret": SECRET}) is None
    expired = issuer.mint(exp=int(time.time()) - 7200)
    assert authenticate_acs({"Authorization": f"Bearer {expired}"}, {}) is None


def test_without_entra_settings_a_bearer_is_ignored(
        configured: Feed, issuer: EntraIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SETTING_ACS_WEBHOOK_TENANT_ID)
    headers = {"Authorization": f"Bearer {issuer.mint()}"}
    assert authenticate_acs(headers, {}) is None
    assert authenticate_acs(headers, {"secret": SECRET}) == AUTH_URL_SECRET


def test_nothing_configured_is_a_setting_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (SETTING_ACS_WEBHOOK_AUDIENCE, SETTING_ACS_WEBHOOK_TENANT_ID,
                 SETTING_ACS_WEBHOOK_SECRET):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SettingError):
        authenticate_acs({}, {"secret": SECRET})


def test_secret_compare_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append(len(a))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)  # the module acs_auth calls through
    assert secret_matches(SECRET, ["first-secret-0123456789", SECRET, "third-secret-012345678"])
    assert calls == [32, 32, 32]  # every secret compared, as equal-length digests
    assert not secret_matches(None, [SECRET])


def test_tokens_and_secrets_never_reach_the_log(
        configured: Feed, issuer: EntraIssuer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bad = issuer.mint(aud="api://someone-else")
    good = issuer.mint()
    authenticate_acs({"Authorization": f"Bearer {bad}"}, {})
    authenticate_acs({"Authorization": f"Bearer {good}"}, {})
    authenticate_acs({}, {"secret": SECRET})
    authenticate_acs({}, {"secret": "wrong-secret-0123456789"})
    logged = caplog.text
    for credential in (bad, good, SECRET, "wrong-secret", bad.split(".")[1]):
        assert credential not in logged
