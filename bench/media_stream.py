"""Peak memory and rate of streaming one large media file into the archive.

    .venv/bin/python -m bench.media_stream [--mib 200] [--limit-mib 150]

Starts its own Azurite and the local Graph API stand-in serving one video of
`--mib` MiB, then runs the fetch_media activity's code (resolve, download, 4 MiB
blocks staged while hashing, create-only commit) in a fresh Python process and
reads that process's peak RSS (VmHWM, and ru_maxrss). Baseline, same run: another
fresh process staging the same number of 4 MiB blocks straight into Azurite.
Prints both rates (MiB/s), both peaks, and whether the pipeline stayed under the limit.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from archive.names import MEDIA_CONTAINER, SETTING_MAX_MEDIA_BYTES
from bench.common import azurite_in, machine
from devhost.azurite import REPO_ROOT
from tests.support import webhooks
from tests.support.media_server import MediaItem, MediaServer
from tests.support.pipeline_env import settings_for

MIB = 1024 * 1024
MEDIA_ID = "bench-video-1"


def peak_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def child_pipeline(spec: dict[str, Any]) -> dict[str, Any]:
    from archive.meta.parser import parse_webhook
    from orchestrations.steps import fetch_media_item

    body = webhooks.body_of(webhooks.image_message(
        "wamid.bench-media", "15551234567", 1764158400, MEDIA_ID, spec["sha256"]))
    (event,) = parse_webhook(body).events
    before = peak_kb()
    started = time.perf_counter()
    outcome = fetch_media_item({"event": event.to_dict(), "media_index": 0})
    return {"seconds": time.perf_counter() - started, "peak_kb": peak_kb(),
            "peak_before_kb": before, "outcome": outcome}


def child_raw(spec: dict[str, Any]) -> dict[str, Any]:
    import base64

    from azure.storage.blob import BlobBlock, BlobServiceClient

    blob = BlobServiceClient.from_connection_string(spec["conn"]).get_blob_client(
        MEDIA_CONTAINER, "raw-baseline.bin")
    block = os.urandom(4 * MIB)
    before = peak_kb()
    started = time.perf_counter()
    ids = []
    for index in range(spec["bytes"] // (4 * MIB)):
        block_id = base64.b64encode(f"{index:08d}".encode()).decode()
        blob.stage_block(block_id, block)
        ids.append(BlobBlock(block_id=block_id))
    blob.commit_block_list(ids)
    return {"seconds": time.perf_counter() - started, "peak_kb": peak_kb(),
            "peak_before_kb": before}


def in_child(mode: str, spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "bench.media_stream", "--child", mode, "--spec", json.dumps(spec)],
        cwd=REPO_ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=900,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{mode} child failed:\n{result.stderr[-3000:]}")
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=200)
    parser.add_argument("--limit-mib", type=int, default=150)
    parser.add_argument("--child", choices=["pipeline", "raw"], help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run = child_pipeline if args.child == "pipeline" else child_raw
        print(json.dumps(run(json.loads(args.spec))))
        return
    size = args.mib * MIB
    server = MediaServer()
    item = server.add(MEDIA_ID, MediaItem(data=os.urandom(size), mime_type="video/mp4"))
    server.start()
    try:
        with tempfile.TemporaryDirectory() as folder, azurite_in(Path(folder)) as azurite:
            conn = azurite.connection_string
            env = {**settings_for(conn, server.base_url),
                   SETTING_MAX_MEDIA_BYTES: str(size + MIB)}
            pipeline = in_child("pipeline", {"sha256": item.sha256}, env)
            raw = in_child("raw", {"conn": conn, "bytes": size}, env)
    finally:
        server.stop()
    outcome = pipeline["outcome"]
    if outcome["sha256"] != item.sha256 or outcome["size"] != size:
        raise SystemExit(f"stored media does not match what was served: {outcome}")
    rate = size / MIB / pipeline["seconds"]
    raw_rate = size / MIB / raw["seconds"]
    peak_mib = pipeline["peak_kb"] / 1024
    verdict = "OK" if peak_mib < args.limit_mib else "OVER"
    print(f"machine: {machine()}")
    print(f"media: {args.mib} MiB video/mp4 -> {outcome['blob_path']} (sha256 verified)")
    print(f"pipeline fetch_media: {rate:7.1f} MiB/s  peak RSS {peak_mib:6.1f} MiB "
          f"({pipeline['peak_before_kb'] / 1024:.1f} MiB after imports)  "
          f"limit {args.limit_mib} MiB: {verdict}")
    raw_peak = raw["peak_kb"] / 1024
    print(f"raw stage_block 4 MiB: {raw_rate:6.1f} MiB/s  peak RSS {raw_peak:6.1f} MiB")
    print(f"ratio: {raw_rate / rate:.2f} (raw MiB/s per pipeline MiB/s)")


if __name__ == "__main__":
    main()
