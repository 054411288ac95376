"""Faults during load; after each, the archive is verified against the set sent.

Zero lost and zero duplicated events every time (bench/verify_archive.py):
- storage down mid-load: the webhook answers 503 and the sender retries as Meta does;
- devhost killed with SIGKILL mid-load and restarted on the same ports;
- the Graph API answering 500 / 404 / not at all: transient faults are retried away,
  media that stays 404 becomes an `unavailable` entry plus a failures row;
- a message the worker cannot process lands in `ingest-poison`, the condition is fixed,
  and `wa-archive replay --all-poison` archives it exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from archive.names import RAW_CONTAINER, SETTING_ARCHIVE_STORAGE
from bench.load_sender import SendStats, send_all
from bench.load_stack import LoadStack
from bench.load_workload import MEDIA_KINDS, Workload, WorkloadBuilder, build_workload
from bench.verify_archive import queue_depths, record_names, wait_for_archive
from devhost.azurite import REPO_ROOT
from orchestrations.archive_event import DEFAULT_MEDIA_ATTEMPTS
from storage.index_reader import IndexReader
from storage.provision import ensure_archive_resources
from tests.e2e.pipeline_harness import wait_for
from tests.reliability.conftest import StackFactory

pytestmark = pytest.mark.e2e

FAULT_WEBHOOKS = 150
BEFORE_FAULT = 0.6  # share of deliveries accepted before the fault strikes
OUTAGE_SECONDS = 5.0
Step = Callable[[], Awaitable[None]]


@dataclass
class FaultRun:
    stats: SendStats
    unarchived_at_fault: int  # events acknowledged with 200 but not yet archived


async def _unarchived(stack: LoadStack, workload: Workload, stats: SendStats) -> int:
    accepted = sum(workload.events_per_body[d] for d in stats.accepted_sha256)
    blobs = BlobServiceClient.from_connection_string(stack.conn)
    return accepted - len(await asyncio.to_thread(record_names, blobs))


async def _archiving_under_way(stack: LoadStack, records: int = 10) -> None:
    """Wait (bounded) until the pipeline is visibly working through the backlog."""
    blobs = BlobServiceClient.from_connection_string(stack.conn)
    for _ in range(600):
        if len(await asyncio.to_thread(record_names, blobs)) >= records:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the pipeline archived nothing before the fault")


async def _load_with_fault(
    stack: LoadStack, workload: Workload, begin: Step, end: Step, hold: float
) -> FaultRun:
    """First part unthrottled (a backlog builds); once archiving is under way the fault,
    and the rest sent during it.

    The front door accepts faster than the pipeline archives, so the fault strikes
    accepted events still in the queue or in orchestrations; the deliveries sent while
    it lasts are refused or unanswered and retried by the sender until they get a 200.
    """
    split = int(len(workload.deliveries) * BEFORE_FAULT)
    stats = SendStats()
    await send_all(stack.webhook_url, workload.deliveries[:split], concurrency=8, stats=stats)
    await _archiving_under_way(stack)
    unarchived = await _unarchived(stack, workload, stats)
    await begin()
    rest = asyncio.create_task(
        send_all(stack.webhook_url, workload.deliveries[split:], concurrency=8, stats=stats,
                 give_up_after=180)
    )
    try:
        await asyncio.sleep(hold)
    finally:
        await end()
        await rest
    return FaultRun(stats, unarchived)


def test_storage_outage_mid_load_loses_nothing(make_stack: StackFactory) -> None:
    # A message fetched just before the outage whose failure could not be reported
    # (the visibility update fails too) reappears when its lease ends: 10 minutes on
    # the real host. Delayed, not lost; the short lease keeps the test quick.
    stack = make_stack(short_lease=True)
    workload = build_workload(FAULT_WEBHOOKS, seed=21)
    stack.serve(workload)

    # SIGTERM, not SIGKILL: Azurite acknowledges writes before saving them to disk, so a
    # SIGKILL would test the emulator's durability, not the archive's. Same ports and folder.
    async def down() -> None:
        await asyncio.to_thread(stack.azurite.stop)

    async def up() -> None:
        await asyncio.to_thread(stack.azurite.start)

    run = asyncio.run(_load_with_fault(stack, workload, down, up, OUTAGE_SECONDS))
    stats = run.stats
    assert stats.statuses["503"] > 0, stats.statuses  # Meta was told to come back later
    assert run.unarchived_at_fault > 0  # the outage struck events still being archived
    assert stats.accepted == FAULT_WEBHOOKS and not stats.rejected and not stats.gave_up

    # No restart: devhost retries the storage writes that failed during the outage
    # (activity results, episodes), so every orchestration finishes on its own.
    verdict, _ = wait_for_archive(stack.conn, workload, timeout=240)
    assert verdict.ok, verdict.problems  # nothing lost, nothing doubled
    assert verdict.records == workload.expected_events


def test_devhost_killed_mid_load_resumes_without_loss(make_stack: StackFactory) -> None:
    stack = make_stack(short_lease=True)
    workload = build_workload(FAULT_WEBHOOKS, seed=31)
    stack.serve(workload)

    async def crash() -> None:
        await asyncio.to_thread(stack.devhost.kill)

    async def restart() -> None:
        await asyncio.to_thread(stack.devhost.start)  # same ports, same task hub

    run = asyncio.run(_load_with_fault(stack, workload, crash, restart, 1.0))
    stats = run.stats
    assert stats.accepted == FAULT_WEBHOOKS and not stats.rejected and not stats.gave_up
    assert stats.retried_deliveries > 0  # deliveries hit the dead host and were resent
    assert run.unarchived_at_fault > 0  # the kill struck events still being archived

    verdict, _ = wait_for_archive(stack.conn, workload, timeout=240)
    assert verdict.ok, verdict.problems
    assert verdict.records == workload.expected_events


def test_media_faults_retry_transient_and_record_gaps(make_stack: StackFactory) -> None:
    stack = make_stack()
    builder = WorkloadBuilder(seed=41)
    image = MEDIA_KINDS[0]
    for _ in range(3):
        builder.media_message(script=(500, 500))  # transient: the third attempt works
    builder.media_message(script=(500, 404, "stall"))  # a timeout too: the fourth works
    for _ in range(2):
        builder.media_message(always_404=True)  # gone for good: a visible gap
    builder.media_plan(image)  # served but never referenced: must stay untouched
    for _ in range(4):
        builder.text()
    workload = builder.finish()
    stack.serve(workload)

    stats = asyncio.run(send_all(stack.webhook_url, workload.deliveries, concurrency=4))
    assert stats.accepted == len(workload.deliveries)
    verdict, _ = wait_for_archive(stack.conn, workload, timeout=240)
    assert verdict.ok, verdict.problems
    assert (verdict.media_checked, verdict.media_unavailable) == (4, 2)

    served = stack.media.items
    for media_id, plan in workload.media.items():
        if plan.always_404:
            assert served[media_id].lookups == DEFAULT_MEDIA_ATTEMPTS
        elif plan.script:
            assert served[media_id].lookups == len(plan.script) + 1
            assert served[media_id].downloads == 1
        else:
            assert served[media_id].lookups == 0
    gaps = IndexReader(TableServiceClient.from_connection_string(stack.conn)).failures(
        "media_unavailable"
    ).rows
    assert len(gaps) == 2 and all("HTTP 404" in row["reason"] for row in gaps)


def _replay_cli(conn: str, cwd: Path) -> dict[str, list[str]]:
    env = dict(os.environ)
    env[SETTING_ARCHIVE_STORAGE] = conn
    env["PYTHONPATH"] = str(REPO_ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "replay", "--all-poison", "--json"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, list[str]] = json.loads(done.stdout)
    return result


def test_poison_message_replayed_with_cli_is_archived_once(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    stack = make_stack()
    builder = WorkloadBuilder(seed=51)
    builder.text()
    builder.media_message()
    builder.status_run()
    workload = builder.finish()
    stack.serve(workload)
    # The fault: the archive's `raw` container is gone (a mistaken clean-up), so the
    # worker's first write fails on every delivery until it is provisioned again.
    BlobServiceClient.from_connection_string(stack.conn).delete_container(RAW_CONTAINER)

    stats = asyncio.run(send_all(stack.webhook_url, workload.deliveries, concurrency=4))
    assert stats.accepted == len(workload.deliveries)  # the enqueue needs no container
    poisoned = len(workload.deliveries)
    wait_for(
        "every message in ingest-poison",
        lambda: queue_depths(stack.conn) == {"ingest": 0, "ingest-poison": poisoned},
        timeout=120,
    )
    assert record_names(BlobServiceClient.from_connection_string(stack.conn)) == []

    ensure_archive_resources(stack.conn)  # the fix
    workdir = tmp_path / "admin"
    workdir.mkdir()
    replayed = _replay_cli(stack.conn, workdir)
    assert len(replayed["replayed"]) == poisoned

    verdict, _ = wait_for_archive(stack.conn, workload, timeout=120)
    assert verdict.ok, verdict.problems  # includes: ingest-poison and ingest are empty
    assert verdict.records == workload.expected_events
    # A second replay finds nothing; the archive is unchanged.
    assert _replay_cli(stack.conn, workdir)["replayed"] == []
    verdict, _ = wait_for_archive(stack.conn, workload, timeout=60)
    assert verdict.ok, verdict.problems
