"""Retention over N expired records, against raw deletes of as many blobs, same run.

    .venv/bin/python -m bench.retention --records 100000 [--days 10]

Generates N expired text records directly in storage (no pipeline): each with its own
signed raw body (custody metadata as the front door writes it) and its index rows in
the four index tables, spread over `--days` provider days and 1,000 customers. Then,
through a counting proxy in front of Azurite:
- retention: `storage.retention_run.run_retention` (plans of 10,000 blobs, each written,
  carried out and certified): records/s and storage calls per record, by service;
- baseline: plain Delete Blob of 2N scratch blobs (a record and a raw body each), with
  the same 16 threads, written after retention emptied the account so both phases
  delete from an account of the same size: the floor retention cannot beat.
Numbers only, never assertions.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from archive.custody import METHOD_META, Custody, key_id
from archive.index import index_entities
from archive.layout import raw_blob_name, record_blob_name
from archive.names import RAW_CONTAINER, RECORDS_CONTAINER
from archive.parsing import parse_body
from archive.record import RawRef, build_record, record_bytes
from archive.signature import sign
from bench.common import azurite_in, machine
from bench.counting_proxy import Call, CountingProxy
from storage.retention_run import run_retention
from tests.support import webhooks

DAY0 = date(2019, 1, 7)  # expired on NOW with the default 2557 days
NOW = datetime(2026, 11, 28, 4, 30, tzinfo=UTC)
RETENTION_DAYS = 2557
SCRATCH = "benchscratch"
THREADS = 16


def _record(i: int, days: int) -> dict[str, Any]:
    day = DAY0 + timedelta(days=i % days)
    at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC) + timedelta(seconds=i // days)
    body = webhooks.body_of(webhooks.text_message(
        f"wamid.bench{i:07d}", f"1555{i % 1000:07d}", int(at.timestamp())))
    digest = hashlib.sha256(body).hexdigest()
    custody = Custody(METHOD_META, sign(body, webhooks.APP_SECRET), key_id(webhooks.APP_SECRET),
                      at)
    raw = raw_blob_name(digest, at)
    (event,) = parse_body("meta", body, at).events
    record = build_record(event, raw=RawRef(raw, digest), received_at=at, custody=custody)
    data = record_bytes(record)
    name = record_blob_name(event)
    return {"raw": (raw, body, custody.to_metadata(digest, "meta")),
            "record": (name, data, {"sha256": hashlib.sha256(data).hexdigest()}),
            "rows": index_entities(record, name)}


def _parallel(work: Callable[[Any], object], items: Iterable[Any]) -> None:
    with ThreadPoolExecutor(THREADS) as pool:
        for _ in pool.map(work, items):
            pass


def generate(blobs: BlobServiceClient, tables: TableServiceClient, count: int, days: int
             ) -> None:
    rows: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def put(i: int) -> None:
        made = _record(i, days)
        for container, (name, data, metadata) in ((RAW_CONTAINER, made["raw"]),
                                                  (RECORDS_CONTAINER, made["record"])):
            blobs.get_container_client(container).upload_blob(name, data, metadata=metadata)
        for table, entities in made["rows"].items():
            for entity in entities:
                rows.setdefault((table, entity["PartitionKey"]), []).append(entity)

    _parallel(put, range(count))

    def upsert(item: tuple[tuple[str, str], list[dict[str, Any]]]) -> None:
        (table, _), entities = item
        client = tables.get_table_client(table)
        for start in range(0, len(entities), 100):
            chunk = entities[start:start + 100]
            if len(chunk) == 1:
                client.upsert_entity(chunk[0])
            else:
                client.submit_transaction([("upsert", e) for e in chunk])

    _parallel(upsert, list(rows.items()))


def scratch(blobs: BlobServiceClient, count: int) -> list[str]:
    container = blobs.get_container_client(SCRATCH)
    container.create_container()
    names = [f"b/{i:08d}.json" for i in range(count)]
    _parallel(lambda n: container.upload_blob(n, b'{"x": 1}'), names)
    return names


def calls(taken: list[Call]) -> Counter[str]:
    return Counter(f"{c.service} {c.method} {c.operation}" for c in taken)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=10, help="provider days they span")
    args = parser.parse_args()
    print(f"machine: {machine()}; {args.records} expired text records over {args.days} days")
    with tempfile.TemporaryDirectory() as folder, azurite_in(Path(folder)) as azurite:
        direct = BlobServiceClient.from_connection_string(azurite.connection_string)
        start = time.perf_counter()
        generate(direct, TableServiceClient.from_connection_string(azurite.connection_string),
                 args.records, args.days)
        print(f"generated in {time.perf_counter() - start:.0f} s (not measured)")
        proxy = CountingProxy(azurite.endpoints).start()
        try:
            blobs = BlobServiceClient.from_connection_string(proxy.connection_string)
            tables = TableServiceClient.from_connection_string(proxy.connection_string)
            proxy.take()
            start = time.perf_counter()
            report = run_retention(blobs, tables, retention_days=RETENTION_DAYS, now=NOW)
            ret_s = time.perf_counter() - start
            taken = proxy.take()
            # The baseline after retention, on an account holding as many blobs as
            # retention found (Azurite's deletes slow down as the account grows).
            names = scratch(direct, 2 * args.records)
            container = blobs.get_container_client(SCRATCH)
            proxy.take()
            start = time.perf_counter()
            _parallel(container.delete_blob, names)
            raw_s = time.perf_counter() - start
            raw_calls = len(proxy.take())
            print(f"raw deletes: {len(names)} blobs in {raw_s:.1f} s = "
                  f"{len(names) / raw_s:.0f} blobs/s, {raw_calls / args.records:.2f} calls "
                  f"per record (a record and its raw body)")
            totals = report.totals()
            per = Counter({k: v / args.records for k, v in calls(taken).items()})
            print(f"retention:   {totals.get(RECORDS_CONTAINER, 0)} records, "
                  f"{totals.get(RAW_CONTAINER, 0)} raw bodies, {totals.get('index_rows', 0)} "
                  f"index rows in {ret_s:.1f} s = {args.records / ret_s:.0f} records/s "
                  f"({len(report.runs)} certified plans)")
            print(f"  storage calls per record: {len(taken) / args.records:.2f} "
                  f"(raw baseline {raw_calls / args.records:.2f})")
            for key, value in per.most_common():
                print(f"    {key}: {value:.3f}")
            print(f"ratio retention/raw delete time: {ret_s / raw_s:.2f}x")
        finally:
            proxy.stop()


if __name__ == "__main__":
    main()
