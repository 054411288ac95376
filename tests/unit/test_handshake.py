import hmac

import pytest

from archive.meta import handshake
from archive.meta.handshake import handshake_challenge

pytestmark = pytest.mark.unit

GOOD = {"hub.mode": "subscribe", "hub.verify_token": "tok-123", "hub.challenge": "1158201444"}


def test_returns_challenge() -> None:
    assert handshake_challenge(GOOD, "tok-123") == "1158201444"


@pytest.mark.parametrize(
    "params",
    [
        {**GOOD, "hub.verify_token": "wrong"},
        {**GOOD, "hub.mode": "unsubscribe"},
        {k: v for k, v in GOOD.items() if k != "hub.verify_token"},
        {k: v for k, v in GOOD.items() if k != "hub.challenge"},
        {k: v for k, v in GOOD.items() if k != "hub.mode"},
        {},
    ],
)
def test_rejects(params: dict[str, str]) -> None:
    assert handshake_challenge(params, "tok-123") is None


def test_empty_configured_token_never_matches() -> None:
    assert handshake_challenge({**GOOD, "hub.verify_token": ""}, "") is None


def test_uses_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bytes] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        seen.append(a)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert handshake.hmac is hmac  # type: ignore[attr-defined]
    assert handshake_challenge(GOOD, "tok-123") == "1158201444"
    assert seen == [b"tok-123"]


@pytest.mark.parametrize(
    "challenge",
    ["<script>alert(1)</script>", "a b", "x" * 129, "1158201444\r\nSet-Cookie: a=b", "ünï"],
)
def test_challenge_outside_the_safe_alphabet_is_not_reflected(challenge: str) -> None:
    assert handshake_challenge({**GOOD, "hub.challenge": challenge}, "tok-123") is None


def test_challenge_of_the_safe_alphabet_is_reflected() -> None:
    challenge = "Ab_-09" * 21 + "xy"  # 128 characters
    assert handshake_challenge({**GOOD, "hub.challenge": challenge}, "tok-123") == challenge
