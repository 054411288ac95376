"""Webhook ingest through POST /api/webhooks/meta, beside raw Azurite put_message.

    .venv/bin/python -m bench.ingest [--webhooks 1000] [--concurrency 16]

Starts its own Azurite and `python -m devhost` serving the webhook front door alone
(bench/ingest_app.py: signature check, size cap, durable enqueue; the queue worker
does not run, as on Flex Consumption where HTTP triggers scale on their own). Sends
N signed text webhooks at a fixed concurrency and prints webhooks/s and latency
percentiles, then, in the same run and at the same concurrency, the rate of raw
`send_message` calls carrying the very envelopes the front door enqueued.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

from azure.storage.queue import QueueClient, TextBase64EncodePolicy
from azure.storage.queue.aio import QueueClient as AsyncQueueClient

from archive.names import INGEST_QUEUE
from bench.common import (
    Timed,
    azurite_in,
    devhost_on,
    machine,
    new_run,
    post_webhooks,
    run_concurrently,
    text_body,
)
from storage.envelope import encode
from tests.support.envelopes import meta_envelope

# A module name, not a path: devhost would put bench/ on sys.path, where ingest.py
# (this file) would shadow the `ingest` package.
APP = "bench.ingest_app"


async def raw_puts(conn: str, messages: list[str], concurrency: int) -> Timed:
    queue = AsyncQueueClient.from_connection_string(
        conn, "raw" + uuid.uuid4().hex[:10], message_encode_policy=TextBase64EncodePolicy()
    )
    async with queue:
        await queue.create_queue()

        async def one(index: int) -> bool:
            await queue.send_message(messages[index])
            return True

        return await run_concurrently(len(messages), concurrency, one)


def queue_depth(conn: str) -> int:
    queue = QueueClient.from_connection_string(conn, INGEST_QUEUE)
    return int(queue.get_queue_properties().approximate_message_count or 0)


async def measure(conn: str, url: str, count: int, concurrency: int) -> tuple[Timed, Timed]:
    run = new_run()
    warm = [text_body(run + "w", i) for i in range(min(50, count))]
    bodies = [text_body(run, i) for i in range(count)]
    now = datetime.now(UTC)
    envelopes = [encode(meta_envelope(b, now), inline=True) for b in bodies]
    await post_webhooks(url, warm, concurrency)
    await raw_puts(conn, envelopes[: len(warm)], concurrency)
    front = await post_webhooks(url, bodies, concurrency)
    raw = await raw_puts(conn, envelopes, concurrency)
    return front, raw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--webhooks", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, azurite_in(Path(folder)) as azurite:
        conn = azurite.connection_string
        with devhost_on(Path(folder), conn, app=APP) as url:
            front, raw = asyncio.run(measure(conn, url, args.webhooks, args.concurrency))
            depth = queue_depth(conn)
    size = len(text_body("x" * 10, 0))
    print(f"machine: {machine()}")
    print(f"webhooks: {args.webhooks} signed text webhooks (~{size} B), "
          f"concurrency {args.concurrency}; {front.failures} not answered 200")
    print(f"front door (devhost):    {front.rate:8.1f} webhooks/s  "
          f"p50 {front.ms(50):6.1f} ms  p99 {front.ms(99):6.1f} ms")
    print(f"raw Azurite put_message: {raw.rate:8.1f} messages/s  "
          f"p50 {raw.ms(50):6.1f} ms  p99 {raw.ms(99):6.1f} ms")
    print(f"ratio:                   {raw.rate / front.rate:8.2f} (raw put/s per webhook/s); "
          f"p99 {front.ms(99) / raw.ms(99):.2f}x raw")
    print(f"ingest queue depth after: {depth} (every 200 is one durable envelope)")


if __name__ == "__main__":
    main()
