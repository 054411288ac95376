"""Storage down: the async front door answers every webhook with a quick 503, then recovers.

The webhook routes run on the worker's event loop with aio Storage clients (FAST retry
profile). While the archive account is unreachable, each delivery must get a 503 with
Retry-After well within a provider's patience, not hang behind SDK retries or behind
queue-trigger and Durable work that is retrying against the same dead storage; once
storage is back, the same pooled clients must accept again without a restart.
Every route (Meta, WASender, Twilio, ACS, outbound) shares that one hand-off; Meta and
WASender (the front door's own MAC) are exercised here.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import aiohttp
import pytest

from devhost.azurite import Azurite
from storage.provision import ensure_archive_resources
from tests.e2e.pipeline_harness import DevHostProcess
from tests.support import webhooks
from tests.support.pipeline_env import WASENDER_SECRET

pytestmark = pytest.mark.e2e

# A provider's patience (Meta gives a webhook a few seconds before it counts a failure;
# the FAST profile's worst case on a refused connection is about 1 s). A delivery not
# answered within this is the hang this test exists to catch: it fails, it is not timed.
PATIENCE_SECONDS = 15
IN_FLIGHT = 16


def meta_delivery(index: int, run: str) -> tuple[str, bytes, dict[str, str]]:
    body = webhooks.body_of(
        webhooks.text_message(f"wamid.outage.{run}.{index}", "15551234567", 1764158400 + index)
    )
    return "/api/webhooks/meta", body, webhooks.signed_headers(body)


def wasender_delivery(index: int, run: str) -> tuple[str, bytes, dict[str, str]]:
    body = json.dumps({"event": "messages.received", "timestamp": 1764158400 + index,
                       "data": {"messages": {"key": {"id": f"{run}{index}"}}}}).encode()
    headers = {"X-Webhook-Signature": WASENDER_SECRET, "Content-Type": "application/json"}
    return "/api/webhooks/wasender", body, headers


async def deliver(
    url: str, deliveries: list[tuple[str, bytes, dict[str, str]]]
) -> list[tuple[int, str | None, bytes]]:
    """POST all at once; (status, Retry-After, body) each. A timeout raises."""
    timeout = aiohttp.ClientTimeout(total=PATIENCE_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one(path: str, body: bytes, headers: dict[str, str]
                      ) -> tuple[int, str | None, bytes]:
            async with session.post(url + path, data=body, headers=headers) as response:
                return response.status, response.headers.get("Retry-After"), await response.read()

        return await asyncio.gather(*(one(*d) for d in deliveries))


def test_webhooks_get_a_quick_503_while_storage_is_down_then_200(
    fresh_azurite: Azurite, tmp_path: Path
) -> None:
    conn = fresh_azurite.connection_string
    ensure_archive_resources(conn)
    # The whole app: queue triggers and Durable retry against the same dead storage.
    host = DevHostProcess(conn, "http://127.0.0.1:9", tmp_path / "devhost.log").start()
    try:
        before = [meta_delivery(i, "a") for i in range(4)] + [wasender_delivery(0, "a")]
        assert [s for s, _, _ in asyncio.run(deliver(host.url, before))] == [200] * 5

        fresh_azurite.stop()
        during = [meta_delivery(i, "b") for i in range(IN_FLIGHT)]
        during += [wasender_delivery(i, "b") for i in range(4)]
        answers = asyncio.run(deliver(host.url, during))  # raises on a hang
        assert {status for status, _, _ in answers} == {503}, answers
        assert all(retry_after for _, retry_after, _ in answers)

        fresh_azurite.start()  # same ports, same data
        after = [meta_delivery(i, "b") for i in range(4)] + [wasender_delivery(0, "b")]
        answers = asyncio.run(deliver(host.url, after))
        assert [s for s, _, _ in answers] == [200] * 5, answers
        accepted = json.loads(answers[0][2])["sha256"]
        assert accepted == hashlib.sha256(after[0][1]).hexdigest()
    finally:
        host.stop()
    log = (tmp_path / "devhost.log").read_text(encoding="utf-8", errors="replace")
    assert "ingest enqueue failed" in log
    assert "15551234567" not in log  # ids and hashes only, never a phone number
