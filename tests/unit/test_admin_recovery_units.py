"""Admin pieces without storage: token claims, the Durable API adapter, refetch requests."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from admin.durable_api import (
    CONTINUATION_HEADER,
    KEY_HEADER,
    DurableApi,
    DurableApiError,
    DurableSettings,
    failure_reason,
)
from admin.identity import identity_from_claims, token_claims
from devhost.azurite import free_port
from orchestrations.recovery import addendum_blob_name, refetch_instance_id
from orchestrations.refetch_media import STORE_RECOVERY, refetch_steps
from storage.refetch_request import (
    RefetchRequest,
    RefetchRequestError,
    decode_refetch,
    encode_refetch,
)

pytestmark = pytest.mark.unit

SINCE = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def jwt(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def test_claims_name_a_person_a_service_principal_or_nothing() -> None:
    person = token_claims(jwt({"oid": "1111", "upn": "ann@firm.example", "appid": "x"}))
    assert identity_from_claims(person) == "ann@firm.example (oid 1111)"
    app = token_claims(jwt({"oid": "2222", "appid": "abcd-ef"}))
    assert identity_from_claims(app) == "app:abcd-ef (oid 2222)"
    assert token_claims("not-a-jwt") == {}
    assert token_claims("a.!!!.c") == {}
    assert identity_from_claims({}) is None


class CannedApi:
    """A transport answering like the Durable HTTP API, recording what it was sent."""

    def __init__(self, pages: list[tuple[list[dict[str, Any]], str | None]],
                 status: int = 200) -> None:
        self.pages = pages
        self.status = status
        self.sent: list[tuple[str, str, dict[str, str], bytes | None]] = []

    def __call__(self, method: str, url: str, headers: dict[str, str], body: bytes | None
                 ) -> tuple[int, dict[str, str], bytes]:
        self.sent.append((method, url, headers, body))
        rows, token = self.pages[min(len(self.sent) - 1, len(self.pages) - 1)]
        got = {CONTINUATION_HEADER: token} if token else {}
        return self.status, got, json.dumps(rows).encode()


def api(transport: CannedApi, key: str | None = "k3y") -> DurableApi:
    return DurableApi(DurableSettings("https://app.example/runtime/webhooks/durabletask",
                                      key, "test"), transport)


def failed_row(instance_id: str, created: str, output: Any) -> dict[str, Any]:
    return {"instanceId": instance_id, "name": "archive_event", "runtimeStatus": "Failed",
            "createdTime": created, "lastUpdatedTime": created, "output": output}


def test_failed_pages_through_continuations_with_the_key_and_filters() -> None:
    canned = CannedApi([
        ([failed_row("a", "2026-01-02T05:00:00Z", "Orchestrator failed: boom\n  at x")], "tok1"),
        ([failed_row("b", "2026-01-02T06:00:00Z", None)], "null"),
    ])
    found = api(canned).failed(SINCE)
    assert [f.instance_id for f in found] == ["b", "a"]  # newest first
    assert found[1].reason == "Orchestrator failed: boom"
    assert found[0].reason == "failed (no reason recorded)"
    (_, first_url, first_headers, _), (_, _, second_headers, _) = canned.sent
    assert "runtimeStatus=Failed" in first_url
    assert "createdTimeFrom=2026-01-02T03%3A04%3A05Z" in first_url
    assert first_headers[KEY_HEADER] == "k3y"
    assert CONTINUATION_HEADER not in first_headers
    assert second_headers[CONTINUATION_HEADER] == "tok1"


def test_counts_are_per_status_and_capped() -> None:
    canned = CannedApi([([{"instanceId": str(i)} for i in range(3)], "more")])
    counts = api(canned).counts(SINCE, cap=5)
    assert set(counts) == {"Running", "Pending", "Completed", "Failed", "Terminated"}
    assert all(n == 5 for n in counts.values())


def test_refused_key_and_unreachable_api_are_one_line_errors() -> None:
    with pytest.raises(DurableApiError, match=r"refused the key \(HTTP 401\)") as refused:
        api(CannedApi([([], None)], status=401)).failed(SINCE)
    assert "\n" not in str(refused.value)
    closed = DurableApi(DurableSettings(f"http://127.0.0.1:{free_port()}/x", None, "test"))
    with pytest.raises(DurableApiError, match="cannot reach the Durable API"):
        closed.failed(SINCE)
    with pytest.raises(DurableApiError, match="http"):
        DurableSettings("file:///etc/passwd", None, "test")


def test_failure_reason_takes_the_first_line_of_text_or_message() -> None:
    assert failure_reason({"message": "bad input\nstack"}) == "bad input"
    assert failure_reason("x" * 500) == "x" * 300


def test_refetch_requests_round_trip_and_other_messages_are_not_requests() -> None:
    request = RefetchRequest("year=2026/a.json", "media/1+=", "2026-01-02-abc", "ann", "t")
    assert decode_refetch(encode_refetch(request)) == request
    assert decode_refetch(b'{"v":1,"source":"meta","body":"{}"}') is None
    assert decode_refetch(b"\xff not json") is None
    with pytest.raises(RefetchRequestError):
        decode_refetch('{"v":1,"source":"refetch","media_id":"m"}')


def test_refetch_instance_ids_and_addendum_names_are_deterministic_and_safe() -> None:
    one = refetch_instance_id("year=2026/a.json", "media/1+=")
    assert one == refetch_instance_id("year=2026/a.json", "media/1+=")
    assert one != refetch_instance_id("year=2026/a.json", "media/2")
    assert len(one) <= 100 and not set(one) & set("/\\?#")
    name = addendum_blob_name("year=2026/x/00001-message-inbound.json", "media/1+=")
    assert name == "year=2026/x/00001-message-inbound.media-media~2F1~2B~3D.json"


class ReplayContext:
    """Enough of DurableOrchestrationContext to drive the orchestrator generator."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.current_utc_datetime = datetime(2026, 1, 2, 3, 4, 5)  # naive, as the SDK may give
        self.calls: list[tuple[str, Any]] = []

    def get_input(self) -> dict[str, Any]:
        return self.data

    def call_activity_with_retry(self, name: str, _retry: Any, payload: Any) -> tuple[str, Any]:
        self.calls.append((name, payload))
        return name, payload

    def call_activity(self, name: str, payload: Any) -> tuple[str, Any]:
        self.calls.append((name, payload))
        return name, payload


def drive(data: dict[str, Any]) -> list[tuple[str, Any]]:
    context = ReplayContext(data)
    steps = refetch_steps(context)
    steps.send(None)
    steps.send({"media_id": "m", "state": "stored", "blob_path": "p", "sha256": "s", "size": 1})
    with pytest.raises(StopIteration):
        steps.send({"state": "stored", "path": "a"})
    return context.calls


def test_the_refetch_orchestrator_is_deterministic() -> None:
    data = {"request": {"record_path": "r"}, "record": {"path": "r", "sha256": "h"},
            "message_id": "w", "event": {"media": []}, "media_index": 0}
    first, second = drive(data), drive(data)
    assert first == second
    assert [name for name, _ in first] == ["fetch_media", STORE_RECOVERY]
    assert first[1][1]["recovered_at"] == "2026-01-02T03:04:05+00:00"
