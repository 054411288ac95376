"""300 signed webhooks through devhost: every event archived exactly once, media intact.

The mix (bench/load_workload.py): text, media, multi-message webhooks, out-of-order
statuses, 10% exact redeliveries. Verification (bench/verify_archive.py) compares
the archive with the set sent. Correctness only: no timing assertions.
"""

from __future__ import annotations

import asyncio

import pytest
from azure.storage.blob import BlobServiceClient

from archive.names import RECORDS_CONTAINER
from bench.load_sender import send_all
from bench.load_workload import build_workload
from bench.verify_archive import record_names, verify_archive, wait_for_archive
from tests.reliability.conftest import StackFactory

pytestmark = pytest.mark.e2e

WEBHOOKS = 300


def test_load_archives_every_event_exactly_once(make_stack: StackFactory) -> None:
    stack = make_stack()
    workload = build_workload(WEBHOOKS, seed=11)
    stack.serve(workload)
    assert workload.duplicates == WEBHOOKS // 10 and len(workload.deliveries) == WEBHOOKS

    stats = asyncio.run(
        send_all(stack.webhook_url, workload.deliveries, rate=100, concurrency=16)
    )
    assert stats.accepted == WEBHOOKS, stats.statuses
    assert not stats.rejected and not stats.gave_up

    verdict, _ = wait_for_archive(stack.conn, workload, timeout=240)
    assert verdict.ok, verdict.problems
    assert verdict.records == workload.expected_events > WEBHOOKS  # multi-message bodies
    assert verdict.media_checked == len(workload.media)
    # Each media id was downloaded once although ~10% of bodies arrived twice.
    assert all(stack.media.items[m].downloads == 1 for m in workload.media)


def test_verifier_notices_a_lost_and_a_doubled_event(make_stack: StackFactory) -> None:
    """The verification is only worth something if it fails on a loss or a duplicate."""
    stack = make_stack()
    workload = build_workload(10, seed=5)
    stack.serve(workload)
    asyncio.run(send_all(stack.webhook_url, workload.deliveries, concurrency=4))
    verdict, _ = wait_for_archive(stack.conn, workload, timeout=120)
    assert verdict.ok, verdict.problems

    blobs = BlobServiceClient.from_connection_string(stack.conn)
    records = blobs.get_container_client(RECORDS_CONTAINER)
    lost, kept = sorted(record_names(blobs))[:2]
    records.delete_blob(lost)
    records.upload_blob(f"{kept}.conflict-{'0' * 64}.json", b"{}")

    problems = "\n".join(verify_archive(stack.conn, workload).problems)
    assert "events without a record (LOST): 1" in problems and lost in problems
    assert "conflict records: 1" in problems
