"""Sealing and verifying a day of N blobs, against raw Azurite listing and downloading.

    .venv/bin/python -m bench.seal --blobs 20000 [--size 2048]

Fills one day's partitions (80% records, 10% raw, 10% media, sha256 in metadata as
the writers store it), then, through a counting proxy in front of Azurite:
- sealing: wall time and storage calls of `storage.sealing.seal_day`, beside a raw
  `list_blobs(include=metadata)` of the same partitions (the floor sealing cannot beat);
- full verification: MB/s of `storage.verification.verify_archive` beside a raw
  streaming download of the same blobs, and peak RSS after each (VmHWM).
Numbers only, never assertions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

from azure.storage.blob import BlobServiceClient, ContainerClient
from cryptography.hazmat.primitives.asymmetric import ec

from archive.names import MEDIA_CONTAINER, RAW_CONTAINER, RECORDS_CONTAINER
from archive.seal import SEALED_CONTAINERS, day_prefix
from bench.common import azurite_in, machine
from bench.counting_proxy import CountingProxy
from storage.sealing import seal_day
from storage.signing import LocalSigner, verify_es256
from storage.verification import verify_archive

DAY = date(2025, 6, 1)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fill(blobs: BlobServiceClient, count: int, size: int) -> None:
    prefix = day_prefix(DAY)

    def put(i: int) -> None:
        container = (RAW_CONTAINER if i % 10 == 0 else MEDIA_CONTAINER if i % 10 == 1
                     else RECORDS_CONTAINER)
        # Records are JSON (verification parses them for their references).
        data = (json.dumps({"n": i, "pad": os.urandom(max(0, size - 20) // 2).hex()}).encode()
                if container == RECORDS_CONTAINER else os.urandom(size))
        blobs.get_container_client(container).upload_blob(
            f"{prefix}b/{i:08d}.json", data, overwrite=False,
            metadata={"sha256": hashlib.sha256(data).hexdigest()})

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(count)))


def raw_listing(blobs: BlobServiceClient) -> int:
    seen = 0
    for name in SEALED_CONTAINERS:
        for blob in blobs.get_container_client(name).list_blobs(
                name_starts_with=day_prefix(DAY), include=["metadata"]):
            seen += 1 if blob.metadata else 0
    return seen


def raw_download(blobs: BlobServiceClient) -> int:
    total = 0
    for name in SEALED_CONTAINERS:
        container: ContainerClient = blobs.get_container_client(name)
        for blob in container.list_blobs(name_starts_with=day_prefix(DAY)):
            digest = hashlib.sha256()
            for chunk in container.download_blob(blob.name).chunks():
                digest.update(chunk)
                total += len(chunk)
    return total


def calls(proxy: CountingProxy) -> str:
    counted = Counter(f"{c.method} {c.operation}" for c in proxy.take())
    return f"{sum(counted.values())} ({', '.join(f'{k}: {v}' for k, v in counted.items())})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blobs", type=int, default=20000)
    parser.add_argument("--size", type=int, default=2048, help="bytes per blob")
    args = parser.parse_args()
    signer = LocalSigner(ec.generate_private_key(ec.SECP256R1()), "file:bench.pem")
    public = signer.public_key()
    print(f"machine: {machine()}; {args.blobs} blobs of {args.size} bytes in one day")
    with tempfile.TemporaryDirectory() as folder, azurite_in(Path(folder)) as azurite:
        proxy = CountingProxy(azurite.endpoints).start()
        try:
            blobs = BlobServiceClient.from_connection_string(proxy.connection_string)
            fill(blobs, args.blobs, args.size)
            proxy.take()

            start = time.perf_counter()
            listed = raw_listing(blobs)
            raw_s = time.perf_counter() - start
            print(f"raw list (metadata): {raw_s:.2f} s, {listed} blobs, calls {calls(proxy)}")

            start = time.perf_counter()
            outcome = seal_day(blobs, signer, DAY)
            seal_s = time.perf_counter() - start
            print(f"seal_day:            {seal_s:.2f} s, {outcome.leaves} leaves, "
                  f"hashed {outcome.hashed}, calls {calls(proxy)}")
            print(f"ratio seal/raw list: {seal_s / raw_s:.2f}x")

            start = time.perf_counter()
            moved = raw_download(blobs)
            raw_dl = time.perf_counter() - start
            rss_raw = _peak_rss_mib()
            proxy.take()
            print(f"raw download:        {moved / raw_dl / 2**20:.1f} MiB/s, "
                  f"peak RSS {rss_raw:.0f} MiB")

            start = time.perf_counter()
            report = verify_archive(blobs, lambda d, s: verify_es256(public, d, s))
            ver_s = time.perf_counter() - start
            print(f"verify_archive:      {report.bytes_checked / ver_s / 2**20:.1f} MiB/s "
                  f"({report.blobs_checked} blobs, ok={report.ok}), "
                  f"peak RSS {_peak_rss_mib():.0f} MiB, calls {calls(proxy)}")
            print(f"ratio verify/raw download time: {ver_s / raw_dl:.2f}x")
        finally:
            proxy.stop()


if __name__ == "__main__":
    main()
