"""Events archived per second, webhook to indexed record, beside the raw storage floor.

    .venv/bin/python -m bench.end_to_end [--events 200] [--concurrency 8] [--media-kib 64]
                                         [--telemetry off|on|both]

Starts its own Azurite, a local Graph API stand-in (tests/support/media_server.py)
and `python -m devhost` on the real function_app (front door, queue worker, Durable
orchestration, activities). Two phases: text-only events, then a mix with 30% image
events (one media item each). A phase's clock runs from its first POST until every
event has its IndexByDay row (the last write of store_record). The baseline, measured
in the same run at the same concurrency, is the minimum an event needs done raw: one
queue put, one record blob write (create-only) and one index upsert.

`--telemetry on` runs devhost with the local metrics exporter (WA_METRICS_DIR);
`off` (the default) with none; `both` measures the two in the same run, alternating,
and prints the change in the ingest and end-to-end ratios (bench.telemetry).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from azure.data.tables import TableServiceClient, UpdateMode
from azure.data.tables.aio import TableClient
from azure.storage.blob import BlobServiceClient
from azure.storage.blob.aio import ContainerClient
from azure.storage.queue import TextBase64EncodePolicy
from azure.storage.queue.aio import QueueClient

from archive.names import RECORDS_CONTAINER, TABLE_BY_DAY
from bench.common import (
    T0,
    Timed,
    azurite_in,
    devhost_on,
    image_body,
    machine,
    new_run,
    post_webhooks,
    run_concurrently,
    text_body,
    wait_until,
)
from storage.envelope import encode
from tests.support.envelopes import meta_envelope
from tests.support.media_server import MediaItem, MediaServer

DAY = 86400
PHASE_TIMEOUT = 600.0


def indexed(conn: str, t0: int) -> int:
    day = datetime.fromtimestamp(t0, tz=UTC).date().isoformat()
    table = TableServiceClient.from_connection_string(conn).get_table_client(TABLE_BY_DAY)
    return sum(1 for _ in table.query_entities(f"PartitionKey eq '{day}'", select=["RowKey"]))


def phase(conn: str, url: str, bodies: list[bytes], t0: int, concurrency: int) -> float:
    """Events archived per second for one batch of webhooks (one event each)."""
    started = time.monotonic()
    sent = asyncio.run(post_webhooks(url, bodies, concurrency))
    if sent.failures:
        raise SystemExit(f"{sent.failures} webhooks were not answered 200")
    done = wait_until(f"{len(bodies)} indexed events",
                      lambda: indexed(conn, t0) >= len(bodies), PHASE_TIMEOUT, interval=0.25)
    return len(bodies) / (done - started)


def mixed_bodies(media: MediaServer, run: str, count: int, t0: int, media_bytes: int
                 ) -> list[bytes]:
    bodies = []
    for index in range(count):
        if index % 10 in (1, 4, 7):  # 30% media, spread through the batch
            media_id = f"{run}{index:06d}"
            item = media.add(media_id, MediaItem(data=os.urandom(media_bytes)))
            bodies.append(image_body(run, index, media_id, item.sha256, t0))
        else:
            bodies.append(text_body(run, index, t0))
    return bodies


async def raw_floor(conn: str, count: int, concurrency: int, record_bytes: int) -> Timed:
    """One queue put + one create-only record blob + one index upsert per event, raw."""
    suffix = uuid.uuid4().hex[:10]
    queue = QueueClient.from_connection_string(
        conn, "raw" + suffix, message_encode_policy=TextBase64EncodePolicy()
    )
    container = ContainerClient.from_connection_string(conn, "raw" + suffix)
    table = TableClient.from_connection_string(conn, "raw" + suffix)
    now = datetime.now(UTC)
    messages = [encode(meta_envelope(text_body(suffix, i), now), inline=True)
                for i in range(count)]
    record = b"{" + b" " * (record_bytes - 2) + b"}"
    async with queue, container, table:
        await queue.create_queue()
        await container.create_container()
        await table.create_table()

        async def one(index: int) -> bool:
            await queue.send_message(messages[index])
            await container.upload_blob(f"r/{index:08d}.json", record, overwrite=False)
            row = {"PartitionKey": "day", "RowKey": f"{index:019d}", "record_path": "r" * 120}
            await table.upsert_entity(row, mode=UpdateMode.MERGE)
            return True

        return await run_concurrently(count, concurrency, one)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--media-kib", type=int, default=64)
    parser.add_argument("--telemetry", choices=("off", "on", "both"), default="off",
                        help="devhost without metrics, with the local exporter, or both")
    args = parser.parse_args()
    if args.telemetry == "both":
        from bench.telemetry import report

        report(args.events, args.concurrency, rounds=2, micro_events=20000)
        return
    run, count, conc = new_run(), args.events, args.concurrency
    media = MediaServer().start()
    try:
        with tempfile.TemporaryDirectory() as folder, azurite_in(Path(folder)) as azurite:
            conn = azurite.connection_string
            metrics_env = {"WA_METRICS_DIR": str(Path(folder) / "metrics")
                           if args.telemetry == "on" else ""}
            with devhost_on(Path(folder), conn, graph_url=media.base_url, **metrics_env) as url:
                warm = [text_body(run + "w", i, T0 - DAY) for i in range(20)]
                phase(conn, url, warm, T0 - DAY, conc)
                text_rate = phase(conn, url, [text_body(run, i, T0) for i in range(count)],
                                  T0, conc)
                mixed = mixed_bodies(media, run + "m", count, T0 + DAY, args.media_kib * 1024)
                mix_rate = phase(conn, url, mixed, T0 + DAY, conc)
                record_size = len(records_sample(conn))
            floor = asyncio.run(raw_floor(conn, count * 2, conc, record_size))
    finally:
        media.stop()
    print(f"machine: {machine()}")
    print(f"events: {count} per phase (one event per webhook), concurrency {conc}; "
          f"host.json: 8 orchestrators / 8 activities; telemetry {args.telemetry}")
    print(f"pipeline, text only:       {text_rate:7.1f} events/s archived")
    print(f"pipeline, 30% media ({args.media_kib} KiB): {mix_rate:7.1f} events/s archived")
    print(f"raw floor (put + record blob + index upsert, {record_size} B record): "
          f"{floor.rate:7.1f} events/s")
    print(f"ratio:                     {floor.rate / text_rate:7.1f} (raw floor per text event/s), "
          f"{floor.rate / mix_rate:.1f} (per mixed event/s)")


def records_sample(conn: str) -> bytes:
    """One real record's bytes, so the raw floor writes blobs of the same size."""
    container = BlobServiceClient.from_connection_string(conn).get_container_client(
        RECORDS_CONTAINER
    )
    name = next(iter(container.list_blobs())).name
    data: bytes = container.download_blob(name).readall()
    return data


if __name__ == "__main__":
    main()
