"""Throughput and peak memory of `wa-archive export` against a raw download of the same blobs.

    .venv/bin/python -m bench.export [--messages 10000] [--media 1000] [--media-kib 1024]
                                     [--conversations 10] [--formats bundle] [--limit-mib 200]

Starts its own Azurite and generates the archive directly in storage (not through the
pipeline): `--messages` text and image records built with archive.record.build_record
across `--conversations` conversations, one raw body each, `--media` image blobs of
`--media-kib` KiB (random bytes), every blob with its sha256 metadata as the writers
store it, the index rows from archive.index.index_entities, and the day sealed with a
local P-256 key. Then, each in a fresh Python process (for an honest peak RSS, VmHWM):

- **export**: admin.export.run_export of one participant (the firm's number: every
  conversation) into a folder: selection through the index, records.jsonl, index.csv,
  media and raw files, one proof per blob, the manifest; `--formats` adds renderings;
- **raw**: the same blobs (records, raw bodies, media) downloaded with
  `download_blob().chunks()` into files, nothing else.

Prints MB/s of blob bytes for both, the ratio, both peak RSS figures, and whether the
export stayed under `--limit-mib`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import azurite_in, machine
from devhost.azurite import REPO_ROOT

MIB = 1024 * 1024
DAY = date(2025, 11, 26)
BUSINESS = "106540352242922"


def peak_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _upload(container: Any, name: str, data: bytes) -> None:
    container.upload_blob(name, data, overwrite=False,
                          metadata={"sha256": hashlib.sha256(data).hexdigest()})


def seed(conn: str, args: argparse.Namespace, key_file: Path) -> dict[str, int]:
    """Records, raw bodies, media and index rows straight into Azurite; then the seal."""
    from azure.data.tables import TableServiceClient
    from azure.storage.blob import BlobServiceClient

    from archive.events import CanonicalEvent, MediaRef
    from archive.index import index_entities
    from archive.layout import media_blob_name, raw_blob_name, record_blob_name
    from archive.record import MediaOutcome, RawRef, build_record, record_bytes
    from storage.sealing import seal_day
    from storage.signing import generate_key_file, load_key_file

    blobs = BlobServiceClient.from_connection_string(conn)
    tables = TableServiceClient.from_connection_string(conn)
    records, raws, media = (blobs.get_container_client(n) for n in ("records", "raw", "media"))
    every = max(1, args.messages // max(1, args.media))
    start = datetime(DAY.year, DAY.month, DAY.day, 0, 0, tzinfo=UTC)
    rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
    totals = {"records": 0, "media_bytes": 0, "blob_bytes": 0}

    def one(index: int) -> None:
        customer = f"1555{index % args.conversations:07d}"
        at = start + timedelta(seconds=index * 5)
        with_media = index % every == 0 and index // every < args.media
        raw_body = json.dumps({"bench": index, "customer": customer}).encode()
        raw_sha = hashlib.sha256(raw_body).hexdigest()
        raw_path = raw_blob_name(raw_sha, at)
        event = CanonicalEvent(
            provider="meta", event="message", direction="inbound",
            message_id=f"wamid.bench{index:07d}", sender=customer, recipient="15550783881",
            business_id=BUSINESS, customer_id=customer, timestamp=at,
            type="image" if with_media else "text",
            content={"caption": f"photo {index}"} if with_media else {"text": f"message {index}"},
            media=(MediaRef(media_id=f"m{index}", mime_type="image/jpeg", provider_sha256=None,
                            filename=None, kind="image"),) if with_media else ())
        outcomes = []
        if with_media:
            data = os.urandom(args.media_kib * 1024)
            name = media_blob_name(event, event.media[0], "image/jpeg")
            _upload(media, name, data)
            outcomes.append(MediaOutcome(f"m{index}", "stored", name,
                                         hashlib.sha256(data).hexdigest(), len(data),
                                         "image/jpeg", None))
            totals["media_bytes"] += len(data)
        record = build_record(event, raw=RawRef(raw_path, raw_sha), received_at=at,
                              media=outcomes)
        path = record_blob_name(event)
        data = record_bytes(record)
        _upload(raws, raw_path, raw_body)
        _upload(records, path, data)
        totals["blob_bytes"] += len(data) + len(raw_body)
        for table, entities in index_entities(record, path).items():
            for entity in entities:
                rows.setdefault((table, entity["PartitionKey"]), []).append(entity)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(args.messages)))

    def write(item: tuple[tuple[str, str], list[dict[str, Any]]]) -> None:
        (table, _), entities = item
        client = tables.get_table_client(table)
        for at in range(0, len(entities), 100):
            client.submit_transaction([("upsert", e) for e in entities[at:at + 100]])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, rows.items()))
    generate_key_file(key_file)
    seal_day(blobs, load_key_file(key_file), DAY)
    totals["records"] = args.messages
    totals["blob_bytes"] += totals["media_bytes"]
    return totals


def child_export(spec: dict[str, Any]) -> dict[str, Any]:
    from admin.connection import open_archive
    from admin.export import ExportOptions, ExportProgress, run_export
    from archive.scope import Scope

    archive = open_archive()
    before = peak_kb()
    started = time.perf_counter()
    phases: dict[str, float] = {}  # phase -> when it started (s since the export began)

    def progress(p: ExportProgress) -> None:
        phases.setdefault(p.phase, time.perf_counter() - started)

    result = run_export(archive, ExportOptions(
        out=Path(spec["out"]), scope=Scope(participant=BUSINESS, start=DAY, end=DAY),
        formats=tuple(spec["formats"])), progress=progress)
    return {"seconds": time.perf_counter() - started, "peak_kb": peak_kb(),
            "peak_before_kb": before, "counts": result.counts, "phases": phases}


def child_raw(spec: dict[str, Any]) -> dict[str, Any]:
    from azure.storage.blob import BlobServiceClient

    blobs = BlobServiceClient.from_connection_string(spec["conn"])
    out = Path(spec["out"])
    out.mkdir()
    before = peak_kb()
    started = time.perf_counter()
    count = size = 0
    for container in ("records", "raw", "media"):
        client = blobs.get_container_client(container)
        names = [b.name for b in client.list_blobs()]

        def fetch(name: str, client: Any = client) -> int:
            digest, total = hashlib.sha256(), 0
            with (out / hashlib.sha256(name.encode()).hexdigest()).open("wb") as handle:
                for chunk in client.download_blob(name, max_concurrency=1).chunks():
                    digest.update(chunk)
                    handle.write(chunk)
                    total += len(chunk)
            return total

        with ThreadPoolExecutor(4) as pool:  # what the export uses for media
            for got in pool.map(fetch, names):
                count, size = count + 1, size + got
    return {"seconds": time.perf_counter() - started, "peak_kb": peak_kb(),
            "peak_before_kb": before, "blobs": count, "bytes": size}


def in_child(mode: str, spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "bench.export", "--child", mode, "--spec", json.dumps(spec)],
        cwd=REPO_ROOT, env={**os.environ, **env}, capture_output=True, text=True,
        timeout=7200, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{mode} child failed:\n{result.stderr[-3000:]}")
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--media", type=int, default=1_000)
    parser.add_argument("--media-kib", type=int, default=1024)
    parser.add_argument("--conversations", type=int, default=10)
    parser.add_argument("--formats", default="bundle")
    parser.add_argument("--limit-mib", type=int, default=200)
    parser.add_argument("--child", choices=["export", "raw"], help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run = child_export if args.child == "export" else child_raw
        print(json.dumps(run(json.loads(args.spec))))
        return
    from archive.names import SETTING_MANIFEST_KEY_ID
    from tests.support.pipeline_env import settings_for

    with tempfile.TemporaryDirectory() as tmp, azurite_in(Path(tmp)) as azurite:
        folder = Path(tmp)
        conn = azurite.connection_string
        started = time.perf_counter()
        totals = seed(conn, args, folder / "seal.pem")
        seeded = time.perf_counter() - started
        env = {**settings_for(conn), SETTING_MANIFEST_KEY_ID: f"file:{folder / 'seal.pem'}",
               "WA_ARCHIVE_DATA_DIR": str(folder / "data")}
        export = in_child("export", {"out": str(folder / "out"),
                                     "formats": args.formats.split(",")}, env)
        raw = in_child("raw", {"conn": conn, "out": str(folder / "raw")}, env)
    mb = totals["blob_bytes"] / 1e6
    rate, raw_rate = mb / export["seconds"], mb / raw["seconds"]
    peak = export["peak_kb"] / 1024
    print(f"machine: {machine()}")
    print(f"seeded: {totals['records']} records, {args.media} media x {args.media_kib} KiB "
          f"({totals['media_bytes'] / 1e6:.0f} MB), {args.conversations} conversations, "
          f"in {seeded:.0f} s")
    print(f"export ({args.formats}): {export['seconds']:7.1f} s  {rate:6.1f} MB/s  "
          f"peak RSS {peak:6.1f} MiB ({export['peak_before_kb'] / 1024:.1f} MiB after "
          f"imports)  limit {args.limit_mib} MiB: {'OK' if peak < args.limit_mib else 'OVER'}")
    print(f"  counts: {json.dumps(export['counts'], sort_keys=True)}")
    marks = sorted(export["phases"].items(), key=lambda kv: kv[1])
    ends = [at for _, at in marks[1:]] + [export["seconds"]]
    print("  phases (s): select " + f"{marks[0][1]:.1f}, " if marks else "  phases: ", end="")
    print(", ".join(f"{name} {end - at:.1f}" for (name, at), end in zip(marks, ends,
                                                                        strict=True)))
    print(f"raw download:    {raw['seconds']:7.1f} s  {raw_rate:6.1f} MB/s  "
          f"peak RSS {raw['peak_kb'] / 1024:6.1f} MiB  ({raw['blobs']} blobs)")
    print(f"ratio: {raw_rate / rate:.2f} (raw MB/s per export MB/s)")


if __name__ == "__main__":
    main()
