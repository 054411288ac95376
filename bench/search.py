"""Search latency: admin search (the CLI's code path) against a raw single-partition query.

    .venv/bin/python -m bench.search [--messages 100000] [--participants 1000]
        [--seed-budget 300] [--queries 200]

Starts its own Azurite (temp folder, in-memory persistence) and seeds the index through the real key
design: every row comes from archive.index.index_entities for a synthetic record,
written with batched table transactions (<= 100 rows, one partition each). Rows of
IndexByMessage are skipped: each has a partition of its own, so they cannot be
batched, and no participant search reads them. Seeding goes in rounds that add
messages to every participant, and stops at --seed-budget seconds, so the
participant count stays whole and the seeded N is reported as measured.

Then, in the same run and interleaved, for random customers (~N/participants rows
each) and for the firm's own number (a partition holding every message):
- admin:   admin.search.search(SearchQuery(participant=...)), first page (25 rows)
- audited: admin.actions.audited_search: the same plus its audit-blob write (CLI path)
- raw:     TableClient.query_entities("PartitionKey eq ..."), first page (25 rows)
and prints p50/p95 per path and the ratios to raw.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import signal
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.data.tables import TableServiceClient

from admin.actions import audited_search
from admin.connection import Archive, ArchiveTarget
from admin.search import DEFAULT_PAGE, SearchQuery, search
from archive.index import index_entities, participant_key
from archive.names import TABLE_BY_MESSAGE, TABLE_BY_PARTICIPANT
from devhost.azurite import AzuriteEndpoints, azurite_binary, free_port
from storage.index_reader import conversation_key
from storage.provision import ensure_archive_resources

BUSINESS = "15550001111"
T_END = datetime(2026, 1, 31, 23, 0, tzinfo=UTC)
BATCH = 100  # the Table service's transaction limit
SPACING_SECONDS = 7


def customer(index: int) -> str:
    return f"1444{index:07d}"


def record(cust: int, seq: int, participants: int) -> dict[str, Any]:
    """A synthetic canonical record with the fields the index projects."""
    number = customer(cust)
    ts = T_END - timedelta(seconds=(seq * participants + cust) * SPACING_SECONDS)
    inbound = seq % 2 == 0
    message_id = f"wamid.bench{cust:05d}x{seq:06d}=="
    return {
        "event": "message",
        "direction": "inbound" if inbound else "outbound",
        "type": "text",
        "provider": "meta",
        "message_id": message_id,
        "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "from": number if inbound else BUSINESS,
        "to": BUSINESS if inbound else number,
        "conversation": {"business_id": BUSINESS, "customer_id": number,
                         "key": conversation_key(BUSINESS, number)},
        "status": None,
        "media": [],
        "fingerprint": hashlib.sha256(message_id.encode()).hexdigest(),
    }


def round_rows(first_seq: int, per_participant: int, participants: int
               ) -> dict[tuple[str, str], list[dict[str, Any]]]:
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for seq in range(first_seq, first_seq + per_participant):
        for cust in range(participants):
            rec = record(cust, seq, participants)
            path = f"bench/{rec['message_id']}.json"
            for table, rows in index_entities(rec, path).items():
                if table == TABLE_BY_MESSAGE:
                    continue
                for row in rows:
                    grouped[(table, row["PartitionKey"])].append(row)
    return grouped


def batches(grouped: dict[tuple[str, str], list[dict[str, Any]]]
            ) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    for (table, _), rows in grouped.items():
        for start in range(0, len(rows), BATCH):
            yield table, rows[start:start + BATCH]


class InMemoryAzurite:
    """Azurite with --inMemoryPersistence: its disk autosave of a 400k-row table would
    otherwise dominate (and stall) the seeding. Same binary and flags as devhost's."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.endpoints = AzuriteEndpoints(host="127.0.0.1", blob_port=free_port(),
                                          queue_port=free_port(), table_port=free_port())
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def connection_string(self) -> str:
        return self.endpoints.connection_string

    def start(self) -> None:
        ep = self.endpoints
        cmd = [str(azurite_binary()), "--silent", "--disableTelemetry", "--skipApiVersionCheck",
               "--inMemoryPersistence",
               "--blobPort", str(ep.blob_port), "--queuePort", str(ep.queue_port),
               "--tablePort", str(ep.table_port)]
        with (self.folder / "azurite.log").open("ab") as log:
            self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True, cwd=self.folder)
        service = TableServiceClient.from_connection_string(self.connection_string)
        last: Exception | None = None
        for _ in range(300):
            try:
                service.create_table_if_not_exists("BenchReady")
                return
            except (ServiceRequestError, ServiceResponseError) as exc:
                last = exc
                time.sleep(0.1)
        raise RuntimeError(f"Azurite did not start: {last}; see {self.folder}/azurite.log")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGTERM)
            self._proc.wait(timeout=20)


def seed(service: TableServiceClient, args: argparse.Namespace) -> tuple[int, int, float]:
    """Seed in rounds until --messages or the time budget; returns (messages, rows, secs)."""
    per_round = max(1, args.round)
    target_per_participant = args.messages // args.participants
    started = time.perf_counter()
    seq = rows_written = 0
    clients = {t: service.get_table_client(t) for t in
               ("IndexByParticipant", "IndexByDay")}

    def submit(job: tuple[str, list[dict[str, Any]]]) -> int:
        table, rows = job
        for attempt in range(5):  # upserts are idempotent: a retried batch is harmless
            try:
                clients[table].submit_transaction([("upsert", row) for row in rows])
                return len(rows)
            except (ServiceRequestError, ServiceResponseError):
                time.sleep(0.5 * (attempt + 1))
        raise RuntimeError("Azurite kept refusing a batch")

    with ThreadPoolExecutor(max_workers=args.threads) as pool:
        while seq < target_per_participant:
            if time.perf_counter() - started > args.seed_budget:
                break
            count = min(per_round, target_per_participant - seq)
            grouped = round_rows(seq, count, args.participants)
            rows_written += sum(pool.map(submit, batches(grouped)))
            seq += count
            elapsed = time.perf_counter() - started
            print(f"  seeded {seq * args.participants:>7} messages "
                  f"({rows_written} rows) in {elapsed:6.1f}s", flush=True)
    return seq * args.participants, rows_written, time.perf_counter() - started


def timed(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(archive: Archive, service: TableServiceClient, participants: list[str],
            queries: int) -> dict[str, list[float]]:
    table = service.get_table_client(TABLE_BY_PARTICIPANT)

    def raw(who: str) -> None:
        pk = participant_key(who).replace("'", "''")
        pager: Any = table.query_entities(f"PartitionKey eq '{pk}'",
                                          results_per_page=DEFAULT_PAGE).by_page()
        rows = list(next(pager))
        assert rows, "raw query returned nothing"

    def admin(who: str) -> None:
        assert search(archive, SearchQuery(participant=who)).rows

    def audited(who: str) -> None:
        assert audited_search(archive, SearchQuery(participant=who)).rows

    paths = {"raw": raw, "admin": admin, "audited": audited}
    results: dict[str, list[float]] = {name: [] for name in paths}
    rng = random.Random(7)
    for path in paths.values():  # warm-up: connections, Azurite caches
        for who in participants[:5]:
            path(who)
    for _ in range(queries):
        who = rng.choice(participants)
        order = list(paths.items())
        rng.shuffle(order)  # interleaved, so drift hits every path alike
        for name, path in order:
            results[name].append(timed(lambda path=path, who=who: path(who)))  # type: ignore[misc]
    return results


def report(title: str, results: dict[str, list[float]]) -> None:
    raw50, raw95 = pct(results["raw"], 0.5), pct(results["raw"], 0.95)
    print(f"\n{title} ({len(results['raw'])} queries per path, first page of {DEFAULT_PAGE})")
    print(f"  {'path':<8} {'p50 ms':>8} {'p95 ms':>8} {'p50/raw':>8} {'p95/raw':>8}")
    for name in ("raw", "admin", "audited"):
        p50, p95 = pct(results[name], 0.5), pct(results[name], 0.95)
        print(f"  {name:<8} {p50:8.2f} {p95:8.2f} {p50 / raw50:8.2f} {p95 / raw95:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument("--seed-budget", type=float, default=300.0, help="seconds")
    parser.add_argument("--round", type=int, default=25, help="messages per participant/round")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        azurite = InMemoryAzurite(Path(tmp))
        azurite.start()
        try:
            conn = azurite.connection_string
            ensure_archive_resources(conn)
            service = TableServiceClient.from_connection_string(conn)
            print(f"seeding up to {args.messages} messages across {args.participants} "
                  f"participants (budget {args.seed_budget:.0f}s, {args.threads} threads)")
            messages, rows, seconds = seed(service, args)
            print(f"seeded {messages} messages = {rows} index rows in {seconds:.1f}s "
                  f"({rows / seconds:.0f} rows/s; IndexByMessage rows not written)")
            archive = Archive(ArchiveTarget(label="bench azurite", connection_string=conn))
            customers = [customer(i) for i in range(args.participants)]
            report(f"customer partitions (~{messages // args.participants} rows each)",
                   measure(archive, service, customers, args.queries))
            report(f"firm number partition ({messages} rows)",
                   measure(archive, service, [BUSINESS], max(20, args.queries // 4)))
        finally:
            azurite.stop()


if __name__ == "__main__":
    main()
